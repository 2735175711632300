//! Unpredictable seeds for the strong block hash and the protocol session.

use std::hash::{BuildHasher, Hasher};

/// A fresh 64-bit seed: different in every process, connection and signature.
///
/// Signatures carry their seed, so whoever computes one picks it; a sender that controls the new
/// file's content cannot know it in advance and so cannot craft blocks that collide with the basis.
/// `RandomState` keys come from the OS's random source; time and pid only vary them further.
pub(crate) fn random_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}
