//! `varsel desk` from the command line, as the README shows it: accounts added (the password
//! from standard input, the TOTP secret printed and sealed in the store with a secrets key made
//! 0600 beside `desk.toml`), listed and disabled; a configuration with a wrong key refused naming
//! file and key, and a missing or another secrets key refused naming its file; the same on a
//! PostgreSQL store; and the desk served, answering its sign-in page with
//! the security headers and a strict session cookie. The desk's pages and inbox are tested in a
//! real browser in crates/desk/tests/browser.rs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use varsel_testkit::process::{output_within, KillOnDrop};
use varsel_testkit::wait::until as wait_until;

const VARSEL: &str = env!("CARGO_BIN_EXE_varsel");

/// Runs a shell command line with `varsel` standing for the binary; its exit code, stdout, stderr.
fn sh(line: &str) -> (i32, String, String) {
    let out = output_within(
        Command::new("sh").args(["-c", &line.replace("varsel ", &format!("{VARSEL} "))]),
        Duration::from_secs(60),
    )
    .expect("the command finishes within 60 s");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_desk(dir: &Path, port: u16, extra: &str) {
    write_desk_at(dir, port, "desk.sqlite", extra)
}

fn write_desk_at(dir: &Path, port: u16, store: &str, extra: &str) {
    std::fs::write(
        dir.join("norrkoping-socialtjansten.client.toml"),
        "participant = \"norrkoping-socialtjansten\"\nkeys = \"keys\"\nregistry = \"registry.toml\"\n\
         [amqp]\nurl = \"amqp://guest:guest@127.0.0.1:5672/varsel-desk-cli-none\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("desk.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\nstore = \"{store}\"\nname = \"Norrköpings kommun\"\n\
             participants = [\"norrkoping-socialtjansten.client.toml\"]\n{extra}"
        ),
    )
    .unwrap();
}

#[tokio::test]
async fn accounts_are_managed_and_the_desk_serves_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("world");
    let d = dir.display();
    let (code, _, err) = sh(&format!("varsel world --dir {d}"));
    assert_eq!(code, 0, "{err}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    write_desk(&dir, port, "");

    let add = format!(
        "varsel desk --config {d}/desk.toml user add --username anna --name 'Anna Andersson' \
         --participant norrkoping-socialtjansten --role agency_officer"
    );
    let (code, out, err) = sh(&format!("echo 'a long pass phrase' | {add}"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("account anna added"), "{out}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("TOTP secret (base32): "))
        .expect("the secret is printed");
    assert_eq!(secret.len(), 32, "{out}");
    assert!(
        out.contains(&format!(
            "otpauth://totp/Norrk%C3%B6pings%20kommun:anna?secret={secret}&"
        )),
        "{out}"
    );

    // Refusals: a taken name, a short password, a participant the desk does not serve.
    let (code, _, err) = sh(&format!("echo 'a long pass phrase' | {add}"));
    assert_eq!((code, err.contains("is taken")), (65, true), "{err}");
    let (code, _, err) = sh(&format!(
        "echo 'short' | {}",
        add.replace("anna ", "bertil ")
    ));
    assert_eq!(
        (code, err.contains("at least 12 characters")),
        (65, true),
        "{err}"
    );
    let (code, _, err) = sh(&format!(
        "echo 'a long pass phrase' | {}",
        add.replace("anna ", "cecilia ")
            .replace("norrkoping-socialtjansten", "polisen-syd")
    ));
    assert_eq!((code, err.contains("does not serve")), (65, true), "{err}");

    let (code, out, err) = sh(&format!("varsel desk --config {d}/desk.toml user list"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "anna\tAnna Andersson\tnorrkoping-socialtjansten\tagency_officer\tactive\n"
    );
    // The secret is sealed with the key made beside desk.toml, readable by its owner only.
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join("secrets.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let mut stored = std::fs::read(dir.join("desk.sqlite")).unwrap();
    stored.extend(std::fs::read(dir.join("desk.sqlite-wal")).unwrap_or_default());
    assert!(!stored.windows(secret.len()).any(|w| w == secret.as_bytes()));

    // Without its key, or with another, the store is refused, naming the key's file.
    std::fs::rename(&key, dir.join("kept.key")).unwrap();
    let (code, _, err) = sh(&format!("varsel desk --config {d}/desk.toml user list"));
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("secrets.key") && err.contains("does not exist"),
        "{err}"
    );
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    let (code, _, err) = sh(&format!("varsel desk --config {d}/desk.toml user list"));
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("secrets.key") && err.contains("another key"),
        "{err}"
    );
    std::fs::rename(dir.join("kept.key"), &key).unwrap();
    let (code, _, err) = sh(&format!(
        "varsel desk --config {d}/desk.toml user disable anna"
    ));
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = sh(&format!("varsel desk --config {d}/desk.toml user list"));
    assert!(out.ends_with("\tdisabled\n"), "{out}");

    // A wrong key is refused, naming the file and the key.
    write_desk(&dir, port, "[login]\nlockout_after = \"five\"\n");
    let (code, _, err) = sh(&format!("varsel desk --config {d}/desk.toml user list"));
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("desk.toml") && err.contains("login.lockout_after"),
        "{err}"
    );
    write_desk(&dir, port, "");

    // Served: the sign-in page, with the security headers and a strict cookie. (RabbitMQ has no
    // such vhost: the inbox is retried in the background and the pages are served meanwhile.)
    let _desk = KillOnDrop::spawn_logged(
        Command::new(VARSEL).args(["desk", "--config", &format!("{d}/desk.toml")]),
        &tmp.path().join("desk.log"),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{port}");
    wait_until(Duration::from_secs(30), "the desk to listen", || {
        let addr = addr.clone();
        async move { tokio::net::TcpStream::connect(&addr).await.is_ok() }
    })
    .await;
    let page = varsel_testkit::http::get(&addr, "/login", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<html lang=\"sv\"") && page.body.contains("name=\"csrf\""));
    assert_eq!(
        page.header("content-security-policy"),
        Some("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; script-src 'self'; connect-src 'self'")
    );
    let cookie = page.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("varsel_desk=")
            && cookie.ends_with("; Path=/; HttpOnly; SameSite=Strict"),
        "{cookie}"
    );
    let css = varsel_testkit::http::get(&addr, "/desk.css", &[]).await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
}

/// `store = "postgres://…"` keeps the desk's state in PostgreSQL: the same commands work there,
/// and the secrets key is still a file beside `desk.toml`.
#[tokio::test]
async fn the_store_may_be_a_postgresql_database() {
    let pg = varsel_testkit::fleet::Database::create(&varsel_testkit::fleet::admin_pg()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("world");
    let d = dir.display();
    let (code, _, err) = sh(&format!("varsel world --dir {d}"));
    assert_eq!(code, 0, "{err}");
    write_desk_at(&dir, 8480, &pg.url, "");
    let (code, out, err) = sh(&format!(
        "echo 'a long pass phrase' | varsel desk --config {d}/desk.toml user add --username \
         bertil --name 'Bertil Ek' --participant norrkoping-socialtjansten --role agency_admin"
    ));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("account bertil added"), "{out}");
    assert!(dir.join("secrets.key").exists());
    assert!(!dir.join("desk.sqlite").exists());
    let (code, out, err) = sh(&format!("varsel desk --config {d}/desk.toml user list"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "bertil\tBertil Ek\tnorrkoping-socialtjansten\tagency_admin\tactive\n"
    );
    // A URL of another database is a configuration error naming the key.
    write_desk_at(&dir, 8480, "mysql://127.0.0.1/desk", "");
    let (code, _, err) = sh(&format!("varsel desk --config {d}/desk.toml user list"));
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("desk.toml") && err.contains("store"), "{err}");
}
