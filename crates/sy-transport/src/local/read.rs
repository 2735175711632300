//! Opening source files, and whole-file digests.

use std::fs::File;
use std::io::Read;

use bytes::Bytes;
use rustix::fs::{FileType, Mode, OFlags, fstat};
use sy_delta::{FileDigest, FileHasher};

use super::root::open_beneath;
use super::{Inner, entry_from_stat};
use crate::{Entry, EntryKind, Error, FileData, ReadOptions, RelPath, Result, SourceFile};

impl Inner {
    pub(super) fn open_source(&self, path: &RelPath, follow: bool) -> Result<(File, Entry)> {
        let root = self.root().map_err(|e| self.err("opening", path, e))?;
        // O_NONBLOCK: if a FIFO was swapped in since the scan, opening must not hang.
        let fd = open_beneath(
            root,
            path,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
            self.follow(follow),
        )
        .map_err(|e| self.err("opening", path, e))?;
        let st = fstat(&fd).map_err(|e| self.err("reading", path, e.into()))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(self.err(
                "reading",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "no longer a regular file"),
            ));
        }
        Ok((
            File::from(fd),
            entry_from_stat(path.clone(), &st, EntryKind::File),
        ))
    }

    pub(super) fn read_file(&self, scanned: Entry, options: &ReadOptions) -> Result<SourceFile> {
        let path = scanned.path;
        let (mut file, entry) = self.open_source(&path, options.follow_links)?;
        if entry.size > options.inline_limit {
            return Ok(SourceFile {
                entry,
                data: FileData::Local(file),
            });
        }
        let mut buf = Vec::with_capacity(entry.size as usize);
        // Read one byte past the expected size so growth is noticed.
        (&mut file)
            .take(entry.size + 1)
            .read_to_end(&mut buf)
            .map_err(|e| self.err("reading", &path, e))?;
        let after = fstat(&file).map_err(|e| self.err("reading", &path, e.into()))?;
        let after = entry_from_stat(path.clone(), &after, EntryKind::File);
        if buf.len() as u64 != entry.size
            || after.size != entry.size
            || after.meta.mtime != entry.meta.mtime
        {
            return Err(Error::SourceChanged {
                path: self.shown(&path),
            });
        }
        Ok(SourceFile {
            entry,
            data: FileData::Bytes(Bytes::from(buf)),
        })
    }

    pub(super) fn checksum(&self, path: &RelPath, follow: bool) -> Result<FileDigest> {
        let (file, _) = self.open_source(path, follow)?;
        let mut hasher = FileHasher::new();
        hasher
            .update_reader(file)
            .map_err(|e| self.err("reading", path, e))?;
        Ok(hasher.finalize())
    }
}
