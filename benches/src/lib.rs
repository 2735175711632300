//! Criterion benchmarks for sy live in `benches/benches/`; this library is empty on purpose.
