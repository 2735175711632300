//! Public-key authentication as OpenSSH does it: the agent's keys first, then identity files;
//! a failure lists everything that was tried and what became of it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::Handle;
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::key::PrivateKeyWithHashAlg;
use russh::keys::{HashAlg, PrivateKey, PublicKey, decode_secret_key, load_public_key};

use super::session::{Client, SshOptions};
use crate::error::Result;

/// The signature hash for RSA keys, asked of the server once (it waits for the server's
/// extension info, so only when an RSA key is about to be offered).
struct RsaHash(Option<Option<HashAlg>>);

impl RsaHash {
    async fn get(&mut self, handle: &Handle<Client>, key: &PublicKey) -> Option<HashAlg> {
        if !key.algorithm().is_rsa() {
            return None;
        }
        if self.0.is_none() {
            self.0 = Some(
                handle
                    .best_supported_rsa_hash()
                    .await
                    .ok()
                    .flatten()
                    .flatten(),
            );
        }
        self.0.flatten()
    }
}

/// Authenticates as `options.user`; an error names every key tried and why it failed.
pub(super) async fn authenticate(handle: &mut Handle<Client>, options: &SshOptions) -> Result<()> {
    let mut tried: Vec<String> = Vec::new();
    let mut rsa_hash = RsaHash(None);
    let wanted: Vec<PublicKey> = options
        .identity_files
        .iter()
        .filter_map(|path| load_public_key(public_key_path(path)).ok())
        .collect();
    let mut offered: Vec<PublicKey> = Vec::new();
    if let Some(socket) = &options.agent_socket {
        match AgentClient::connect_uds(socket).await {
            Err(e) => tried.push(format!(
                "ssh-agent at {} (cannot connect: {e})",
                shown_path(socket)
            )),
            Ok(mut agent) => match agent.request_identities().await {
                Err(e) => tried.push(format!("ssh-agent ({e})")),
                Ok(identities) => {
                    let keys: Vec<PublicKey> = identities
                        .into_iter()
                        .filter_map(|identity| match identity {
                            AgentIdentity::PublicKey { key, .. } => Some(key),
                            _ => None,
                        })
                        .filter(|key| !options.identities_only || same_key_in(key, &wanted))
                        .collect();
                    for key in &keys {
                        let hash = rsa_hash.get(handle, key).await;
                        let result = handle
                            .authenticate_publickey_with(
                                options.user.as_str(),
                                key.clone(),
                                hash,
                                &mut agent,
                            )
                            .await;
                        if result.is_ok_and(|r| r.success()) {
                            return Ok(());
                        }
                        offered.push(key.clone());
                    }
                    tried.push(match keys.len() {
                        0 => "ssh-agent (no keys)".to_owned(),
                        1 => "ssh-agent (1 key, refused)".to_owned(),
                        n => format!("ssh-agent ({n} keys, refused)"),
                    });
                }
            },
        }
    }
    for path in &options.identity_files {
        let shown = shown_path(path);
        if !path.exists() {
            tried.push(format!("{shown} (not found)"));
            continue;
        }
        if let Ok(public) = load_public_key(public_key_path(path))
            && same_key_in(&public, &offered)
        {
            tried.push(format!("{shown} (refused through the agent)"));
            continue;
        }
        let key = match load_private_key(path, options).await {
            Ok(key) => key,
            Err(why) => {
                tried.push(format!("{shown} ({why})"));
                continue;
            }
        };
        let hash = rsa_hash.get(handle, key.public_key()).await;
        let result = handle
            .authenticate_publickey(
                options.user.as_str(),
                PrivateKeyWithHashAlg::new(Arc::new(key), hash),
            )
            .await
            .map_err(|e| options.error(format!("authenticating as {}: {e}", options.user)))?;
        if result.success() {
            return Ok(());
        }
        tried.push(format!("{shown} (refused)"));
    }
    let tried = if tried.is_empty() {
        "nothing: no ssh-agent (SSH_AUTH_SOCK) and no identity file (-i, IdentityFile)".to_owned()
    } else {
        tried.join(", ")
    };
    Err(options.error(format!(
        "permission denied for user {}; tried: {tried}",
        options.user
    )))
}

/// Reads a private key, asking for its passphrase when it is encrypted; the error says why
/// the key could not be used.
async fn load_private_key(
    path: &Path,
    options: &SshOptions,
) -> std::result::Result<PrivateKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("unreadable: {e}"))?;
    match decode_secret_key(&text, None) {
        Ok(key) => Ok(key),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            let Some(prompt) = options.passphrase.clone() else {
                return Err("encrypted, and asking for its passphrase is not allowed \
                            (BatchMode): add it to ssh-agent"
                    .to_owned());
            };
            let asked = path.to_path_buf();
            let passphrase = tokio::task::spawn_blocking(move || prompt(&asked))
                .await
                .ok()
                .flatten()
                .ok_or(
                    "encrypted, and no passphrase could be read (no terminal?): add it to \
                        ssh-agent",
                )?;
            decode_secret_key(&text, Some(&passphrase)).map_err(|_| "wrong passphrase".to_owned())
        }
        Err(e) => Err(format!("not a usable private key: {e}")),
    }
}

fn same_key_in(key: &PublicKey, keys: &[PublicKey]) -> bool {
    keys.iter().any(|k| k.key_data() == key.key_data())
}

/// `id_ed25519` → `id_ed25519.pub`.
fn public_key_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".pub");
    PathBuf::from(name)
}

/// The path with the home directory written as `~`, as ssh users know it.
fn shown_path(path: &Path) -> String {
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty())
        && let Ok(rest) = path.strip_prefix(&home)
    {
        return format!("~/{}", rest.display());
    }
    path.display().to_string()
}
