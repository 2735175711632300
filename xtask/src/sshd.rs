//! A private OpenSSH server for the `ssh` and `wan` targets: a random 127.0.0.1 port (never 22),
//! host and user keys generated in a temporary directory, root login by key only, and every command
//! run through the rusage wrapper (`xtask remote-wrap`). The server dies with its guard, and with
//! this process even if it is killed (`PR_SET_PDEATHSIG`).

use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::rusage::{REMOTE_WRAP, Usage, die_with_parent, take_stats};
use crate::tools::Remote;

pub const SSHD: &str = "/usr/sbin/sshd";
/// The same cipher for every tool and for the `ssh … cat` ceiling.
pub const CIPHER: &str = "aes128-gcm@openssh.com";

pub struct Sshd {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    host_public_key: String,
    user: String,
}

impl Sshd {
    /// Starts sshd with `wrapper` (this xtask binary) as its ForceCommand.
    pub fn start(wrapper: &Path) -> Result<Self> {
        if !Path::new(SSHD).exists() {
            bail!("{SSHD} not found (apt-get install openssh-server)");
        }
        // sshd refuses to start without its privilege-separation directory.
        fs::create_dir_all("/run/sshd")
            .context("creating /run/sshd (the ssh target needs root)")?;
        let dir = tempfile::Builder::new()
            .prefix("sy-bench-sshd")
            .tempdir()
            .context("creating a temp dir for sshd")?;
        let host_key = dir.path().join("host_ed25519");
        let user_key = dir.path().join("user_ed25519");
        keygen(&host_key)?;
        keygen(&user_key)?;
        let host_public_key = read_trimmed(&host_key.with_extension("pub"))?;
        fs::copy(
            user_key.with_extension("pub"),
            dir.path().join("authorized_keys"),
        )
        .context("writing authorized_keys")?;
        let user = std::env::var("USER").unwrap_or_else(|_| "root".to_string());

        let mut last_error = None;
        // The port is free when we pick it, but another process may take it before sshd binds it.
        for _ in 0..3 {
            let port = free_port()?;
            let config = dir.path().join("sshd_config");
            fs::write(&config, sshd_config(dir.path(), port, wrapper))
                .context("writing sshd_config")?;
            let log = fs::File::create(dir.path().join("sshd.log")).context("creating sshd.log")?;
            let mut cmd = Command::new(SSHD);
            cmd.arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            die_with_parent(&mut cmd);
            let mut child = cmd.spawn().with_context(|| format!("starting {SSHD}"))?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            match wait_listening(&mut child, addr, dir.path()) {
                Ok(()) => {
                    return Ok(Self {
                        child,
                        dir,
                        addr,
                        host_public_key,
                        user,
                    });
                }
                Err(e) => {
                    last_error = Some(e);
                    stop(&mut child);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("sshd did not start")))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How a client reaches sshd through a relay on `port`: a `Host sy-bench-PORT` entry in the
    /// bench's own ssh_config (no user config; key only; strict host-key checking against our
    /// known_hosts; our cipher), used as `ssh -F CONFIG sy-bench-PORT` by every tool.
    pub fn client_for(&self, port: u16) -> Result<Remote> {
        let alias = format!("sy-bench-{port}");
        let d = self.dir.path().display();
        let entry = format!(
            "Host {alias}\n\
             \x20 HostName 127.0.0.1\n\
             \x20 Port {port}\n\
             \x20 User {user}\n\
             \x20 IdentityFile {d}/user_ed25519\n\
             \x20 IdentitiesOnly yes\n\
             \x20 UserKnownHostsFile {d}/known_hosts\n\
             \x20 StrictHostKeyChecking yes\n\
             \x20 CheckHostIP no\n\
             \x20 BatchMode yes\n\
             \x20 Compression no\n\
             \x20 Ciphers {CIPHER}\n\
             \x20 LogLevel ERROR\n",
            user = self.user,
        );
        append(
            &self.dir.path().join("known_hosts"),
            &format!("[127.0.0.1]:{port} {}\n", self.host_public_key),
        )?;
        let config = self.dir.path().join("ssh_config");
        append(&config, &entry)?;
        Ok(Remote {
            rsh: vec!["ssh".into(), "-F".into(), config.display().to_string()],
            ssh_config: config,
            login: alias,
        })
    }

    fn stats_file(&self) -> PathBuf {
        self.dir.path().join("remote-stats")
    }

    /// CPU of every finished session sshd has reaped (`cutime` + `cstime` in /proc: key exchange,
    /// encryption and the remote command), in clock ticks converted to time.
    pub fn reaped_cpu(&self) -> Result<Duration> {
        let stat_path = format!("/proc/{}/stat", self.child.id());
        let stat =
            fs::read_to_string(&stat_path).with_context(|| format!("reading {stat_path}"))?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after = stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let fields: Vec<&str> = after.split_whitespace().collect();
        // cutime and cstime are fields 16 and 17 of stat(5), i.e. 14 and 15 after the name.
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // SAFETY: sysconf reads a constant.
        let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
            .unwrap_or(100)
            .max(1);
        Ok(Duration::from_micros(
            (ticks(13) + ticks(14)) * 1_000_000 / hz,
        ))
    }

    /// Waits until sshd has reaped every session, so `reaped_cpu` is complete for a finished run.
    pub fn wait_sessions_reaped(&self, timeout: Duration) -> bool {
        let pid = self.child.id();
        let children = format!("/proc/{pid}/task/{pid}/children");
        let deadline = Instant::now() + timeout;
        while fs::read_to_string(&children).is_ok_and(|c| !c.trim().is_empty()) {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// The usage of the remote commands since the last call (CPU summed, largest peak RSS).
    pub fn take_remote_usage(&self) -> Result<Option<Usage>> {
        Ok(take_stats(&self.stats_file())?.map(|m| m.usage))
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn stop(child: &mut Child) {
    // SIGTERM lets sshd clean up; a pid that does not fit pid_t is never turned into 0, which
    // would signal our whole process group.
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) on our own child's pid; no memory involved.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    } else {
        let _ = child.kill();
    }
    let _ = child.wait();
}

fn wait_listening(child: &mut Child, addr: SocketAddr, dir: &Path) -> Result<()> {
    let log = || {
        fs::read_to_string(dir.join("sshd.log"))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().context("waiting for sshd")? {
            bail!("sshd exited at startup ({status}): {}", log());
        }
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("sshd did not listen on {addr} within 10 s: {}", log());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn sshd_config(dir: &Path, port: u16, wrapper: &Path) -> String {
    let d = dir.display();
    let stats = dir.join("remote-stats");
    format!(
        "ListenAddress 127.0.0.1:{port}\n\
         HostKey {d}/host_ed25519\n\
         PidFile {d}/sshd.pid\n\
         AuthorizedKeysFile {d}/authorized_keys\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         UseDNS no\n\
         MaxStartups 100\n\
         MaxSessions 64\n\
         LogLevel ERROR\n\
         Subsystem sftp /usr/lib/openssh/sftp-server\n\
         ForceCommand {} {REMOTE_WRAP} {}\n",
        shell_quote(&wrapper.display().to_string()),
        shell_quote(&stats.display().to_string()),
    )
}

/// Quotes `s` as one word for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn keygen(path: &Path) -> Result<()> {
    let output = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "sy-bench", "-f"])
        .arg(path)
        .output()
        .context("running ssh-keygen (apt-get install openssh-client)")?;
    if !output.status.success() {
        bail!(
            "ssh-keygen failed for {}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn append(path: &Path, text: &str) -> Result<()> {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("appending to {}", path.display()))
}

fn read_trimmed(path: &Path) -> Result<String> {
    Ok(fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_string())
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("finding a free port")?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_shell_words() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
