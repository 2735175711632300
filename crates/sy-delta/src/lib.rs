//! Streaming rolling-hash delta engine (skeleton; filled by the sy-delta issue).
