//! The tree every fuzzed session starts from: a few files, a subdirectory, a link inside the
//! root and one that points out of it (a write through it would land beside the root, where the
//! session checks for it).

use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;

/// Length of `dir/big.bin`: a few delta blocks.
pub const BIG_LEN: usize = 8 << 10;

/// The content of `a.txt`.
pub fn small_file() -> &'static [u8] {
    b"hello from the agent's tree\n"
}

/// The content of `dir/big.bin`: a pattern that does not repeat within a block.
pub fn big_file() -> Vec<u8> {
    (0..BIG_LEN as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// Lays the tree out in `root`, an empty directory.
pub fn plant(root: &Path) -> io::Result<()> {
    std::fs::write(root.join("a.txt"), small_file())?;
    std::fs::create_dir(root.join("dir"))?;
    std::fs::write(root.join("dir/big.bin"), big_file())?;
    std::fs::create_dir(root.join("dir/empty"))?;
    symlink("a.txt", root.join("link"))?;
    symlink("..", root.join("up"))
}
