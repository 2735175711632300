//! The `s3` target's server: moto's S3 server (`moto_server`, a Python program from PyPI's
//! `moto[server]`) on 127.0.0.1, started afresh for every run with one empty bucket, so each run
//! begins from the same state and the server's request log holds only that run's requests.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::rusage::die_with_parent;

/// The bucket every run writes to, under a prefix named after the scenario.
pub const BUCKET: &str = "bench";
/// Where `.ci/run` installs moto.
const INSTALLED: &str = "/opt/sy-moto/bin/moto_server";
/// The keys the tools sign with (moto accepts any).
pub const KEY_ID: &str = "sy-bench-key";
pub const SECRET: &str = "sy-bench-secret";
pub const REGION: &str = "us-east-1";

/// The requests of one run, by kind, as the server logged them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requests {
    /// `GET /bucket?…`: listings (and any other bucket-level GET).
    pub list: u64,
    pub head: u64,
    /// `GET /bucket/key`: downloads.
    pub get: u64,
    /// `PUT /bucket/key` without an upload id: whole objects.
    pub put: u64,
    /// Creating, filling (`PUT …?partNumber=…&uploadId=…`), completing and aborting multipart uploads.
    pub multipart: u64,
    pub delete: u64,
    pub other: u64,
}

impl Requests {
    pub fn total(&self) -> u64 {
        self.list + self.head + self.get + self.put + self.multipart + self.delete + self.other
    }

    /// Counts one request line of the log, `METHOD /target`.
    fn count(&mut self, method: &str, target: &str) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let on_bucket = path.trim_matches('/').split('/').count() <= 1;
        let multipart = query
            .split('&')
            .any(|p| p == "uploads" || p.starts_with("uploads=") || p.starts_with("uploadId="));
        let slot = match method {
            "HEAD" => &mut self.head,
            _ if multipart && !on_bucket => &mut self.multipart,
            "GET" if on_bucket => &mut self.list,
            "GET" => &mut self.get,
            "PUT" if !on_bucket => &mut self.put,
            "DELETE" => &mut self.delete,
            "POST" if query.split('&').any(|p| p == "delete" || p == "delete=") => &mut self.delete,
            _ => &mut self.other,
        };
        *slot += 1;
    }
}

impl fmt::Display for Requests {
    /// `10157 (LIST 11, PUT 10000, HEAD 146)`: the total, then the kinds that occurred.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds = [
            ("LIST", self.list),
            ("HEAD", self.head),
            ("GET", self.get),
            ("PUT", self.put),
            ("multipart", self.multipart),
            ("DELETE", self.delete),
            ("other", self.other),
        ];
        let named: Vec<String> = kinds
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        write!(f, "{} ({})", self.total(), named.join(", "))
    }
}

/// Where `moto_server` is: `$SY_MOTO_SERVER`, else where `.ci/run` installs it, else on `PATH`.
pub fn find_moto() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("SY_MOTO_SERVER") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("SY_MOTO_SERVER={} does not exist", path.display()))
        };
    }
    if Path::new(INSTALLED).is_file() {
        return Ok(INSTALLED.into());
    }
    crate::bench::which("moto_server").ok_or_else(|| {
        "moto's S3 server not found: set SY_MOTO_SERVER, or install it as .ci/run does \
         (python3 -m venv /opt/sy-moto && /opt/sy-moto/bin/pip install 'moto[server]>=5,<6')"
            .to_string()
    })
}

/// How to start the server: the program and the port it listens on for the whole bench, so the
/// tools' command lines stay the same from run to run.
pub struct S3Side {
    program: PathBuf,
    port: u16,
}

impl S3Side {
    pub fn new(program: PathBuf) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
        let port = listener.local_addr().context("finding a free port")?.port();
        Ok(Self { program, port })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A fresh server with an empty bucket.
    pub fn start(&self) -> Result<MotoServer> {
        let mut cmd = Command::new(&self.program);
        cmd.args(["-H", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        let stderr = child.stderr.take().context("moto's stderr")?;
        let log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let kept = Arc::clone(&log);
        // Read its log all along (it would block on a full pipe): one line per request.
        std::thread::spawn(move || {
            let (lines, seen) = &*kept;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line);
                }
                seen.notify_all();
            }
            // The end of the log is news too: the server is gone.
            if let Ok(mut lines) = lines.lock() {
                lines.push(String::from(CLOSED));
            }
            seen.notify_all();
        });
        let server = MotoServer {
            child,
            endpoint: self.endpoint(),
            log,
            marks: 0,
        };
        server
            .wait_for("Running on http://", Duration::from_secs(30))
            .context("starting moto's S3 server")?;
        let (status, _) = server.raw("PUT", &format!("/{BUCKET}"))?;
        if !status.contains(" 200") {
            bail!("creating the bucket {BUCKET}: {status}");
        }
        Ok(server)
    }
}

/// What the log thread adds when moto's stderr closes.
const CLOSED: &str = "(moto's log closed)";

/// A running moto server, stopped when dropped.
pub struct MotoServer {
    child: Child,
    endpoint: String,
    /// Every line moto has written on stderr since the last `take_requests`.
    log: Arc<(Mutex<Vec<String>>, Condvar)>,
    marks: usize,
}

impl MotoServer {
    /// Waits until a log line contains `needle`.
    fn wait_for(&self, needle: &str, timeout: Duration) -> Result<()> {
        let (lines, seen) = &*self.log;
        let guard = lines
            .lock()
            .map_err(|_| anyhow::anyhow!("moto's log reader panicked"))?;
        let (guard, waited) = seen
            .wait_timeout_while(guard, timeout, |lines| {
                !lines.iter().any(|l| l.contains(needle) || l == CLOSED)
            })
            .map_err(|_| anyhow::anyhow!("moto's log reader panicked"))?;
        if guard.iter().any(|l| l.contains(needle)) {
            return Ok(());
        }
        let tail: Vec<&str> = guard
            .iter()
            .rev()
            .take(5)
            .rev()
            .map(String::as_str)
            .collect();
        if waited.timed_out() {
            bail!(
                "no `{needle}` from moto within {} s: {}",
                timeout.as_secs(),
                tail.join(" / ")
            );
        }
        bail!("moto exited: {}", tail.join(" / "))
    }

    /// The requests logged since the last call. A marker request is sent and waited for first,
    /// so every request answered before the call is counted.
    pub fn take_requests(&mut self) -> Result<Requests> {
        self.marks += 1;
        let marker = format!("/sy-bench-mark-{}", self.marks);
        self.raw("HEAD", &marker)?;
        // With the space after it, so that mark 1 is not found in mark 10.
        self.wait_for(&format!("{marker} "), Duration::from_secs(30))?;
        let (lines, _) = &*self.log;
        let logged: Vec<String> = lines
            .lock()
            .map_err(|_| anyhow::anyhow!("moto's log reader panicked"))?
            .drain(..)
            .collect();
        let mut requests = Requests::default();
        let plain: Vec<String> = logged.iter().map(|l| without_colours(l)).collect();
        for (method, target) in plain.iter().filter_map(|l| request_line(l)) {
            if !target.starts_with("/sy-bench-mark-") {
                requests.count(method, target);
            }
        }
        Ok(requests)
    }

    /// Every object under `prefix` (which ends in `/`), by its name below the prefix, with its
    /// size: one unsigned `ListObjectsV2` walk (moto accepts unsigned requests).
    pub fn list(&self, prefix: &str) -> Result<BTreeMap<String, u64>> {
        let mut objects = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let mut target = format!("/{BUCKET}?list-type=2&prefix={}", percent_encode(prefix));
            if let Some(token) = &token {
                target.push_str("&continuation-token=");
                target.push_str(&percent_encode(token));
            }
            let (status, body) = self.raw("GET", &target)?;
            if !status.contains(" 200") {
                bail!("listing {BUCKET}/{prefix}: {status}");
            }
            let page = parse_listing(&body)?;
            for (key, size) in page.objects {
                let name = key.strip_prefix(prefix).unwrap_or(&key).to_string();
                objects.insert(name, size);
            }
            match page.next {
                Some(next) if token.as_ref() != Some(&next) => token = Some(next),
                Some(_) => bail!("listing {BUCKET}/{prefix}: the continuation token repeats"),
                None => return Ok(objects),
            }
        }
    }

    /// One unsigned HTTP/1.0 request (no chunked answer to decode): the status line and the body.
    fn raw(&self, method: &str, target: &str) -> Result<(String, String)> {
        let host = self.endpoint.trim_start_matches("http://");
        let mut stream =
            TcpStream::connect(host).with_context(|| format!("connecting to moto at {host}"))?;
        write!(stream, "{method} {target} HTTP/1.0\r\nHost: {host}\r\n\r\n")
            .context("writing to moto")?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .context("reading moto's answer")?;
        let answer = String::from_utf8_lossy(&answer);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head.lines().next().unwrap_or_default().to_string();
        Ok((status, body.to_string()))
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `line` without the terminal colour codes moto puts around the request of an answer other than
/// 200 (werkzeug colours them whatever `NO_COLOR` says).
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

/// `("GET", "/bench?list-type=2")` from a log line `127.0.0.1 - - [date] "GET /bench?list-type=2 HTTP/1.1" 200 -`.
fn request_line(line: &str) -> Option<(&str, &str)> {
    let request = line.split('"').nth(1)?;
    let mut words = request.split(' ');
    let (method, target) = (words.next()?, words.next()?);
    method
        .bytes()
        .all(|b| b.is_ascii_uppercase())
        .then_some((method, target))
}

/// One page of a `ListObjectsV2` answer.
#[derive(Debug, PartialEq)]
struct Page {
    objects: Vec<(String, u64)>,
    /// The continuation token when the listing is truncated.
    next: Option<String>,
}

fn parse_listing(xml: &str) -> Result<Page> {
    let mut objects = Vec::new();
    for contents in elements(xml, "Contents") {
        let key = elements(contents, "Key")
            .next()
            .context("a <Contents> without <Key> in the listing")?;
        let size = elements(contents, "Size")
            .next()
            .and_then(|s| s.trim().parse().ok())
            .with_context(|| format!("no valid <Size> for {key} in the listing"))?;
        objects.push((unescape(key), size));
    }
    let truncated = elements(xml, "IsTruncated").next() == Some("true");
    let next = if truncated {
        let token = elements(xml, "NextContinuationToken")
            .next()
            .context("a truncated listing without <NextContinuationToken>")?;
        Some(unescape(token))
    } else {
        None
    };
    Ok(Page { objects, next })
}

/// The text inside each `<tag>…</tag>` of `xml`, in order (no nesting of the same tag).
fn elements<'a>(xml: &'a str, tag: &str) -> impl Iterator<Item = &'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut rest = xml;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let len = rest[start..].find(&close)?;
        let inner = &rest[start..start + len];
        rest = &rest[start + len + close.len()..];
        Some(inner)
    })
}

/// XML text with its five predefined entities (and numeric ones) replaced.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let Some(end) = after.find(';') else {
            out.push_str(&rest[at..]);
            return out;
        };
        let entity = &after[..end];
        let numeric = entity
            .strip_prefix("#x")
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
            .and_then(char::from_u32);
        match (entity, numeric) {
            ("amp", _) => out.push('&'),
            ("lt", _) => out.push('<'),
            ("gt", _) => out.push('>'),
            ("quot", _) => out.push('"'),
            ("apos", _) => out.push('\''),
            (_, Some(c)) => out.push(c),
            _ => out.push_str(&rest[at..=at + 1 + end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `text` for a URL's query: every byte but the unreserved ones as `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_by_kind_from_the_log() {
        let log = [
            r#"127.0.0.1 - - [08/Dec/2026 03:46:42] "GET /bench?list-type=2&prefix=w3/ HTTP/1.1" 200 -"#,
            r#"127.0.0.1 - - [08/Dec/2026 03:46:42] "PUT /bench/w3/a.txt HTTP/1.1" 200 -"#,
            r#"127.0.0.1 - - [08/Dec/2026 03:46:42] "HEAD /bench/w3/a.txt HTTP/1.1" 200 -"#,
            "127.0.0.1 - - [08/Dec/2026 04:03:22] \"\x1b[35m\x1b[1mGET /bench/w3/a.txt HTTP/1.1\x1b[0m\" 206 -",
            r#"127.0.0.1 - - [08/Dec/2026 03:46:42] "POST /bench/w3/big?uploads HTTP/1.1" 200 -"#,
            r#"127.0.0.1 - - [08/Dec/2026 03:46:42] "PUT /bench/w3/big?partNumber=1&uploadId=x HTTP/1.1" 200 -"#,
            r#"127.0.0.1 - - [08/Dec/2026 03:46:42] "POST /bench/w3/big?uploadId=x HTTP/1.1" 200 -"#,
            r#"127.0.0.1 - - [08/Dec/2026 03:46:42] "DELETE /bench/w3/old HTTP/1.1" 204 -"#,
            r#"127.0.0.1 - - [08/Dec/2026 03:46:42] "POST /bench?delete HTTP/1.1" 200 -"#,
            " * Running on http://127.0.0.1:44575",
        ];
        let mut requests = Requests::default();
        let plain: Vec<String> = log.iter().map(|l| without_colours(l)).collect();
        for (method, target) in plain.iter().filter_map(|l| request_line(l)) {
            requests.count(method, target);
        }
        assert_eq!(
            requests,
            Requests {
                list: 1,
                head: 1,
                get: 1,
                put: 1,
                multipart: 3,
                delete: 2,
                other: 0
            }
        );
        assert_eq!(
            requests.to_string(),
            "9 (LIST 1, HEAD 1, GET 1, PUT 1, multipart 3, DELETE 2)"
        );
    }

    #[test]
    fn parses_listing_pages() {
        let xml = "<?xml version=\"1.0\"?><ListBucketResult><Name>bench</Name>\
            <Contents><Key>w3/a&amp;b.txt</Key><Size>12</Size></Contents>\
            <Contents><Key>w3/g00/f00001.txt</Key><Size>0</Size></Contents>\
            <IsTruncated>true</IsTruncated><NextContinuationToken>t+1/=</NextContinuationToken>\
            </ListBucketResult>";
        assert_eq!(
            parse_listing(xml).unwrap(),
            Page {
                objects: vec![("w3/a&b.txt".into(), 12), ("w3/g00/f00001.txt".into(), 0)],
                next: Some("t+1/=".into()),
            }
        );
        let last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
        assert_eq!(
            parse_listing(last).unwrap(),
            Page {
                objects: vec![],
                next: None
            }
        );
        let bad = "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>";
        assert!(parse_listing(bad).is_err());
    }

    #[test]
    fn unescapes_and_encodes() {
        assert_eq!(unescape("a&lt;b&#233;&#x41;&bogus;"), "a<béA&bogus;");
        assert_eq!(percent_encode("w3/a b+é"), "w3%2Fa%20b%2B%C3%A9");
    }
}
