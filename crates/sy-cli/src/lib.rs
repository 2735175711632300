//! The library half of the `sy` command (skeleton; filled by the local-sync issue).
