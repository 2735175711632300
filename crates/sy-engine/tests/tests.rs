//! Engine API tests.
