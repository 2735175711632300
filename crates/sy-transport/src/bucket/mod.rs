//! [`Bucket`]: a key prefix in an object store (`s3://bucket/prefix/`) as a [`Transport`],
//! on Apache Arrow's `object_store` crate.
//!
//! The keys under the prefix are the tree (`a/b.txt`); directories are implied by the keys
//! and never stored, so an empty directory does not survive a round trip. Only regular files
//! are kept: the engine skips symbolic links and special files before they get here. Each file
//! is one PUT (multipart beyond [`write::MULTIPART_FROM`], parts in flight bounded), its
//! modification time in the object's metadata ([`mtime`]); a download is a streamed GET into
//! the local writer, which renames it into place. There are no deltas: whole files only.
//!
//! A scan is one paginated listing. A listing has no user metadata, so a scan reports each
//! object's `Last-Modified` as its time and says so ([`Transport::reports_write_times`]); the
//! engine compares with that in mind (docs/object-storage.md).

mod config;
mod mtime;
mod ops;
mod read;
mod scan;
mod url;
mod write;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use object_store::ObjectStore;
use object_store::path::Path;

pub use self::url::{ObjectUrl, StoreKind};
use crate::{
    Basis, DeltaSource, Entry, Error, FileDigest, FileWrite, MetaOptions, ReadOptions, RelPath,
    Result, Scan, ScanOptions, SourceFile, Transport, TreeOp, WriteOptions, Written,
};

/// Requests in flight at once for one batch of files (small PUTs, GETs, DELETEs).
const REQUESTS_IN_FLIGHT: usize = 16;

/// A prefix in a bucket, as one side of a sync.
#[derive(Clone, Debug)]
pub struct Bucket {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn ObjectStore>,
    /// The prefix, as the keys start (empty for the whole bucket).
    root: RelPath,
    /// `s3://bucket/prefix`, for messages.
    location: String,
    /// `s3://bucket`, to name keys in messages.
    bucket: String,
    /// The directories the last scans found (implied by keys beneath them), relative to the
    /// prefix: removing one of them removes what is beneath; anything else is one object.
    dirs: Mutex<HashSet<RelPath>>,
}

impl Bucket {
    /// The prefix `url` names, with a client configured from the environment (see
    /// docs/object-storage.md). Nothing is requested yet: a missing bucket or wrong
    /// credentials show with the first request.
    pub fn open(url: &ObjectUrl) -> Result<Bucket> {
        let store = config::open_store(url)?;
        Ok(Bucket {
            inner: Arc::new(Inner {
                store,
                root: url.prefix_path()?,
                location: url.to_string(),
                bucket: format!("{}://{}", url.kind.scheme(), url.bucket),
                dirs: Mutex::default(),
            }),
        })
    }
}

impl Inner {
    /// The key of `path` (relative to the prefix). Keys are UTF-8 without control characters.
    fn key(&self, path: &RelPath) -> Result<Path> {
        let full = self.root.join_rel(path);
        let text = std::str::from_utf8(full.as_bytes()).map_err(|_| Error::Store {
            action: "naming",
            location: self.shown_path(&full),
            reason: "object keys must be UTF-8".to_owned(),
        })?;
        // What `RelPath` lets through and a key refuses: control characters (the parser's own
        // message would quote them raw, so it is not passed on).
        Path::parse(text).map_err(|_| Error::Store {
            action: "naming",
            location: self.shown_path(&full),
            reason: "an object key cannot hold control characters (a newline, a tab…)".to_owned(),
        })
    }

    /// Notes the directories a scan found.
    fn saw_dirs(&self, found: impl Iterator<Item = RelPath>) {
        if let Ok(mut dirs) = self.dirs.lock() {
            dirs.extend(found);
        }
    }

    /// False when `path` is known to be a file, not a directory (as the last scan saw it).
    fn may_be_dir(&self, path: &RelPath) -> bool {
        self.dirs.lock().map_or(true, |dirs| dirs.contains(path))
    }

    /// `s3://bucket/key` for messages.
    fn shown(&self, key: &Path) -> String {
        format!("{}/{key}", self.bucket)
    }

    fn shown_path(&self, full: &RelPath) -> String {
        format!("{}/{full}", self.bucket)
    }

    /// The error of `action` on `key`: the store's message, with the server's error code. A
    /// missing object is an I/O error of kind `NotFound`, as a missing file is, so that a
    /// source object deleted since the listing counts as vanished (exit 24), not failed.
    fn error(&self, action: &'static str, key: &Path, error: object_store::Error) -> Error {
        let reason = describe_store_error(&error);
        if matches!(error, object_store::Error::NotFound { .. }) {
            return Error::Io {
                action,
                path: self.shown(key),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, reason),
            };
        }
        Error::Store {
            action,
            location: self.shown(key),
            reason,
        }
    }
}

/// The store's error and its causes, with the server's `<Code>` and `<Message>` brought
/// forward when its answer had them (the full XML body is noise on a terminal).
fn describe_store_error(error: &object_store::Error) -> String {
    brief(crate::describe_error(error))
}

/// `text` up to an XML body, then the body's code and message.
fn brief(text: String) -> String {
    let Some(code) = xml_field(&text, "Code") else {
        return text;
    };
    let head = text.split('<').next().unwrap_or("").trim_end();
    match xml_field(&text, "Message") {
        Some(message) => format!("{head} {code}: {message}"),
        None => format!("{head} {code}"),
    }
}

fn xml_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find("</")?;
    Some(&text[start..start + len])
}

impl Transport for Bucket {
    fn location(&self) -> &str {
        &self.inner.location
    }

    fn prefers_whole_file(&self) -> bool {
        true
    }

    fn reports_write_times(&self) -> bool {
        true
    }

    async fn scan(&self, options: ScanOptions) -> Result<Scan> {
        scan::scan(&self.inner, options).await
    }

    async fn read_files(&self, files: Vec<Entry>, options: ReadOptions) -> Vec<Result<SourceFile>> {
        read::read_files(&self.inner, files, options).await
    }

    async fn write_files(
        &self,
        files: Vec<FileWrite>,
        options: WriteOptions,
    ) -> Vec<Result<Written>> {
        write::write_files(&self.inner, files, options).await
    }

    /// No basis for a delta: objects are replaced whole.
    async fn signature(
        &self,
        _path: RelPath,
        _basis: Basis,
    ) -> Result<Option<sy_delta::Signature>> {
        Ok(None)
    }

    /// A delta made only of literals: the whole object, then its digest.
    async fn delta(
        &self,
        entry: Entry,
        _signature: sy_delta::Signature,
        options: ReadOptions,
    ) -> Result<DeltaSource> {
        read::literal_delta(&self.inner, entry, options).await
    }

    /// Never reached (there are no signatures to diff against).
    async fn apply_delta(
        &self,
        path: RelPath,
        _basis: Basis,
        _delta: DeltaSource,
        _options: WriteOptions,
    ) -> Result<Written> {
        Err(Error::Store {
            action: "updating",
            location: self.inner.shown_path(&self.inner.root.join_rel(&path)),
            reason: "objects are replaced whole, not patched by a delta".to_owned(),
        })
    }

    /// Downloads each object and hashes it here (every byte comes over, but right).
    async fn checksums(&self, paths: Vec<RelPath>, _follow_links: bool) -> Vec<Result<FileDigest>> {
        read::checksums(&self.inner, paths).await
    }

    async fn apply(&self, ops: Vec<TreeOp>, _meta: MetaOptions) -> Vec<Result<()>> {
        ops::apply(&self.inner, ops).await
    }
}

#[cfg(test)]
mod tests {
    use super::brief;

    #[test]
    fn a_servers_xml_error_is_brought_down_to_its_code_and_message() {
        let text = "listing: 403 Forbidden: <?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>\
                    <Message>Access Denied</Message><RequestId>1</RequestId></Error>";
        assert_eq!(
            brief(text.to_owned()),
            "listing: 403 Forbidden: AccessDenied: Access Denied"
        );
        assert_eq!(brief("timed out".to_owned()), "timed out");
    }
}
