//! `sy SRC DST`: make DST a copy of SRC.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("sy: not built yet");
    ExitCode::FAILURE
}
