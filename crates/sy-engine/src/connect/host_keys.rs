//! Host keys against known_hosts (and what `KnownHostsCommand` prints), judged as OpenSSH's
//! `check_host_key` does: under the `HostKeyAlias` when there is one, else the host name and
//! port; with `CheckHostIP`, under the server's address as well (recorded beside the host,
//! unless the host key came from `KnownHostsCommand`, and a host key that differs from the one
//! recorded for the address refused unless `StrictHostKeyChecking no`).

use std::net::IpAddr;

use sy_transport::ssh::{
    Algorithm, HashAlg, HostKeyName, HostKeyStatus, HostKeyVerifier, HostSettings, KeySource,
    KnownHosts, PublicKey, StrictHostKeyChecking,
};

/// The built-in [`HostKeyVerifier`]: one host's known_hosts settings.
pub(super) struct KnownHostsCheck {
    known: KnownHosts,
    /// `HostKeyAlias`: the name to look up and record instead of the host and port.
    alias: Option<String>,
    /// `CheckHostIP`.
    check_host_ip: bool,
    /// Trust and record a key for a host that has none (`--accept-new-host-key`,
    /// `StrictHostKeyChecking accept-new` or `no`).
    accept_new: bool,
    /// `StrictHostKeyChecking no`: a host key that differs from its address's is only warned
    /// about.
    strict_off: bool,
    /// Record keys hashed (`HashKnownHosts`).
    hashed: bool,
}

impl KnownHostsCheck {
    /// The check for a host with `settings`; `accept_new` is `--accept-new-host-key`.
    pub(super) fn new(settings: &HostSettings, accept_new: bool) -> KnownHostsCheck {
        let strict = settings.strict_host_key_checking;
        KnownHostsCheck {
            known: KnownHosts::new(
                settings.user_known_hosts_files.clone(),
                settings.global_known_hosts_files.clone(),
            )
            .with_command(settings.known_hosts_command.clone()),
            alias: settings.host_key_alias.clone(),
            check_host_ip: settings.check_host_ip,
            accept_new: accept_new
                || matches!(
                    strict,
                    StrictHostKeyChecking::AcceptNew | StrictHostKeyChecking::No
                ),
            strict_off: strict == StrictHostKeyChecking::No,
            hashed: settings.hash_known_hosts,
        }
    }

    /// What `host` on `port` is known as: its `HostKeyAlias`, else the host and port.
    fn name(&self, host: &str, port: u16) -> HostKeyName {
        match &self.alias {
            Some(alias) => HostKeyName::alias(alias),
            None => HostKeyName::host(host, port),
        }
    }

    /// The server's address as known_hosts names it, when `CheckHostIP` applies. As in
    /// OpenSSH it does not for a loopback address, without an address (through a jump host),
    /// or when the host was named by its address: OpenSSH compares the host name with
    /// `[ip]:port`, and without an alias its retry without the port with the plain address too.
    fn address_name(&self, host: &str, port: u16, address: Option<IpAddr>) -> Option<HostKeyName> {
        let address = address.filter(|address| self.check_host_ip && !address.is_loopback())?;
        let name = HostKeyName::address(address, port);
        let named_by_address =
            host == name.as_str() || (self.alias.is_none() && host == address.to_string());
        (!named_by_address).then_some(name)
    }
}

impl HostKeyVerifier for KnownHostsCheck {
    fn verify(
        &self,
        host: &str,
        port: u16,
        address: Option<IpAddr>,
        key: &PublicKey,
    ) -> Result<(), String> {
        let name = self.name(host, port);
        let address = self.address_name(host, port, address);
        let fingerprint = key.fingerprint(HashAlg::Sha256);
        let algorithm = key.algorithm();
        let check = |name: &HostKeyName| {
            self.known
                .check(name, key)
                .map_err(|e| format!("cannot check the host key: {e}"))
        };
        let status = check(&name)?;
        let by_address = match &address {
            Some(address) => Some((address, check(address)?)),
            None => None,
        };
        let new_address = match &by_address {
            Some((address, HostKeyStatus::Unknown)) => Some(*address),
            _ => None,
        };
        match status {
            // A key vouched for by KnownHostsCommand leaves the files alone, as in OpenSSH.
            HostKeyStatus::Trusted {
                source: KeySource::Command(_),
                ..
            } => {
                if let Some(address) = new_address {
                    tracing::warn!(
                        "the {algorithm} host key for IP address {address} is not in known_hosts"
                    );
                }
            }
            HostKeyStatus::Trusted { .. } => {
                if let Some(address) = new_address {
                    match self
                        .known
                        .record(std::slice::from_ref(address), key, self.hashed)
                    {
                        Ok(file) => tracing::warn!(
                            "permanently added the {algorithm} host key for IP address {address} \
                             to {}",
                            file.display()
                        ),
                        Err(e) => tracing::warn!(
                            "the {algorithm} host key for IP address {address} is not in \
                             known_hosts: {e}"
                        ),
                    }
                }
            }
            HostKeyStatus::Unknown if self.accept_new => {
                let mut names = vec![name.clone()];
                names.extend(new_address.cloned());
                let file = self
                    .known
                    .record(&names, key, self.hashed)
                    .map_err(|e| format!("cannot record the new host key: {e}"))?;
                let shown: Vec<&str> = names.iter().map(HostKeyName::as_str).collect();
                tracing::warn!(
                    "permanently added {} ({algorithm} {fingerprint}) to {}",
                    shown.join(","),
                    file.display()
                );
            }
            HostKeyStatus::Unknown => {
                return Err(format!(
                    "the host key of {name} is not known ({algorithm} {fingerprint}); if that \
                     is the host's key, run again with --accept-new-host-key to trust it (it is \
                     then recorded in known_hosts)"
                ));
            }
            HostKeyStatus::Changed {
                source,
                line,
                known_fingerprint,
            } => {
                let remedy = match &source {
                    KeySource::File(file) => format!(
                        "remove the old key with\n`ssh-keygen -R '{name}' -f {}` and run again \
                         with --accept-new-host-key.",
                        file.display()
                    ),
                    KeySource::Command(_) => {
                        "correct what KnownHostsCommand prints for it.".to_owned()
                    }
                };
                let spoofing = by_address
                    .as_ref()
                    .map(|(address, status)| {
                        dns_spoofing(&name, address, status, &known_fingerprint)
                    })
                    .unwrap_or_default();
                return Err(format!(
                    "{spoofing}\n\
                     @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                     @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
                     @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
                     IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
                     Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n\
                     It is also possible that the host key has just been changed.\n\
                     The {algorithm} key sent by {name} has fingerprint {fingerprint};\n\
                     the key recorded in {source}:{line} has fingerprint {known_fingerprint}.\n\
                     Refusing to connect. If the change is expected, {remedy}"
                ));
            }
            HostKeyStatus::Revoked { source, line } => {
                return Err(format!(
                    "the host key of {name} ({algorithm} {fingerprint}) is marked @revoked in \
                     {source}:{line}; refusing to connect"
                ));
            }
        }
        if let Some((address, HostKeyStatus::Changed { source, line, .. })) = &by_address {
            let differs = format!(
                "the {algorithm} host key for {name} differs from the key recorded for its IP \
                 address {address} in {source}:{line} (CheckHostIP)"
            );
            if !self.strict_off {
                return Err(format!(
                    "{differs}; refusing to connect (StrictHostKeyChecking is not no). If the \
                     address's key is out of date, remove it from {source}"
                ));
            }
            tracing::warn!("{differs}");
        }
        Ok(())
    }

    fn known_algorithms(&self, host: &str, port: u16) -> Vec<Algorithm> {
        self.known.known_algorithms(&self.name(host, port))
    }
}

/// OpenSSH's warning when a host's key changed and its address's key did not change with it.
/// Empty when both changed to the same old key (then it is one change, reported as such).
fn dns_spoofing(
    name: &HostKeyName,
    address: &HostKeyName,
    status: &HostKeyStatus,
    host_fingerprint: &str,
) -> String {
    let (state, offending) = match status {
        HostKeyStatus::Unknown => ("is unknown", None),
        HostKeyStatus::Trusted { source, line } | HostKeyStatus::Revoked { source, line } => {
            ("is unchanged", Some((source, line)))
        }
        HostKeyStatus::Changed {
            known_fingerprint, ..
        } if known_fingerprint == host_fingerprint => return String::new(),
        HostKeyStatus::Changed { source, line, .. } => {
            ("has a different value", Some((source, line)))
        }
    };
    let offending = offending
        .map(|(source, line)| format!("\nOffending key for IP in {source}:{line}"))
        .unwrap_or_default();
    format!(
        "\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         @       WARNING: POSSIBLE DNS SPOOFING DETECTED!          @\n\
         @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         The host key for {name} has changed,\n\
         and the key for the corresponding IP address {address}\n\
         {state}. This could either mean that\n\
         DNS SPOOFING is happening or the IP address for the host\n\
         and its host key have changed at the same time.{offending}"
    )
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    use sy_transport::ssh::{LocalUser, SshConfig};

    use super::*;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJbJvYeBcDbBNiNOYEaM9P+9KOByV7S+hKvumcFPhCjk";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMYHuzpfCkyaRcvcbTm65fCchvdQRsdSjSc1o2GDrnCz";
    const SERVER: &str = "192.0.2.7";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap()
    }

    /// The check for host `web` (at 192.0.2.7, port 2222) with `config` lines, and its
    /// known_hosts file holding `known`.
    fn check(config: &str, known: &str) -> (tempfile::TempDir, PathBuf, KnownHostsCheck) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        fs::write(&file, known).unwrap();
        let text = format!(
            "Host web\n  HostName {SERVER}\n  Port 2222\n  UserKnownHostsFile {}\n  \
             GlobalKnownHostsFile none\n{config}",
            file.display()
        );
        let local = LocalUser {
            name: "alice".into(),
            home: dir.path().to_owned(),
            uid: 1000,
        };
        let settings = SshConfig::parse_as(&text, Path::new("config"), local)
            .unwrap()
            .resolve("web", None);
        let check = KnownHostsCheck::new(&settings, false);
        (dir, file, check)
    }

    fn address() -> Option<IpAddr> {
        SERVER.parse().ok()
    }

    #[test]
    fn a_key_pinned_under_the_alias_is_the_only_one_trusted() {
        let known = format!("pinned {KEY_B}\n[{SERVER}]:2222 {KEY_A}\n");
        let (_dir, file, check) = check("HostKeyAlias Pinned\nStrictHostKeyChecking no\n", &known);
        let err = check.verify(SERVER, 2222, None, &key(KEY_A)).unwrap_err();
        assert!(
            err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{err}"
        );
        assert!(err.contains(&format!("{}:1", file.display())), "{err}");
        assert!(err.contains("ssh-keygen -R 'pinned'"), "{err}");
        check.verify(SERVER, 2222, None, &key(KEY_B)).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), known);
        assert_eq!(
            check.known_algorithms(SERVER, 2222),
            [key(KEY_B).algorithm()]
        );
    }

    #[test]
    fn a_new_key_is_recorded_under_the_alias_and_with_check_host_ip_the_address() {
        let (_dir, file, alias) = check(
            "HostKeyAlias Pinned\nStrictHostKeyChecking accept-new\n",
            "",
        );
        alias.verify(SERVER, 2222, address(), &key(KEY_A)).unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            format!("pinned {KEY_A}\n")
        );

        let config = "HostKeyAlias Pinned\nCheckHostIP yes\nStrictHostKeyChecking accept-new\n";
        let (_dir, file, both) = check(config, "");
        both.verify(SERVER, 2222, address(), &key(KEY_A)).unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            format!("pinned,[{SERVER}]:2222 {KEY_A}\n")
        );
    }

    #[test]
    fn check_host_ip_records_a_missing_address_and_refuses_a_different_one() {
        let config = "HostKeyAlias pinned\nCheckHostIP yes\n";
        let (_dir, file, check_ip) = check(config, &format!("pinned {KEY_A}\n"));
        check_ip
            .verify(SERVER, 2222, address(), &key(KEY_A))
            .unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            format!("pinned {KEY_A}\n[{SERVER}]:2222 {KEY_A}\n")
        );

        let known = format!("pinned {KEY_A}\n[{SERVER}]:2222 {KEY_B}\n");
        for strict in ["yes", "accept-new", "ask"] {
            let config = format!("{config}StrictHostKeyChecking {strict}\n");
            let (_dir, file, check_ip) = check(&config, &known);
            let err = check_ip
                .verify(SERVER, 2222, address(), &key(KEY_A))
                .unwrap_err();
            assert!(
                err.contains(&format!(
                    "differs from the key recorded for its IP address [{SERVER}]:2222 in {}:2",
                    file.display()
                )),
                "{strict}: {err}"
            );
        }
        let (_dir, _file, off) = check(&format!("{config}StrictHostKeyChecking no\n"), &known);
        off.verify(SERVER, 2222, address(), &key(KEY_A)).unwrap();
    }

    #[test]
    fn a_key_from_known_hosts_command_is_trusted_and_leaves_the_files_alone() {
        let config = format!(
            "HostKeyAlias pinned\nCheckHostIP yes\nKnownHostsCommand /bin/echo %H {KEY_A}\n"
        );
        let (_dir, file, check_ip) = check(&config, "");
        check_ip
            .verify(SERVER, 2222, address(), &key(KEY_A))
            .unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "");
        let err = check_ip
            .verify(SERVER, 2222, address(), &key(KEY_B))
            .unwrap_err();
        assert!(
            err.contains(&format!(
                "recorded in the output of KnownHostsCommand \"/bin/echo %H {KEY_A}\":1"
            )) && err.contains("correct what KnownHostsCommand prints"),
            "{err}"
        );
    }

    #[test]
    fn check_host_ip_spares_loopback_jump_hosts_and_hosts_named_by_address() {
        let (_dir, _file, check_ip) = check("CheckHostIP yes\nHostKeyAlias pinned\n", "");
        let loopback = "127.0.0.1".parse().ok();
        assert_eq!(check_ip.address_name("web", 2222, loopback), None);
        assert_eq!(check_ip.address_name("web", 2222, None), None);
        assert_eq!(
            check_ip
                .address_name(SERVER, 2222, address())
                .map(|name| name.to_string()),
            Some(format!("[{SERVER}]:2222")),
            "with an alias, OpenSSH compares the name with [ip]:port"
        );
        assert_eq!(check_ip.address_name(SERVER, 22, address()), None);
        let (_dir, _file, no_alias) = check("CheckHostIP yes\n", "");
        assert_eq!(no_alias.address_name(SERVER, 2222, address()), None);
        assert!(
            no_alias
                .address_name("web.example", 2222, address())
                .is_some()
        );
        let (_dir, _file, off) = check("", "");
        assert_eq!(off.address_name("web.example", 2222, address()), None);
    }

    #[test]
    fn a_changed_host_key_with_an_unchanged_address_warns_of_dns_spoofing() {
        let known = format!("[{SERVER}]:2222 {KEY_A}\nother {KEY_B}\n");
        let (_dir, file, check_ip) = check("CheckHostIP yes\nHostKeyAlias other\n", &known);
        let err = check_ip
            .verify(SERVER, 2222, address(), &key(KEY_A))
            .unwrap_err();
        assert!(err.contains("POSSIBLE DNS SPOOFING DETECTED"), "{err}");
        assert!(err.contains("is unchanged"), "{err}");
        assert!(
            err.contains(&format!("Offending key for IP in {}:1", file.display())),
            "{err}"
        );
        assert!(
            err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{err}"
        );
    }
}
