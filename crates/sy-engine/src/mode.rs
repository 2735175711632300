//! The permission bits a copy gets: cp's and rsync's rules.

use sy_transport::Entry;

use crate::options::{Perms, SyncOptions};

/// Set-user-id and set-group-id.
const SET_ID: u32 = 0o6000;
/// Read, write and execute for owner, group and others: what `--no-perms` takes from a source.
const ACCESS: u32 = 0o777;

/// The bits a copy of `src` gets, where `existing` is what is at its destination now.
///
/// `--chmod` ([`SyncOptions::chmod`]) first changes the source's bits, as rsync does.
///
/// By default the source's bits, except that a file whose owner is not kept loses set-user-id
/// and set-group-id: a copy must never run as a user who did not make it (as root without
/// `-a`, a copy of anyone's set-user-id file would otherwise run as root, whatever the source
/// — or a hostile peer — meant). With [`Perms::Umask`] an existing entry of the same kind
/// keeps its bits and a new one gets the source's access bits masked by the umask.
pub(crate) fn copy_mode(src: &Entry, existing: Option<&Entry>, opts: &SyncOptions) -> u32 {
    if !(src.is_file() || src.is_dir()) {
        return src.meta.mode;
    }
    // `--chmod` changes the source's bits as rsync's sender does, before the rest applies.
    let src_mode = opts.chmod.apply(src.meta.mode, src.is_dir());
    let mode = match opts.perms {
        Perms::Source => src_mode,
        Perms::Umask(umask) => match existing {
            Some(d) if d.kind == src.kind => d.meta.mode,
            _ => src_mode & ACCESS & !umask,
        },
    };
    // An existing file's set-id bits too: its new content may come from someone else.
    if src.is_file() && !opts.owner {
        mode & !SET_ID
    } else {
        mode
    }
}

#[cfg(test)]
mod tests {
    use sy_transport::{EntryKind, Meta, RelPath};

    use super::*;

    fn entry(kind: EntryKind, mode: u32) -> Entry {
        Entry {
            path: RelPath::root(),
            kind,
            size: 0,
            meta: Meta {
                mode,
                ..Meta::default()
            },
            dev: 0,
            ino: 0,
            nlink: 1,
        }
    }

    #[test]
    fn chmod_changes_the_source_bits_before_the_rest() {
        let mut opts = SyncOptions::default();
        opts.chmod.add("D750,F640,u+s", 0o022).unwrap();
        let file = entry(EntryKind::File, 0o777);
        assert_eq!(
            copy_mode(&file, None, &opts),
            0o640,
            "set-id still needs the owner"
        );
        assert_eq!(
            copy_mode(&entry(EntryKind::Dir, 0o700), None, &opts),
            0o4750
        );
        opts.perms = Perms::Umask(0o077);
        assert_eq!(copy_mode(&file, None, &opts), 0o600);
        let old = entry(EntryKind::File, 0o644);
        assert_eq!(
            copy_mode(&file, Some(&old), &opts),
            0o644,
            "an existing file keeps its"
        );
    }

    #[test]
    fn set_id_bits_of_files_need_the_owner_kept() {
        let file = entry(EntryKind::File, 0o6755);
        let plain = SyncOptions::default();
        assert_eq!(copy_mode(&file, None, &plain), 0o755);
        let owner = SyncOptions {
            owner: true,
            ..SyncOptions::default()
        };
        assert_eq!(copy_mode(&file, None, &owner), 0o6755);
        let dir = entry(EntryKind::Dir, 0o2775);
        assert_eq!(copy_mode(&dir, None, &plain), 0o2775);
    }

    #[test]
    fn without_perms_new_entries_are_masked_and_existing_ones_keep_theirs() {
        let opts = SyncOptions {
            perms: Perms::Umask(0o027),
            owner: true,
            ..SyncOptions::default()
        };
        let file = entry(EntryKind::File, 0o6777);
        assert_eq!(copy_mode(&file, None, &opts), 0o750);
        let old = entry(EntryKind::File, 0o600);
        assert_eq!(copy_mode(&file, Some(&old), &opts), 0o600);
        let old_dir = entry(EntryKind::Dir, 0o700);
        assert_eq!(copy_mode(&file, Some(&old_dir), &opts), 0o750);
    }

    #[test]
    fn without_perms_an_existing_set_id_file_loses_the_bits_unless_the_owner_is_kept() {
        let opts = SyncOptions {
            perms: Perms::Umask(0o022),
            ..SyncOptions::default()
        };
        let file = entry(EntryKind::File, 0o755);
        let setuid = entry(EntryKind::File, 0o4755);
        assert_eq!(copy_mode(&file, Some(&setuid), &opts), 0o755);
        let owner = SyncOptions {
            owner: true,
            ..opts
        };
        assert_eq!(copy_mode(&file, Some(&setuid), &owner), 0o4755);
    }
}
