//! The `[amqp]` section that the broker's and a participant's configuration files share: the URL
//! (or, for a RabbitMQ cluster, the list of its nodes' URLs) and, for `amqps://`, the TLS
//! identity (CA, certificate, key), validated together.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use varsel_protocol::problems::{resolve, Problems};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAmqp {
    /// One node's URL; the default when neither this nor `urls` is given is the local guest.
    pub url: Option<String>,
    /// Several nodes of one RabbitMQ cluster, tried in this order (instead of `url`).
    pub urls: Option<Vec<String>>,
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
            url: None,
            urls: None,
            prefetch: 64,
            reconnect_max_delay: "10s".into(),
            ca: None,
            cert: None,
            key: None,
        }
    }
}

/// The URL used when the configuration names none: guest on the local RabbitMQ.
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// AMQP settings.
#[derive(Debug, Clone)]
pub struct Amqp {
    /// The nodes to connect to, at least one: a connection goes to one of them, and when it is
    /// lost (or cannot be made) the next in the list is tried, round and round.
    pub urls: Vec<String>,
    /// How many unacknowledged input messages the broker holds at once.
    pub prefetch: u16,
    pub reconnect_max_delay: Duration,
    /// Mutual TLS with EXTERNAL authentication (`amqps://` URLs); `None` for plain `amqp://`.
    pub tls: Option<crate::tls::Identity>,
}

impl Amqp {
    /// The first of the configured URLs (the only one, unless `urls` names several).
    pub fn url(&self) -> &str {
        &self.urls[0]
    }
}

/// The configured URLs, each with the key a problem with it is reported under: `amqp.url` for
/// the single URL, `amqp.urls[i]` for the i-th of the list.
fn configured_urls(p: &mut Problems, raw: &RawAmqp) -> Vec<(String, String)> {
    match (&raw.url, &raw.urls) {
        (Some(_), Some(_)) => {
            p.add(
                "amqp.urls",
                "either amqp.url (one node) or amqp.urls (a cluster's nodes), not both",
            );
            Vec::new()
        }
        (Some(url), None) => vec![("amqp.url".to_owned(), url.clone())],
        (None, Some(urls)) => {
            if urls.is_empty() {
                p.add("amqp.urls", "at least one amqp:// or amqps:// URL");
            }
            urls.iter()
                .enumerate()
                .map(|(i, u)| (format!("amqp.urls[{i}]"), u.clone()))
                .collect()
        }
        (None, None) => vec![("amqp.url".to_owned(), DEFAULT_URL.to_owned())],
    }
}

/// Validates `[amqp]`: each URL's scheme (all `amqp://` or all `amqps://`, and naming one user
/// if any), and for `amqps://` the CA, certificate and key (all three, readable, the certificate
/// naming a user). There is no way to skip verifying the server.
pub fn amqp_settings(p: &mut Problems, raw: &RawAmqp, base: &Path) -> Amqp {
    let urls = configured_urls(p, raw);
    for (key, url) in &urls {
        if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
            p.add(key, "an amqp:// or amqps:// URL");
        }
    }
    let tls_url = urls.iter().any(|(_, u)| u.starts_with("amqps://"));
    if tls_url && urls.iter().any(|(_, u)| u.starts_with("amqp://")) {
        p.add("amqp.urls", "URLs of one kind: all amqp:// or all amqps://");
    }
    // Among the URLs that are AMQP URLs at all; the others are reported above.
    let users: std::collections::BTreeSet<Option<String>> = urls
        .iter()
        .filter(|(_, u)| u.starts_with("amqp://") || u.starts_with("amqps://"))
        .map(|(_, u)| amqp_user_of(u))
        .collect();
    if users.len() > 1 {
        p.add(
            "amqp.urls",
            "the same user in every URL: they are nodes of one cluster",
        );
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
        for (key, url) in &urls {
            if amqp_user_of(url).is_some() {
                p.add(
                    key,
                    "no user or password in an amqps:// URL; the certificate names the user",
                );
            }
        }
    } else if given > 0 {
        let key = urls.first().map_or("amqp.url", |(k, _)| k.as_str());
        p.add(
            key,
            "an amqps:// URL when amqp.ca, amqp.cert and amqp.key are given",
        );
    }
    let mut urls: Vec<String> = urls.into_iter().map(|(_, u)| u).collect();
    if urls.is_empty() {
        // Only with a problem reported above, so these settings are never used.
        urls.push(DEFAULT_URL.to_owned());
    }
    Amqp {
        urls,
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

    fn parse(text: &str) -> Result<Amqp, Vec<(String, String)>> {
        let raw: RawAmqp = toml::from_str(text).expect("TOML");
        let mut p = Problems::default();
        let amqp = amqp_settings(&mut p, &raw, Path::new("/nonexistent"));
        if p.is_empty() {
            Ok(amqp)
        } else {
            Err(p
                .into_vec()
                .into_iter()
                .map(|x| (x.key, x.expected))
                .collect())
        }
    }

    #[test]
    fn a_cluster_is_given_as_a_list_of_urls_tried_in_order() {
        let a = parse(r#"urls = ["amqp://u:p@127.0.0.1:25701/v", "amqp://u:p@127.0.0.1:25702/v"]"#)
            .unwrap();
        assert_eq!(a.urls.len(), 2);
        assert_eq!(a.url(), "amqp://u:p@127.0.0.1:25701/v");
        assert_eq!(parse("").unwrap().urls, [DEFAULT_URL]);
        assert_eq!(
            parse(r#"url = "amqp://127.0.0.1/v""#).unwrap().urls,
            ["amqp://127.0.0.1/v"]
        );
    }

    #[test]
    fn bad_url_lists_are_refused_naming_the_key() {
        let keys = |text: &str| -> Vec<String> {
            parse(text)
                .unwrap_err()
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(
            keys(
                r#"url = "amqp://a/v"
urls = ["amqp://b/v"]"#
            ),
            ["amqp.urls"]
        );
        assert_eq!(keys("urls = []"), ["amqp.urls"]);
        assert_eq!(
            keys(r#"urls = ["amqp://a/v", "http://b/v"]"#),
            ["amqp.urls[1]"]
        );
        assert_eq!(
            keys(r#"urls = ["amqp://u:p@a/v", "amqp://w:p@b/v"]"#),
            ["amqp.urls"]
        );
        let mixed = parse(r#"urls = ["amqps://a/v", "amqp://b/v"]"#).unwrap_err();
        assert!(
            mixed
                .iter()
                .any(|(k, e)| k == "amqp.urls" && e.contains("one kind")),
            "{mixed:?}"
        );
        let tls = keys(
            r#"urls = ["amqps://a/v", "amqps://u:p@b/v"]
ca = "ca.pem"
cert = "c.pem"
key = "k.pem""#,
        );
        assert!(tls.contains(&"amqp.urls[1]".to_owned()), "{tls:?}");
    }
}
