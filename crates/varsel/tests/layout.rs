//! The shape of the workspace, checked on every run of the suite: no import circle between the
//! modules of any crate (at every level: between top-level modules, and between the modules of
//! one folder), no production file over 500 lines (unit tests below `#[cfg(test)] mod tests`
//! do not count), a desk that does not depend on the broker, and a protocol crate whose normal
//! dependencies (their whole closure in Cargo.lock, an over-approximation) include no async
//! runtime, AMQP client, database, HTTP server or mailer, so an integrator can depend on it alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_PRODUCTION_LINES: usize = 500;
const CRATES: &[&str] = &[
    "protocol",
    "transport",
    "sql",
    "broker",
    "participant",
    "desk",
    "varsel",
    "testkit",
];
const NOT_IN_PROTOCOL: &[&str] = &["tokio", "lapin", "sqlx", "axum", "lettre", "hyper"];

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// One source file: its module path inside the crate and its production text.
struct Source {
    path: PathBuf,
    module: Vec<String>,
    production: String,
}

fn production(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn sources(src: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push(Source {
                    module: module_of(src, &path),
                    production: production(&text).to_owned(),
                    path,
                });
            }
        }
    }
    out
}

fn ident(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// The lowercase path segments after a `crate::` (or a resolved `super::`), e.g. `a::b` of
/// `crate::a::b::Type`; for a group `crate::{a::b, c}` each member.
fn paths_after(rest: &str, base: &[String]) -> Vec<Vec<String>> {
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut item = String::new();
        let mut out = Vec::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.extend(paths_after(item.trim(), base));
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        out.extend(paths_after(item.trim(), base));
        return out;
    }
    let mut path = base.to_vec();
    let mut rest = rest;
    loop {
        let (seg, after) = ident(rest);
        if seg.is_empty() || seg == "self" {
            break;
        }
        path.push(seg.to_owned());
        match after.strip_prefix("::") {
            Some(next) if next.starts_with('{') => {
                return paths_after(next, &path);
            }
            Some(next) => rest = next,
            None => break,
        }
    }
    vec![path]
}

fn references(source: &Source) -> Vec<Vec<String>> {
    let text = &source.production;
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        if text[..i].ends_with('$') {
            continue;
        }
        out.extend(paths_after(&text[i + "crate::".len()..], &[]));
    }
    for (i, _) in text.match_indices("super::") {
        let prev = text[..i].chars().next_back();
        if prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let parent = &source.module[..source.module.len().saturating_sub(1)];
        out.extend(paths_after(&text[i + "super::".len()..], parent));
    }
    out
}

/// Edges between sibling modules: a file in `a::b` that names `a::c::x` makes `b -> c` inside
/// `a`. References between a module and its own ancestors or descendants are not edges.
fn sibling_edges(sources: &[Source]) -> BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> {
    let mut modules: BTreeSet<Vec<String>> = BTreeSet::new();
    for s in sources {
        for n in 1..=s.module.len() {
            modules.insert(s.module[..n].to_vec());
        }
    }
    let mut graph: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for s in sources {
        for r in references(s) {
            let depth = s.module.iter().zip(&r).take_while(|(a, b)| a == b).count();
            if depth >= s.module.len() || depth >= r.len() {
                continue;
            }
            if !modules.contains(&r[..=depth]) {
                continue;
            }
            graph
                .entry(s.module[..depth].to_vec())
                .or_default()
                .entry(s.module[depth].clone())
                .or_default()
                .insert(r[depth].clone());
        }
    }
    graph
}

/// The strongly connected components of more than one node (Tarjan).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(st: &mut State<'a>, v: &'a str) {
        let i = st.index.len();
        st.index.insert(v, i);
        st.low.insert(v, i);
        st.stack.push(v);
        if let Some(next) = st.graph.get(v) {
            for w in next {
                let w = w.as_str();
                if !st.index.contains_key(w) {
                    visit(st, w);
                    let lw = st.low[w];
                    let lv = st.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if st.stack.contains(&w) {
                    let iw = st.index[w];
                    let lv = st.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if st.low[v] == st.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = st.stack.pop() {
                comp.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                st.out.push(comp);
            }
        }
    }
    let mut st = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !st.index.contains_key(v.as_str()) {
            visit(&mut st, v);
        }
    }
    st.out
}

#[test]
fn the_circle_finder_finds_circles() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut edge = |a: &str, b: &str| {
        g.entry(a.into()).or_default().insert(b.into());
    };
    edge("intake", "commit");
    edge("commit", "store");
    edge("store", "audit");
    edge("audit", "store");
    assert_eq!(
        circles(&g),
        vec![vec!["audit".to_owned(), "store".to_owned()]]
    );

    let broken = Source {
        path: PathBuf::from("x/a.rs"),
        module: vec!["a".into()],
        production: "use crate::{b::{self, Thing}, c};\nfn f() { super::d::g(); }".into(),
    };
    let refs = references(&broken);
    assert!(refs.contains(&vec!["b".to_owned()]), "{refs:?}");
    assert!(refs.contains(&vec!["c".to_owned()]), "{refs:?}");
    assert!(
        refs.contains(&vec!["d".to_owned(), "g".to_owned()]),
        "{refs:?}"
    );
}

#[test]
fn no_import_circles_and_no_production_file_over_500_lines() {
    let mut problems = Vec::new();
    let mut files = 0;
    for krate in CRATES {
        let src = root().join("crates").join(krate).join("src");
        let sources = sources(&src);
        assert!(!sources.is_empty(), "no sources under {}", src.display());
        files += sources.len();
        for s in &sources {
            let lines = s.production.lines().count();
            if lines > MAX_PRODUCTION_LINES {
                problems.push(format!(
                    "{}: {lines} production lines (at most {MAX_PRODUCTION_LINES})",
                    s.path.strip_prefix(root()).unwrap_or(&s.path).display()
                ));
            }
        }
        for (parent, graph) in sibling_edges(&sources) {
            for circle in circles(&graph) {
                problems.push(format!(
                    "crate {krate}, in module `{}`: import circle between {}",
                    if parent.is_empty() {
                        "crate".to_owned()
                    } else {
                        parent.join("::")
                    },
                    circle.join(", ")
                ));
            }
        }
    }
    assert!(files > 40, "only {files} source files were found");
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn the_protocol_crate_needs_no_runtime_amqp_database_http_or_mail() {
    let manifest: toml::Table = std::fs::read_to_string(root().join("crates/protocol/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let lock: toml::Table = std::fs::read_to_string(root().join("Cargo.lock"))
        .unwrap()
        .parse()
        .unwrap();
    let mut deps_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in lock["package"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap().to_owned();
        let deps = deps_of.entry(name).or_default();
        for d in p
            .get("dependencies")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
        {
            let d = d.as_str().unwrap();
            deps.insert(d.split(' ').next().unwrap().to_owned());
        }
    }
    let direct: Vec<String> = manifest["dependencies"]
        .as_table()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(direct.iter().any(|d| d == "ring"), "{direct:?}");
    let mut seen = BTreeSet::new();
    let mut todo = direct;
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone()) {
            todo.extend(deps_of.get(&name).into_iter().flatten().cloned());
        }
    }
    assert!(seen.contains("hpke") && seen.len() > 20, "{seen:?}");
    let found: Vec<&&str> = NOT_IN_PROTOCOL
        .iter()
        .filter(|n| seen.contains(**n))
        .collect();
    assert!(found.is_empty(), "varsel-protocol depends on {found:?}");
}

/// The desk is the participant's side: it runs at a school's or an agency's organisation with
/// their keys, and builds on the participant client; the broker's code (and its store) is not
/// among its normal dependencies (its tests may start a broker).
#[test]
fn the_desk_builds_on_the_participant_client_not_on_the_broker() {
    let manifest: toml::Table = std::fs::read_to_string(root().join("crates/desk/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let deps = manifest["dependencies"].as_table().unwrap();
    assert!(deps.contains_key("varsel-participant"), "{deps:?}");
    assert!(!deps.contains_key("varsel-broker"), "{deps:?}");
    assert!(!deps.contains_key("varsel-testkit"), "{deps:?}");
}
