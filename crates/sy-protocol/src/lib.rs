//! The sans-IO wire protocol between `sy` and `sy-remote` (skeleton; filled by the protocol issue).
