//! The `sy-remote` agent, built by this package so that installing `sy` installs it beside
//! `sy`, where `sy` finds the copy it deploys to a host that lacks one. The program is the
//! `sy-remote` library's.

fn main() -> std::process::ExitCode {
    sy_remote::main()
}
