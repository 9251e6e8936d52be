//! The ops API's OpenAPI document against the API itself: a real broker with real data (an
//! alert, a receipt, an ack, a refusal) serves `/api/openapi.json`; every documented GET route
//! is fetched and each answer's status must be documented and its JSON body valid against the
//! document's schema for it (object schemas closed, so an undocumented field fails too). No
//! route may be registered outside the document, and every API call the dashboard makes must be
//! documented.

use std::path::Path;

use serde_json::{json, Value};
use varsel_testkit::harness::Harness;
use varsel_testkit::http::get;

const AUTH: (&str, &str) = ("Authorization", "Bearer demo-token-0123456789");

fn ops_sources() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../broker/src/ops");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, std::fs::read_to_string(&path).unwrap()));
    }
    assert!(out.len() >= 4, "{}", dir.display());
    out
}

/// Closes every object schema with properties (`additionalProperties: false`) unless it says
/// otherwise, so a field the document does not describe fails validation.
fn close_objects(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), json!(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

fn validator(schema: &Value, components: &Value) -> jsonschema::Validator {
    let mut root = schema.clone();
    let map = root.as_object_mut().expect("a schema object");
    map.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    // The document's `#/components/schemas/…` references resolve against this root.
    map.insert("components".into(), components.clone());
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema {schema} does not compile: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_answers_as_the_openapi_document_says() {
    let mut h = Harness::start("openapi").await;
    // With heartbeats, so /api/health lists lines (socialtjänsten's answered, the others not).
    h.restart_with_heartbeats().await;
    let addr = h.broker.as_ref().unwrap().ops_addr.unwrap().to_string();
    let alert = h.traffic().await;
    let health = get(&addr, "/api/health", &[AUTH]).await;
    assert!(health.body.contains("\"lines\":[{"), "{}", health.body);

    let r = get(&addr, "/api/openapi.json", &[AUTH]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc: Value = serde_json::from_str(&r.body).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    // The document is the ops API's, not for anyone: it needs the token like the rest of /api.
    assert_eq!(get(&addr, "/api/openapi.json", &[]).await.status, 401);
    let mut components = doc["components"].clone();
    close_objects(&mut components);

    let paths = doc["paths"].as_object().unwrap();
    for required in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/",
        "/api/alerts",
        "/api/alerts/{id}",
        "/api/deliveries",
        "/api/refusals",
        "/api/health",
        "/api/openapi.json",
    ] {
        assert!(paths.contains_key(required), "{required} is not documented");
    }

    let mut checked = 0;
    for (path, item) in paths {
        let op = &item["get"];
        assert!(op.is_object(), "{path}: only GET routes exist");
        let concrete = path.replace("{id}", &alert.to_string());
        let mut queries = vec![concrete.clone()];
        if path == "/api/alerts" {
            queries.push(format!("{concrete}?state=acknowledged&limit=5"));
            queries.push(format!("{concrete}?state=nonsense"));
        }
        if path == "/api/deliveries" {
            queries.push(format!("{concrete}?state=overdue"));
        }
        if path == "/api/alerts/{id}" {
            queries.push(path.replace("{id}", &uuid::Uuid::now_v7().to_string()));
        }
        for query in queries {
            let r = get(&addr, &query, &[AUTH]).await;
            let documented = &op["responses"][r.status.to_string()];
            assert!(
                documented.is_object(),
                "GET {query} answered {} which {path} does not document: {}",
                r.status,
                r.body
            );
            let content = &documented["content"];
            let Some(types) = content.as_object() else {
                continue;
            };
            let got = r.header("content-type").unwrap_or_default();
            let (media, spec) = types
                .iter()
                .find(|(media, _)| got.starts_with(media.split(';').next().unwrap()))
                .unwrap_or_else(|| panic!("GET {query}: content-type {got} not documented"));
            if media.starts_with("application/json") {
                let body: Value = serde_json::from_str(&r.body).unwrap();
                let v = validator(&spec["schema"], &components);
                let errors: Vec<String> = v
                    .iter_errors(&body)
                    .map(|e| format!("{}: {e}", e.instance_path()))
                    .collect();
                assert!(errors.is_empty(), "GET {query}: {errors:#?}\n{body:#}");
                checked += 1;
            }
        }
    }
    // The alert list, one alert, the deliveries (two), refusals, health and the document itself.
    assert!(checked >= 7, "{checked} JSON answers checked");

    // The real data is in what was checked, not only empty lists.
    let one = get(&addr, &format!("/api/alerts/{alert}"), &[AUTH]).await;
    let one: Value = serde_json::from_str(&one.body).unwrap();
    assert!(one["timeline"].as_array().is_some_and(|t| !t.is_empty()));
    assert!(one["deliveries"].as_array().is_some_and(|d| d.len() >= 2));
    let refusals = get(&addr, "/api/refusals", &[AUTH]).await;
    assert!(refusals.body.contains("bad_signature"), "{}", refusals.body);

    // No route is registered outside the document: the ops server's routes are all added with
    // utoipa-axum's `routes!`, which documents each; plain axum routing is not used there.
    for (file, text) in ops_sources() {
        for call in [
            ".route(",
            ".nest(",
            ".route_service(",
            ".fallback(",
            ".nest_service(",
        ] {
            assert!(
                !text.contains(call),
                "ops/{file} registers a route with {call}, which the OpenAPI document does not see"
            );
        }
    }
    // Every API call of the dashboard is documented.
    let page = ops_sources()
        .into_iter()
        .find(|(f, _)| f == "dashboard.html")
        .unwrap()
        .1;
    let calls: Vec<&str> = page
        .split("api(\"")
        .skip(1)
        .map(|s| s.split(['"', '?']).next().unwrap())
        .collect();
    assert!(calls.len() >= 3, "{calls:?}");
    for call in calls {
        assert!(
            paths.contains_key(call),
            "the dashboard calls {call}, not documented"
        );
    }
    h.stop().await;
}
