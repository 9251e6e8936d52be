//! The offline tools as a user runs them: `varsel keygen`, `seal` and `open` on the demo
//! world's registry and keys, checked with tools varsel did not write where one exists
//! (OpenSSL reads the key files).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use varsel_protocol::envelope::SigningKeyPair;
use varsel_testkit::process::{output_within, wait_within};

const LIMIT: Duration = Duration::from_secs(60);
const SCHOOL: &str = "norrkoping-ektorpsskolan";
const POLICE: &str = "polisen-region-ost";
const SOCIAL: &str = "norrkoping-socialtjansten";

fn varsel(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_varsel"));
    cmd.args(args);
    output_within(&mut cmd, LIMIT).unwrap_or_else(|e| panic!("varsel {args:?}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// The demo world (registry and every participant's keys) in a fresh directory.
fn world() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let o = varsel(&["world", "--dir", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", show(&o));
    let registry = dir.path().join("registry.toml");
    (dir, registry)
}

fn key(dir: &Path, id: &str) -> String {
    dir.join("keys")
        .join(format!("{id}.signing.pem"))
        .display()
        .to_string()
}

/// The Luhn check digit of the nine digits before it.
fn check_digit(nine: &str) -> u32 {
    let sum: u32 = nine
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap() * if i % 2 == 0 { 2 } else { 1 };
            d / 10 + d % 10
        })
        .sum();
    (10 - sum % 10) % 10
}

fn alert_with(dir: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut doc: serde_json::Value =
        serde_json::from_str(varsel_testkit::world::ALERT_EXAMPLE).unwrap();
    edit(&mut doc);
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    path.display().to_string()
}

/// The example alert, sealed by the school to the police: the JWS with its line end.
fn example_sealed_to_police(dir: &Path, registry: &Path) -> Vec<u8> {
    let doc = alert_with(dir, "alert.json", |_| {});
    let o = varsel(&[
        "seal",
        "--registry",
        registry.to_str().unwrap(),
        "--key",
        &key(dir, SCHOOL),
        "--to",
        POLICE,
        &doc,
    ]);
    assert!(o.status.success(), "{}", show(&o));
    o.stdout
}

#[test]
fn keygen_writes_a_signing_key_openssl_reads() {
    let dir = tempfile::tempdir().unwrap();
    // --out need not exist yet.
    let out = dir.path().join("keys");
    let o = varsel(&["keygen", "--id", "skola-b", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", show(&o));
    let pem = out.join("skola-b.signing.pem");
    let ours = SigningKeyPair::from_pem(&std::fs::read_to_string(&pem).unwrap()).unwrap();

    // OpenSSL derives the public key from the private key file; it must be ours.
    let mut cmd = Command::new("openssl");
    cmd.args([
        "pkey", "-pubout", "-outform", "DER", "-passin", "pass:", "-in",
    ])
    .arg(&pem);
    let o = output_within(&mut cmd, LIMIT)
        .expect("openssl must be installed (deploy/dev/services.sh installs it)");
    assert!(
        o.status.success(),
        "openssl refused the key file:\n{}",
        show(&o)
    );
    // SubjectPublicKeyInfo of Ed25519: a 12-byte prefix, then the 32-byte key (RFC 8410).
    assert_eq!(o.stdout.len(), 44, "{}", show(&o));
    assert_eq!(&o.stdout[12..], ours.public_key());
}

#[test]
fn seal_reports_each_problem_with_its_reason_code_and_path() {
    let (dir, registry) = world();
    let nine = "110509000";
    let serial_000 = format!("20110509-000{}", check_digit(nine));
    let bad = alert_with(dir.path(), "bad.json", |doc| {
        doc["body"]["core"]["pupil"]["personnummer"] = serial_000.clone().into();
        doc["header"]["urgency"] = "whenever".into();
    });
    let o = varsel(&[
        "seal",
        "--registry",
        registry.to_str().unwrap(),
        "--key",
        &key(dir.path(), SCHOOL),
        "--to",
        "varsel-broker",
        &bad,
    ]);
    assert_eq!(o.status.code(), Some(65), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(
        err.contains("invalid_personnummer at /body/core/pupil/personnummer: personnummer has serial number 000"),
        "{}",
        show(&o)
    );
    assert!(err.contains("schema at /header/urgency"), "{}", show(&o));
    assert!(
        !err.contains(&serial_000),
        "the number is echoed: {}",
        show(&o)
    );
    assert!(o.stdout.is_empty(), "{}", show(&o));
}

#[test]
fn seal_to_several_recipients_with_a_chosen_suite_opens_for_each() {
    let (dir, registry) = world();
    let doc = alert_with(dir.path(), "alert.json", |_| {});
    let reg = registry.to_str().unwrap();
    for suite in ["x25519", "x-wing"] {
        let o = varsel(&[
            "seal",
            "--registry",
            reg,
            "--key",
            &key(dir.path(), SCHOOL),
            "--to",
            POLICE,
            "--to",
            SOCIAL,
            "--suite",
            suite,
            &doc,
        ]);
        assert!(o.status.success(), "{suite}: {}", show(&o));
        let message = dir.path().join(format!("message-{suite}.jws"));
        std::fs::write(&message, &o.stdout).unwrap();
        for reader in [POLICE, SOCIAL] {
            let o = varsel(&[
                "open",
                "--registry",
                reg,
                "--key",
                &key(dir.path(), reader),
                message.to_str().unwrap(),
            ]);
            assert!(o.status.success(), "{suite} {reader}: {}", show(&o));
            let opened: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let shown = opened.to_string();
            assert!(shown.contains("Hana Karimi"), "{suite} {reader}: {shown}");
            let wanted = if suite == "x-wing" {
                "X-WING"
            } else {
                "DHKEM-X25519"
            };
            let original = String::from_utf8(o.stdout.clone()).unwrap();
            assert!(!original.is_empty());
            let payload = varsel_protocol::envelope::payload_of(
                std::fs::read_to_string(&message).unwrap().trim(),
            )
            .unwrap();
            let sealed = payload.content.sealed().unwrap();
            assert_eq!(payload.v, varsel_protocol::message::VERSION);
            assert!(sealed.wraps.is_empty(), "v2 carries no per-section wraps");
            assert!(!sealed.keys.is_empty());
            for b in &sealed.keys {
                assert!(b.suite.code().starts_with(wanted), "{suite}: {b:?}");
            }
        }
        // Someone not named cannot open it.
        let o = varsel(&[
            "open",
            "--registry",
            reg,
            "--key",
            &key(dir.path(), "skatteverket"),
            message.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(65), "{suite}: {}", show(&o));
    }
}

/// `open` checks the size of what it was given before trimming it, and stops reading a file
/// that is larger than a message can be.
#[test]
fn open_refuses_an_oversized_file_whatever_it_is_padded_with() {
    let (dir, registry) = world();
    let sealed = example_sealed_to_police(dir.path(), &registry);
    let mut padded = vec![b' '; 4 * 1024 * 1024];
    padded.extend_from_slice(&sealed);
    let file = dir.path().join("padded.jws");
    std::fs::write(&file, &padded).unwrap();
    let o = varsel(&[
        "open",
        "--registry",
        registry.to_str().unwrap(),
        "--key",
        &key(dir.path(), POLICE),
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(65), "{}", show(&o));
    assert!(text(&o.stderr).contains("oversized"), "{}", show(&o));
}

/// `varsel open … | head`: the reader goes away before the output is written; the command
/// ends quietly with success instead of panicking.
#[test]
fn open_into_a_closed_pipe_ends_quietly() {
    let (dir, registry) = world();
    let sealed = example_sealed_to_police(dir.path(), &registry);
    let file = dir.path().join("alert.jws");
    std::fs::write(&file, &sealed).unwrap();

    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let stderr = dir.path().join("open.stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_varsel"))
        .args([
            "open",
            "--registry",
            registry.to_str().unwrap(),
            "--key",
            &key(dir.path(), POLICE),
            file.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let status = wait_within(&mut child, LIMIT).unwrap();
    let err = std::fs::read_to_string(&stderr).unwrap();
    let status = status.unwrap_or_else(|| panic!("varsel open did not end in time:\n{err}"));
    assert!(status.success(), "status {status:?}, stderr:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The published wire format v2 test vectors, checked from outside: pyhpke (installed by
/// deploy/dev/interop.sh) opens the broker's and the police's key blocks and seals them again
/// from the published ephemeral randomness byte for byte; `cryptography` verifies both JWS
/// (`alg: Ed25519`) and opens the sections with associated data rebuilt from the specification.
#[test]
fn published_vectors_open_with_a_stock_hpke_library() {
    let site = varsel_testkit::process::tools_cache().join("python-interop");
    assert!(
        site.join("pyhpke").is_dir(),
        "no pyhpke in {}: run deploy/dev/interop.sh",
        site.display()
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONPATH", &site)
        .arg(root.join("crates/varsel/tests/interop/wire_v2.py"))
        .arg(root.join("schemas/vectors/wire-v2.json"));
    let o = output_within(&mut cmd, LIMIT).expect("python3 runs");
    assert!(o.status.success(), "{}", show(&o));
    let opened: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&o)));
    let labels =
        |part: &str| -> Vec<String> { opened[part].as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        labels("alert"),
        ["core", "family", "travel"],
        "{}",
        show(&o)
    );
    assert_eq!(labels("delivery"), ["core", "travel"], "{}", show(&o));
    assert_eq!(opened["alert"]["core"], opened["delivery"]["core"]);
}
