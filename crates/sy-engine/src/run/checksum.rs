//! Comparing by content: digests of same-size pairs, computed on both sides at once.

use std::collections::HashSet;
use std::sync::Arc;

use sy_transport::{Entry, RelPath, Transport};

use crate::observer::Observer;
use crate::options::SyncOptions;
use crate::plan::checksum_candidates;
use crate::resolve::Transfer;
use crate::totals::Totals;

/// Comparing by content: digests of same-size pairs on both sides at once; returns the keys that match.
pub(super) async fn same_content<S: Transport, D: Transport, O: Observer>(
    src: &S,
    dst: &D,
    transfer: &Transfer,
    (src_entries, dst_entries): (&[Entry], &[Entry]),
    opts: &SyncOptions,
    observer: &Arc<O>,
    totals: &mut Totals,
) -> HashSet<RelPath> {
    let mut equal = HashSet::new();
    let (src_base, dst_base) = (&transfer.src.base, &transfer.dst.base);
    let candidates = checksum_candidates(src_entries, src_base, dst_entries, dst_base);
    for chunk in candidates.chunks(256) {
        let src_paths = chunk.iter().map(|(_, s, _)| s.path.clone()).collect();
        let dst_paths = chunk.iter().map(|(_, _, d)| d.path.clone()).collect();
        let (a, b) = tokio::join!(
            src.checksums(src_paths, opts.follow_links),
            dst.checksums(dst_paths, false)
        );
        for (((key, _, _), a), b) in chunk.iter().zip(a).zip(b) {
            match (a, b) {
                (Ok(a), Ok(b)) if a == b => {
                    equal.insert(key.clone());
                }
                (Ok(_), Ok(_)) => {}
                (Err(e), _) | (_, Err(e)) => {
                    observer.failed(Some(key), &e.to_string());
                    totals.failed += 1;
                }
            }
        }
    }
    equal
}
