//! Where files live: the `Transport` trait and its backends (skeleton; filled by the local-sync issue).
