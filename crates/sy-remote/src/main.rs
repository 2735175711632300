//! `sy-remote`: the agent `sy` starts on the far side of a connection.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("sy-remote: not built yet");
    ExitCode::FAILURE
}
