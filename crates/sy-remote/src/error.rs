//! Why the agent could not serve: each failure says what it was doing and, for the client's
//! or the administrator's mistakes, what to do instead.

use std::io;
use std::path::PathBuf;

/// A failure of the agent, before or while serving.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AgentError {
    /// The arguments, or the client's command under a forced command, ask for what the agent
    /// does not do; the message says why.
    #[error("{0}")]
    Request(String),
    /// The client's command under a forced command does not parse as one `sy` sends.
    #[error("the client's command {command:?} is not one sy sends")]
    ClientCommand {
        /// `SSH_ORIGINAL_COMMAND`.
        command: String,
        /// What the parser said.
        #[source]
        source: clap::Error,
    },
    /// `--mkdir` could not create the directory to serve.
    #[error("creating {}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The directory to serve could not be opened.
    #[error("serving {shown}")]
    Open {
        /// The directory (and the restriction, if any).
        shown: String,
        /// The cause.
        #[source]
        source: sy_transport::Error,
    },
    /// Setting up the process: the runtime, or a standard stream.
    #[error("{what}")]
    Setup {
        /// What was being set up.
        what: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The session with the client failed.
    #[error("serving {shown}")]
    Serve {
        /// The directory served.
        shown: String,
        /// The cause.
        #[source]
        source: sy_transport::Error,
    },
}
