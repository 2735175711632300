//! One sync over a real OpenSSH server: `sshd` on a random loopback port with keys made for the
//! test, `sy -e "ssh …"` pushing and pulling through it. Skipped (loudly) where there is no
//! sshd; `SY_REQUIRE_SSHD=1` makes that a failure ([`require`]).

use std::fs;
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::remote::sy_remote;
use crate::util::{Fixture, assert_same_tree, require, stderr};

const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd, killed when dropped.
pub struct Sshd {
    child: Child,
    pub port: u16,
}

impl Sshd {
    /// Sends `signal` to sshd and every process under it (its sessions and their commands).
    pub fn signal_all(&self, signal: rustix::process::Signal) {
        let mut family = vec![self.child.id()];
        let mut i = 0;
        while i < family.len() {
            let parent = family[i];
            for entry in fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
                // The parent pid is the second field after the parenthesised command name.
                let ppid = stat
                    .rsplit_once(") ")
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok());
                if ppid == Some(parent) && !family.contains(&pid) {
                    family.push(pid);
                }
            }
            i += 1;
        }
        for pid in family {
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, signal);
            }
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.signal_all(rustix::process::Signal::CONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "ssh-keygen failed");
}

fn free_port(address: IpAddr) -> u16 {
    TcpListener::bind((address, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts sshd with a generated config in `dir`, accepting `user_key` for any local user.
/// Sessions get `home` as HOME (and as the SFTP start directory) and a PATH of `home`/bin
/// (empty unless a test puts a command there), /usr/bin and /bin: nothing from this checkout.
/// Call [`sshd_usable`] first.
pub fn start_sshd(dir: &Path, user_key: &Path, home: &Path) -> Sshd {
    start_sshd_at(dir, user_key, home, IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// [`start_sshd`] listening on `address`, one of this machine's.
pub fn start_sshd_at(dir: &Path, user_key: &Path, home: &Path, address: IpAddr) -> Sshd {
    let host_key = dir.join("host_key");
    keygen(&host_key);
    let authorized = dir.join("authorized_keys");
    fs::copy(user_key.with_extension("pub"), &authorized).unwrap();
    for _attempt in 0..3 {
        let port = free_port(address);
        assert_ne!(port, 22);
        let config = dir.join("sshd_config");
        fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress {address}\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PidFile {}\nStrictModes no\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nUsePAM no\nLogLevel ERROR\n\
                 SetEnv HOME={home} PATH={home}/bin:/usr/bin:/bin\n\
                 Subsystem sftp internal-sftp -d {home}\n",
                host_key.display(),
                authorized.display(),
                dir.join("sshd.pid").display(),
                home = home.display(),
            ),
        )
        .unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut sshd = Sshd { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect((address, port)).is_ok() {
                return sshd;
            }
            if let Ok(Some(_)) = sshd.child.try_wait() {
                break; // the port was taken meanwhile: try another
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(sshd);
    }
    panic!("sshd did not start on any port");
}

/// Whether this machine can run a test sshd; if not, the test is skipped or fails ([`require`]).
pub fn sshd_usable() -> bool {
    require(
        Path::new(SSHD).exists(),
        &format!("needs OpenSSH's sshd at {SSHD} (apt-get install openssh-server)"),
    ) && require(
        // Privilege separation needs this directory; it is missing in minimal containers.
        fs::create_dir_all("/run/sshd").is_ok(),
        "needs /run/sshd for sshd's privilege separation, which it cannot create (run as root)",
    )
}

pub fn user_name() -> String {
    if rustix::process::geteuid().is_root() {
        return "root".to_owned();
    }
    std::env::var("USER").expect("USER is set")
}

#[test]
fn push_and_pull_over_openssh() {
    if !sshd_usable() {
        return;
    }
    let f = Fixture::new();
    let keys = f.mkdir("keys");
    let user_key = keys.join("id_ed25519");
    keygen(&user_key);
    let home = f.mkdir("remote-home");
    let sshd = start_sshd(&keys, &user_key, &home);
    let host_pub = fs::read_to_string(keys.join("host_key.pub")).unwrap();
    let known_hosts = keys.join("known_hosts");
    fs::write(
        &known_hosts,
        format!("[127.0.0.1]:{} {host_pub}", sshd.port),
    )
    .unwrap();
    let rsh = format!(
        "ssh -F /dev/null -p {} -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes \
         -o BatchMode=yes",
        sshd.port,
        user_key.display(),
        known_hosts.display()
    );
    f.write("src/hello.txt", "over ssh\n");
    f.write("src/dir with space/$(not run)", vec![7u8; 300_000]);
    f.symlink("hello.txt", "src/link");
    let run = |src: String, dst: String| -> PathBuf {
        let out = f
            .sy()
            .args(["-e", &rsh, "--remote-path"])
            .arg(sy_remote())
            .arg(&src)
            .arg(&dst)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "sy {src} {dst}: {}",
            stderr(&out)
        );
        PathBuf::from(dst)
    };
    let host = format!("{}@127.0.0.1", user_name());
    run(f.src_slash(), format!("{host}:{}/", f.dst().display()));
    assert_same_tree(&f.src(), &f.dst());
    let pulled = f.path("pulled");
    run(
        format!("{host}:{}/", f.src().display()),
        pulled.display().to_string(),
    );
    assert_same_tree(&f.src(), &pulled);
    drop(sshd);
}
