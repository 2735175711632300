//! Where a deployed `sy-remote` lives on a host, and the check it passes before it runs.
//!
//! The copy is named by its content: `~/.cache/sy/sy-remote-<first 16 hex digits of its
//! BLAKE3>`, so a rebuilt agent (every dev build calls itself 0.1.0) gets a name of its own and
//! is never mistaken for an older one. Before it is executed, the remote shell looks at the
//! directory and the file without following links (`ls -lnd`, which is lstat): both must be
//! owned by the login user, the directory `drwx------`, the file `-rwx------` (an SELinux
//! context `.` is allowed, an ACL `+` is not) and of the local binary's size. Anything else is
//! not run; the caller deploys a fresh copy, which replaces it.
//!
//! The check is a shell test in the same command that starts the agent, not SFTP `lstat`
//! calls: the command is sent anyway, so a checked start costs no round trip more than an
//! unchecked one, where opening an SFTP session for the check would cost several on every run.

use std::io::Read;
use std::path::{Path, PathBuf};

use sy_delta::{FileDigest, FileHasher};

use crate::error::{Error, Result};

/// The directory of deployed agents, relative to the remote home (where both the login shell
/// and OpenSSH's SFTP server start).
pub(crate) const AGENT_DIR: &str = ".cache/sy";

/// Hex digits of the digest in a deployed agent's name: 64 bits tell builds apart.
const NAME_DIGITS: usize = 16;

/// The local `sy-remote` that deploying copies: its path, size and BLAKE3 digest, read once.
#[derive(Debug, Clone)]
pub struct LocalAgent {
    path: PathBuf,
    len: u64,
    digest: FileDigest,
}

impl LocalAgent {
    /// Reads `path` through once for its size and digest.
    pub fn read(path: &Path) -> Result<LocalAgent> {
        let error = |source| Error::Io {
            action: "reading",
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(error)?;
        let mut hasher = FileHasher::new();
        let mut counted = CountingReader {
            inner: file,
            count: 0,
        };
        hasher.update_reader(&mut counted).map_err(error)?;
        Ok(LocalAgent {
            path: path.to_owned(),
            len: counted.count,
            digest: hasher.finalize(),
        })
    }

    /// Where the binary is here.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its size in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Its BLAKE3 digest.
    pub(crate) fn digest(&self) -> FileDigest {
        self.digest
    }

    /// The deployed copy's file name: `sy-remote-<first 16 hex digits of the digest>`.
    pub fn file_name(&self) -> String {
        let hex = self.digest.to_string();
        format!("sy-remote-{}", &hex[..NAME_DIGITS])
    }

    /// The deployed copy's path relative to the remote home.
    pub fn remote_path(&self) -> String {
        format!("{AGENT_DIR}/{}", self.file_name())
    }

    /// The command line that runs the deployed copy only when it passes the check (module
    /// docs), for the remote login shell; the agent's arguments follow it. When the check
    /// fails it runs nothing and exits with 127, as a missing command does.
    ///
    /// The script goes to `sh -c` in single quotes, so whatever the login shell (csh and fish
    /// included) it reaches `sh` as written; it holds no quote, backslash, `!` or newline.
    pub fn launcher(&self) -> String {
        format!(
            "sh -c 'set -f; u=$(id -u); d=$HOME/{AGENT_DIR}; f=$d/{name}; \
             ok() {{ m=$2 s=$3; set -- $(ls -lnd -- \"$1\" 2>/dev/null); \
             [ \"$3\" = \"$u\" ] && case $1 in \"$m\"|\"$m\".) [ -z \"$s\" ] || [ \"$5\" = \"$s\" ];; \
             *) false;; esac; }}; \
             if ok \"$d\" drwx------ && ok \"$f\" -rwx------ {len}; then exec \"$f\" \"$@\"; fi; \
             echo \"sy: not running $f: missing, or not a private copy of this sy-remote\" >&2; exit 127' \
             sy-remote",
            name = self.file_name(),
            len = self.len,
        )
    }
}

/// Counts the bytes read through it.
struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    use super::*;

    /// Runs the launcher as a login shell would, with HOME at `home`, the agent's arguments
    /// `a b`; returns its exit code and stdout.
    fn launch(agent: &LocalAgent, home: &Path) -> (Option<i32>, String) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{} a 'b c'", agent.launcher()))
            .env("HOME", home)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    }

    /// A script of exactly `len` bytes that prints its arguments.
    fn script(len: usize) -> Vec<u8> {
        let mut text = b"#!/bin/sh\nprintf '%s|' \"$@\"\nexit 0\n".to_vec();
        text.resize(len, b'#');
        text
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_launcher_runs_a_private_copy_of_the_right_size_and_nothing_else() {
        let home = tempfile::tempdir().unwrap();
        let local = home.path().join("local-agent");
        std::fs::write(&local, script(4096)).unwrap();
        let agent = LocalAgent::read(&local).unwrap();
        assert_eq!(agent.len(), 4096);
        assert_eq!(agent.digest(), FileDigest::of_bytes(&script(4096)));
        assert_eq!(agent.file_name().len(), "sy-remote-".len() + NAME_DIGITS);
        let dir = home.path().join(AGENT_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        chmod(&dir, 0o700);
        let deployed = home.path().join(agent.remote_path());
        std::fs::write(&deployed, script(4096)).unwrap();
        chmod(&deployed, 0o700);
        assert_eq!(launch(&agent, home.path()), (Some(0), "a|b c|".to_owned()));

        let refused = (Some(127), String::new());
        for mode in [0o777, 0o770, 0o755, 0o4700] {
            chmod(&deployed, mode);
            assert_eq!(launch(&agent, home.path()), refused, "file mode {mode:o}");
        }
        chmod(&deployed, 0o700);
        for mode in [0o755, 0o770, 0o701] {
            chmod(&dir, mode);
            assert_eq!(
                launch(&agent, home.path()),
                refused,
                "directory mode {mode:o}"
            );
        }
        chmod(&dir, 0o700);
        std::fs::write(&deployed, script(4095)).unwrap();
        assert_eq!(launch(&agent, home.path()), refused, "wrong size");
        std::fs::remove_file(&deployed).unwrap();
        assert_eq!(launch(&agent, home.path()), refused, "missing");
        let elsewhere = home.path().join("elsewhere");
        std::fs::write(&elsewhere, script(4096)).unwrap();
        chmod(&elsewhere, 0o700);
        std::os::unix::fs::symlink(&elsewhere, &deployed).unwrap();
        assert_eq!(launch(&agent, home.path()), refused, "a symlink");
    }
}
