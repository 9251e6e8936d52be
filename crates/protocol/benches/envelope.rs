//! Envelope figures: the size of a typical sealed alert and the mean time of sign, verify, seal,
//! open and rewrap, for both HPKE suites and both wire formats (v1 still read, v2 sent). Run with `cargo bench --bench envelope`.

use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use varsel_protocol::envelope::{
    b64, jws, seal, SealingSecret, SigningKeyPair, DEFAULT_MAX_MESSAGE,
};
use varsel_protocol::message::{
    Aead, Category, Content, Header, Keys, ParticipantId, Payload, Sealed, SectionLabel, Status,
    Suite, Urgency, VERSION, VERSION_1,
};
use varsel_protocol::registry::Registry;

fn entry(signing: &SigningKeyPair, sealing: &[SealingSecret]) -> String {
    let mut s = format!(
        "[[participant.signing_key]]\nkid = \"{}\"\npublic_key = \"{}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\n",
        signing.kid(),
        b64(signing.public_key())
    );
    for k in sealing {
        s.push_str(&format!(
            "[[participant.sealing_key]]\nkid = \"{}\"\nsuite = \"{}\"\npublic_key = \"{}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\n",
            k.kid,
            k.suite.code(),
            b64(k.public_key())
        ));
    }
    s
}

/// Mean microseconds of `f` over `n` runs, after a short warm-up.
fn mean_us(n: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..n.div_ceil(10) {
        f();
    }
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

/// A section body of roughly `len` bytes of JSON.
fn body(label: &str, len: usize) -> Vec<u8> {
    let filler = "x".repeat(len.saturating_sub(40));
    format!(r#"{{"section":"{label}","text":"{filler}"}}"#).into_bytes()
}

fn main() {
    let now: DateTime<Utc> = "2026-06-01T10:00:00Z".parse().expect("fixed timestamp");
    let school_sign = SigningKeyPair::generate().expect("keygen").0;
    let broker_sign = SigningKeyPair::generate().expect("keygen").0;
    let agency_sign = SigningKeyPair::generate().expect("keygen").0;
    let suites = [Suite::X25519, Suite::XWing];
    let broker_seal: Vec<_> = suites
        .iter()
        .map(|s| SealingSecret::generate(*s).expect("keygen"))
        .collect();
    let agency_seal: Vec<_> = suites
        .iter()
        .map(|s| SealingSecret::generate(*s).expect("keygen"))
        .collect();
    let text = format!(
        "[[participant]]\nid = \"varsel\"\nname = \"varsel\"\nrole = \"broker\"\n{}\n\
         [[participant]]\nid = \"skola-a\"\nname = \"Skola A\"\nrole = \"school\"\nmunicipality = \"0581\"\n{}\n\
         [[participant]]\nid = \"soc-0581\"\nname = \"Socialtjänsten\"\nrole = \"agency\"\n{}\n",
        entry(&broker_sign, &broker_seal),
        entry(&school_sign, &[]),
        entry(&agency_sign, &agency_seal),
    );
    let registry = Registry::from_toml_str(&text, "bench").expect("bench registry");
    let broker: ParticipantId = "varsel".parse().expect("id");
    let school: ParticipantId = "skola-a".parse().expect("id");
    let agency: ParticipantId = "soc-0581".parse().expect("id");
    let header = Header {
        municipality: "0581".parse().expect("code"),
        category: Category::DepartureImminent,
        urgency: Urgency::Immediate,
        status: Status::Actual,
        planned_departure: Some("2026-06-02T06:30:00Z".parse().expect("fixed timestamp")),
        correlation: vec![],
    };
    let sections: Vec<(SectionLabel, Vec<u8>)> = [
        (SectionLabel::Core, 500),
        (SectionLabel::Family, 400),
        (SectionLabel::Travel, 250),
        (SectionLabel::SchoolActions, 450),
    ]
    .into_iter()
    .map(|(l, n)| (l, body(l.code(), n)))
    .collect();
    let plain: usize = sections.iter().map(|(_, b)| b.len()).sum();
    println!("typical alert: 4 sections, {plain} bytes of plaintext, sealed to the broker, ChaCha20-Poly1305");
    println!();
    println!(
        "{:<8} {:<4} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>13}",
        "suite",
        "wire",
        "bytes",
        "sign µs",
        "verify µs",
        "seal µs",
        "open µs",
        "rewrap µs",
        "3 agencies µs"
    );

    for suite in suites {
        for v in [VERSION_1, VERSION] {
            let broker_key = registry
                .sealing_key_for(&broker, Some(suite), now)
                .expect("broker key");
            let agency_key = registry
                .sealing_key_for(&agency, Some(suite), now)
                .expect("agency key");
            let id = Uuid::now_v7();
            let to_broker = [(broker.clone(), broker_key)];
            let seal_once = || {
                if v == VERSION_1 {
                    let (s, w) =
                        seal::seal_v1(id, &header, &sections, &to_broker, Aead::ChaCha20Poly1305)
                            .expect("seal");
                    (s, w, Vec::new())
                } else {
                    let (s, k) =
                        seal::seal(id, &header, &sections, &to_broker, Aead::ChaCha20Poly1305)
                            .expect("seal");
                    (s, Vec::new(), k)
                }
            };
            let (sealed, wraps, keys) = seal_once();
            let payload = Payload {
                v,
                id,
                sender: school.clone(),
                sent_at: now,
                references: vec![],
                content: Content::Alert(Sealed {
                    header: header.clone(),
                    sections: sealed.clone(),
                    wraps: wraps.clone(),
                    keys: keys.clone(),
                }),
            };
            let view = Keys::of(&wraps, &keys);
            let msg = jws::sign(&payload, &school_sign);
            jws::verify(msg.as_bytes(), &registry, now, DEFAULT_MAX_MESSAGE).expect("verifies");
            let grant = SectionLabel::ALL;
            let rewrap_once = || {
                seal::Unwrapped::new(id)
                    .rewrap(view, &broker, &broker_seal, grant, &agency, agency_key)
                    .expect("rewrap")
                    .expect("a block")
            };
            // What an agency opens: the v2 block the broker hands over, or for v1 the v1 wraps
            // a v1 broker handed over.
            let (agency_sealed, agency_wraps, agency_block) = if v == VERSION_1 {
                let to_agency = [(agency.clone(), agency_key)];
                let (s, w) =
                    seal::seal_v1(id, &header, &sections, &to_agency, Aead::ChaCha20Poly1305)
                        .expect("seal");
                (s, w, Vec::new())
            } else {
                (sealed.clone(), Vec::new(), vec![rewrap_once()])
            };
            let agency_view = Keys::of(&agency_wraps, &agency_block);
            let opened = seal::open(
                id,
                &header,
                &agency_sealed,
                agency_view,
                &agency,
                &agency_seal,
            );
            assert!(
                opened.iter().all(|(_, r)| r.is_ok()),
                "agency opens all sections"
            );

            let n = 2000;
            let sign = mean_us(n, || {
                black_box(jws::sign(black_box(&payload), &school_sign));
            });
            let verify = mean_us(n, || {
                black_box(
                    jws::verify(
                        black_box(msg.as_bytes()),
                        &registry,
                        now,
                        DEFAULT_MAX_MESSAGE,
                    )
                    .is_ok(),
                );
            });
            let n = if suite == Suite::XWing { 300 } else { 1000 };
            let seal_us = mean_us(n, || {
                black_box(seal_once());
            });
            let open_us = mean_us(n, || {
                black_box(seal::open(
                    id,
                    &header,
                    black_box(&agency_sealed),
                    agency_view,
                    &agency,
                    &agency_seal,
                ));
            });
            let rewrap_us = mean_us(n, || {
                black_box(rewrap_once());
            });
            // One message handed to three agencies: the broker's keys opened once, sealed three
            // times (to one key here; the cost does not depend on whose key it is).
            let three_us = mean_us(n / 3, || {
                let mut unwrapped = seal::Unwrapped::new(id);
                for _ in 0..3 {
                    black_box(
                        unwrapped
                            .rewrap(
                                black_box(view),
                                &broker,
                                &broker_seal,
                                grant,
                                &agency,
                                agency_key,
                            )
                            .is_ok(),
                    );
                }
            });
            let name = match suite {
                Suite::X25519 => "X25519",
                Suite::XWing => "X-Wing",
            };
            println!("{name:<8} v{v:<3} {:>7} {sign:>9.1} {verify:>9.1} {seal_us:>9.1} {open_us:>9.1} {rewrap_us:>9.1} {three_us:>13.1}", msg.len());
        }
    }
    println!();
    println!("v2: seal = 4 sections encrypted + 1 key block to the broker; open = 1 block and 4 sections by the");
    println!("    agency; rewrap = the broker's block opened and 1 block sealed to the agency (same suite);");
    println!("v1: seal = 4 sections + 4 key wraps; open = 4 wraps and 4 sections; rewrap = 4 wraps opened and,");
    println!("    as the broker hands a v1 alert over, 1 v2 block sealed to the agency;");
    println!("3 agencies = the same message re-sealed for three agencies, the broker's keys opened once.");
}
