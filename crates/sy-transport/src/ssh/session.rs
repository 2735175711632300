//! One SSH connection made with russh: TCP (or a channel through one jump host), the server's
//! host key checked by the caller's [`HostKeyVerifier`], authentication, then channels on it.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use russh::client::{self, DisconnectReason, Handle};
use russh::keys::{Algorithm, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelStream, Disconnect};

use super::auth::authenticate;
use super::channel::ExecChannel;
use super::tuning::client_config;
use crate::error::{Error, Result};

/// Decides whether a server's host key is trusted (the caller keeps `known_hosts`).
pub trait HostKeyVerifier: Send + Sync {
    /// `Ok(())` trusts `key` for `host` on `port`; `Err(reason)` refuses the connection with a
    /// message for the user (naming the fingerprint, the file and line of a changed key, and how
    /// to proceed). `address` is the server's IP address when connected to it directly (`None`
    /// through a jump host), for `CheckHostIP`.
    fn verify(
        &self,
        host: &str,
        port: u16,
        address: Option<IpAddr>,
        key: &PublicKey,
    ) -> std::result::Result<(), String>;

    /// Host-key algorithms already on record for `host`, to ask the server for one of them
    /// first (so a host known by its RSA key is not refused for offering a new ed25519 one).
    fn known_algorithms(&self, host: &str, port: u16) -> Vec<Algorithm>;
}

/// Asks the user for the passphrase of an encrypted identity file; `None` when nobody can be
/// asked (no terminal, batch mode) or the user gave up.
pub type PassphrasePrompt = Arc<dyn Fn(&Path) -> Option<String> + Send + Sync>;

/// Where and how to connect.
#[derive(Clone)]
pub struct SshOptions {
    /// The host as the user named it (an alias from the ssh config), for messages.
    pub shown: String,
    /// The name or address to connect to.
    pub host_name: String,
    /// The TCP port.
    pub port: u16,
    /// The remote user.
    pub user: String,
    /// Private keys to offer after the agent's, in order.
    pub identity_files: Vec<PathBuf>,
    /// Offer only keys from `identity_files`, even from the agent (ssh's IdentitiesOnly).
    pub identities_only: bool,
    /// The ssh-agent socket, if one is to be used.
    pub agent_socket: Option<PathBuf>,
    /// Probe a silent server this often (ServerAliveInterval).
    pub keepalive_interval: Option<Duration>,
    /// Give up after this many probes without an answer (ServerAliveCountMax).
    pub keepalive_max: usize,
    /// Give up connecting (TCP and the SSH handshake) after this long (ConnectTimeout).
    pub connect_timeout: Option<Duration>,
    /// Ciphers in order of preference; empty for sy's choice (see [`cipher_preference`]).
    pub ciphers: Vec<String>,
    /// Judges the server's host key.
    pub host_keys: Arc<dyn HostKeyVerifier>,
    /// Asks for the passphrase of an encrypted key.
    pub passphrase: Option<PassphrasePrompt>,
    /// Reach the host through this one first (ProxyJump, one hop).
    pub jump: Option<Box<SshOptions>>,
}

impl fmt::Debug for SshOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshOptions")
            .field("shown", &self.shown)
            .field("host_name", &self.host_name)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("identity_files", &self.identity_files)
            .field("identities_only", &self.identities_only)
            .field("agent_socket", &self.agent_socket)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("keepalive_max", &self.keepalive_max)
            .field("connect_timeout", &self.connect_timeout)
            .field("ciphers", &self.ciphers)
            .field("jump", &self.jump)
            .finish_non_exhaustive()
    }
}

impl SshOptions {
    pub(super) fn error(&self, reason: impl Into<String>) -> Error {
        Error::Ssh {
            host: self.shown.clone(),
            reason: reason.into(),
        }
    }
}

/// Why the connection ended, as the session loop reported it.
type Fate = Arc<Mutex<Option<String>>>;

/// What russh's session loop calls back into.
pub(super) struct Client {
    host: String,
    port: u16,
    /// The server's address, when connected to it directly.
    address: Option<IpAddr>,
    verifier: Arc<dyn HostKeyVerifier>,
    keepalive: Option<(Duration, usize)>,
    fate: Fate,
}

/// A refused host key, or an error from russh.
#[derive(Debug)]
pub(super) enum HandlerError {
    HostKey(String),
    Russh(russh::Error),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Russh(e)
    }
}

impl client::Handler for Client {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> std::result::Result<bool, HandlerError> {
        match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self
                .verifier
                .verify(&self.host, self.port, self.address, key)
                .map(|()| true)
                .map_err(HandlerError::HostKey),
            // Not asked for (no certificate algorithms are offered), so not trusted.
            PublicKeyOrCertificate::Certificate(_) => Err(HandlerError::HostKey(
                "the server presented a host certificate, which sy does not check".to_owned(),
            )),
        }
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<HandlerError>,
    ) -> std::result::Result<(), HandlerError> {
        let text = match &reason {
            DisconnectReason::ReceivedDisconnect(info) => {
                format!("the server closed the connection ({})", info.message)
            }
            DisconnectReason::Error(HandlerError::Russh(russh::Error::KeepaliveTimeout)) => {
                match self.keepalive {
                    Some((interval, max)) => format!(
                        "no answer to {max} keepalives sent {}s apart (ServerAliveInterval, \
                         ServerAliveCountMax): the server or the network is gone",
                        interval.as_secs()
                    ),
                    None => "no answer to keepalives".to_owned(),
                }
            }
            DisconnectReason::Error(e) => describe(e),
        };
        self.fate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(text);
        match reason {
            DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            DisconnectReason::Error(e) => Err(e),
        }
    }
}

fn describe(e: &HandlerError) -> String {
    match e {
        HandlerError::HostKey(reason) => reason.clone(),
        HandlerError::Russh(russh::Error::IO(io)) => io.to_string(),
        HandlerError::Russh(e) => e.to_string(),
    }
}

/// An authenticated SSH connection; channels are opened on it as needed and share it.
pub struct SshSession {
    handle: Handle<Client>,
    options: SshOptions,
    fate: Fate,
    /// The connection to the jump host, which carries this one.
    jump: Option<Box<SshSession>>,
}

impl fmt::Debug for SshSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshSession")
            .field("host", &self.options.shown)
            .finish_non_exhaustive()
    }
}

impl SshSession {
    /// Connects (through the jump host, if any), checks the host key and authenticates.
    pub async fn connect(options: &SshOptions) -> Result<SshSession> {
        let config = Arc::new(client_config(options)?);
        let fate = Fate::default();
        let mut handler = Client {
            host: options.host_name.clone(),
            port: options.port,
            address: None,
            verifier: Arc::clone(&options.host_keys),
            keepalive: options
                .keepalive_interval
                .map(|interval| (interval, options.keepalive_max)),
            fate: Arc::clone(&fate),
        };
        let target = format!("{} port {}", options.host_name, options.port);
        let (jump, handshake) = match &options.jump {
            None => {
                let tcp = within(
                    options,
                    tokio::net::TcpStream::connect((options.host_name.as_str(), options.port)),
                )
                .await?
                .map_err(|e| options.error(format!("cannot connect to {target}: {e}")))?;
                // The agent flushes whole batches; Nagle would only delay the last packet.
                let _ = tcp.set_nodelay(true);
                handler.address = tcp.peer_addr().ok().map(|peer| peer.ip());
                (
                    None,
                    within(options, client::connect_stream(config, tcp, handler)).await?,
                )
            }
            Some(jump_options) => {
                let jump = Box::pin(SshSession::connect(jump_options)).await?;
                let channel = jump
                    .handle
                    .channel_open_direct_tcpip(
                        options.host_name.as_str(),
                        u32::from(options.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|e| {
                        options.error(format!(
                            "the jump host {} could not connect to {target}: {e}",
                            jump_options.shown
                        ))
                    })?;
                let handshake = within(
                    options,
                    client::connect_stream(config, channel.into_stream(), handler),
                )
                .await?;
                (Some(Box::new(jump)), handshake)
            }
        };
        let mut handle = handshake.map_err(|e| match e {
            HandlerError::HostKey(reason) => Error::HostKey {
                host: options.shown.clone(),
                reason,
            },
            e => options.error(format!(
                "SSH handshake with {target} failed: {}",
                describe(&e)
            )),
        })?;
        authenticate(&mut handle, options).await?;
        Ok(SshSession {
            handle,
            options: options.clone(),
            fate,
            jump,
        })
    }

    /// The options this session was made with.
    pub fn options(&self) -> &SshOptions {
        &self.options
    }

    /// Runs `command` through the remote user's shell in a new channel (its stderr is kept
    /// until [`ExecChannel::relay_stderr`]).
    pub async fn exec(&self, command: &str) -> Result<ExecChannel> {
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| self.broken("opening a channel", e))?;
        channel
            .exec(true, command)
            .await
            .map_err(|e| self.broken("starting a remote command", e))?;
        let deadline = self
            .options
            .connect_timeout
            .unwrap_or(super::channel::START_DEADLINE);
        Ok(ExecChannel::start(
            channel,
            deadline,
            self.options.shown.clone(),
        ))
    }

    /// Runs `command` to its end with nothing on its stdin; returns its stdout and how it ended.
    pub async fn output(&self, command: &str) -> Result<(Vec<u8>, super::ExecEnd)> {
        self.exec(command).await?.output().await
    }

    /// A byte stream to the server's `name` subsystem ("sftp").
    pub async fn subsystem(&self, name: &str) -> Result<ChannelStream<client::Msg>> {
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| self.broken("opening a channel", e))?;
        channel
            .request_subsystem(true, name)
            .await
            .map_err(|e| self.broken(&format!("starting the {name} subsystem"), e))?;
        Ok(channel.into_stream())
    }

    /// Why the connection ended, if it did (a dead peer found by keepalives, a disconnect).
    pub fn failure(&self) -> Option<String> {
        self.fate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Says goodbye to the server (and the jump host).
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
        if let Some(jump) = self.jump {
            Box::pin(jump.close()).await;
        }
    }

    fn broken(&self, doing: &str, e: russh::Error) -> Error {
        let cause = self.failure().unwrap_or_else(|| e.to_string());
        self.options.error(format!("{doing}: {cause}"))
    }
}

/// `future`, or a timeout error after ConnectTimeout.
async fn within<T>(options: &SshOptions, future: impl Future<Output = T>) -> Result<T> {
    match options.connect_timeout {
        None => Ok(future.await),
        Some(limit) => tokio::time::timeout(limit, future).await.map_err(|_| {
            options.error(format!(
                "no connection to {} port {} within {}s (ConnectTimeout, --timeout)",
                options.host_name,
                options.port,
                limit.as_secs_f64()
            ))
        }),
    }
}
