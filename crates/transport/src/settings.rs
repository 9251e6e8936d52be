//! The `[amqp]` section that the broker's and a participant's configuration files share: the URL
//! and, for `amqps://`, the TLS identity (CA, certificate, key), validated together.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use varsel_protocol::problems::{resolve, Problems};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAmqp {
    pub url: String,
    pub prefetch: u16,
    pub reconnect_max_delay: String,
    /// TLS: the CA the server's certificate must be signed by.
    pub ca: Option<String>,
    /// TLS: our client certificate (its subject CN is our AMQP user) and key, both PEM.
    pub cert: Option<String>,
    pub key: Option<String>,
}

impl Default for RawAmqp {
    fn default() -> Self {
        RawAmqp {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            prefetch: 64,
            reconnect_max_delay: "10s".into(),
            ca: None,
            cert: None,
            key: None,
        }
    }
}

/// AMQP settings.
#[derive(Debug, Clone)]
pub struct Amqp {
    pub url: String,
    /// How many unacknowledged input messages the broker holds at once.
    pub prefetch: u16,
    pub reconnect_max_delay: Duration,
    /// Mutual TLS with EXTERNAL authentication (`amqps://` URLs); `None` for plain `amqp://`.
    pub tls: Option<crate::tls::Identity>,
}

/// Validates `[amqp]`: the URL's scheme, and for `amqps://` the CA, certificate and key (all
/// three, readable, the certificate naming a user). There is no way to skip verifying the server.
pub fn amqp_settings(p: &mut Problems, raw: &RawAmqp, base: &Path) -> Amqp {
    let tls_url = raw.url.starts_with("amqps://");
    if !(raw.url.starts_with("amqp://") || tls_url) {
        p.add("amqp.url", "an amqp:// or amqps:// URL");
    }
    let reconnect_max_delay = p.duration("amqp.reconnect_max_delay", &raw.reconnect_max_delay);
    let files = [
        ("amqp.ca", &raw.ca),
        ("amqp.cert", &raw.cert),
        ("amqp.key", &raw.key),
    ];
    let given = files.iter().filter(|(_, f)| f.is_some()).count();
    let mut tls = None;
    if tls_url {
        for (key, f) in &files {
            if f.is_none() {
                p.add(
                    key,
                    "a PEM file: amqps:// needs the CA, our certificate and our key",
                );
            }
        }
        if let (Some(ca), Some(cert), Some(key)) = (&raw.ca, &raw.cert, &raw.key) {
            let identity = crate::tls::Identity {
                ca: resolve(base, ca),
                cert: resolve(base, cert),
                key: resolve(base, key),
            };
            if let Err(e) = identity.check() {
                p.add(
                    "amqp.cert",
                    format!("a usable CA, certificate and key ({e})"),
                );
            }
            tls = Some(identity);
        }
        if amqp_user_of(&raw.url).is_some() {
            p.add(
                "amqp.url",
                "no user or password in an amqps:// URL; the certificate names the user",
            );
        }
    } else if given > 0 {
        p.add(
            "amqp.url",
            "an amqps:// URL when amqp.ca, amqp.cert and amqp.key are given",
        );
    }
    Amqp {
        url: raw.url.clone(),
        prefetch: raw.prefetch,
        reconnect_max_delay,
        tls,
    }
}

/// The user an AMQP URL names, read by lapin's own URL parser (`amq-protocol-uri`), so that
/// percent-encoding is decoded as when lapin logs in (`a%40b` is the user `a@b`). `None` when
/// the URL names no user (lapin would then log in as guest) or does not parse.
pub fn amqp_user_of(url: &str) -> Option<String> {
    let uri: amq_protocol_uri::AMQPUri = url.parse().ok()?;
    // The parser fills in `guest` when there is no userinfo; only the authority tells.
    let authority = url.split_once("://")?.1.split(['/', '?']).next()?;
    authority
        .contains('@')
        .then_some(uri.authority.userinfo.username)
        .filter(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_amqp_user_is_read_as_lapin_reads_it() {
        assert_eq!(
            amqp_user_of("amqp://skola%40kommun:p%3Aw@127.0.0.1:5672/varsel").as_deref(),
            Some("skola@kommun")
        );
        assert_eq!(
            amqp_user_of("amqp://skola:pw@127.0.0.1:5672/%2f").as_deref(),
            Some("skola")
        );
        assert_eq!(amqp_user_of("amqp://127.0.0.1:5672/varsel"), None);
        assert_eq!(amqp_user_of("amqps://rabbit.example:5671/a@b"), None);
        assert_eq!(amqp_user_of("not a url"), None);
    }
}
