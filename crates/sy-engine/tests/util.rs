//! Trees to sync, an observer that records everything, and the two kinds of destination.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sy_engine::{Action, Done, Endpoint, Observer, Phase, Planned, RelPath, SyncOptions};

/// Every event of a run, in order, as text.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    fn push(&self, event: String) {
        self.events.lock().unwrap().push(event);
    }
}

impl Observer for Recorder {
    fn phase(&self, phase: Phase) {
        self.push(format!("phase {}", phase.word()));
    }
    fn planned(&self, planned: &Planned) {
        self.push(format!(
            "planned {} files {} bytes",
            planned.files, planned.bytes
        ));
    }
    fn started(&self, action: Action, path: &RelPath, size: u64) {
        self.push(format!("start {} {path} {size}", action.word()));
    }
    fn skipped(&self, path: &RelPath, reason: &str) {
        self.push(format!("skip {path} {reason}"));
    }
    fn done(&self, action: Action, path: &RelPath, done: &Done) {
        self.push(format!("{} {path} literal {}", action.word(), done.literal));
    }
    fn failed(&self, path: Option<&RelPath>, message: &str) {
        self.push(format!("failed {path:?} {message}"));
    }
    fn warning(&self, message: &str) {
        self.push(format!("warning {message}"));
    }
}

/// Writes `files` (path → content) under `root`, making directories as needed.
pub fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

/// Every file under `root` with its content (directories as `path/`).
pub fn read_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let key = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                out.insert(format!("{key}/"), String::new());
                stack.push(path);
            } else {
                out.insert(key, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

/// How the destination is reached.
#[derive(Debug, Clone, Copy)]
pub enum Via {
    /// Directly.
    Local,
    /// Through the `sy-remote` agent, as over SSH, with a "remote shell" that runs the agent's
    /// command line on this machine.
    Agent,
}

impl Via {
    pub const ALL: [Via; 2] = [Via::Local, Via::Agent];

    /// `dir` as a destination reached this way, and the options that reach it.
    pub fn destination(self, dir: &Path) -> (Endpoint, SyncOptions) {
        self.endpoint(&format!("{}/", dir.display()))
    }

    /// `path` (as typed, trailing slash and all) reached this way, and the options that reach
    /// it.
    pub fn endpoint(self, path: &str) -> (Endpoint, SyncOptions) {
        let mut opts = SyncOptions::default();
        match self {
            Via::Local => (Endpoint::parse(path).unwrap(), opts),
            Via::Agent => {
                // Called as `sh -c SCRIPT rsh HOST COMMAND`: runs COMMAND, ignores HOST.
                opts.remote.shell = ["sh", "-c", "exec sh -c \"$2\"", "rsh"]
                    .map(String::from)
                    .to_vec();
                opts.remote.remote_path = agent().display().to_string();
                (Endpoint::parse(format!("localhost:{path}")).unwrap(), opts)
            }
        }
    }
}

/// The `sy-remote` binary of this build (a binary of the `sy-cli` package): `cargo test
/// --workspace` builds it beside the test binaries' directory.
pub fn agent() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(Path::parent).unwrap();
    let agent = target.join("sy-remote");
    assert!(
        agent.is_file(),
        "{} is missing: build it first (`cargo build -p sy-cli --bin sy-remote`, or run the \
         whole suite with `cargo test --workspace`)",
        agent.display()
    );
    agent
}
