//! JWS compact serialization (RFC 7515) with Ed25519 signatures: signing payloads and verifying
//! received messages over their exact bytes.
//!
//! The protected header is `{"alg":"Ed25519","kid":"<signer kid>","typ":"varsel-<kind>+jws"}`
//! and nothing else: `Ed25519` is the fully-specified algorithm name of RFC 9864, which
//! deprecates `EdDSA` (RFC 8037). On receipt both are accepted and mean Ed25519, since every
//! registered signing key is an Ed25519 key; wire format v1 wrote `EdDSA`. A JOSE library that
//! knows only `EdDSA` verifies a varsel message once told that `Ed25519` names the same
//! algorithm.
//!
//! [`verify`] checks, in this order, and refuses with the first reason that applies:
//! size (`oversized`), shape and header (`malformed`, `unsupported_alg`), the key (`unknown_key`,
//! `key_revoked`, `key_expired`), the signature over the received bytes (`bad_signature`), and
//! only then the payload (`malformed`, `schema`), its sender (`unknown_sender`,
//! `key_not_senders`) and the key's validity at `sent_at` (`key_expired`). The payload's `v`
//! must be 2 or 1 (`unsupported_version` otherwise); whether v1 is still accepted is the
//! receiver's decision (the broker's `[wire] accept_v1_until`). Freshness, replay,
//! rights and routing keys are the intake's business.

use chrono::{DateTime, Utc};
use ring::signature::{UnparsedPublicKey, ED25519};
use serde_json::{Map, Value};

use super::keys::{KeyLookup, SigningKeyPair, Usability};
use super::{b64, sha256, unb64};
use crate::message::{Content, Kind, Payload, VERSION, VERSION_1};
use crate::refusal::{Reason, Refusal};

/// The default size limit of a received message: 256 KiB.
pub const DEFAULT_MAX_MESSAGE: usize = 256 * 1024;

/// The JWS `typ` of a message kind.
pub fn typ(kind: Kind) -> String {
    format!("varsel-{}+jws", kind.code())
}

/// A verified message.
#[derive(Debug, Clone)]
pub struct Verified {
    pub payload: Payload,
    /// The message exactly as received.
    pub compact: String,
    /// The key id that signed it.
    pub kid: String,
    /// The registered participant that owns the key (always `payload.sender`).
    pub signer: crate::message::ParticipantId,
    /// SHA-256 of the received bytes.
    pub digest: [u8; 32],
}

/// Sign a payload: the JWS in compact serialization.
pub fn sign(payload: &Payload, key: &SigningKeyPair) -> String {
    let header = format!(
        r#"{{"alg":"Ed25519","kid":{},"typ":"{}"}}"#,
        Value::String(key.kid().to_owned()),
        typ(payload.kind())
    );
    // Serialising a Payload cannot fail: every field is a plain value with a string map key.
    let body = serde_json::to_vec(payload).unwrap_or_default();
    let mut compact = format!("{}.{}", b64(header.as_bytes()), b64(&body));
    let signature = key.sign(compact.as_bytes());
    compact.push('.');
    compact.push_str(&b64(&signature));
    compact
}

fn refuse(reason: Reason, detail: impl Into<String>) -> Refusal {
    Refusal::new(reason, detail)
}

/// Reads the payload of a message that was verified before (for example one kept in the store
/// after intake verified it). Checks nothing: never use it on input that was not verified.
pub fn payload_of(compact: &str) -> Result<Payload, String> {
    let mut parts = compact.split('.');
    let payload = parts.nth(1).ok_or("not a JWS in compact serialization")?;
    let bytes = super::unb64(payload).ok_or("the payload is not base64url")?;
    serde_json::from_slice(&bytes).map_err(|e| format!("the payload is not a varsel payload: {e}"))
}

/// Verify a received message (see the module docs for the order of checks).
pub fn verify(
    bytes: &[u8],
    registry: &(impl KeyLookup + ?Sized),
    now: DateTime<Utc>,
    max_size: usize,
) -> Result<Verified, Refusal> {
    if bytes.len() > max_size {
        return Err(refuse(
            Reason::Oversized,
            format!("{} bytes, limit is {max_size}", bytes.len()),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| refuse(Reason::Malformed, "not a JWS: contains non-ASCII bytes"))?;
    let mut parts = text.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse(
            Reason::Malformed,
            "not a JWS in compact serialization (expected three base64url parts separated by '.')",
        ));
    };
    let header_bytes =
        unb64(h64).ok_or_else(|| refuse(Reason::Malformed, "JWS header is not base64url"))?;
    let header: Map<String, Value> = serde_json::from_slice(&header_bytes)
        .map_err(|_| refuse(Reason::Malformed, "JWS header is not a JSON object"))?;

    let alg = header.get("alg").and_then(Value::as_str);
    if !matches!(alg, Some("EdDSA" | "Ed25519")) {
        return Err(refuse(
            Reason::UnsupportedAlg,
            format!(
                "alg {} is not accepted; only EdDSA or Ed25519",
                header
                    .get("alg")
                    .map_or("(missing)".into(), Value::to_string)
            ),
        ));
    }
    if header.contains_key("crit") {
        return Err(refuse(
            Reason::UnsupportedAlg,
            "critical header extensions (crit) are not supported",
        ));
    }
    if let Some(other) = header
        .keys()
        .find(|k| !matches!(k.as_str(), "alg" | "kid" | "typ"))
    {
        return Err(refuse(
            Reason::UnsupportedAlg,
            format!("unsupported JWS header parameter {other:?}"),
        ));
    }
    let typ_kind = header
        .get("typ")
        .and_then(Value::as_str)
        .and_then(|t| t.strip_prefix("varsel-")?.strip_suffix("+jws"))
        .and_then(|k| k.parse::<Kind>().ok())
        .ok_or_else(|| {
            refuse(
                Reason::UnsupportedAlg,
                "typ must be varsel-<kind>+jws with a known kind",
            )
        })?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| refuse(Reason::Malformed, "JWS header has no kid string"))?;
    let signature =
        unb64(s64).ok_or_else(|| refuse(Reason::Malformed, "JWS signature is not base64url"))?;

    let (owner, key) = registry.signing_key_owner(kid).ok_or_else(|| {
        refuse(
            Reason::UnknownKey,
            format!("no registered signing key {kid:?}"),
        )
    })?;
    match key.validity.usability(now) {
        Usability::Usable => {}
        Usability::Revoked => {
            return Err(refuse(
                Reason::KeyRevoked,
                format!("signing key {kid} is revoked"),
            ))
        }
        Usability::NotYetValid | Usability::Expired => {
            return Err(refuse(
                Reason::KeyExpired,
                format!("signing key {kid} is not valid at {now}"),
            ))
        }
    }

    let signing_input = &text[..h64.len() + 1 + p64.len()];
    UnparsedPublicKey::new(&ED25519, &key.public_key)
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| {
            refuse(
                Reason::BadSignature,
                format!("signature does not verify with key {kid}"),
            )
        })?;

    let body = unb64(p64).ok_or_else(|| refuse(Reason::Malformed, "payload is not base64url"))?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|_| refuse(Reason::Malformed, "payload is not JSON"))?;
    match value.get("v").and_then(Value::as_u64) {
        Some(v) if v == u64::from(VERSION) || v == u64::from(VERSION_1) => {}
        Some(v) => {
            return Err(refuse(
                Reason::UnsupportedVersion,
                format!("wire format version {v} is not read here; send {VERSION}"),
            ))
        }
        None => {
            return Err(refuse(
                Reason::Schema,
                format!("payload has no version v (an integer, {VERSION})"),
            ))
        }
    }
    let received_header = value.get("header").cloned();
    let payload: Payload = serde_json::from_value(value).map_err(|e| {
        refuse(
            Reason::Schema,
            format!(
                "payload does not follow the schema: {}",
                redact_quoted(&e.to_string())
            ),
        )
    })?;
    if payload.kind() != typ_kind {
        return Err(refuse(
            Reason::Schema,
            format!(
                "typ names {typ_kind} but the payload is a {}",
                payload.kind()
            ),
        ));
    }
    payload
        .check_version_fields()
        .map_err(|why| refuse(Reason::Schema, why))?;
    let header = match &payload.content {
        Content::Note(n) => Some(&n.header),
        c => c.sealed().map(|s| &s.header),
    };
    if let (Some(header), Some(received)) = (header, &received_header) {
        super::seal::check_header_form(header, received)?;
    }
    if !registry.is_registered(&payload.sender) {
        return Err(refuse(
            Reason::UnknownSender,
            format!("sender {} is not registered", payload.sender),
        ));
    }
    if payload.sender != *owner {
        return Err(refuse(
            Reason::KeyNotSenders,
            format!(
                "key {kid} belongs to {owner}, not to the sender {}",
                payload.sender
            ),
        ));
    }
    if !key.validity.is_usable(payload.sent_at) {
        return Err(refuse(
            Reason::KeyExpired,
            format!(
                "signing key {kid} was not valid at sent_at {}",
                payload.sent_at
            ),
        ));
    }
    Ok(Verified {
        signer: owner.clone(),
        payload,
        compact: text.to_owned(),
        kid: kid.to_owned(),
        digest: sha256(bytes),
    })
}

/// serde quotes offending values in double quotes ("invalid value: string \"Anna\""); a refusal
/// detail must not carry them, field names (in backticks) may stay.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if !inside {
                out.push_str("\"…\"");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_details_do_not_quote_values() {
        assert_eq!(
            redact_quoted(
                r#"invalid type: string "Anna Svensson", expected u8; unknown field `pupil`"#
            ),
            r#"invalid type: string "…", expected u8; unknown field `pupil`"#
        );
    }

    #[test]
    fn typ_names_the_kind() {
        assert_eq!(typ(Kind::Alert), "varsel-alert+jws");
    }
}
