//! Tree digests (the correctness check of every run) and pre-reading (the page-cache state).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

const READ_CHUNK: usize = 1 << 20;

/// What a tree holds: names, kinds, permission bits, symlink targets and file contents.
/// The root directory's own metadata is left out, so a destination created by the harness compares
/// equal to a source created by the generator. Times are left out too: a ceiling like `ssh … cat`
/// does not keep them, and the figures that depend on them (no-change re-sync) show up as time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeDigest {
    pub hash: String,
    pub files: u64,
    pub bytes: u64,
}

/// Every entry beneath `root`, depth first, siblings in byte order of their names.
fn walk(
    root: &Path,
    visit: &mut dyn FnMut(&Path, &Path, &fs::Metadata) -> Result<()>,
) -> Result<()> {
    fn recurse(
        root: &Path,
        dir: &Path,
        visit: &mut dyn FnMut(&Path, &Path, &fs::Metadata) -> Result<()>,
    ) -> Result<()> {
        let mut names = Vec::new();
        for entry in
            fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))?
        {
            let entry = entry.with_context(|| format!("reading directory {}", dir.display()))?;
            names.push(entry.file_name());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let path = dir.join(&name);
            let meta =
                fs::symlink_metadata(&path).with_context(|| format!("stat {}", path.display()))?;
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            visit(&path, &rel, &meta)?;
            if meta.is_dir() {
                recurse(root, &path, visit)?;
            }
        }
        Ok(())
    }
    recurse(root, root, visit)
}

/// Reads `path` to the end in large chunks, handing each chunk to `sink`.
fn read_file(path: &Path, buf: &mut [u8], sink: &mut dyn FnMut(&[u8])) -> Result<()> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    loop {
        let n = file
            .read(buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        sink(&buf[..n]);
    }
}

pub fn tree_digest(root: &Path) -> Result<TreeDigest> {
    let mut tree = blake3::Hasher::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let (mut files, mut bytes) = (0u64, 0u64);
    walk(root, &mut |path, rel, meta| {
        let name = rel.as_os_str().as_bytes();
        let kind = meta.file_type();
        let tag: u8 = if kind.is_dir() {
            b'd'
        } else if kind.is_file() {
            b'f'
        } else if kind.is_symlink() {
            b'l'
        } else {
            b'o'
        };
        tree.update(&[tag]);
        tree.update(&(name.len() as u64).to_le_bytes());
        tree.update(name);
        if !kind.is_symlink() {
            tree.update(&(meta.permissions().mode() & 0o7777).to_le_bytes());
        }
        if kind.is_file() {
            let mut content = blake3::Hasher::new();
            let mut len = 0u64;
            read_file(path, &mut buf, &mut |chunk| {
                len += chunk.len() as u64;
                content.update(chunk);
            })?;
            tree.update(&len.to_le_bytes());
            tree.update(content.finalize().as_bytes());
            files += 1;
            bytes += len;
        } else if kind.is_symlink() {
            let target =
                fs::read_link(path).with_context(|| format!("readlink {}", path.display()))?;
            tree.update(target.as_os_str().as_bytes());
        }
        Ok(())
    })?;
    Ok(TreeDigest {
        hash: tree.finalize().to_hex().to_string(),
        files,
        bytes,
    })
}

/// The size of every regular file beneath `root`, by its path below `root` (`/`-separated).
pub fn file_sizes(root: &Path) -> Result<BTreeMap<String, u64>> {
    let mut sizes = BTreeMap::new();
    walk(root, &mut |_, rel, meta| {
        if meta.is_file() {
            sizes.insert(rel.to_string_lossy().into_owned(), meta.len());
        }
        Ok(())
    })?;
    Ok(sizes)
}

/// The size and BLAKE3 digest of every regular file beneath `root`, by its path below `root`.
pub fn file_digests(root: &Path) -> Result<BTreeMap<String, (u64, blake3::Hash)>> {
    let mut digests = BTreeMap::new();
    let mut buf = vec![0u8; READ_CHUNK];
    walk(root, &mut |path, rel, meta| {
        if meta.is_file() {
            let mut content = blake3::Hasher::new();
            read_file(path, &mut buf, &mut |chunk| {
                content.update(chunk);
            })?;
            digests.insert(
                rel.to_string_lossy().into_owned(),
                (meta.len(), content.finalize()),
            );
        }
        Ok(())
    })?;
    Ok(digests)
}

/// Reads every file beneath `root` once so that each tool starts with the same warm page cache.
pub fn pre_read(root: &Path) -> Result<()> {
    let mut buf = vec![0u8; READ_CHUNK];
    walk(root, &mut |path, _, meta| {
        if meta.is_file() {
            read_file(path, &mut buf, &mut |_| {})?;
        }
        Ok(())
    })
}

/// Removes `path` (a tree or a file) if it exists.
pub fn remove_tree(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("stat {}", path.display())),
        Ok(meta) if meta.is_dir() => {
            fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))
        }
        Ok(_) => fs::remove_file(path).with_context(|| format!("removing {}", path.display())),
    }
}

/// Copies the tree `from` into `to` (created) with `cp -a --sparse=always`, which keeps times and
/// holes and uses the kernel's copy offload: preparation must be cheap and must not change the data.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let mut from_contents = PathBuf::from(from);
    from_contents.push(".");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg("--sparse=always")
        .arg(&from_contents)
        .arg(to)
        .status()
        .context("running cp")?;
    if !status.success() {
        bail!("cp -a {} {} failed: {status}", from.display(), to.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/a.txt"), b"alpha").unwrap();
        fs::write(dir.path().join("b.bin"), [0u8, 1, 2]).unwrap();
        std::os::unix::fs::symlink("sub/a.txt", dir.path().join("link")).unwrap();
        dir
    }

    #[test]
    fn copies_have_equal_digests_and_any_change_shows() {
        let a = tree();
        let b = tree();
        let base = tree_digest(a.path()).unwrap();
        assert_eq!(base, tree_digest(b.path()).unwrap());
        assert_eq!((base.files, base.bytes), (2, 8));

        fs::write(b.path().join("sub/a.txt"), b"alphA").unwrap();
        assert_ne!(
            base.hash,
            tree_digest(b.path()).unwrap().hash,
            "content change"
        );

        let c = tree();
        fs::set_permissions(c.path().join("b.bin"), fs::Permissions::from_mode(0o600)).unwrap();
        assert_ne!(
            base.hash,
            tree_digest(c.path()).unwrap().hash,
            "mode change"
        );

        let d = tree();
        fs::rename(d.path().join("b.bin"), d.path().join("c.bin")).unwrap();
        assert_ne!(base.hash, tree_digest(d.path()).unwrap().hash, "rename");
    }

    #[test]
    fn copy_tree_reproduces_the_tree() {
        let a = tree();
        let out = tempfile::tempdir().unwrap();
        let dst = out.path().join("dst");
        copy_tree(a.path(), &dst).unwrap();
        assert_eq!(tree_digest(a.path()).unwrap(), tree_digest(&dst).unwrap());
        remove_tree(&dst).unwrap();
        assert!(!dst.exists());
    }
}
