//! The published test vectors of wire format v2, `schemas/vectors/wire-v2.json`: regenerated
//! here from their fixed inputs through the code that runs (the randomness replayed from the
//! file's own bytes) and compared byte for byte, so the file always says what varsel does.
//! After a deliberate change of the format, `VARSEL_WRITE_VECTORS=1` rewrites the file.

use serde_json::json;
use varsel_protocol::envelope::block::{block_aad, BLOCK_INFO};
use varsel_protocol::envelope::random::Randomness;
use varsel_protocol::envelope::seal::section_aad;
use varsel_protocol::message::{Delivery, RecipientRole};

use super::*;

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/vectors/wire-v2.json"
);

/// 32 bytes of fixed input keying material, named so a reader can see where they come from.
fn fixed(name: &str) -> [u8; 32] {
    envelope::sha256(format!("varsel wire v2 test vector: {name}").as_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` bytes of "randomness": SHA-256 of the name and a counter, concatenated.
fn randomness(name: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0u32.. {
        if out.len() >= n {
            break;
        }
        out.extend_from_slice(&fixed(&format!("{name} {i}")));
    }
    out.truncate(n);
    out
}

fn signing(seed: &[u8; 32]) -> SigningKeyPair {
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed).unwrap();
    let public = ring::signature::KeyPair::public_key(&pair)
        .as_ref()
        .to_vec();
    SigningKeyPair::from_seed(seed, &public).unwrap()
}

fn registry_entry(
    id: &str,
    role: &str,
    extra: &str,
    sign: &SigningKeyPair,
    seal: Option<&SealingSecret>,
) -> String {
    let mut s = format!(
        "[[participant]]\nid = \"{id}\"\nname = \"{id}\"\nrole = \"{role}\"\n{extra}\
         [[participant.signing_key]]\nkid = \"{}\"\npublic_key = \"{}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\n",
        sign.kid(),
        b64(sign.public_key())
    );
    if let Some(k) = seal {
        s.push_str(&format!(
            "[[participant.sealing_key]]\nkid = \"{}\"\nsuite = \"{}\"\npublic_key = \"{}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\n",
            k.kid,
            k.suite.code(),
            b64(k.public_key())
        ));
    }
    s
}

fn participant_json(
    sign_seed: &[u8],
    sign: &SigningKeyPair,
    seal: Option<(&[u8], &SealingSecret)>,
) -> serde_json::Value {
    let mut v = json!({
        "signing_seed_hex": hex(sign_seed),
        "signing_public_key": b64(sign.public_key()),
        "signing_kid": sign.kid(),
    });
    if let Some((ikm, k)) = seal {
        v["sealing_suite"] = k.suite.code().into();
        v["sealing_ikm_hex"] = hex(ikm).into();
        v["sealing_secret_hex"] = hex(&k.to_bytes()).into();
        v["sealing_public_key"] = b64(k.public_key()).into();
        v["sealing_kid"] = k.kid.clone().into();
    }
    v
}

fn block_json(b: &KeyBlock) -> serde_json::Value {
    serde_json::to_value(b).unwrap()
}

/// Builds the vectors from their fixed inputs, checking on the way that everything opens.
fn generate() -> String {
    let now = t(NOW);
    let (school_seed, broker_seed) = (fixed("skola-a signing seed"), fixed("varsel signing seed"));
    let (broker_ikm, polis_ikm) = (fixed("varsel sealing ikm"), fixed("polisen sealing ikm"));
    let polis_seed = fixed("polisen signing seed");
    let school_sign = signing(&school_seed);
    let broker_sign = signing(&broker_seed);
    let polis_sign = signing(&polis_seed);
    let broker_seal = SealingSecret::derive(Suite::X25519, &broker_ikm);
    let polis_seal = SealingSecret::derive(Suite::X25519, &polis_ikm);
    let text = [
        registry_entry("varsel", "broker", "", &broker_sign, Some(&broker_seal)),
        registry_entry(
            "skola-a",
            "school",
            "municipality = \"0581\"\n",
            &school_sign,
            None,
        ),
        registry_entry("polisen", "agency", "", &polis_sign, Some(&polis_seal)),
    ]
    .join("\n");
    let registry = Registry::from_toml_str(&text, "vectors.toml").unwrap();
    let broker_key = registry
        .sealing_key_for(&id("varsel"), Some(Suite::X25519), now)
        .unwrap();
    let polis_key = registry
        .sealing_key_for(&id("polisen"), Some(Suite::X25519), now)
        .unwrap();

    // The school seals three sections to the broker and signs the alert.
    let msg_id: Uuid = "0190f0c2-4a00-7a2b-8c3d-000000000016".parse().unwrap();
    let h = header();
    let plain = sections();
    let school_random = randomness("school", plain.len() * 44 + 32);
    let mut rng = Randomness::Replay(&school_random);
    let (sealed, blocks) = seal::seal_with(
        &mut rng,
        msg_id,
        &h,
        &plain,
        &[(id("varsel"), broker_key)],
        Aead::ChaCha20Poly1305,
    )
    .unwrap();
    assert!(rng.rest().is_empty(), "the school's randomness is all used");
    let alert = Payload {
        v: VERSION,
        id: msg_id,
        sender: id("skola-a"),
        sent_at: now,
        references: vec![],
        content: Content::Alert(Sealed {
            header: h.clone(),
            sections: sealed.clone(),
            wraps: vec![],
            keys: blocks.clone(),
        }),
    };
    let alert_jws = jws::sign(&alert, &school_sign);
    let verified = jws::verify(alert_jws.as_bytes(), &registry, now, DEFAULT_MAX_MESSAGE).unwrap();
    assert_eq!(verified.payload, alert);

    // The broker re-seals core and travel for the police and signs the delivery.
    let broker_random = randomness("broker", 32);
    let mut rng = Randomness::Replay(&broker_random);
    let grant = [SectionLabel::Travel, SectionLabel::Core];
    let block = seal::Unwrapped::new(msg_id)
        .rewrap_with(
            &mut rng,
            KeyView::V2(&blocks),
            &id("varsel"),
            std::slice::from_ref(&broker_seal),
            &grant,
            &id("polisen"),
            polis_key,
        )
        .unwrap()
        .unwrap();
    assert!(rng.rest().is_empty(), "the broker's randomness is all used");
    let delivery_id: Uuid = "0190f0c2-4a01-7a2b-8c3d-000000000017".parse().unwrap();
    let delivery = Payload {
        v: VERSION,
        id: "0190f0c2-4a02-7a2b-8c3d-000000000018".parse().unwrap(),
        sender: id("varsel"),
        sent_at: now,
        references: vec![msg_id],
        content: Content::Delivery(Delivery {
            delivery: delivery_id,
            alert: msg_id,
            recipient: id("polisen"),
            role: RecipientRole::Required,
            original: alert_jws.clone(),
            wraps: vec![],
            keys: vec![block.clone()],
            receipt_due: None,
            ack_due: None,
        }),
    };
    let delivery_jws = jws::sign(&delivery, &broker_sign);

    // The police open what they were granted, and nothing else.
    let got = jws::verify(delivery_jws.as_bytes(), &registry, now, DEFAULT_MAX_MESSAGE).unwrap();
    let Content::Delivery(d) = &got.payload.content else {
        panic!("not a delivery")
    };
    let opened = seal::open(
        msg_id,
        &h,
        &sealed,
        d.key_view(),
        &id("polisen"),
        std::slice::from_ref(&polis_seal),
    );
    assert_eq!(opened[0], (SectionLabel::Core, Ok(plain[0].1.clone())));
    assert_eq!(opened[2], (SectionLabel::Travel, Ok(plain[2].1.clone())));
    assert_eq!(
        opened[1].1.as_ref().unwrap_err().reason,
        Reason::NotWrappedForRecipient
    );

    // What an implementer needs to check each step: the keys and nonces the randomness gives,
    // the associated data and the HPKE plaintexts.
    let key_of = |i: usize| &school_random[i * 44..i * 44 + 32];
    let mut by_label: Vec<(usize, SectionLabel)> =
        plain.iter().map(|(l, _)| *l).enumerate().collect();
    by_label.sort_by_key(|(_, l)| l.code());
    let school_pt: Vec<u8> = by_label
        .iter()
        .flat_map(|(i, _)| key_of(*i).to_vec())
        .collect();
    let broker_pt: Vec<u8> = block
        .labels
        .iter()
        .flat_map(|l| key_of(plain.iter().position(|(p, _)| p == l).unwrap()).to_vec())
        .collect();
    let sections_json: Vec<serde_json::Value> = plain
        .iter()
        .enumerate()
        .map(|(i, (label, text))| {
            let nonce = &school_random[i * 44 + 32..i * 44 + 44];
            assert_eq!(
                sealed[i].nonce,
                b64(nonce),
                "randomness drawn in the documented order"
            );
            json!({
                "label": label.code(),
                "plaintext": String::from_utf8(text.clone()).unwrap(),
                "content_key_hex": hex(key_of(i)),
                "nonce_hex": hex(nonce),
                "aad": String::from_utf8(section_aad(msg_id, &h, *label)).unwrap(),
                "sealed": serde_json::to_value(&sealed[i]).unwrap(),
            })
        })
        .collect();
    let protected = |compact: &str| {
        String::from_utf8(envelope::unb64(compact.split('.').next().unwrap()).unwrap()).unwrap()
    };
    let payload_text = |compact: &str| {
        String::from_utf8(envelope::unb64(compact.split('.').nth(1).unwrap()).unwrap()).unwrap()
    };
    let v = json!({
        "about": "varsel wire format v2 test vectors. HPKE is RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305; the ephemeral key is DeriveKeyPair(ikmE). Sections are ChaCha20-Poly1305 (RFC 8439) with the 16-byte tag appended. JWS is RFC 7515 compact with alg Ed25519 (RFC 9864, RFC 8032). Binary fields on the wire are base64url without padding; *_hex fields are for reading. Randomness is drawn in order: per section its 32-byte key then its 12-byte nonce, then per recipient the 32-byte ikmE. The construction is in crates/protocol/src/envelope/seal.rs.",
        "now": NOW,
        "participants": {
            "skola-a": participant_json(&school_seed, &school_sign, None),
            "varsel": participant_json(&broker_seed, &broker_sign, Some((&broker_ikm, &broker_seal))),
            "polisen": participant_json(&polis_seed, &polis_sign, Some((&polis_ikm, &polis_seal))),
        },
        "alert": {
            "randomness_hex": hex(&school_random),
            "id": msg_id.to_string(),
            "header": serde_json::to_value(&h).unwrap(),
            "sections": sections_json,
            "key_block": {
                "recipient": "varsel",
                "info": String::from_utf8(BLOCK_INFO.to_vec()).unwrap(),
                "ikmE_hex": hex(&school_random[plain.len() * 44..]),
                "aad": String::from_utf8(block_aad(msg_id, &id("varsel"), &blocks[0].labels)).unwrap(),
                "plaintext_hex": hex(&school_pt),
                "block": block_json(&blocks[0]),
            },
            "jws_protected_header": protected(&alert_jws),
            "jws_payload": payload_text(&alert_jws),
            "jws": alert_jws,
        },
        "delivery": {
            "grant": grant.iter().map(|l| l.code()).collect::<Vec<_>>(),
            "key_block": {
                "recipient": "polisen",
                "info": String::from_utf8(BLOCK_INFO.to_vec()).unwrap(),
                "ikmE_hex": hex(&broker_random),
                "aad": String::from_utf8(block_aad(msg_id, &id("polisen"), &block.labels)).unwrap(),
                "plaintext_hex": hex(&broker_pt),
                "block": block_json(&block),
            },
            "jws_protected_header": protected(&delivery_jws),
            "jws_payload": payload_text(&delivery_jws),
            "jws": delivery_jws,
        },
    });
    let mut text = serde_json::to_string_pretty(&v).unwrap();
    text.push('\n');
    text
}

#[test]
fn published_v2_vectors_regenerate_byte_for_byte() {
    let generated = generate();
    if std::env::var_os("VARSEL_WRITE_VECTORS").is_some() {
        std::fs::write(FILE, &generated).unwrap();
    }
    let published = std::fs::read_to_string(FILE)
        .unwrap_or_else(|e| panic!("{FILE}: {e} (VARSEL_WRITE_VECTORS=1 writes it)"));
    assert!(
        published == generated,
        "{FILE} differs from what the code makes now; if the format changed on purpose, rerun \
         with VARSEL_WRITE_VECTORS=1 and say so in the commit"
    );
}
