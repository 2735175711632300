//! `sy SRC... DST`: make DST a copy of SRC. All logic lives in the library half.

use std::process::ExitCode;

use sy_cli::Exit;

fn main() -> ExitCode {
    match sy_cli::run(std::env::args_os()) {
        Ok(exit) => exit.into(),
        Err(e) if sy_cli::is_broken_pipe(&e) => Exit::Ok.into(),
        Err(e) => {
            eprintln!("sy: error: {}", sy_cli::causes(&e));
            Exit::Fatal.into()
        }
    }
}
