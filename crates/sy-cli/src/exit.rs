//! Exit codes: one enum, documented in the README.

use std::process::ExitCode;

/// How `sy` ends. The numbers are part of the interface; scripts rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: everything was synchronized (or nothing needed to be).
    Ok,
    /// 1: bad command line or an impossible request (e.g. DST inside SRC); nothing was changed.
    Usage,
    /// 2: some files failed (each was named on stderr); the rest completed.
    Partial,
    /// 3: the run could not proceed at all (source unreadable, destination not creatable).
    Fatal,
    /// 129: stopped by SIGHUP (the terminal went away); no file was left torn.
    HungUp,
    /// 130: interrupted by Ctrl-C (SIGINT); no file was left torn.
    Interrupted,
    /// 143: terminated by SIGTERM; no file was left torn.
    Terminated,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Usage => 1,
            Exit::Partial => 2,
            Exit::Fatal => 3,
            Exit::HungUp => 129,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}
