//! What the client asks of the server, and why: ciphers (AES-GCM where the CPU has AES
//! instructions), host-key algorithms (those on record first), window and packet sizes for
//! bulk transfer.

use std::borrow::Cow;

use russh::client;
use russh::keys::{Algorithm, HashAlg};
use russh::{Preferred, cipher};

use super::session::SshOptions;
use crate::error::Result;

/// Our receive window per channel. The sender may have this much in flight before it must wait
/// for our window adjustment, so a download cannot go faster than window ÷ round-trip time
/// (russh adjusts when half is used, so about half of that in practice). Measured: pulling
/// 256 MiB through a relay adding 20 ms of round trip took 6.9–7.1 s with russh's 2 MiB
/// default, 2.2–2.9 s with 8 MiB and 1.5–2.0 s with 16 MiB; on loopback all three took
/// 0.85–1.3 s. It costs no memory up front: data is held only as fast as the session reads
/// it, and a full channel queue stops the session reading the socket, so TCP pushes back.
/// (Uploads are paced by the server's window, which is the server's choice.)
const WINDOW_SIZE: u32 = 16 << 20;

/// The largest packet russh accepts (one TCP segment's worth of length field): fewer packets
/// and MACs per byte than the 32 KiB default, about +10% on downloads; more changes nothing.
const MAXIMUM_PACKET_SIZE: u32 = 65535;

/// True when this CPU has AES instructions, which make AES-GCM the fastest cipher (measured
/// with russh on loopback: 860–1000 MB/s against 700–740 for chacha20-poly1305, which took
/// about twice the CPU); without them AES runs in software and is the slowest.
fn has_aes_instructions() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// The ciphers to offer, best first: `requested` (`--cipher`, ssh's Ciphers) when given, each
/// checked against what russh implements; otherwise AES-GCM first where the CPU has AES
/// instructions and chacha20-poly1305 first where it does not. Never AES-CTR by default: it
/// runs in software with a separate MAC, at a fraction of the speed.
pub fn cipher_preference(requested: &[String]) -> std::result::Result<Vec<cipher::Name>, String> {
    if requested.is_empty() {
        let aead = if has_aes_instructions() {
            [
                cipher::AES_128_GCM,
                cipher::AES_256_GCM,
                cipher::CHACHA20_POLY1305,
            ]
        } else {
            [
                cipher::CHACHA20_POLY1305,
                cipher::AES_128_GCM,
                cipher::AES_256_GCM,
            ]
        };
        return Ok(aead.to_vec());
    }
    let supported: Vec<&str> = cipher::ALL_CIPHERS
        .iter()
        .map(|name| name.as_ref())
        .filter(|name| !matches!(*name, "none" | "clear"))
        .collect();
    requested
        .iter()
        .map(|name| {
            cipher::Name::try_from(name.as_str())
                .ok()
                .filter(|n| supported.contains(&n.as_ref()))
                .ok_or_else(|| {
                    format!(
                        "unknown or unsupported cipher {name:?}; supported: {}",
                        supported.join(", ")
                    )
                })
        })
        .collect()
}

/// Host-key algorithms in the order to ask for them: those already on record for the host
/// first (an RSA record asks for the SHA-2 signatures), then russh's defaults.
fn host_key_preference(known: &[Algorithm]) -> Vec<Algorithm> {
    let mut order: Vec<Algorithm> = Vec::new();
    for algorithm in known {
        let wanted = match algorithm {
            Algorithm::Rsa { .. } => vec![
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha512),
                },
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha256),
                },
            ],
            other => vec![other.clone()],
        };
        for a in wanted {
            if !order.contains(&a) {
                order.push(a);
            }
        }
    }
    for a in Preferred::DEFAULT.key.iter() {
        if !order.contains(a) {
            order.push(a.clone());
        }
    }
    order
}

/// russh's client configuration for `options`.
pub(super) fn client_config(options: &SshOptions) -> Result<client::Config> {
    let ciphers = cipher_preference(&options.ciphers).map_err(|e| options.error(e))?;
    let known = options
        .host_keys
        .known_algorithms(&options.host_name, options.port);
    Ok(client::Config {
        window_size: WINDOW_SIZE,
        maximum_packet_size: MAXIMUM_PACKET_SIZE,
        keepalive_interval: options.keepalive_interval,
        keepalive_max: options.keepalive_max,
        nodelay: true,
        preferred: Preferred {
            cipher: Cow::Owned(ciphers),
            key: Cow::Owned(host_key_preference(&known)),
            ..Preferred::default()
        },
        ..client::Config::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphers_by_default_are_aead_only_and_named_ones_are_checked() {
        let default = cipher_preference(&[]).unwrap();
        assert_eq!(default.len(), 3);
        assert!(!default.contains(&cipher::AES_128_CTR));
        let first = if has_aes_instructions() {
            cipher::AES_128_GCM
        } else {
            cipher::CHACHA20_POLY1305
        };
        assert_eq!(default[0], first);
        let chosen = cipher_preference(&["chacha20-poly1305@openssh.com".to_owned()]).unwrap();
        assert_eq!(chosen, [cipher::CHACHA20_POLY1305]);
        let err = cipher_preference(&["rot13".to_owned()]).unwrap_err();
        assert!(
            err.contains("\"rot13\"") && err.contains("aes128-gcm@openssh.com"),
            "{err}"
        );
        assert!(cipher_preference(&["none".to_owned()]).is_err());
    }

    #[test]
    fn known_host_key_algorithms_come_first() {
        let order = host_key_preference(&[Algorithm::Rsa { hash: None }]);
        assert_eq!(
            order[..2],
            [
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha512)
                },
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha256)
                }
            ]
        );
        assert!(order.contains(&Algorithm::Ed25519));
        assert_eq!(host_key_preference(&[])[0], Algorithm::Ed25519);
    }
}
