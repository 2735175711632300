//! Fixtures for the integration tests: temporary trees, running the built `sy`, comparing trees.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// Files larger than this are compared by streaming, not kept in a snapshot.
const SNAPSHOT_CONTENT_LIMIT: u64 = 64 << 20;

/// A temporary directory holding `src/` and `dst/` (and whatever a test adds).
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("sy-test-")
            .tempdir()
            .unwrap();
        // Traversable by others, so tests can run sy as an unprivileged user.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir(dir.path().join("src")).unwrap();
        Fixture { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn src(&self) -> PathBuf {
        self.path("src")
    }

    pub fn dst(&self) -> PathBuf {
        self.path("dst")
    }

    /// `src/` with the trailing slash, as a string argument.
    pub fn src_slash(&self) -> String {
        format!("{}/", self.src().display())
    }

    /// Writes a file (parents created) under the fixture root.
    pub fn write(&self, rel: impl AsRef<Path>, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        path
    }

    pub fn mkdir(&self, rel: impl AsRef<Path>) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(&path).unwrap();
        path
    }

    pub fn symlink(&self, target: impl AsRef<Path>, rel: impl AsRef<Path>) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(target, &path).unwrap();
        path
    }

    /// A `sy` command run in the fixture root, reading its config file (if a test writes one)
    /// from `.config/sy/config.toml` there, never the user's.
    pub fn sy(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sy"));
        cmd.current_dir(self.root())
            .env("XDG_CONFIG_HOME", self.path(".config"));
        cmd
    }

    /// Runs `sy SRC/ DST` plus `args`, expecting success.
    pub fn sync(&self, args: &[&str]) -> Output {
        let out = self
            .sy()
            .args(args)
            .arg(self.src_slash())
            .arg(self.dst())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "sy failed: {}", stderr(&out));
        out
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What a test compares about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File {
        content: Content,
        mode: u32,
        mtime: (i64, i64),
    },
    Dir {
        mode: u32,
        mtime: (i64, i64),
    },
    Symlink {
        target: Vec<u8>,
    },
    Other,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Content {
    Bytes(Vec<u8>),
    /// Too big to hold; compare with [`files_equal`].
    Large(u64),
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::Bytes(b) if b.len() <= 32 => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Content::Bytes(b) => write!(f, "{} bytes starting {:?}", b.len(), &b[..16]),
            Content::Large(n) => write!(f, "{n} bytes (large)"),
        }
    }
}

/// Every entry beneath `root` (the root itself as ""), by relative path bytes.
pub fn snapshot(root: &Path) -> BTreeMap<Vec<u8>, Node> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, path: &Path, out: &mut BTreeMap<Vec<u8>, Node>) {
    let meta = fs::symlink_metadata(path).unwrap();
    let rel = path
        .strip_prefix(root)
        .unwrap()
        .as_os_str()
        .as_bytes()
        .to_vec();
    let mode = meta.mode() & 0o7777;
    let mtime = (meta.mtime(), meta.mtime_nsec());
    let node = if meta.is_dir() {
        let mut children: Vec<_> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        children.sort();
        for child in children {
            walk(root, &child, out);
        }
        Node::Dir { mode, mtime }
    } else if meta.is_symlink() {
        Node::Symlink {
            target: fs::read_link(path).unwrap().as_os_str().as_bytes().to_vec(),
        }
    } else if meta.is_file() {
        let content = if meta.len() > SNAPSHOT_CONTENT_LIMIT {
            Content::Large(meta.len())
        } else {
            Content::Bytes(fs::read(path).unwrap())
        };
        Node::File {
            content,
            mode,
            mtime,
        }
    } else {
        Node::Other
    };
    out.insert(rel, node);
}

/// Asserts that two trees hold the same names, kinds, contents, modes, times and link targets.
/// FIFOs and sockets in `src` are expected to be absent from `dst`.
pub fn assert_same_tree(src: &Path, dst: &Path) {
    let mut a = snapshot(src);
    a.retain(|_, n| *n != Node::Other);
    let b = snapshot(dst);
    let a_keys: Vec<_> = a
        .keys()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    let b_keys: Vec<_> = b
        .keys()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert_eq!(a_keys, b_keys, "different entries");
    for (key, node) in &a {
        assert_eq!(
            Some(node),
            b.get(key),
            "entry {:?} differs",
            String::from_utf8_lossy(key)
        );
        if let Node::File {
            content: Content::Large(_),
            ..
        } = node
        {
            let p = OsStr::from_bytes(key);
            assert!(files_equal(&src.join(p), &dst.join(p)));
        }
    }
}

/// Compares two files by content. Only the data regions of either file are read (found with
/// `SEEK_DATA`/`SEEK_HOLE`): outside them both files are holes, which read as zeros, so a
/// sparse file of many GiB compares in moments.
pub fn files_equal(a: &Path, b: &Path) -> bool {
    let (fa, fb) = (fs::File::open(a).unwrap(), fs::File::open(b).unwrap());
    let len = fa.metadata().unwrap().len();
    if len != fb.metadata().unwrap().len() {
        return false;
    }
    let mut regions = data_regions(&fa, len);
    regions.extend(data_regions(&fb, len));
    regions.sort_unstable();
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut done = 0u64;
    for (start, end) in regions {
        let mut pos = start.max(done);
        while pos < end {
            let n = ((end - pos) as usize).min(ba.len());
            fa.read_exact_at(&mut ba[..n], pos).unwrap();
            fb.read_exact_at(&mut bb[..n], pos).unwrap();
            if ba[..n] != bb[..n] {
                return false;
            }
            pos += n as u64;
        }
        done = done.max(end);
    }
    true
}

/// `(start, end)` of each stretch of `file` that is not a hole.
fn data_regions(file: &fs::File, len: u64) -> Vec<(u64, u64)> {
    use rustix::fs::{SeekFrom, seek};
    let mut regions = Vec::new();
    let mut pos = 0;
    while pos < len {
        let Ok(start) = seek(file, SeekFrom::Data(pos)) else {
            break;
        };
        let end = seek(file, SeekFrom::Hole(start)).map_or(len, |e| e.min(len));
        regions.push((start, end));
        pos = end;
    }
    regions
}

/// Entries in `dir` whose names mark them as sy's temporaries or partials.
pub fn leftovers(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_keys()
        .map(|k| PathBuf::from(OsStr::from_bytes(&k)))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            name.contains(".sy-tmp.") || name.ends_with(".sy-partial")
        })
        .collect()
}

/// Bytes written so far to the largest of sy's temporaries and partials directly in `dir`
/// (a file's temporary is beside it): whether an interrupted run will leave a partial.
pub fn bytes_in_temporaries(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.contains(".sy-tmp.") || name.ends_with(".sy-partial")
        })
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

/// Parses `--json` output into its events.
pub fn json_events(out: &Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// The `summary` event of `--json` output.
pub fn summary(out: &Output) -> serde_json::Value {
    json_events(out)
        .into_iter()
        .find(|e| e["event"] == "summary")
        .expect("no summary event")
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Whether a missing tool or privilege fails the test instead of skipping it: under
/// `SY_REQUIRE_SSHD=1`, which CI sets (it runs as root with rsync and OpenSSH installed).
fn skips_are_failures() -> bool {
    std::env::var_os("SY_REQUIRE_SSHD").is_some_and(|v| v == "1")
}

/// The one place a test decides it cannot run here. `true` when `available`; otherwise the
/// running test is skipped loudly (a line on stderr naming it and `missing`, which should say
/// how to get what is missing) and `false` is returned — or, under `SY_REQUIRE_SSHD=1`, the
/// test fails, so a CI run never passes a test it did not run.
pub fn require(available: bool, missing: &str) -> bool {
    if available {
        return true;
    }
    // libtest runs each test on a thread named after it.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    assert!(
        !skips_are_failures(),
        "{test}: SY_REQUIRE_SSHD=1, but it {missing}"
    );
    // Written to stderr itself: libtest would swallow `eprintln!` of a test that passes.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: it {missing} (SY_REQUIRE_SSHD=1 makes this a failure)"
    );
    false
}

/// [`require`] for a program on `PATH`, found in the Debian `package`.
pub fn require_tool(program: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
    });
    require(
        found,
        &format!("needs `{program}`, which is not on PATH (apt-get install {package})"),
    )
}

/// [`require`] for root privileges, which the test needs to `why`.
pub fn require_root(why: &str) -> bool {
    require(
        is_root(),
        &format!("needs root to {why} (run the tests as root)"),
    )
}

/// A `sy` command that permission bits apply to: as root, who reads and writes everything
/// regardless, it runs as `nobody` through `setpriv`; otherwise it is `sy` itself. `None` (the
/// test skipped, see [`require`]) when this is root and `setpriv` is missing.
pub fn sy_bound_by_permissions(f: &Fixture) -> Option<std::process::Command> {
    let mut cmd = if is_root() {
        if !require_tool("setpriv", "util-linux") {
            return None;
        }
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_sy"));
        cmd
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_sy"))
    };
    cmd.current_dir(f.root())
        .env("XDG_CONFIG_HOME", f.path(".config"));
    Some(cmd)
}

/// Gives the child the default action for SIGHUP, SIGINT and SIGTERM. sy keeps a signal its
/// parent ignored (as `nohup` leaves SIGHUP, and a shell's background job SIGINT), so a test
/// that signals sy must not hand down the dispositions of whatever runs the suite.
pub fn default_signal_actions(cmd: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: signal(2) is async-signal-safe, the only kind of call allowed between fork and
    // exec.
    unsafe {
        cmd.pre_exec(|| {
            for signal in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM] {
                if libc::signal(signal, libc::SIG_DFL) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    }
}

/// A program this workspace builds (an example), found where cargo puts it beside the `sy`
/// under test — never built from here, which would fight the running cargo for its build
/// lock. A missing one fails the test, naming the command that builds it (`build`, to which
/// `--release` is added for a release build of the tests).
pub fn built_program(rel: &str, build: &str) -> PathBuf {
    let sy = Path::new(env!("CARGO_BIN_EXE_sy"));
    let path = sy.with_file_name(rel);
    let release = sy.parent().is_some_and(|dir| dir.ends_with("release"));
    let profile = if release { " --release" } else { "" };
    assert!(
        path.is_file(),
        "{} is missing: `cargo test --workspace{profile}` builds it, or `{build}{profile}`",
        path.display(),
    );
    path
}

/// Allocated bytes of a file (to tell holes from written zeros).
pub fn allocated(path: &Path) -> u64 {
    fs::metadata(path).unwrap().blocks() * 512
}

/// The name sy keeps `name`'s partial under, in the same directory.
pub fn partial_of(name: &str) -> String {
    String::from_utf8(sy_transport::partial_name(name.as_bytes()).unwrap()).unwrap()
}

/// A name sy could give a temporary of `name`, in the same directory.
pub fn temp_of(name: &str) -> String {
    String::from_utf8(sy_transport::temp_name(name.as_bytes())).unwrap()
}
