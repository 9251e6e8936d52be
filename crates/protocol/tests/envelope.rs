//! The envelope end to end: signing and verifying, sealing, opening and re-wrapping against a
//! registry, published test vectors, and every refusal with its own reason code.

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use varsel_protocol::envelope::{
    self, b64, jws, seal, KeySet, SealingSecret, SigningKeyPair, DEFAULT_MAX_MESSAGE,
};
use varsel_protocol::message::{
    Aead, Category, Content, Header, KeyBlock, Keys as KeyView, ParticipantId, Payload, Receipt,
    Sealed, SectionLabel, Status, Suite, Urgency, VERSION,
};
use varsel_protocol::refusal::Reason;
use varsel_protocol::registry::Registry;

#[path = "envelope/vectors.rs"]
mod vectors;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn id(s: &str) -> ParticipantId {
    s.parse().unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0);
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A participant's keys in a test world.
struct Keys {
    signing: SigningKeyPair,
    sealing: Vec<SealingSecret>,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            signing: SigningKeyPair::generate().unwrap().0,
            sealing: vec![
                SealingSecret::generate(Suite::X25519).unwrap(),
                SealingSecret::generate(Suite::XWing).unwrap(),
            ],
        }
    }

    fn entry(&self, signing_extra: &str) -> String {
        let mut s = format!(
            "[[participant.signing_key]]\nkid = \"{}\"\npublic_key = \"{}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\nvalid_until = \"2028-01-01T00:00:00Z\"\n{signing_extra}\n",
            self.signing.kid(),
            b64(self.signing.public_key())
        );
        for k in &self.sealing {
            s.push_str(&format!(
                "[[participant.sealing_key]]\nkid = \"{}\"\nsuite = \"{}\"\npublic_key = \"{}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\n",
                k.kid,
                k.suite.code(),
                b64(k.public_key())
            ));
        }
        s
    }
}

/// A registry with a broker, a school, two agencies, a school whose key is revoked and an
/// unregistered participant's keys.
struct World {
    registry: Registry,
    broker: Keys,
    school: Keys,
    polis: Keys,
    soc: Keys,
    revoked: Keys,
    stranger: Keys,
}

const NOW: &str = "2026-06-01T10:00:00Z";

impl World {
    fn new() -> World {
        let (broker, school, polis, soc, revoked) = (
            Keys::new(),
            Keys::new(),
            Keys::new(),
            Keys::new(),
            Keys::new(),
        );
        let text = format!(
            "[[participant]]\nid = \"varsel\"\nname = \"varsel\"\nrole = \"broker\"\n{}\n\
             [[participant]]\nid = \"skola-a\"\nname = \"Skola A\"\nrole = \"school\"\nmunicipality = \"0581\"\n{}\n\
             [[participant]]\nid = \"polisen\"\nname = \"Polisen\"\nrole = \"agency\"\n{}\n\
             [[participant]]\nid = \"soc-0581\"\nname = \"Socialtjänsten\"\nrole = \"agency\"\nmunicipality = \"0581\"\n{}\n\
             [[participant]]\nid = \"skola-b\"\nname = \"Skola B\"\nrole = \"school\"\nmunicipality = \"0581\"\n{}\n",
            broker.entry(""),
            school.entry(""),
            polis.entry(""),
            soc.entry(""),
            revoked.entry("revoked = true"),
        );
        World {
            registry: Registry::from_toml_str(&text, "world.toml").unwrap(),
            broker,
            school,
            polis,
            soc,
            revoked,
            stranger: Keys::new(),
        }
    }

    fn sealing_key(&self, who: &str, suite: Suite) -> &varsel_protocol::registry::SealingKey {
        self.registry
            .sealing_key_for(&id(who), Some(suite), t(NOW))
            .unwrap()
    }
}

fn header() -> Header {
    Header {
        municipality: "0581".parse().unwrap(),
        category: Category::DepartureImminent,
        urgency: Urgency::Immediate,
        status: Status::Exercise,
        planned_departure: Some(t("2026-06-02T06:30:00Z")),
        correlation: vec![],
    }
}

fn sections() -> Vec<(SectionLabel, Vec<u8>)> {
    vec![
        (SectionLabel::Core, br#"{"pupil":"Testelev Ett"}"#.to_vec()),
        (SectionLabel::Family, br#"{"guardians":[]}"#.to_vec()),
        (SectionLabel::Travel, br#"{"destination":"XX"}"#.to_vec()),
    ]
}

fn payload(sender: &str, content: Content) -> Payload {
    Payload {
        v: VERSION,
        id: Uuid::now_v7(),
        sender: id(sender),
        sent_at: t(NOW),
        references: vec![],
        content,
    }
}

fn receipt(sender: &str) -> Payload {
    payload(
        sender,
        Content::Receipt(Receipt {
            delivery: Uuid::now_v7(),
        }),
    )
}

/// A compact JWS of arbitrary header and payload bytes, signed with `key`.
fn sign_raw(header: &str, body: &[u8], key: &SigningKeyPair) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(body));
    format!("{input}.{}", b64(&key.sign(input.as_bytes())))
}

fn std_header(key: &SigningKeyPair, kind: &str) -> String {
    format!(
        r#"{{"alg":"EdDSA","kid":"{}","typ":"varsel-{kind}+jws"}}"#,
        key.kid()
    )
}

fn reason(w: &World, msg: &str) -> Reason {
    match jws::verify(msg.as_bytes(), &w.registry, t(NOW), DEFAULT_MAX_MESSAGE) {
        Ok(_) => panic!("accepted: {msg}"),
        Err(r) => r.reason,
    }
}

#[test]
fn sign_and_verify_round_trip() {
    let w = World::new();
    for p in [
        receipt("polisen"),
        payload(
            "skola-a",
            Content::Alert(Sealed {
                header: header(),
                sections: vec![],
                wraps: vec![],
                keys: vec![],
            }),
        ),
    ] {
        let key = if p.sender.as_str() == "polisen" {
            &w.polis.signing
        } else {
            &w.school.signing
        };
        let msg = jws::sign(&p, key);
        let v = jws::verify(msg.as_bytes(), &w.registry, t(NOW), DEFAULT_MAX_MESSAGE).unwrap();
        assert_eq!(v.payload, p);
        assert_eq!(v.compact, msg);
        assert_eq!(v.kid, key.kid());
        assert_eq!(v.signer, p.sender);
        assert_eq!(v.digest, envelope::sha256(msg.as_bytes()));
        let header: serde_json::Value =
            serde_json::from_slice(&envelope::unb64(msg.split('.').next().unwrap()).unwrap())
                .unwrap();
        assert_eq!(header["alg"], "Ed25519", "RFC 9864's fully-specified name");
        assert_eq!(header["typ"], format!("varsel-{}+jws", p.kind()));
    }
}

#[test]
fn rfc8032_ed25519_vectors_through_ring() {
    // RFC 8032 section 7.1, TEST 1 and TEST 2: (secret key, public key, message, signature).
    let vectors = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
             085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ];
    for (sk, pk, msg, sig) in vectors {
        let key = SigningKeyPair::from_seed(&unhex(sk), &unhex(pk)).unwrap();
        assert_eq!(key.public_key(), unhex(pk).as_slice());
        assert_eq!(key.sign(&unhex(msg)), unhex(sig));
    }
}

#[test]
fn rfc9180_a21_x25519_chacha20poly1305_base() {
    use hpke::aead::ChaCha20Poly1305;
    use hpke::kdf::HkdfSha256;
    use hpke::kem::X25519HkdfSha256;
    use hpke::{Deserializable, Kem, Serializable};

    // RFC 9180 appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base.
    let info = unhex("4f6465206f6e2061204772656369616e2055726e");
    let ikm_r = unhex("1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df");
    let pk_rm = unhex("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a");
    let sk_rm = unhex("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb");
    let enc = unhex("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a");
    let pt = unhex("4265617574792069732074727574682c20747275746820626561757479");
    let aad = unhex("436f756e742d30");
    let ct = unhex(
        "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
    );

    let (sk, pk) = X25519HkdfSha256::derive_keypair(&ikm_r);
    assert_eq!(pk.to_bytes().as_slice(), pk_rm.as_slice());
    // The hpke crate stores the X25519 scalar clamped (RFC 7748 section 5); the vector's skRm is
    // the unclamped output of DeriveKeyPair. Both name the same key.
    let mut clamped = sk_rm.clone();
    clamped[0] &= 248;
    clamped[31] &= 127;
    clamped[31] |= 64;
    assert_eq!(sk.to_bytes().as_slice(), clamped.as_slice());
    let encapped = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(&enc).unwrap();
    let opened = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
        &hpke::OpModeR::Base,
        &sk,
        &encapped,
        &info,
        &ct,
        &aad,
    )
    .unwrap();
    assert_eq!(opened, pt);

    // The same key through varsel's own type: derivation and the key id agree.
    let ours = SealingSecret::derive(Suite::X25519, &ikm_r);
    assert_eq!(ours.public_key(), pk_rm.as_slice());
    assert_eq!(ours.to_bytes(), clamped);
    let reloaded = SealingSecret::from_bytes(Suite::X25519, &sk_rm).unwrap();
    assert_eq!(reloaded.public_key(), pk_rm.as_slice());
    assert_eq!(ours.kid, envelope::key_id(Suite::X25519.code(), &pk_rm));
}

/// The broker's re-seal of one message for one recipient, as a delivery carries it.
#[allow(clippy::too_many_arguments)]
fn rewrap(
    msg_id: Uuid,
    keys: KeyView<'_>,
    broker_secrets: &[SealingSecret],
    grant: &[SectionLabel],
    to: &str,
    to_key: &varsel_protocol::registry::SealingKey,
) -> Result<Vec<KeyBlock>, varsel_protocol::refusal::Refusal> {
    seal::Unwrapped::new(msg_id)
        .rewrap(keys, &id("varsel"), broker_secrets, grant, &id(to), to_key)
        .map(|b| b.into_iter().collect())
}

#[test]
fn seal_open_rewrap_round_trip_for_both_suites() {
    let w = World::new();
    let school = id("skola-a");
    let broker = id("varsel");
    let polis = id("polisen");
    for suite in [Suite::X25519, Suite::XWing] {
        for agency_suite in [Suite::X25519, Suite::XWing] {
            for aead in [Aead::ChaCha20Poly1305, Aead::Aes256Gcm] {
                let msg_id = Uuid::now_v7();
                let h = header();
                let (sealed, blocks) = seal::seal(
                    msg_id,
                    &h,
                    &sections(),
                    &[(broker.clone(), w.sealing_key("varsel", suite))],
                    aead,
                )
                .unwrap();
                assert_eq!(sealed.len(), 3);
                // One block to the broker with every key, labels in code order.
                assert_eq!(blocks.len(), 1);
                assert_eq!((blocks[0].suite, &blocks[0].recipient), (suite, &broker));
                assert_eq!(
                    blocks[0].labels,
                    [
                        SectionLabel::Core,
                        SectionLabel::Family,
                        SectionLabel::Travel
                    ]
                );
                for s in &sealed {
                    assert!(!s.ciphertext.contains("Testelev"));
                }

                // The broker re-seals core and travel for the police; family is not granted and
                // a granted label that the message does not carry is skipped.
                let rewrapped = rewrap(
                    msg_id,
                    KeyView::V2(&blocks),
                    &w.broker.sealing,
                    &[
                        SectionLabel::Travel,
                        SectionLabel::Core,
                        SectionLabel::SchoolActions,
                    ],
                    "polisen",
                    w.sealing_key("polisen", agency_suite),
                )
                .unwrap();
                assert_eq!(rewrapped.len(), 1);
                assert_eq!(
                    rewrapped[0].labels,
                    [SectionLabel::Core, SectionLabel::Travel]
                );
                assert_eq!(
                    (&rewrapped[0].recipient, rewrapped[0].suite),
                    (&polis, agency_suite)
                );

                let opened = seal::open(
                    msg_id,
                    &h,
                    &sealed,
                    KeyView::V2(&rewrapped),
                    &polis,
                    &w.polis.sealing,
                );
                let expected = sections();
                assert_eq!(opened[0], (SectionLabel::Core, Ok(expected[0].1.clone())));
                assert_eq!(opened[2], (SectionLabel::Travel, Ok(expected[2].1.clone())));
                assert_eq!(opened[1].0, SectionLabel::Family);
                assert_eq!(
                    opened[1].1.as_ref().unwrap_err().reason,
                    Reason::NotWrappedForRecipient
                );

                // The school itself is not a recipient of its own key block.
                let by_school = seal::open(
                    msg_id,
                    &h,
                    &sealed,
                    KeyView::V2(&blocks),
                    &school,
                    &w.school.sealing,
                );
                assert!(
                    by_school
                        .iter()
                        .all(|(_, r)| r.as_ref().unwrap_err().reason
                            == Reason::NotWrappedForRecipient)
                );
            }
        }
    }
}

/// Wire format v1 is still read: sections whose keys are wrapped per section open, and the
/// broker hands them over in a v2 key block.
#[test]
fn v1_wraps_are_still_read_and_handed_over_as_v2() {
    let w = World::new();
    let broker = id("varsel");
    for suite in [Suite::X25519, Suite::XWing] {
        let msg_id = Uuid::now_v7();
        let h = header();
        let (sealed, wraps) = seal::seal_v1(
            msg_id,
            &h,
            &sections(),
            &[
                (broker.clone(), w.sealing_key("varsel", suite)),
                (id("polisen"), w.sealing_key("polisen", suite)),
            ],
            Aead::ChaCha20Poly1305,
        )
        .unwrap();
        assert_eq!(wraps.len(), 6, "one wrap per section and recipient");
        let expected = sections();
        let direct = seal::open(
            msg_id,
            &h,
            &sealed,
            KeyView::V1(&wraps),
            &id("polisen"),
            &w.polis.sealing,
        );
        for (i, (label, res)) in direct.into_iter().enumerate() {
            assert_eq!((label, res.unwrap()), expected[i].clone());
        }
        let to_soc = rewrap(
            msg_id,
            KeyView::V1(&wraps),
            &w.broker.sealing,
            &[SectionLabel::Family, SectionLabel::Core],
            "soc-0581",
            w.sealing_key("soc-0581", Suite::X25519),
        )
        .unwrap();
        assert_eq!(to_soc[0].labels, [SectionLabel::Core, SectionLabel::Family]);
        let opened = reasons(seal::open(
            msg_id,
            &h,
            &sealed,
            KeyView::V2(&to_soc),
            &id("soc-0581"),
            &w.soc.sealing,
        ));
        assert_eq!(
            opened,
            vec![None, None, Some(Reason::NotWrappedForRecipient)]
        );
    }
}

/// Handing one message to several agencies opens the broker's key block once: after the first
/// re-seal the broker's secrets are not needed again, and every agency opens what it was
/// granted. A v1 message is unwrapped per section, each once.
#[test]
fn one_message_to_several_agencies_opens_the_broker_keys_once() {
    let w = World::new();
    let broker = id("varsel");
    let msg_id = Uuid::now_v7();
    let h = header();
    let to_broker = [(broker.clone(), w.sealing_key("varsel", Suite::X25519))];
    let (sealed, blocks) =
        seal::seal(msg_id, &h, &sections(), &to_broker, Aead::ChaCha20Poly1305).unwrap();
    let mut unwrapped = seal::Unwrapped::new(msg_id);
    let mut hand_over = |secrets: &[SealingSecret], grant: &[SectionLabel], to: &str, suite| {
        unwrapped
            .rewrap(
                KeyView::V2(&blocks),
                &broker,
                secrets,
                grant,
                &id(to),
                w.sealing_key(to, suite),
            )
            .map(|b| vec![b.expect("a granted section")])
    };
    let to_polis = hand_over(
        &w.broker.sealing,
        &[SectionLabel::Core, SectionLabel::Travel],
        "polisen",
        Suite::X25519,
    )
    .unwrap();
    // No broker secrets this time: every key came out of the one block, family included.
    let to_soc = hand_over(
        &[],
        &[SectionLabel::Core, SectionLabel::Family],
        "soc-0581",
        Suite::XWing,
    )
    .unwrap();
    let expected = sections();
    for (who, keys, blocks, shut) in [
        ("polisen", &w.polis.sealing, &to_polis, 1),
        ("soc-0581", &w.soc.sealing, &to_soc, 2),
    ] {
        let opened = seal::open(msg_id, &h, &sealed, KeyView::V2(blocks), &id(who), keys);
        for (i, (label, res)) in opened.into_iter().enumerate() {
            if i == shut {
                assert_eq!(res.unwrap_err().reason, Reason::NotWrappedForRecipient);
            } else {
                assert_eq!((label, res.unwrap()), expected[i].clone(), "{who}");
            }
        }
    }

    // v1: a section not unwrapped before needs the broker's secrets.
    let (_, wraps) =
        seal::seal_v1(msg_id, &h, &sections(), &to_broker, Aead::ChaCha20Poly1305).unwrap();
    let mut unwrapped = seal::Unwrapped::new(msg_id);
    let soc_key = w.sealing_key("soc-0581", Suite::X25519);
    let core = [SectionLabel::Core];
    let soc = id("soc-0581");
    assert!(unwrapped
        .rewrap(
            KeyView::V1(&wraps),
            &broker,
            &w.broker.sealing,
            &core,
            &soc,
            soc_key
        )
        .is_ok());
    assert!(unwrapped
        .rewrap(KeyView::V1(&wraps), &broker, &[], &core, &soc, soc_key)
        .is_ok());
    let err = unwrapped
        .rewrap(
            KeyView::V1(&wraps),
            &broker,
            &[],
            &[SectionLabel::Family],
            &soc,
            soc_key,
        )
        .unwrap_err();
    assert_eq!(err.reason, Reason::Undecryptable);
}

/// One alert sealed to the broker and re-sealed in full for social services.
struct Sealed3 {
    id: Uuid,
    header: Header,
    sections: Vec<varsel_protocol::message::SealedSection>,
    to_broker: Vec<KeyBlock>,
    to_soc: Vec<KeyBlock>,
}

fn sealed3(w: &World) -> Sealed3 {
    let msg_id = Uuid::now_v7();
    let h = header();
    let (sections, to_broker) = seal::seal(
        msg_id,
        &h,
        &sections(),
        &[(id("varsel"), w.sealing_key("varsel", Suite::X25519))],
        Aead::ChaCha20Poly1305,
    )
    .unwrap();
    let to_soc = rewrap(
        msg_id,
        KeyView::V2(&to_broker),
        &w.broker.sealing,
        SectionLabel::ALL,
        "soc-0581",
        w.sealing_key("soc-0581", Suite::XWing),
    )
    .unwrap();
    Sealed3 {
        id: msg_id,
        header: h,
        sections,
        to_broker,
        to_soc,
    }
}

fn reasons(
    opened: Vec<(
        SectionLabel,
        Result<Vec<u8>, varsel_protocol::refusal::Refusal>,
    )>,
) -> Vec<Option<Reason>> {
    opened
        .into_iter()
        .map(|(_, r)| r.err().map(|e| e.reason))
        .collect()
}

#[test]
fn sealed_section_refusals() {
    let w = World::new();
    let s = sealed3(&w);
    let soc = id("soc-0581");
    let open = |id: Uuid,
                h: &Header,
                sections: &[varsel_protocol::message::SealedSection],
                blocks: &[KeyBlock]| {
        reasons(seal::open(
            id,
            h,
            sections,
            KeyView::V2(blocks),
            &soc,
            &w.soc.sealing,
        ))
    };
    assert_eq!(
        open(s.id, &s.header, &s.sections, &s.to_soc),
        vec![None, None, None]
    );

    // A participant the sections were not sealed for.
    let polis = reasons(seal::open(
        s.id,
        &s.header,
        &s.sections,
        KeyView::V2(&s.to_soc),
        &id("polisen"),
        &w.polis.sealing,
    ));
    assert_eq!(polis, vec![Some(Reason::NotWrappedForRecipient); 3]);

    // Tampered ciphertext of one section.
    let mut tampered = s.sections.clone();
    let mut ct = envelope::unb64(&tampered[1].ciphertext).unwrap();
    ct[0] ^= 1;
    tampered[1].ciphertext = b64(&ct);
    assert_eq!(
        open(s.id, &s.header, &tampered, &s.to_soc),
        vec![None, Some(Reason::Undecryptable), None]
    );

    // A tampered nonce, and a section relabelled as another.
    let mut relabelled = s.sections.clone();
    relabelled[0].nonce = b64(&[0u8; 12]);
    relabelled[2].label = SectionLabel::SchoolActions;
    assert_eq!(
        open(s.id, &s.header, &relabelled, &s.to_soc),
        vec![
            Some(Reason::Undecryptable),
            None,
            Some(Reason::NotWrappedForRecipient)
        ]
    );

    // Sections and key block moved to another message id: the block's AAD names the message.
    assert_eq!(
        open(Uuid::now_v7(), &s.header, &s.sections, &s.to_soc),
        vec![Some(Reason::Undecryptable); 3]
    );
    // The section AAD binds the message id on its own: a key block made for the other id still
    // leaves the moved sections undecryptable.
    let other = Uuid::now_v7();
    let (_, blocks_other) = seal::seal(
        other,
        &s.header,
        &sections(),
        &[(soc.clone(), w.sealing_key("soc-0581", Suite::X25519))],
        Aead::ChaCha20Poly1305,
    )
    .unwrap();
    assert_eq!(
        open(other, &s.header, &s.sections, &blocks_other),
        vec![Some(Reason::Undecryptable); 3]
    );
    // And the other message's block put on this message does not open.
    assert_eq!(
        open(s.id, &s.header, &s.sections, &blocks_other),
        vec![Some(Reason::Undecryptable); 3]
    );
    // And the header: an edited header leaves the block valid but the sections undecryptable.
    let mut edited = s.header.clone();
    edited.status = Status::Actual;
    assert_eq!(
        open(s.id, &edited, &s.sections, &s.to_soc),
        vec![Some(Reason::Undecryptable); 3]
    );

    // A tampered key block.
    let mut bad = s.to_soc.clone();
    let mut ct = envelope::unb64(&bad[0].ciphertext).unwrap();
    ct[3] ^= 0x80;
    bad[0].ciphertext = b64(&ct);
    assert_eq!(
        open(s.id, &s.header, &s.sections, &bad),
        vec![Some(Reason::Undecryptable); 3]
    );

    // Labels swapped: the keys would go to the wrong sections, but the AAD binds the list.
    let mut swapped = s.to_soc.clone();
    swapped[0].labels.swap(0, 1);
    assert_eq!(
        open(s.id, &s.header, &s.sections, &swapped),
        vec![Some(Reason::Undecryptable); 3]
    );
    // Labels relabelled or dropped: the AAD no longer matches either.
    for labels in [
        vec![
            SectionLabel::Core,
            SectionLabel::Family,
            SectionLabel::SchoolActions,
        ],
        vec![SectionLabel::Core, SectionLabel::Family],
    ] {
        let mut edited = s.to_soc.clone();
        edited[0].labels = labels.clone();
        assert_eq!(
            open(s.id, &s.header, &s.sections, &edited),
            vec![Some(Reason::Undecryptable); 3],
            "{labels:?}"
        );
    }

    // A block moved to another recipient does not open for them (the AAD names the recipient),
    // even re-sealed by the sender to the new recipient's kid: the name is bound, not the key.
    let mut redirected = s.to_soc.clone();
    redirected[0].recipient = id("polisen");
    redirected[0].kid = w.polis.sealing[1].kid.clone();
    let r = reasons(seal::open(
        s.id,
        &s.header,
        &s.sections,
        KeyView::V2(&redirected),
        &id("polisen"),
        &w.polis.sealing,
    ));
    assert_eq!(r, vec![Some(Reason::Undecryptable); 3]);
    // The broker's own block, renamed for social services, does not open with their key.
    let mut renamed = s.to_broker.clone();
    renamed[0].recipient = soc.clone();
    assert_eq!(
        open(s.id, &s.header, &s.sections, &renamed),
        vec![Some(Reason::Undecryptable); 3]
    );

    // The broker cannot re-seal what was not sealed to it.
    let err = rewrap(
        s.id,
        KeyView::V2(&s.to_soc),
        &w.broker.sealing,
        &[SectionLabel::Core],
        "polisen",
        w.sealing_key("polisen", Suite::X25519),
    )
    .unwrap_err();
    assert_eq!(err.reason, Reason::NotSealedForBroker);
    // Nor with someone else's secrets.
    let err = rewrap(
        s.id,
        KeyView::V2(&s.to_broker),
        &w.soc.sealing,
        &[SectionLabel::Core],
        "polisen",
        w.sealing_key("polisen", Suite::X25519),
    )
    .unwrap_err();
    assert_eq!(err.reason, Reason::Undecryptable);
    // Nor the broker's block of another message.
    let (_, broker_other) = seal::seal(
        other,
        &s.header,
        &sections(),
        &[(id("varsel"), w.sealing_key("varsel", Suite::X25519))],
        Aead::ChaCha20Poly1305,
    )
    .unwrap();
    let err = rewrap(
        s.id,
        KeyView::V2(&broker_other),
        &w.broker.sealing,
        &[SectionLabel::Core],
        "polisen",
        w.sealing_key("polisen", Suite::X25519),
    )
    .unwrap_err();
    assert_eq!(err.reason, Reason::Undecryptable);
}

#[test]
fn every_flipped_byte_is_refused() {
    let w = World::new();
    let msg = jws::sign(&receipt("polisen"), &w.polis.signing);
    let first_dot = msg.find('.').unwrap();
    let second_dot = msg.rfind('.').unwrap();
    for pos in 0..msg.len() {
        for flip in [0x01u8, 0x20, 0x80] {
            let mut bytes = msg.clone().into_bytes();
            bytes[pos] ^= flip;
            let r = jws::verify(&bytes, &w.registry, t(NOW), DEFAULT_MAX_MESSAGE)
                .expect_err("a flipped byte was accepted")
                .reason;
            let allowed: &[Reason] = if pos < first_dot {
                &[
                    Reason::Malformed,
                    Reason::UnsupportedAlg,
                    Reason::UnknownKey,
                    Reason::BadSignature,
                ]
            } else if pos != first_dot && pos != second_dot {
                // payload or signature
                &[Reason::Malformed, Reason::BadSignature]
            } else {
                &[Reason::Malformed]
            };
            assert!(allowed.contains(&r), "byte {pos} ^ {flip:#x}: {r}");
            // Within the payload, any change that keeps the text ASCII and the three parts fails
            // the signature, before the payload is decoded or looked at.
            if pos > first_dot && pos < second_dot && bytes[pos].is_ascii() && bytes[pos] != b'.' {
                assert_eq!(r, Reason::BadSignature, "byte {pos} ^ {flip:#x}");
            }
        }
    }
}

#[test]
fn key_refusals() {
    let w = World::new();
    let p = receipt("polisen");

    // An unknown kid: a key that is not in the registry.
    assert_eq!(
        reason(&w, &jws::sign(&p, &w.stranger.signing)),
        Reason::UnknownKey
    );
    // A kid naming another registered key than the one that signed.
    let forged = sign_raw(
        &std_header(&w.soc.signing, "receipt"),
        &serde_json::to_vec(&p).unwrap(),
        &w.polis.signing,
    );
    assert_eq!(reason(&w, &forged), Reason::BadSignature);
    // Signed by a registered participant, in someone else's name.
    assert_eq!(
        reason(&w, &jws::sign(&p, &w.soc.signing)),
        Reason::KeyNotSenders
    );
    // A sender that is not registered, with a registered key.
    assert_eq!(
        reason(&w, &jws::sign(&receipt("okand-myndighet"), &w.soc.signing)),
        Reason::UnknownSender
    );
    // A revoked key.
    let alert = payload(
        "skola-b",
        Content::Alert(Sealed {
            header: header(),
            sections: vec![],
            wraps: vec![],
            keys: vec![],
        }),
    );
    assert_eq!(
        reason(&w, &jws::sign(&alert, &w.revoked.signing)),
        Reason::KeyRevoked
    );

    // An expired key (valid_until 2028-01-01) and one not yet valid (valid_from 2026-01-01).
    let msg = jws::sign(&p, &w.polis.signing);
    for now in ["2028-01-01T00:00:00Z", "2025-12-31T23:59:59Z"] {
        let r = jws::verify(msg.as_bytes(), &w.registry, t(now), DEFAULT_MAX_MESSAGE).unwrap_err();
        assert_eq!(r.reason, Reason::KeyExpired, "at {now}");
    }
    // A key valid now, but used for a message dated outside its validity.
    let mut early = receipt("polisen");
    early.sent_at = t("2025-12-24T12:00:00Z");
    assert_eq!(
        reason(&w, &jws::sign(&early, &w.polis.signing)),
        Reason::KeyExpired
    );
}

/// RFC 9864 deprecates the polymorphic `EdDSA` in favour of the fully-specified `Ed25519`:
/// a sender whose JOSE library writes the new name is verified like one that writes the old.
#[test]
fn fully_specified_ed25519_alg_is_accepted_like_eddsa() {
    let w = World::new();
    let p = receipt("polisen");
    let body = serde_json::to_vec(&p).unwrap();
    let kid = w.polis.signing.kid();
    for alg in ["EdDSA", "Ed25519"] {
        let header = format!(r#"{{"alg":"{alg}","kid":"{kid}","typ":"varsel-receipt+jws"}}"#);
        let msg = sign_raw(&header, &body, &w.polis.signing);
        let v = jws::verify(msg.as_bytes(), &w.registry, t(NOW), DEFAULT_MAX_MESSAGE)
            .unwrap_or_else(|r| panic!("alg {alg} refused: {r}"));
        assert_eq!(v.payload, p);
        // The signature still has to verify under the new name.
        let (input, signature) = msg.rsplit_once('.').unwrap();
        let mut signature = envelope::unb64(signature).unwrap();
        signature[7] ^= 1;
        let forged = format!("{input}.{}", b64(&signature));
        assert_eq!(reason(&w, &forged), Reason::BadSignature, "alg {alg}");
    }
}

#[test]
fn header_refusals() {
    let w = World::new();
    let body = serde_json::to_vec(&receipt("polisen")).unwrap();
    let kid = w.polis.signing.kid();
    let key = &w.polis.signing;

    // alg none, with and without a signature.
    let none_header = format!(r#"{{"alg":"none","kid":"{kid}","typ":"varsel-receipt+jws"}}"#);
    let unsigned = format!("{}.{}.", b64(none_header.as_bytes()), b64(&body));
    assert_eq!(reason(&w, &unsigned), Reason::UnsupportedAlg);
    assert_eq!(
        reason(&w, &sign_raw(&none_header, &body, key)),
        Reason::UnsupportedAlg
    );
    for header in [
        format!(r#"{{"alg":"HS256","kid":"{kid}","typ":"varsel-receipt+jws"}}"#),
        format!(r#"{{"alg":"ed25519","kid":"{kid}","typ":"varsel-receipt+jws"}}"#),
        format!(r#"{{"alg":"Ed448","kid":"{kid}","typ":"varsel-receipt+jws"}}"#),
        format!(r#"{{"kid":"{kid}","typ":"varsel-receipt+jws"}}"#),
        format!(
            r#"{{"alg":"EdDSA","kid":"{kid}","typ":"varsel-receipt+jws","crit":["exp"],"exp":1}}"#
        ),
        format!(r#"{{"alg":"EdDSA","kid":"{kid}","typ":"varsel-receipt+jws","jwk":{{}}}}"#),
        format!(r#"{{"alg":"EdDSA","kid":"{kid}","typ":"JWT"}}"#),
        format!(r#"{{"alg":"EdDSA","kid":"{kid}","typ":"varsel-vacation+jws"}}"#),
        format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#),
    ] {
        assert_eq!(
            reason(&w, &sign_raw(&header, &body, key)),
            Reason::UnsupportedAlg,
            "{header}"
        );
    }
    // HS256 with the public key as the HMAC secret: the classic confusion attack.
    let hs_header = format!(r#"{{"alg":"HS256","kid":"{kid}","typ":"varsel-receipt+jws"}}"#);
    let input = format!("{}.{}", b64(hs_header.as_bytes()), b64(&body));
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.public_key()),
        input.as_bytes(),
    );
    assert_eq!(
        reason(&w, &format!("{input}.{}", b64(mac.as_ref()))),
        Reason::UnsupportedAlg
    );

    // A header that is not JSON, or not an object, and a missing kid.
    assert_eq!(
        reason(&w, &sign_raw("{alg:EdDSA}", &body, key)),
        Reason::Malformed
    );
    assert_eq!(reason(&w, &sign_raw("[]", &body, key)), Reason::Malformed);
    assert_eq!(
        reason(
            &w,
            &sign_raw(r#"{"alg":"EdDSA","typ":"varsel-receipt+jws"}"#, &body, key)
        ),
        Reason::Malformed
    );
}

#[test]
fn payload_refusals() {
    let w = World::new();
    let key = &w.polis.signing;
    let h = std_header(key, "receipt");
    let good = serde_json::to_value(receipt("polisen")).unwrap();

    // Not JSON at all, validly signed.
    assert_eq!(
        reason(&w, &sign_raw(&h, b"{\"v\":1,", key)),
        Reason::Malformed
    );
    assert_eq!(
        reason(&w, &sign_raw(&h, b"\xff\xfe", key)),
        Reason::Malformed
    );
    // Wire format versions: 2 and 1 are read, any other is refused as unsupported_version, a
    // payload without one as schema.
    for (v, expected) in [
        (serde_json::json!(2), None),
        (serde_json::json!(1), None),
        (serde_json::json!(3), Some(Reason::UnsupportedVersion)),
        (serde_json::json!(0), Some(Reason::UnsupportedVersion)),
        (serde_json::json!("2"), Some(Reason::Schema)),
    ] {
        let mut other = good.clone();
        other["v"] = v.clone();
        let res = jws::verify(
            sign_raw(&h, &serde_json::to_vec(&other).unwrap(), key).as_bytes(),
            &w.registry,
            t(NOW),
            DEFAULT_MAX_MESSAGE,
        );
        assert_eq!(res.err().map(|r| r.reason), expected, "v = {v}");
    }
    let mut unversioned = good.clone();
    unversioned.as_object_mut().unwrap().remove("v");
    assert_eq!(
        reason(
            &w,
            &sign_raw(&h, &serde_json::to_vec(&unversioned).unwrap(), key)
        ),
        Reason::Schema
    );
    let mut no_delivery = good.clone();
    no_delivery.as_object_mut().unwrap().remove("delivery");
    assert_eq!(
        reason(
            &w,
            &sign_raw(&h, &serde_json::to_vec(&no_delivery).unwrap(), key)
        ),
        Reason::Schema
    );
    assert_eq!(reason(&w, &sign_raw(&h, b"[1,2]", key)), Reason::Schema);
    // typ says ack, payload is a receipt.
    let ack_typ = std_header(key, "ack");
    assert_eq!(
        reason(
            &w,
            &sign_raw(&ack_typ, &serde_json::to_vec(&good).unwrap(), key)
        ),
        Reason::Schema
    );
    // A schema refusal does not echo values from the payload.
    let mut named = good.clone();
    named["delivery"] = "Anna Svensson".into();
    let r = jws::verify(
        sign_raw(&h, &serde_json::to_vec(&named).unwrap(), key).as_bytes(),
        &w.registry,
        t(NOW),
        DEFAULT_MAX_MESSAGE,
    )
    .unwrap_err();
    assert_eq!(r.reason, Reason::Schema);
    assert!(!r.detail.contains("Anna"), "{}", r.detail);
}

#[test]
fn size_and_shape_refusals() {
    let w = World::new();
    let msg = jws::sign(&receipt("polisen"), &w.polis.signing);

    // Oversized, checked before anything else.
    let r = jws::verify(msg.as_bytes(), &w.registry, t(NOW), msg.len() - 1).unwrap_err();
    assert_eq!(r.reason, Reason::Oversized);
    assert!(jws::verify(msg.as_bytes(), &w.registry, t(NOW), msg.len()).is_ok());
    let junk = vec![b'.'; DEFAULT_MAX_MESSAGE + 1];
    assert_eq!(
        jws::verify(&junk, &w.registry, t(NOW), DEFAULT_MAX_MESSAGE)
            .unwrap_err()
            .reason,
        Reason::Oversized
    );

    // Truncated anywhere.
    for len in 0..msg.len() {
        let r = reason(&w, &msg[..len]);
        assert!(
            matches!(r, Reason::Malformed | Reason::BadSignature),
            "truncated to {len}: {r}"
        );
    }
    // Extra parts, no parts, JWE-like five parts, JSON serialization.
    for bad in [
        format!("{msg}.x"),
        "".to_owned(),
        "a.b.c.d.e".to_owned(),
        r#"{"payload":"x","signatures":[]}"#.to_owned(),
        format!(" {msg}"),
        format!("{msg}\n"),
    ] {
        assert_eq!(reason(&w, &bad), Reason::Malformed, "{bad:?}");
    }
    // Padding is not base64url.
    let mut parts: Vec<String> = msg.split('.').map(str::to_owned).collect();
    parts[2].push_str("==");
    assert_eq!(reason(&w, &parts.join(".")), Reason::Malformed);
}

#[test]
fn keys_from_keygen_sign_and_open() {
    let dir = tempfile::tempdir().unwrap();
    let me = id("skola-c");
    let out = envelope::keys::keygen(&me, dir.path(), t(NOW)).unwrap();
    let set = KeySet::load(dir.path(), &me).unwrap();
    // The registry entry keygen prints is accepted by the registry as it stands.
    let text = format!(
        "[[participant]]\nid = \"varsel\"\nname = \"varsel\"\nrole = \"broker\"\n{}\n[[participant]]\nid = \"skola-c\"\nname = \"C\"\nrole = \"school\"\nmunicipality = \"0180\"\n{}",
        Keys::new().entry(""),
        out.registry_entry
    );
    let registry = Registry::from_toml_str(&text, "keygen.toml").unwrap();
    let msg = jws::sign(
        &payload(
            "skola-c",
            Content::Alert(Sealed {
                header: header(),
                sections: vec![],
                wraps: vec![],
                keys: vec![],
            }),
        ),
        &set.signing,
    );
    assert!(jws::verify(msg.as_bytes(), &registry, t(NOW), DEFAULT_MAX_MESSAGE).is_ok());
    for suite in [Suite::X25519, Suite::XWing] {
        let key = registry.sealing_key_for(&me, Some(suite), t(NOW)).unwrap();
        let msg_id = Uuid::now_v7();
        let (s, k) = seal::seal(
            msg_id,
            &header(),
            &sections(),
            &[(me.clone(), key)],
            Aead::Aes256Gcm,
        )
        .unwrap();
        let opened = seal::open(msg_id, &header(), &s, KeyView::V2(&k), &me, &set.sealing);
        assert!(opened.iter().all(|(_, r)| r.is_ok()));
    }
    let debug = format!("{set:?}");
    for secret in &set.sealing {
        assert!(!debug.contains(&b64(&secret.to_bytes())));
    }
}

fn mutation() -> impl Strategy<Value = (usize, u8, u8)> {
    (any::<usize>(), any::<u8>(), 0u8..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn verify_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let w = WORLD.with(|w| w.clone());
        let r = jws::verify(&bytes, &w.0, t(NOW), DEFAULT_MAX_MESSAGE);
        prop_assert!(r.is_err());
    }

    #[test]
    fn mutated_messages_are_refused(mutations in proptest::collection::vec(mutation(), 1..4)) {
        let w = WORLD.with(|w| w.clone());
        let msg = w.1.clone().into_bytes();
        let mut bytes = msg.clone();
        for (pos, value, op) in mutations {
            let at = if bytes.is_empty() { 0 } else { pos % bytes.len() };
            match op {
                0 if !bytes.is_empty() => bytes[at] = value,
                1 => bytes.insert(at, value),
                2 if !bytes.is_empty() => { bytes.remove(at); }
                _ => bytes.truncate(at),
            }
        }
        match jws::verify(&bytes, &w.0, t(NOW), DEFAULT_MAX_MESSAGE) {
            Ok(v) => prop_assert_eq!(v.compact.as_bytes(), msg.as_slice()),
            Err(r) => prop_assert!(Reason::ALL.contains(&r.reason)),
        }
    }
}

thread_local! {
    /// One registry and one valid message for the property tests (key generation is slow).
    static WORLD: (std::rc::Rc<Registry>, String) = {
        let w = World::new();
        let msg = jws::sign(&receipt("polisen"), &w.polis.signing);
        (std::rc::Rc::new(w.registry), msg)
    };
}

/// A sender whose serialiser writes the header's timestamp in another valid RFC 3339 form, or
/// writes an absent optional field as `null` or `[]`, would bind its sections to a header the
/// receiver rebuilds differently. Such a message is refused at once as `schema` naming the
/// field, never accepted only for every section to come back `undecryptable`; a header in the
/// one wire form verifies and opens, with and without fractional seconds.
#[test]
fn header_in_another_form_is_refused_as_schema_naming_the_field() {
    let w = World::new();
    let broker = id("varsel");
    let signed = |value: &serde_json::Value| {
        sign_raw(
            &std_header(&w.school.signing, "alert"),
            &serde_json::to_vec(value).unwrap(),
            &w.school.signing,
        )
    };
    for departure in ["2026-06-02T06:30:00Z", "2026-06-02T06:30:00.500Z"] {
        let mut p = payload(
            "skola-a",
            Content::Receipt(Receipt {
                delivery: Uuid::nil(),
            }),
        );
        let h = Header {
            planned_departure: Some(t(departure)),
            ..header()
        };
        let (sections, keys) = seal::seal(
            p.id,
            &h,
            &sections(),
            &[(broker.clone(), w.sealing_key("varsel", Suite::X25519))],
            Aead::ChaCha20Poly1305,
        )
        .unwrap();
        p.content = Content::Alert(Sealed {
            header: h.clone(),
            sections,
            wraps: vec![],
            keys,
        });
        let value = serde_json::to_value(&p).unwrap();
        assert_eq!(value["header"]["planned_departure"], departure);

        let v = jws::verify(
            signed(&value).as_bytes(),
            &w.registry,
            t(NOW),
            DEFAULT_MAX_MESSAGE,
        )
        .unwrap_or_else(|r| panic!("{departure}: {r}"));
        let sealed = v.payload.content.sealed().unwrap();
        let opened = seal::open(
            v.payload.id,
            &sealed.header,
            &sealed.sections,
            sealed.key_view(),
            &broker,
            &w.broker.sealing,
        );
        assert!(
            opened.iter().all(|(_, r)| r.is_ok()),
            "{departure}: {opened:?}"
        );

        let other_forms: Vec<(&str, serde_json::Value)> = vec![
            ("planned_departure", "2026-06-02T08:30:00+02:00".into()),
            ("planned_departure", "2026-06-02T06:30:00.000Z".into()),
            ("planned_departure", "2026-06-02T06:30:00.5Z".into()),
            ("planned_departure", "2026-06-02t06:30:00z".into()),
            ("planned_departure", "2026-06-02T06:30:00+00:00".into()),
            ("planned_departure", serde_json::Value::Null),
            ("correlation", serde_json::json!([])),
        ];
        for (field, form) in other_forms {
            if value["header"][field] == form {
                continue;
            }
            let mut changed = value.clone();
            changed["header"][field] = form.clone();
            let refused = jws::verify(
                signed(&changed).as_bytes(),
                &w.registry,
                t(NOW),
                DEFAULT_MAX_MESSAGE,
            )
            .expect_err(&format!("{field} = {form} accepted"));
            assert_eq!(
                refused.reason,
                Reason::Schema,
                "{field} = {form}: {refused}"
            );
            assert!(
                refused.detail.contains(&format!("header.{field} ")),
                "{field} = {form}: {}",
                refused.detail
            );
        }
    }
}
