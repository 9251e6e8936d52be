//! The Debian package's description is consistent with the repository, without building it (a
//! release build takes too long for the suite; `deploy/debian/build.sh` builds the package):
//! every file it lists exists or is one that build.sh generates, the systemd unit starts the
//! binary where the package puts it, the maintainer script makes the `varsel` user, and the
//! configuration installed as /etc/varsel/varsel.toml is one the broker accepts.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deb() -> toml::Table {
    let text = std::fs::read_to_string(crate_dir().join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    manifest["package"]["metadata"]["deb"]
        .as_table()
        .expect("[package.metadata.deb] in crates/varsel/Cargo.toml")
        .clone()
}

fn assets() -> Vec<(String, String)> {
    deb()["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .map(|a| {
            let a = a.as_array().expect("[source, destination, mode]");
            assert_eq!(a.len(), 3, "{a:?}");
            (
                a[0].as_str().unwrap().to_owned(),
                a[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_packaged_file_exists_or_is_generated_by_build_sh() {
    let build = read(&repo().join("deploy/debian/build.sh"));
    let mut generated = 0;
    for (source, dest) in assets() {
        if let Some(built) = source.strip_prefix("target/release/") {
            // The binary, or a file build.sh writes under $target/release/deb/.
            let ok = built == "varsel"
                || build.contains(&format!("$assets/{}", built.trim_start_matches("deb/")))
                || (built == "deb/man/*.1" && build.contains("man --dir \"$assets/man\""));
            assert!(
                ok,
                "{source} -> {dest}: neither the binary nor written by build.sh"
            );
            generated += 1;
            continue;
        }
        let path = crate_dir().join(&source);
        match source.strip_suffix("/*") {
            Some(dir) => {
                let n = std::fs::read_dir(crate_dir().join(dir))
                    .unwrap_or_else(|e| panic!("{source}: {e}"))
                    .count();
                assert!(n > 0, "{source} matches no file");
            }
            None => assert!(path.is_file(), "{source} -> {dest}: no such file"),
        }
    }
    assert_eq!(
        generated, 5,
        "the binary, the man pages and three completion scripts"
    );
    let dests: Vec<String> = assets().into_iter().map(|(_, d)| d).collect();
    for conf in ["varsel.toml", "registry.toml", "routing.toml"] {
        assert!(
            dests.contains(&format!("etc/varsel/{conf}")),
            "/etc/varsel/{conf} is not packaged"
        );
    }
}

#[test]
fn the_unit_runs_the_packaged_binary_as_the_user_postinst_makes() {
    let deb = deb();
    let units = deb["systemd-units"].as_table().unwrap();
    let dir = crate_dir().join(units["unit-scripts"].as_str().unwrap());
    let unit = read(&dir.join(format!("{}.service", units["unit-name"].as_str().unwrap())));
    assert!(assets()
        .iter()
        .any(|(s, d)| s == "target/release/varsel" && d == "usr/bin/"));
    for line in [
        "ExecStartPre=/usr/bin/varsel check --config /etc/varsel/varsel.toml",
        "ExecStart=/usr/bin/varsel serve --config /etc/varsel/varsel.toml",
        "User=varsel",
        "StateDirectory=varsel",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit has no `{line}`");
    }
    let scripts = crate_dir().join(deb["maintainer-scripts"].as_str().unwrap());
    let postinst = read(&scripts.join("postinst"));
    assert!(postinst.contains("adduser --system --group"), "{postinst}");
    assert!(postinst.contains("#DEBHELPER#"), "{postinst}");
}

#[test]
fn the_packaged_configuration_is_one_the_broker_accepts() {
    let etc = tempfile::tempdir().unwrap();
    varsel_testkit::certs::init(etc.path(), &["varsel".to_owned()]).unwrap();
    std::fs::write(
        etc.path().join("ops.token"),
        "a-token-of-thirty-two-characters",
    )
    .unwrap();
    let text = read(&repo().join("deploy/varsel.example.toml"));
    let config = varsel_broker::config::Config::from_toml_str(&text, "varsel.toml", etc.path())
        .unwrap_or_else(|e| panic!("deploy/varsel.example.toml: {e}"));
    assert_eq!(config.store_url, "sqlite:///var/lib/varsel/varsel.db");
    assert_eq!(config.registry, etc.path().join("registry.toml"));
}
