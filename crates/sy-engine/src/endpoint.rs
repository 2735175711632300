//! The two sides of a sync as a user names them: a local path, `[user@]host:path` on another
//! machine, read by the rules rsync uses, or a prefix in an object store (`s3://bucket/prefix/`).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sy_transport::ObjectUrl;

use crate::SyncError;

/// One side of a sync, as given: a local path, `[user@]host:path` or `s3://bucket/prefix`.
///
/// A trailing slash on a source means "the contents of this directory" (without it, the
/// directory itself is copied into the destination), as with rsync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    typed: OsString,
    remote: Option<RemoteSpec>,
    store: Option<ObjectUrl>,
}

impl Endpoint {
    /// Reads `arg` the way the `sy` command does: `s3://`, `gs://` or `az://` starts an
    /// object-store URL; otherwise a colon before any slash makes it remote (`host:dir`,
    /// `user@host:`), so `./a:b` and `/x/a:b` stay local. Fails on what cannot be a location
    /// (`host::module`, a host starting with `-`, a non-UTF-8 remote path, a URL without a
    /// bucket).
    pub fn parse(arg: impl AsRef<OsStr>) -> Result<Endpoint, SyncError> {
        let arg = arg.as_ref();
        let bytes = arg.as_bytes();
        if arg.to_str().is_none()
            && [b"s3://", b"gs://", b"az://"]
                .iter()
                .any(|s| bytes.starts_with(*s))
        {
            return Err(SyncError::Invalid(format!(
                "{} is not valid UTF-8; object-store URLs must be",
                arg.to_string_lossy()
            )));
        }
        if let Some(url) = arg.to_str().and_then(ObjectUrl::parse) {
            return Ok(Endpoint {
                typed: arg.to_owned(),
                remote: None,
                store: Some(url.map_err(|e| SyncError::Invalid(e.to_string()))?),
            });
        }
        Ok(Endpoint {
            typed: arg.to_owned(),
            remote: parse_remote(arg)?,
            store: None,
        })
    }

    /// A local path, taken literally (a colon in it does not make it remote).
    pub fn local(path: impl Into<PathBuf>) -> Endpoint {
        Endpoint {
            typed: path.into().into_os_string(),
            remote: None,
            store: None,
        }
    }

    /// The host and path, for a remote side; `None` on this machine.
    pub fn remote(&self) -> Option<&RemoteSpec> {
        self.remote.as_ref()
    }

    /// The bucket and prefix, for an object-store side.
    pub fn store(&self) -> Option<&ObjectUrl> {
        self.store.as_ref()
    }

    /// The path on this machine, for a local side.
    pub fn local_path(&self) -> Option<&Path> {
        (self.remote.is_none() && self.store.is_none()).then(|| Path::new(&self.typed))
    }

    /// The argument as given.
    pub fn as_os_str(&self) -> &OsStr {
        &self.typed
    }

    /// True when it ends in `/` (or `/.`, or is `.`): a source means its contents, a
    /// destination is a directory.
    pub fn names_contents(&self) -> bool {
        if let Some(url) = &self.store {
            return url.names_contents();
        }
        match &self.remote {
            Some(spec) => spec.path.is_empty() || has_trailing_slash(OsStr::new(&spec.path)),
            None => has_trailing_slash(&self.typed),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(url) = &self.store {
            return url.fmt(f);
        }
        match &self.remote {
            Some(spec) => f.write_str(&spec.shown()),
            None => write!(f, "{}", Path::new(&self.typed).display()),
        }
    }
}

/// True when `path` names a directory's contents: it ends in `/` or `/.`, or is `.`.
pub(crate) fn has_trailing_slash(path: &OsStr) -> bool {
    let b = path.as_bytes();
    b.ends_with(b"/") || b.ends_with(b"/.") || b == b"."
}

/// A path on another host, as typed: `[user@]host:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSpec {
    /// `user@`, when given.
    pub user: Option<String>,
    /// The host, passed to the remote shell as is.
    pub host: String,
    /// The path there (relative to the login directory unless absolute); may be empty.
    pub path: String,
}

impl RemoteSpec {
    /// `host:path` for messages.
    pub fn shown(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{}:{}", self.host, self.path),
            None => format!("{}:{}", self.host, self.path),
        }
    }
}

/// Reads `arg` as a remote location the way rsync does: a colon before any slash makes it
/// remote (`host:dir`, `user@host:`), so `./a:b` and `/x/a:b` stay local.
pub(crate) fn parse_remote(arg: &OsStr) -> Result<Option<RemoteSpec>, SyncError> {
    let bytes = arg.as_bytes();
    let Some(colon) = bytes.iter().position(|&b| b == b':') else {
        return Ok(None);
    };
    if bytes[..colon].contains(&b'/') || colon == 0 {
        return Ok(None);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        SyncError::Invalid(format!(
            "{} is not valid UTF-8; remote locations must be",
            arg.to_string_lossy()
        ))
    })?;
    let (login, path) = text.split_at(colon);
    let path = &path[1..];
    if path.starts_with(':') {
        return Err(SyncError::Invalid(format!(
            "{text}: rsync daemon modules (host::module) are not supported; use host:path"
        )));
    }
    let (user, host) = match login.rsplit_once('@') {
        Some((user, host)) => (Some(user.to_owned()), host),
        None => (None, login),
    };
    if host.is_empty() || user.as_deref() == Some("") {
        return Err(SyncError::Invalid(format!(
            "{text}: missing user or host before ':'"
        )));
    }
    // The remote shell would read `-oProxyCommand=…` as an option, not a host (git's
    // CVE-2017-1000117); OpenSSH refuses such names too.
    if host.starts_with('-') || user.as_deref().is_some_and(|u| u.starts_with('-')) {
        return Err(SyncError::Invalid(format!(
            "{text}: a host or user name cannot start with '-'"
        )));
    }
    Ok(Some(RemoteSpec {
        user,
        host: host.to_owned(),
        path: path.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(s: &str) -> Option<RemoteSpec> {
        parse_remote(OsStr::new(s)).unwrap()
    }

    #[test]
    fn a_colon_before_any_slash_is_remote() {
        let spec = remote("user@host:dir/sub").unwrap();
        assert_eq!(spec.user.as_deref(), Some("user"));
        assert_eq!(spec.host, "host");
        assert_eq!(spec.path, "dir/sub");
        assert_eq!(remote("host:").unwrap().path, "");
        assert_eq!(remote("h:/abs/p").unwrap().path, "/abs/p");
        assert_eq!(remote("a@b@host:x").unwrap().user.as_deref(), Some("a@b"));
        for local in ["./a:b", "/x/a:b", "plain", "dir/x:y", ":nohost"] {
            assert_eq!(remote(local), None, "{local}");
        }
        assert!(parse_remote(OsStr::new("host::module")).is_err());
        assert!(parse_remote(OsStr::new("@host:x")).is_err());
    }

    #[test]
    fn a_host_or_user_that_looks_like_an_option_is_refused() {
        for hostile in ["-oProxyCommand=calc:x", "-lroot@h:x", "-x@host:dir"] {
            let err = parse_remote(OsStr::new(hostile)).unwrap_err();
            assert!(
                err.to_string().contains("cannot start with '-'"),
                "{hostile}: {err}"
            );
        }
    }

    #[test]
    fn trailing_slash_means_contents() {
        assert!(has_trailing_slash(OsStr::new("a/")));
        assert!(has_trailing_slash(OsStr::new("a/.")));
        assert!(has_trailing_slash(OsStr::new(".")));
        assert!(!has_trailing_slash(OsStr::new("a")));
        assert!(Endpoint::parse("host:").unwrap().names_contents());
        assert!(Endpoint::parse("host:d/").unwrap().names_contents());
        assert!(!Endpoint::parse("host:d").unwrap().names_contents());
    }

    #[test]
    fn a_local_endpoint_keeps_its_colon() {
        let end = Endpoint::local("a:b");
        assert_eq!(end.remote(), None);
        assert_eq!(end.local_path(), Some(Path::new("a:b")));
        assert!(Endpoint::parse("a:b").unwrap().remote().is_some());
        assert_eq!(Endpoint::parse("u@h:p").unwrap().to_string(), "u@h:p");
    }

    #[test]
    fn an_object_store_url_is_neither_local_nor_a_host() {
        let end = Endpoint::parse("s3://bucket/some/prefix/").unwrap();
        assert_eq!((end.remote(), end.local_path()), (None, None));
        let url = end.store().unwrap();
        assert_eq!(
            (url.bucket.as_str(), url.prefix.as_str()),
            ("bucket", "some/prefix/")
        );
        assert!(end.names_contents());
        assert_eq!(end.to_string(), "s3://bucket/some/prefix/");
        assert!(Endpoint::parse("s3://").is_err());
        assert!(Endpoint::parse("./s3://x").unwrap().store().is_none());
        let not_utf8 = OsStr::from_bytes(b"s3://bucket/\xff");
        let err = Endpoint::parse(not_utf8).unwrap_err().to_string();
        assert!(err.contains("object-store URLs must be"), "{err}");
    }
}
