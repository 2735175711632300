//! A real S3 server for the tests: moto's (`moto_server`, from PyPI's `moto[server]`; `.ci/run`
//! installs it and names it in `SY_MOTO_SERVER`), started on 127.0.0.1 at a port of its
//! choosing, with one bucket, stopped when dropped. Its request log is kept, so a test can
//! count the requests a run made by kind.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};

use crate::util::require;

/// The access key the tests use (moto accepts any).
const KEY_ID: &str = "sy-test-key";
const SECRET: &str = "sy-test-secret";

/// A running `moto_server` with a bucket.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The bucket made for the test.
    pub bucket: String,
    log: Arc<(Mutex<Vec<String>>, Condvar)>,
    marks: usize,
}

/// Where `moto_server` is: `SY_MOTO_SERVER`, or on `PATH`.
fn moto_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SY_MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("moto_server"))
        .find(|candidate| candidate.is_file())
}

impl S3Server {
    /// Starts the server and makes `bucket`; `None` (the test skipped loudly, or failed under
    /// `SY_REQUIRE_SSHD=1`) when moto is not installed. Any credentials are accepted.
    pub fn start(bucket: &str) -> Option<S3Server> {
        S3Server::launch(bucket, false)
    }

    /// Like [`S3Server::start`], but the server checks credentials once the bucket is made
    /// (and knows none: every signed request is refused with `InvalidAccessKeyId`).
    pub fn start_checking_credentials(bucket: &str) -> Option<S3Server> {
        S3Server::launch(bucket, true)
    }

    fn launch(bucket: &str, check_credentials: bool) -> Option<S3Server> {
        let program = moto_server();
        if !require(
            program.is_some(),
            "needs moto's S3 server (pip install 'moto[server]', or set SY_MOTO_SERVER)",
        ) {
            return None;
        }
        let mut command = Command::new(program?);
        if check_credentials {
            // The bucket's creation is the one request let through unchecked.
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", "1");
        }
        let mut child = command
            .args(["-H", "127.0.0.1", "-p", "0"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting moto_server");
        let mut lines = BufReader::new(child.stderr.take().expect("moto's stderr")).lines();
        let endpoint = loop {
            let line = lines
                .next()
                .expect("moto_server exited before it listened")
                .expect("reading moto's log");
            if let Some(at) = line.find("Running on http://") {
                break line[at + "Running on ".len()..].trim().to_owned();
            }
        };
        // Keep reading its log (it would block on a full pipe), one line per request.
        let log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let (lines, seen) = &*kept;
                lines.lock().unwrap().push(line);
                seen.notify_all();
            }
        });
        let server = S3Server {
            child,
            endpoint,
            bucket: bucket.to_owned(),
            log,
            marks: 0,
        };
        let status = server.raw("PUT", &format!("/{bucket}"));
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "creating the bucket: {status}"
        );
        Some(server)
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// `cmd` with the environment that points sy at this server.
    pub fn env<'a>(&self, cmd: &'a mut assert_cmd::Command) -> &'a mut assert_cmd::Command {
        cmd.envs(self.vars())
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
    }

    /// [`S3Server::env`] for a process the test spawns itself.
    pub fn env_std<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.envs(self.vars())
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
    }

    fn vars(&self) -> [(&str, &str); 4] {
        [
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &self.endpoint),
        ]
    }

    /// Deletes the object `key` behind sy's back.
    pub fn delete(&self, key: &str) {
        let status = self.raw("DELETE", &format!("/{}/{key}", self.bucket));
        assert!(
            status.starts_with("HTTP/1.1 204"),
            "deleting {key}: {status}"
        );
    }

    /// One unsigned request (moto accepts them); the status line of the answer.
    fn raw(&self, method: &str, path: &str) -> String {
        let host = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).expect("connecting to moto");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer.lines().next().unwrap_or("").to_owned()
    }

    /// The requests the server logged since the last call (`GET /bucket?list-type=2…`, `PUT
    /// /bucket/key`…), as method and target. A marker request is sent and waited for first, so
    /// everything answered before the call is in the log.
    pub fn requests(&mut self) -> Vec<String> {
        self.marks += 1;
        let marker = format!("/sy-test-mark-{}", self.marks);
        self.raw("HEAD", &marker);
        let (lines, seen) = &*self.log;
        let mut lines = lines.lock().unwrap();
        while !lines.iter().any(|l| l.contains(&marker)) {
            lines = seen.wait(lines).unwrap();
        }
        let logged: Vec<String> = lines.drain(..).collect();
        logged
            .iter()
            .map(|l| without_colours(l))
            .filter_map(|l| {
                let request = l.split('"').nth(1)?;
                let mut parts = request.split(' ');
                let (method, target) = (parts.next()?, parts.next()?);
                (!target.starts_with("/sy-test-mark-")).then(|| format!("{method} {target}"))
            })
            .collect()
    }
}

/// `line` without the terminal colour codes the server's log may have.
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find('\x1b') {
        out.push_str(&rest[..at]);
        rest = rest[at..].split_once('m').map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    out
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
