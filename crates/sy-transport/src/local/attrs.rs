//! Applying a file's attributes: owner, permission bits, modification time.

use std::fs::File;
use std::io;

use rustix::fs::{Gid, Mode, Timespec, Timestamps, UTIME_OMIT, Uid, fchmod, fchown, futimens};

use crate::{Meta, MetaOptions};

/// Owner first (chown clears set-id bits), then mode, then times (last, as writes change them).
pub(super) fn set_file_meta(file: &File, meta: &Meta, options: MetaOptions) -> io::Result<()> {
    if options.owner {
        fchown(
            file,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        )?;
    }
    fchmod(file, Mode::from_raw_mode(meta.mode))?;
    if options.times {
        futimens(file, &timestamps(meta))?;
    }
    Ok(())
}

/// Timestamps that set mtime and leave atime alone.
pub(super) fn timestamps(meta: &Meta) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
        last_modification: Timespec {
            tv_sec: meta.mtime.secs,
            tv_nsec: meta.mtime.nanos.into(),
        },
    }
}
