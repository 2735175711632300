//! An object-store location as a user types it: `s3://bucket/prefix/`.

use std::fmt;

use crate::{Error, RelPath, Result};

/// The object stores a location can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Amazon S3 and S3-compatible servers (`s3://`).
    S3,
    /// Google Cloud Storage (`gs://`): parsed, not supported yet.
    Gcs,
    /// Azure Blob Storage (`az://`): parsed, not supported yet.
    Azure,
}

impl StoreKind {
    /// The URL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            StoreKind::S3 => "s3",
            StoreKind::Gcs => "gs",
            StoreKind::Azure => "az",
        }
    }
}

/// `s3://bucket/prefix`: a bucket and the key prefix that stands for a directory in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    /// Which store.
    pub kind: StoreKind,
    /// The bucket (or container).
    pub bucket: String,
    /// The key prefix as typed, without a leading `/`; may be empty or end in `/`.
    pub prefix: String,
}

impl ObjectUrl {
    /// Reads `arg` as an object-store URL: `None` when it does not start with `s3://`, `gs://`
    /// or `az://`; an error when it does but names no bucket, or a prefix with an empty, `.`
    /// or `..` component.
    pub fn parse(arg: &str) -> Option<Result<ObjectUrl>> {
        let (scheme, rest) = arg.split_once("://")?;
        let kind = [StoreKind::S3, StoreKind::Gcs, StoreKind::Azure]
            .into_iter()
            .find(|kind| kind.scheme() == scheme)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let invalid = |reason| Error::InvalidPath {
            path: arg.to_owned(),
            reason,
        };
        if bucket.is_empty() {
            return Some(Err(invalid("no bucket named after the scheme")));
        }
        let url = ObjectUrl {
            kind,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        };
        if url.prefix_path().is_err() {
            return Some(Err(invalid(
                "a key prefix cannot have empty, `.` or `..` components",
            )));
        }
        Some(Ok(url))
    }

    /// True when the prefix is empty or ends in `/`: the URL names a "directory's" contents.
    pub fn names_contents(&self) -> bool {
        self.prefix.is_empty() || self.prefix.ends_with('/')
    }

    /// The prefix as a relative path (the root for an empty one).
    pub fn prefix_path(&self) -> Result<RelPath> {
        let trimmed = self.prefix.strip_suffix('/').unwrap_or(&self.prefix);
        if trimmed.is_empty() {
            return Ok(RelPath::root());
        }
        Ok(RelPath::new(trimmed)?)
    }

    /// The same bucket with another prefix.
    pub fn with_prefix(&self, prefix: &RelPath) -> ObjectUrl {
        ObjectUrl {
            prefix: String::from_utf8_lossy(prefix.as_bytes()).into_owned(),
            ..self.clone()
        }
    }
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}/{}",
            self.kind.scheme(),
            self.bucket,
            self.prefix
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> ObjectUrl {
        ObjectUrl::parse(s).unwrap().unwrap()
    }

    #[test]
    fn bucket_and_prefix_are_split_at_the_first_slash() {
        let u = url("s3://data/backups/2026/");
        assert_eq!((u.kind, u.bucket.as_str()), (StoreKind::S3, "data"));
        assert_eq!(u.prefix, "backups/2026/");
        assert!(u.names_contents());
        assert_eq!(u.prefix_path().unwrap().to_string(), "backups/2026");
        assert!(!url("s3://data/x").names_contents());
        assert!(url("s3://data").names_contents());
        assert!(url("gs://b/p").kind == StoreKind::Gcs);
        assert_eq!(url("az://c/p/q").to_string(), "az://c/p/q");
    }

    #[test]
    fn other_arguments_are_not_urls_and_bad_ones_are_refused() {
        for other in ["host:dir", "./s3://x", "/tmp/a", "ftp://x/y"] {
            assert!(ObjectUrl::parse(other).is_none(), "{other}");
        }
        for bad in [
            "s3://",
            "s3:///key",
            "s3://b/a//c",
            "s3://b/../x",
            "s3://b/./x",
        ] {
            assert!(matches!(ObjectUrl::parse(bad), Some(Err(_))), "{bad}");
        }
    }
}
