//! How a backend that reads over a link splits a batch of files: the small ones are fetched
//! whole into memory, many at once; the large ones stream one after another, each through a
//! bounded queue, so memory stays bounded whatever the file sizes.

use tokio::sync::mpsc;

use crate::{Entry, FileData, Result, SourceFile, StreamChunk};

/// Chunks queued per streamed file ahead of its consumer.
pub(crate) const STREAM_QUEUE: usize = 8;

/// A batch split by [`split_by_size`].
pub(crate) struct SplitBatch {
    /// One slot per file, in the batch's order: streamed files' slots are filled already, small
    /// files' slots wait for their content.
    pub(crate) results: Vec<Option<Result<SourceFile>>>,
    /// Files of at most the inline limit, each with its slot in `results`.
    pub(crate) small: Vec<(usize, Entry)>,
    /// Larger files in order, each with the sender its chunks go to.
    pub(crate) large: Vec<(Entry, mpsc::Sender<Result<StreamChunk>>)>,
}

/// Splits `files` into those read whole (size up to `inline_limit`) and those streamed.
pub(crate) fn split_by_size(files: Vec<Entry>, inline_limit: u64) -> SplitBatch {
    let mut batch = SplitBatch {
        results: Vec::with_capacity(files.len()),
        small: Vec::new(),
        large: Vec::new(),
    };
    for entry in files {
        if entry.size <= inline_limit {
            batch.small.push((batch.results.len(), entry));
            batch.results.push(None);
        } else {
            let (tx, rx) = mpsc::channel(STREAM_QUEUE);
            batch.results.push(Some(Ok(SourceFile {
                entry: entry.clone(),
                data: FileData::Stream(rx),
            })));
            batch.large.push((entry, tx));
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntryKind, Meta, RelPath};

    fn file(path: &str, size: u64) -> Entry {
        Entry {
            path: RelPath::new(path).unwrap(),
            kind: EntryKind::File,
            size,
            meta: Meta::default(),
            dev: 0,
            ino: 0,
            nlink: 1,
        }
    }

    #[test]
    fn small_files_wait_in_their_slots_and_large_ones_stream_in_order() {
        let files = vec![
            file("a", 10),
            file("big", 11),
            file("b", 0),
            file("huge", 99),
        ];
        let batch = split_by_size(files, 10);
        let small: Vec<_> = batch
            .small
            .iter()
            .map(|(slot, e)| (*slot, e.path.to_string()))
            .collect();
        assert_eq!(small, [(0, "a".to_owned()), (2, "b".to_owned())]);
        let large: Vec<_> = batch
            .large
            .iter()
            .map(|(e, _)| e.path.to_string())
            .collect();
        assert_eq!(large, ["big", "huge"]);
        let streamed: Vec<_> = batch
            .results
            .iter()
            .map(|slot| match slot {
                None => None,
                Some(Ok(SourceFile {
                    entry,
                    data: FileData::Stream(_),
                })) => Some(entry.path.to_string()),
                Some(_) => panic!("a slot holds something other than a stream"),
            })
            .collect();
        assert_eq!(
            streamed,
            [None, Some("big".to_owned()), None, Some("huge".to_owned())]
        );
    }
}
