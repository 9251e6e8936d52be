//! The published JSON Schemas under `schemas/` and the Rust types judge every example alike.
//!
//! For each `schemas/<name>.schema.json` there must be `schemas/examples/<name>/valid/` and
//! `.../invalid/`, both non-empty. Valid examples must pass the schema and the Rust type; invalid
//! ones must fail both, except `rust-only-*` files, which the schema accepts (it cannot see a
//! check digit or compare two fields) and the Rust type refuses. A schema without an arm in
//! [`rust_accepts`] fails the run: a schema nobody checks against the code drifts.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde_json::Value;
use varsel_protocol::alert;
use varsel_protocol::message;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Every schema name present, from the file names `schemas/<name>.schema.json`.
fn schema_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo().join("schemas"))
        .expect("schemas/ directory")
        .map(|e| {
            e.expect("schemas/ entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter_map(|f| f.strip_suffix(".schema.json").map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load_schema(name: &str) -> Value {
    read_json(&repo().join("schemas").join(format!("{name}.schema.json")))
}

fn compile(name: &str) -> jsonschema::Validator {
    let schema = load_schema(name);
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "{name}: schemas are written in draft 2020-12"
    );
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("schemas/{name}.schema.json does not compile: {e}"))
}

/// The example files of one directory, sorted; the directory must exist and hold at least one.
fn examples(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{} must exist: {e}", dir.display()))
        .map(|e| e.expect("example entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no examples", dir.display());
    files
}

/// Whether the Rust type behind schema `name` accepts `json`, with the words why not.
fn rust_accepts(name: &str, json: &Value) -> Result<(), String> {
    match name {
        "payload" => {
            let p: message::Payload =
                serde_json::from_value(json.clone()).map_err(|e| e.to_string())?;
            if p.v != message::VERSION && p.v != message::VERSION_1 {
                return Err(format!("v is {}, not {}", p.v, message::VERSION));
            }
            p.check_version_fields()?;
            // The header's one wire form, which intake checks after the typed read.
            if let Some(sealed) = p.content.sealed() {
                varsel_protocol::envelope::seal::check_header_form(&sealed.header, &json["header"])
                    .map_err(|r| r.to_string())?;
            }
            Ok(())
        }
        "document" => {
            let bytes = serde_json::to_vec(json).map_err(|e| e.to_string())?;
            alert::Document::parse(&bytes, Utc::now())
                .map(|_| ())
                .map_err(|problems| {
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
        }
        // The registry and the routing table are TOML files; their examples are the same
        // structure written as JSON, turned back into TOML for the loaders.
        "registry" => {
            let text =
                toml::to_string(json).map_err(|e| format!("not representable as TOML: {e}"))?;
            varsel_protocol::registry::Registry::from_toml_str(&text, "example")
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        "routing" => {
            let text =
                toml::to_string(json).map_err(|e| format!("not representable as TOML: {e}"))?;
            varsel_broker::routing::Table::from_toml_str(&text, "example")
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        other => panic!(
            "schemas/{other}.schema.json has no Rust type in tests/schemas.rs rust_accepts(); \
             add an arm that deserializes and validates it"
        ),
    }
}

fn schema_errors(v: &jsonschema::Validator, json: &Value) -> Vec<String> {
    v.iter_errors(json)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn every_example_is_judged_alike_by_schema_and_rust() {
    let names = schema_names();
    assert!(
        names.iter().any(|n| n == "payload") && names.iter().any(|n| n == "document"),
        "expected at least payload and document schemas, found {names:?}"
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    for name in &names {
        let validator = compile(name);
        let base = repo().join("schemas/examples").join(name);
        for path in examples(&base.join("valid")) {
            let json = read_json(&path);
            let errs = schema_errors(&validator, &json);
            if !errs.is_empty() {
                failures.push(format!("{}: schema refuses: {errs:?}", path.display()));
            }
            if let Err(e) = rust_accepts(name, &json) {
                failures.push(format!("{}: Rust refuses: {e}", path.display()));
            }
            checked += 1;
        }
        for path in examples(&base.join("invalid")) {
            let json = read_json(&path);
            let rust_only = path
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with("rust-only-"));
            let schema_ok = validator.is_valid(&json);
            if rust_only && !schema_ok {
                failures.push(format!(
                    "{}: marked rust-only- but the schema refuses it: {:?}",
                    path.display(),
                    schema_errors(&validator, &json)
                ));
            }
            if !rust_only && schema_ok {
                failures.push(format!("{}: schema accepts it", path.display()));
            }
            match rust_accepts(name, &json) {
                // Shown with --nocapture, to see that each example fails for its own reason.
                Err(why) => eprintln!("{}: Rust refuses: {why}", path.display()),
                Ok(()) => failures.push(format!("{}: Rust accepts it", path.display())),
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} examples disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn rust_output_follows_the_schemas() {
    let payload = compile("payload");
    for path in examples(&repo().join("schemas/examples/payload/valid")) {
        let json = read_json(&path);
        let p: message::Payload = serde_json::from_value(json.clone()).unwrap();
        let out = serde_json::to_value(&p).unwrap();
        // The examples are written exactly as message.rs serializes them.
        assert_eq!(out, json, "{}", path.display());
        assert!(payload.is_valid(&out), "{}", path.display());
    }
    let document = compile("document");
    for path in examples(&repo().join("schemas/examples/document/valid")) {
        let json = read_json(&path);
        let doc = alert::Document::parse(json.to_string().as_bytes(), Utc::now()).unwrap();
        let out = serde_json::to_value(&doc).unwrap();
        let errs = schema_errors(&document, &out);
        assert!(errs.is_empty(), "{}: {errs:?}", path.display());
        // The sections a recipient opens rebuild the same body.
        let rebuilt = alert::Body::from_sections(&doc.body.to_sections()).unwrap();
        assert_eq!(rebuilt, doc.body, "{}", path.display());
    }
}

#[test]
fn deploy_examples_are_valid_documents() {
    let validator = compile("document");
    let files = examples(&repo().join("deploy/examples"));
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "alert.json",
        "update.json",
        "cancel.json",
        "exercise-alert.json",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "deploy/examples/{want} missing"
        );
    }
    for path in files {
        let json = read_json(&path);
        let errs = schema_errors(&validator, &json);
        assert!(errs.is_empty(), "{}: {errs:?}", path.display());
        let doc = alert::Document::parse(json.to_string().as_bytes(), Utc::now())
            .unwrap_or_else(|p| panic!("{}: {p:?}", path.display()));
        assert_eq!(
            doc.header.municipality.as_str(),
            "0581",
            "{}",
            path.display()
        );
    }
}

fn enum_of(schema: &Value, def: &str) -> Vec<String> {
    schema["$defs"][def]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("$defs/{def} has no enum"))
        .iter()
        .map(|v| v.as_str().expect("enum of strings").to_owned())
        .collect()
}

fn codes<T: Copy + std::fmt::Display>(all: &[T]) -> Vec<String> {
    all.iter().map(ToString::to_string).collect()
}

#[test]
fn schema_code_lists_are_exactly_the_rust_codes() {
    let payload = load_schema("payload");
    let pairs = [
        ("kind", codes(message::Kind::ALL)),
        ("note_kind", codes(message::NoteKind::ALL)),
        ("category", codes(message::Category::ALL)),
        ("urgency", codes(message::Urgency::ALL)),
        ("status", codes(message::Status::ALL)),
        ("section_label", codes(message::SectionLabel::ALL)),
        ("aead", codes(message::Aead::ALL)),
        ("suite", codes(message::Suite::ALL)),
        ("recipient_role", codes(message::RecipientRole::ALL)),
        ("outcome", codes(message::Outcome::ALL)),
        ("delivery_state", codes(message::DeliveryState::ALL)),
    ];
    for (def, rust) in &pairs {
        assert_eq!(&enum_of(&payload, def), rust, "payload $defs/{def}");
    }
    let document = load_schema("document");
    let pairs = [
        ("indicator", codes(alert::Indicator::ALL)),
        ("action", codes(alert::Action::ALL)),
        ("relation", codes(alert::Relation::ALL)),
        (
            "country_code",
            alert::ASSIGNED_COUNTRY_CODES
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
        ),
    ];
    for (def, rust) in &pairs {
        assert_eq!(&enum_of(&document, def), rust, "document $defs/{def}");
    }
    // The two schemas describe one routing header.
    for def in [
        "header",
        "kommunkod",
        "category",
        "urgency",
        "status",
        "token",
        "timestamp",
        "uuid",
    ] {
        assert_eq!(
            payload["$defs"][def], document["$defs"][def],
            "$defs/{def} differs between payload and document schemas"
        );
    }
    assert_eq!(
        document["properties"]["kind"]["enum"],
        serde_json::json!(["alert", "update", "cancel"])
    );
}

#[test]
fn the_refusal_reasons_fit_the_error_reply_pattern() {
    let payload = compile("payload");
    for reason in varsel_protocol::refusal::Reason::ALL {
        let reply = serde_json::json!({
            "v": 1, "id": "019a0b3d-5555-7666-8777-888899990000", "sender": "varsel-broker",
            "sent_at": "2026-10-22T08:31:13Z", "kind": "error",
            "reason": reason.code(), "detail": "x"
        });
        assert!(payload.is_valid(&reply), "{reason}");
    }
}
