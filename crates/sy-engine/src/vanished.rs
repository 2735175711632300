//! A source file that disappeared between the scan and its copy: rsync's "file has vanished",
//! counted apart from failures ([`Totals::vanished`](crate::Totals::vanished)), since nothing
//! went wrong but the source changing under the run.

use std::io;

use sy_transport::{Error, ScanOptions, Transport};

use crate::plan::FileAction;
use crate::transfer::Ctx;

/// True when `error` says a file was not found and the source no longer has `file`: asked
/// again, it lists nothing at that path.
pub(crate) async fn source_vanished<S: Transport, O: ?Sized>(
    src: &S,
    ctx: &Ctx<O>,
    file: &FileAction,
    error: &Error,
) -> bool {
    let Error::Io { source, .. } = error else {
        return false;
    };
    if source.kind() != io::ErrorKind::NotFound {
        return false;
    }
    let options = ScanOptions {
        base: ctx.src_base.join_rel(&file.key),
        follow_links: ctx.read.follow_links,
        ..ScanOptions::default()
    };
    src.scan(options)
        .await
        .is_ok_and(|scan| scan.entries.is_empty())
}
