//! The shell completions and man pages that `varsel completions` and `varsel man` generate from
//! the command line's definitions: every command and subcommand is completed in bash and has a
//! man page that is well-formed roff (checked without groff, which a build machine may lack).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use clap::CommandFactory;
use varsel_testkit::process::output_within;

fn varsel(args: &[&str]) -> String {
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_varsel")).args(args),
        Duration::from_secs(30),
    )
    .expect("varsel runs within 30 s");
    assert!(
        out.status.success(),
        "varsel {args:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Every command path below `varsel`, e.g. ["routes", "check"], from the definitions themselves.
fn paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands() {
        let mut path = prefix.clone();
        path.push(sub.get_name().to_owned());
        out.push(path.clone());
        paths(sub, path, out);
    }
}

fn all_paths() -> Vec<Vec<String>> {
    let mut out = Vec::new();
    paths(&varsel::cli::Cli::command(), Vec::new(), &mut out);
    assert!(out.len() > 20, "only {} commands found", out.len());
    out
}

/// What bash offers after `varsel <path> ` with the generated script loaded: bash itself runs
/// the completion function, as when a user presses Tab.
fn bash_offers(script: &Path, path: &[String]) -> Vec<String> {
    let words: Vec<String> = std::iter::once("varsel".to_owned())
        .chain(path.iter().cloned())
        .collect();
    let line = format!("{} ", words.join(" "));
    let program = format!(
        "source \"$1\"; COMP_WORDS=({} \"\"); COMP_CWORD={}; COMP_LINE='{line}'; \
         COMP_POINT=${{#COMP_LINE}}; _varsel varsel \"\" {}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words.join(" "),
        words.len(),
        words.last().unwrap()
    );
    let out = output_within(
        Command::new("bash")
            .args(["--noprofile", "--norc", "-c", &program, "bash"])
            .arg(script),
        Duration::from_secs(30),
    )
    .expect("bash runs within 30 s");
    assert!(
        out.status.success(),
        "bash completion of {line:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completion_offers_every_command_and_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("varsel.bash");
    std::fs::write(&script, varsel(&["completions", "bash"])).unwrap();
    let paths = all_paths();
    let mut checked = 0;
    for parent in std::iter::once(Vec::new()).chain(paths.iter().cloned()) {
        let children: Vec<&String> = paths
            .iter()
            .filter(|p| p.len() == parent.len() + 1 && p.starts_with(&parent))
            .map(|p| p.last().unwrap())
            .collect();
        if children.is_empty() {
            continue;
        }
        let offered = bash_offers(&script, &parent);
        for child in children {
            assert!(
                offered.contains(child),
                "after `varsel {}` bash offers {offered:?}, not {child}",
                parent.join(" ")
            );
            checked += 1;
        }
    }
    assert_eq!(checked, paths.len(), "every command was offered somewhere");
    // Options too: `varsel serve --` offers --config.
    let serve = bash_offers(&script, &["serve".to_owned()]);
    assert!(serve.iter().any(|w| w == "--config"), "{serve:?}");
    for shell in ["zsh", "fish"] {
        assert!(varsel(&["completions", shell]).contains("serve"), "{shell}");
    }
}

/// The checks a man page must pass without groff: a title, the sections man expects, only roff
/// requests or text on each line, and the command's own name and options.
fn check_page(path: &Path, name: &str) {
    let page = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no man page {}: {e}", path.display()));
    let title = format!(".TH {} 1", name);
    assert!(page.contains(&title), "{}: no `{title}`", path.display());
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION"] {
        assert!(page.contains(section), "{}: no {section}", path.display());
    }
    assert!(
        page.contains(&name.replace('-', "\\-")),
        "{}: does not name {name}",
        path.display()
    );
    for (n, line) in page.lines().enumerate() {
        if let Some(request) = line.strip_prefix('.') {
            let word: String = request
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(
                !word.is_empty() || request.starts_with('\\') || request.is_empty(),
                "{}:{}: not a roff request: {line:?}",
                path.display(),
                n + 1
            );
        }
    }
}

#[test]
fn man_pages_exist_and_are_well_formed_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    varsel(&["man", "--dir", out.to_str().unwrap()]);
    check_page(&out.join("varsel.1"), "varsel");
    let top = std::fs::read_to_string(out.join("varsel.1")).unwrap();
    for path in all_paths() {
        let name = format!("varsel-{}", path.join("-"));
        check_page(&out.join(format!("{name}.1")), &name);
        if path.len() == 1 {
            assert!(top.contains(&path[0]), "varsel.1 does not list {}", path[0]);
        }
    }
    let serve = std::fs::read_to_string(out.join("varsel-serve.1")).unwrap();
    assert!(
        serve.contains("\\-\\-config"),
        "varsel-serve.1 has no --config"
    );
    // Without --dir the main page goes to standard output.
    assert_eq!(varsel(&["man"]), top);
}
