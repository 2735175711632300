//! Exit codes: one enum, rsync's numbers where a meaning matches, documented in the README and
//! the man page (`--help`).

use std::process::ExitCode;

use sy_engine::{ErrorKind, Totals};

/// How `sy` ends. The numbers are part of the interface; scripts rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: everything was synchronized (or nothing needed to be).
    Ok,
    /// 1: syntax or usage error: a bad command line, an unreadable config or filter file, an
    /// impossible request (e.g. DST inside SRC); nothing was changed.
    Usage,
    /// 2: the two sides speak no protocol version in common (sy and sy-remote of different
    /// releases).
    Protocol,
    /// 3: errors selecting input/output files: a source that does not exist or cannot be read.
    Selection,
    /// 5: the remote side could not be started: SSH, the remote shell or the agent.
    StartRemote,
    /// 11: error in file I/O: a destination that cannot be created, output that cannot be
    /// written.
    FileIo,
    /// 12: error in the protocol data stream: the connection broke, or the peer broke the
    /// protocol.
    Stream,
    /// 23: partial transfer due to error: some files failed (each named on stderr), the rest
    /// completed.
    Partial,
    /// 24: partial transfer due to vanished source files: files disappeared between the scan
    /// and their copy; nothing else failed.
    Vanished,
    /// 25: `--max-delete` stopped deletions: extraneous entries were left; nothing failed.
    MaxDelete,
    /// 30: timeout: the remote side sent nothing for longer than `--timeout`.
    Timeout,
    /// 129: stopped by SIGHUP (the terminal went away); no file was left torn.
    HungUp,
    /// 130: interrupted by Ctrl-C (SIGINT); no file was left torn.
    Interrupted,
    /// 143: terminated by SIGTERM; no file was left torn.
    Terminated,
}

impl Exit {
    /// Every status, in the order of their numbers.
    pub const ALL: [Exit; 14] = [
        Exit::Ok,
        Exit::Usage,
        Exit::Protocol,
        Exit::Selection,
        Exit::StartRemote,
        Exit::FileIo,
        Exit::Stream,
        Exit::Partial,
        Exit::Vanished,
        Exit::MaxDelete,
        Exit::Timeout,
        Exit::HungUp,
        Exit::Interrupted,
        Exit::Terminated,
    ];

    /// What the status means, in rsync's words where the meaning matches.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "success: everything was synchronized (or nothing needed to be)",
            Exit::Usage => "syntax or usage error (nothing was changed)",
            Exit::Protocol => "protocol incompatibility (sy and sy-remote of different releases)",
            Exit::Selection => {
                "errors selecting input/output files: a missing or unreadable source"
            }
            Exit::StartRemote => {
                "error starting the remote side: SSH, the remote shell or the agent"
            }
            Exit::FileIo => "error in file I/O: a destination that cannot be created or written",
            Exit::Stream => "error in the protocol data stream: the connection broke",
            Exit::Partial => "partial transfer due to error (each failure is named on stderr)",
            Exit::Vanished => "partial transfer due to vanished source files",
            Exit::MaxDelete => "--max-delete stopped deletions (a warning says how many were left)",
            Exit::Timeout => "timeout: the remote side sent nothing for longer than --timeout",
            Exit::HungUp => "stopped by SIGHUP; no file was left torn",
            Exit::Interrupted => "interrupted by SIGINT (Ctrl-C); no file was left torn",
            Exit::Terminated => "terminated by SIGTERM; no file was left torn",
        }
    }

    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Usage => 1,
            Exit::Protocol => 2,
            Exit::Selection => 3,
            Exit::StartRemote => 5,
            Exit::FileIo => 11,
            Exit::Stream => 12,
            Exit::Partial => 23,
            Exit::Vanished => 24,
            Exit::MaxDelete => 25,
            Exit::Timeout => 30,
            Exit::HungUp => 129,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
        }
    }

    /// True for the statuses of a run stopped by a signal.
    pub fn is_signal(self) -> bool {
        matches!(self, Exit::HungUp | Exit::Interrupted | Exit::Terminated)
    }

    /// The status for a run that could not be carried out.
    pub fn for_error(kind: ErrorKind) -> Exit {
        match kind {
            ErrorKind::Usage => Exit::Usage,
            ErrorKind::Selection => Exit::Selection,
            ErrorKind::Incompatible => Exit::Protocol,
            ErrorKind::StartRemote => Exit::StartRemote,
            ErrorKind::Stream => Exit::Stream,
            ErrorKind::Timeout => Exit::Timeout,
            ErrorKind::Interrupted => Exit::Interrupted,
            _ => Exit::FileIo,
        }
    }

    /// The status for a run that completed, as far as its `totals` say: a source that could
    /// not be synced or a file that failed is a partial transfer; deletions `--max-delete`
    /// left are rsync's 25, vanished files alone its 24.
    pub fn for_totals(totals: &Totals) -> Exit {
        if !totals.is_complete() {
            Exit::Partial
        } else if totals.deletions_skipped > 0 {
            Exit::MaxDelete
        } else if totals.vanished > 0 {
            Exit::Vanished
        } else {
            Exit::Ok
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}
