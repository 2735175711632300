//! The built-in SSH client as `sy` uses it: host settings from the ssh config and the flags,
//! host keys checked against known_hosts, and the agent started in an exec channel — put on
//! the host first when it is missing there.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use sy_transport::ssh::{
    Deployed, ExecChannel, HostKeyVerifier, HostSettings, LocalAgent, LocalUser, PassphrasePrompt,
    RemoteExit, SshConfig, SshOptions, SshSession, cipher_preference, deploy_agent,
};
use sy_transport::{AgentOptions, Sftp, SftpOptions};

use super::command::{agent_remote_command, sftp_root};
use super::host_keys::KnownHostsCheck;
use super::remote_transport::{ByteCount, Counted, RemoteTransport};
use super::{Connection, DEFAULT_REMOTE_PATH, agent_over};
use crate::endpoint::RemoteSpec;
use crate::pacing::{Paced, Throttle};
use crate::{RemoteOptions, SshSettings, SyncError};

/// Connects to `spec`'s host and starts the agent for `root` there. Where `sy-remote` is
/// missing, it is copied there (unless `--no-deploy`); where that cannot be, the job runs over
/// SFTP, whole files only.
pub(super) async fn start(
    remote: &RemoteOptions,
    spec: &RemoteSpec,
    root: &str,
    mkdir: bool,
    throttle: Option<&Throttle>,
) -> Result<Connection, SyncError> {
    let flags = &remote.ssh;
    let mut options = connect_options(flags, spec)?;
    // A host silent for --timeout, or for as long as keepalives would wait, is as dead while
    // connecting as later (a frozen host accepts TCP and then never says a word).
    let probes = u32::try_from(options.keepalive_max)
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    let keepalive_bound = options
        .keepalive_interval
        .and_then(|interval| interval.checked_mul(probes));
    options.connect_timeout = options
        .connect_timeout
        .or(remote.timeout)
        .or(keepalive_bound);
    let session = SshSession::connect(&options).await?;
    let shown = format!("{}:{root}", spec.host);
    let command = agent_remote_command(&remote.remote_path, root, mkdir)?;
    tracing::debug!("running {command:?} on {}", spec.host);
    let mut exec = session.exec(&command).await?;
    if !exec.started().await? {
        let end = exec.status.wait().await;
        let missing = end.exit == RemoteExit::Status(127);
        let default = remote.remote_path == DEFAULT_REMOTE_PATH;
        // A missing agent at a path the user named is a mistake to report, unless they said
        // not to deploy (then SFTP is what they asked for).
        if !missing || (flags.deploy && !default) {
            let said = String::from_utf8_lossy(&end.stderr).trim().to_owned();
            let hint = if missing {
                " (command not found: check --remote-path)"
            } else {
                ""
            };
            return Err(SyncError::Remote(format!(
                "{} on {} ended with {}{hint} before speaking{}",
                remote.remote_path,
                spec.host,
                end.exit,
                if said.is_empty() {
                    String::new()
                } else {
                    format!(": {said}")
                }
            )));
        }
        let deployed = if flags.deploy {
            deployed_agent(&session, spec, root, mkdir).await
        } else {
            Err(format!(
                "{} is not installed on {} (and --no-deploy)",
                remote.remote_path, spec.host
            ))
        };
        exec = match deployed {
            Ok(exec) => exec,
            Err(reason) => {
                return over_sftp(session, spec, root, mkdir, &reason, throttle).await;
            }
        };
    }
    exec.relay_stderr();
    let ExecChannel {
        reader,
        writer,
        status,
        ..
    } = exec;
    let agent = agent_over(
        reader,
        writer,
        AgentOptions {
            location: shown.clone(),
            compression: remote.compression,
            timeout: remote.timeout,
            read_pacing: throttle.map(Throttle::read_pacing),
        },
        throttle,
    );
    Ok(Connection::over_ssh(agent, session, status, shown))
}

/// `sy-remote` from `~/.cache/sy` on the host: the copy an earlier run left when it passes the
/// check ([`LocalAgent::launcher`]: private to the user, of the local binary's content-addressed
/// name and size), else a fresh one that replaces it. An error says why there is none (for the
/// message that introduces the SFTP fallback).
async fn deployed_agent(
    session: &SshSession,
    spec: &RemoteSpec,
    root: &str,
    mkdir: bool,
) -> Result<ExecChannel, String> {
    let failed = |e: sy_transport::Error| sy_transport::describe_error(&e);
    let local = local_agent()?;
    let command =
        agent_remote_command(&local.launcher(), root, mkdir).map_err(|e| e.to_string())?;
    let mut exec = session.exec(&command).await.map_err(failed)?;
    if exec.started().await.map_err(failed)? {
        return Ok(exec);
    }
    let end = exec.status.wait().await;
    tracing::debug!(
        "no usable sy-remote in ~/.cache/sy on {} ({}): {}",
        spec.host,
        end.exit,
        String::from_utf8_lossy(&end.stderr).trim()
    );
    let deployed = deploy_agent(session, local)
        .await
        .map_err(|e| format!("copying sy-remote to {} failed: {e}", spec.host))?;
    match deployed {
        Deployed::Ready {
            path,
            sent,
            compressed,
        } => {
            tracing::info!(
                "copied {} to {}:~/{path} ({sent} bytes sent{})",
                local.path().display(),
                spec.host,
                if compressed { ", zstd" } else { "" }
            );
            let mut exec = session.exec(&command).await.map_err(failed)?;
            if exec.started().await.map_err(failed)? {
                return Ok(exec);
            }
            let end = exec.status.wait().await;
            Err(format!(
                "the copy of sy-remote at {}:~/{path} did not start ({}): {}",
                spec.host,
                end.exit,
                String::from_utf8_lossy(&end.stderr).trim()
            ))
        }
        Deployed::Unsuitable(reason) => Err(format!(
            "sy-remote is not installed on {}, and {reason}",
            spec.host
        )),
        _ => Err(format!("sy-remote is not installed on {}", spec.host)),
    }
}

/// The job over SFTP on `session`, after saying once why and what it costs.
async fn over_sftp(
    session: SshSession,
    spec: &RemoteSpec,
    root: &str,
    mkdir: bool,
    reason: &str,
    throttle: Option<&Throttle>,
) -> Result<Connection, SyncError> {
    tracing::warn!(
        "{reason}; syncing with {} over SFTP instead: whole files only (a delta needs \
         sy-remote there)",
        spec.host
    );
    let shown = format!("{}:{root}", spec.host);
    let stream = session.subsystem("sftp").await?;
    let bytes = Arc::new(ByteCount::default());
    let counted = Counted::new(stream, Arc::clone(&bytes));
    let options = SftpOptions {
        location: shown.clone(),
        root: sftp_root(root).to_owned(),
        create_root: mkdir,
    };
    let sftp = match throttle {
        Some(throttle) => Sftp::new(Paced::new(counted, throttle.clone()), options).await?,
        None => Sftp::new(counted, options).await?,
    };
    Ok(Connection::over_sftp(
        RemoteTransport::Sftp { sftp, bytes },
        session,
        shown,
    ))
}

/// The `sy-remote` to copy, beside the running `sy`: a static musl build
/// (`sy-remote-<arch>-linux-musl`, which runs whatever the host's C library) when there is one,
/// else the `sy-remote` built with this `sy`. Read (and hashed, for its name on hosts) once per
/// process: a watch loop reconnects many times.
fn local_agent() -> Result<&'static LocalAgent, String> {
    static READ: OnceLock<LocalAgent> = OnceLock::new();
    if let Some(agent) = READ.get() {
        return Ok(agent);
    }
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the running program: {e}"))?;
    let static_build = format!("sy-remote-{}-linux-musl", std::env::consts::ARCH);
    let candidates = [
        exe.with_file_name(static_build),
        exe.with_file_name(DEFAULT_REMOTE_PATH),
    ];
    let Some(found) = candidates.iter().find(|path| path.is_file()) else {
        return Err(format!(
            "sy-remote is not installed on the host, and there is no {} to copy there",
            candidates[1].display()
        ));
    };
    let agent = LocalAgent::read(found).map_err(|e| sy_transport::describe_error(&e))?;
    Ok(READ.get_or_init(|| agent))
}

/// The connection settings for `spec`: the ssh config (or `--ssh-config`), then the flags.
fn connect_options(flags: &SshSettings, spec: &RemoteSpec) -> Result<SshOptions, SyncError> {
    let config = SshConfig::load(flags.config_file.as_deref())?;
    let settings = config.resolve(&spec.host, spec.user.as_deref());
    let mut options = hop_options(&settings, flags, spec.host.clone())?;
    if let Some(port) = flags.port {
        options.port = port;
    }
    if !flags.identities.is_empty() {
        // As with ssh: -i keys come first, and ssh's default keys are offered only when no
        // key is named anywhere.
        let home = LocalUser::current().home.join(".ssh");
        let defaults: Vec<PathBuf> = ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|name| home.join(name))
            .collect();
        if options.identity_files == defaults {
            options.identity_files.clear();
        }
        options
            .identity_files
            .splice(0..0, flags.identities.iter().cloned());
    }
    match settings.proxy_jump.as_slice() {
        [] => {}
        [hop] => {
            let jump = config.resolve(&hop.host, hop.user.as_deref());
            if !jump.proxy_jump.is_empty() {
                return Err(SyncError::SshSetup(format!(
                    "ProxyJump {}: the jump host has a ProxyJump of its own; the built-in \
                     client goes through one hop (use -e ssh for chains)",
                    hop.host
                )));
            }
            let mut jump_options = hop_options(&jump, flags, hop.host.clone())?;
            if let Some(port) = hop.port {
                jump_options.port = port;
            }
            options.jump = Some(Box::new(jump_options));
        }
        _ => {
            return Err(SyncError::SshSetup(format!(
                "{}: ProxyJump through {} hosts; the built-in client goes through one (use -e ssh \
             for chains)",
                spec.host,
                settings.proxy_jump.len()
            )));
        }
    }
    Ok(options)
}

/// The options for one host (the target or the jump host) from its resolved settings.
fn hop_options(
    settings: &HostSettings,
    flags: &SshSettings,
    shown: String,
) -> Result<SshOptions, SyncError> {
    if let Some(command) = &settings.proxy_command {
        return Err(SyncError::SshSetup(format!(
            "{shown}: ProxyCommand {command:?} is not run by the built-in SSH client; use -e ssh"
        )));
    }
    let ciphers = match &flags.cipher {
        Some(name) => vec![name.clone()],
        None => config_ciphers(settings.ciphers.as_deref()),
    };
    cipher_preference(&ciphers).map_err(|e| SyncError::SshSetup(format!("{shown}: {e}")))?;
    let passphrase: Option<PassphrasePrompt> = if settings.batch_mode {
        None
    } else {
        flags.passphrase.clone()
    };
    let host_keys: Arc<dyn HostKeyVerifier> = match &flags.host_keys {
        Some(custom) => Arc::clone(custom),
        None => Arc::new(KnownHostsCheck::new(settings, flags.accept_new_host_key)),
    };
    Ok(SshOptions {
        shown,
        host_name: settings.host_name.clone(),
        port: settings.port,
        user: settings.user.clone(),
        identity_files: settings.identity_files.clone(),
        identities_only: settings.identities_only,
        agent_socket: settings.identity_agent.clone(),
        keepalive_interval: settings.server_alive_interval,
        keepalive_max: settings.server_alive_count_max as usize,
        connect_timeout: settings.connect_timeout,
        ciphers,
        host_keys,
        passphrase,
        jump: None,
    })
}

/// ssh's `Ciphers` as a preference list: a plain list replaces sy's choice; `^list` goes
/// before it, `+list` after it, `-list` removes from it.
fn config_ciphers(written: Option<&str>) -> Vec<String> {
    let Some(written) = written.map(str::trim).filter(|w| !w.is_empty()) else {
        return Vec::new();
    };
    let names = |list: &str| -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let defaults = || -> Vec<String> {
        cipher_preference(&[])
            .unwrap_or_default()
            .iter()
            .map(|n| n.as_ref().to_owned())
            .collect()
    };
    let merge = |first: Vec<String>, then: Vec<String>| -> Vec<String> {
        let mut all = first;
        for name in then {
            if !all.contains(&name) {
                all.push(name);
            }
        }
        all
    };
    // `split_at(1)` would panic inside a multi-byte first character (`Ciphers é…`).
    let (first, rest) = written.split_at(written.chars().next().map_or(0, char::len_utf8));
    match (first, rest) {
        ("^", rest) => merge(names(rest), defaults()),
        ("+", rest) => merge(defaults(), names(rest)),
        ("-", rest) => {
            let removed = names(rest);
            defaults()
                .into_iter()
                .filter(|n| !removed.contains(n))
                .collect()
        }
        _ => names(written),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphers_from_the_ssh_config_edit_sys_choice() {
        assert!(config_ciphers(None).is_empty());
        assert_eq!(
            config_ciphers(Some("aes256-gcm@openssh.com,chacha20-poly1305@openssh.com")),
            ["aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"]
        );
        let first = config_ciphers(Some("^chacha20-poly1305@openssh.com"));
        assert_eq!(first[0], "chacha20-poly1305@openssh.com");
        assert_eq!(first.len(), 3);
        let without = config_ciphers(Some("-chacha20-poly1305@openssh.com"));
        assert!(!without.contains(&"chacha20-poly1305@openssh.com".to_owned()));
        assert_eq!(without.len(), 2);
        let plus = config_ciphers(Some("+aes128-ctr"));
        assert_eq!(plus.last().map(String::as_str), Some("aes128-ctr"));
        // A name that is not ASCII is an unknown cipher, not a panic.
        assert_eq!(config_ciphers(Some("é-cipher")), ["é-cipher"]);
    }
}
