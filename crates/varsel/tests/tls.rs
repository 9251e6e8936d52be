//! Transport security against a real RabbitMQ node configured for mutual TLS (its own node,
//! port and data directory, started by `deploy/dev/rabbitmq-tls.sh`, stopped at the end if this
//! test started it): the demo flow over AMQPS with EXTERNAL auth and no passwords, and every
//! attack the README's security section lists, each tried with a real connection.
//!
//! One test function: the scenarios share the node and run one after the other, each in a
//! virtual host of its own made from definitions generated from its registry.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use uuid::Uuid;

use varsel_broker::daemon::{self, Running};
use varsel_participant::client::{Client, Item};
use varsel_protocol::message::{Outcome, ParticipantId};
use varsel_testkit::certs;
use varsel_testkit::harness::{drain, wait_until};
use varsel_testkit::process::{output_within, wait_within};
use varsel_testkit::wait;
use varsel_testkit::world::Transport;
use varsel_transport::amqp;
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

const PORT: u16 = 25671;
const SCHOOL: &str = "norrkoping-ektorpsskolan";
const SCHOOL_B: &str = "norrkoping-borgskolan";
const POLICE: &str = "polisen-region-ost";

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn certs() -> PathBuf {
    repo().join(varsel_testkit::world::CERTS_DIR)
}

fn port_open() -> bool {
    std::net::TcpStream::connect(("127.0.0.1", PORT)).is_ok()
}

fn script(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(repo().join("deploy/dev/rabbitmq-tls.sh"));
    cmd.args(args)
        .env("VARSEL_BIN", env!("CARGO_BIN_EXE_varsel"));
    output_within(&mut cmd, Duration::from_secs(300)).expect("deploy/dev/rabbitmq-tls.sh runs")
}

/// Stops the TLS node at the end if this test started it, also when the test fails.
struct Node {
    started_here: bool,
}

impl Node {
    fn start() -> Node {
        let started_here = !port_open();
        let out = script(&["start"]);
        assert!(
            out.status.success(),
            "starting the TLS node failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Node { started_here }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.started_here {
            let _ = script(&["stop"]);
        }
    }
}

/// A virtual host on the TLS node, made from definitions generated from a registry.
struct Vhost {
    name: String,
}

impl Vhost {
    fn import(registry: &Path) -> Vhost {
        let name = format!("varsel-tls-{}", &Uuid::now_v7().simple().to_string()[20..]);
        let out = output_within(
            Command::new(env!("CARGO_BIN_EXE_varsel"))
                .args(["rabbitmq", "definitions", "--vhost", &name, "--registry"])
                .arg(registry),
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut child = Command::new(repo().join("deploy/dev/rabbitmq-tls.sh"))
            .args(["ctl", "import_definitions"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
        let status = wait_within(&mut child, Duration::from_secs(180))
            .unwrap()
            .expect("import_definitions finishes within 180 s");
        let mut stderr = String::new();
        use std::io::Read;
        let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
        let done = std::process::Output {
            status,
            stdout: Vec::new(),
            stderr: stderr.into_bytes(),
        };
        assert!(
            done.status.success(),
            "import_definitions failed: {}",
            String::from_utf8_lossy(&done.stderr)
        );
        Vhost { name }
    }

    fn url(&self) -> String {
        format!("amqps://localhost:{PORT}/{}", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = script(&["ctl", "delete_vhost", &self.name]);
    }
}

/// Connects with an explicit TLS set-up (or none), the way an attacker's client would.
async fn raw_connect(url: &str, tls: OwnedTLSConfig) -> Result<Connection, lapin::Error> {
    let mut uri: lapin::uri::AMQPUri = url.parse().unwrap();
    if url.starts_with("amqps://") {
        uri.query.auth_mechanism = Some(lapin::uri::SASLMechanism::External);
    }
    let connect = Connection::connect_uri_with_config(
        uri,
        ConnectionProperties::default(),
        tls,
        lapin::runtime::default_runtime().unwrap(),
    );
    tokio::time::timeout(Duration::from_secs(20), connect)
        .await
        .expect("a connection attempt ends (accepted or refused) within 20 s")
}

fn tls_config(ca: &Path, identity: Option<&certs::Identity>) -> OwnedTLSConfig {
    OwnedTLSConfig {
        identity: identity.map(|i| OwnedIdentity::PKCS8 {
            pem: std::fs::read(&i.cert).unwrap(),
            key: std::fs::read(&i.key).unwrap(),
        }),
        cert_chain: Some(std::fs::read_to_string(ca).unwrap()),
    }
}

fn access_refused(e: &lapin::Error) -> bool {
    let text = format!("{e} {e:?}");
    text.contains("ACCESS_REFUSED") || text.contains("AccessRefused")
}

/// The most recent refusal the broker audited for a message id, as its reason code.
async fn refusal_of(running: &Running, id: Uuid) -> Option<String> {
    let entries = running.shared.store().audit_entries(None).await.ok()?;
    entries
        .iter()
        .rev()
        .find(|e| e.action == "message_refused" && e.detail["message"] == id.to_string())
        .and_then(|e| e.detail["reason"].as_str().map(str::to_owned))
}

/// Polls every 100 ms until `check` yields a value; panics with `what` after `limit` (a bound on
/// a hung test, not an assertion on speed). Some checks open a TLS connection each time.
async fn poll<T, F, Fut>(limit: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait::poll(limit, Duration::from_millis(100), what, check)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Adds a school B (keys, registry entry with amqp_user, certificate from the demo CA).
fn add_school_b(dir: &Path, cert_dir: &Path) {
    let id: ParticipantId = SCHOOL_B.parse().unwrap();
    let made = varsel_protocol::envelope::keygen(
        &id,
        &dir.join("keys"),
        chrono::Utc::now() - chrono::Duration::minutes(5),
    )
    .unwrap();
    let mut text = std::fs::read_to_string(dir.join("registry.toml")).unwrap();
    text.push_str(&format!(
        "\n[[participant]]\nid = \"{SCHOOL_B}\"\nname = \"Borgskolan\"\nrole = \"school\"\nmunicipality = \"0581\"\namqp_user = \"{SCHOOL_B}\"\n{}\n",
        made.registry_entry
    ));
    std::fs::write(dir.join("registry.toml"), text).unwrap();
    certs::issue(
        &certs(),
        cert_dir,
        SCHOOL_B,
        SCHOOL_B,
        certs::Purpose::Client,
        &[],
        certs::Validity::default(),
    )
    .unwrap();
}

/// Edits a participant's signing keys in the registry file.
fn edit_signing_keys(dir: &Path, id: &str, edit: impl FnOnce(&mut Vec<toml::Value>)) {
    let path = dir.join("registry.toml");
    let mut doc: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let participants = doc["participant"].as_array_mut().unwrap();
    let p = participants
        .iter_mut()
        .find(|p| p["id"].as_str() == Some(id))
        .unwrap();
    let keys = p
        .as_table_mut()
        .unwrap()
        .get_mut("signing_key")
        .unwrap()
        .as_array_mut()
        .unwrap();
    edit(keys);
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
}

async fn reload_and_wait(running: &Running, signals: &Signals, expect_kid: &str, revoked: bool) {
    signals.reload();
    wait_until(Duration::from_secs(20), "the registry reload", || {
        let shared = running.shared.clone();
        let kid = expect_kid.to_owned();
        async move {
            shared
                .world()
                .registry
                .signing_key(&kid)
                .is_some_and(|(_, k)| k.validity.revoked == revoked)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_least_privilege_and_attacks() {
    let _node = Node::start();
    let certs = certs();

    // --- The demo binary itself over TLS (its default), on the node's varsel-demo vhost.
    let demo_dir = varsel_testkit::temp_dir();
    // Bounded: the demo once waited for ever here after its banner (it now has a deadline on
    // every wait; this bounds whatever else could hang).
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_varsel"))
            .current_dir(repo())
            .args(["demo", "--time-scale", "240", "--dir"])
            .arg(demo_dir.path()),
        Duration::from_secs(300),
    )
    .unwrap_or_else(|e| panic!("varsel demo over TLS: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "varsel demo over TLS failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("mutual TLS, EXTERNAL"), "{stdout}");
    assert!(
        stdout.contains("Polisen kvitterar utreseförbudet")
            && stdout.contains(": closed (departure_imminent"),
        "the demo's case should end closed, after the police acknowledged the travel ban:\n{stdout}"
    );

    // --- A world of our own: demo participants plus a second school, amqp_user set for all.
    let dir = varsel_testkit::temp_dir();
    let cert_dir = varsel_testkit::temp_dir();
    varsel_testkit::world::write_world_for(dir.path(), true).unwrap();
    add_school_b(dir.path(), cert_dir.path());
    let vhost = Vhost::import(&dir.path().join("registry.toml"));
    let transport = Transport::Tls {
        url: vhost.url(),
        certs: certs.clone(),
    };
    let config =
        varsel_testkit::world::broker_config_via(dir.path(), &transport, 1, None, "127.0.0.1:0")
            .unwrap();
    let signals = Signals::new();
    let running = daemon::start(config.clone(), signals.clone(), Clock::system(), None)
        .await
        .expect("the broker starts over TLS");
    {
        let shared = running.shared.clone();
        wait_until(
            Duration::from_secs(30),
            "the broker to consume over TLS",
            || {
                let s = shared.clone();
                async move { s.amqp_ready() }
            },
        )
        .await;
    }
    let client = |id: &str| {
        Client::load(varsel_testkit::world::client_config_via(dir.path(), id, &transport).unwrap())
            .unwrap()
    };
    let school = client(SCHOOL);
    let police = client(POLICE);
    // School B's certificate is issued here, not by the demo script.
    let mut school_b_config = config.amqp.clone();
    school_b_config.tls = Some(certs::Identity {
        ca: certs::files::ca_cert(&certs),
        cert: certs::files::cert(cert_dir.path(), SCHOOL_B),
        key: certs::files::key(cert_dir.path(), SCHOOL_B),
    });
    let mut b_cfg = varsel_participant::config::ClientConfig::from_toml_str(
        &format!(
            "participant = \"{SCHOOL_B}\"\nkeys = \"keys\"\nregistry = \"registry.toml\"\nstate = \"state/{SCHOOL_B}\"\n"
        ),
        "b.toml",
        dir.path(),
    )
    .unwrap();
    b_cfg.amqp = school_b_config;
    let school_b = Client::load(b_cfg).unwrap();

    // --- The flow over mutual TLS: alert, delivery to the police, receipt and ack.
    let doc: varsel_protocol::alert::Document =
        serde_json::from_str(varsel_testkit::world::ALERT_EXAMPLE).unwrap();
    let alert = school.send(&doc).await.expect("the school sends over TLS");
    let store = running.shared.store().clone();
    wait_until(Duration::from_secs(30), "the alert to be routed", || {
        let s = store.clone();
        async move { s.deliveries_of(alert).await.is_ok_and(|d| !d.is_empty()) }
    })
    .await;
    let delivery = poll(Duration::from_secs(30), "the police to receive it", || {
        let items = drain(&police);
        async move {
            items.await.into_iter().find_map(|i| match i {
                Item::Delivery(d) if d.alert == alert => Some(d.delivery),
                _ => None,
            })
        }
    })
    .await;
    police
        .ack(delivery, "Insp. Karin Lund", Outcome::CaseOpened)
        .await
        .expect("the police ack over TLS");
    wait_until(
        Duration::from_secs(30),
        "the police ack to be recorded",
        || {
            let s = store.clone();
            let d = delivery;
            async move {
                s.deliveries_of(alert).await.is_ok_and(|all| {
                    all.iter().any(|x| {
                        x.id == d
                            && x.state == varsel_protocol::message::DeliveryState::Acknowledged
                    })
                })
            }
        },
    )
    .await;

    // --- Refused at the transport.
    let ca = certs::files::ca_cert(&certs);
    let school_id = certs::identity_in(&certs, SCHOOL);
    // Control: the school's own certificate connects.
    let ok = raw_connect(&vhost.url(), tls_config(&ca, Some(&school_id))).await;
    assert!(ok.is_ok(), "control: a valid certificate connects: {ok:?}");
    let _ = ok.unwrap().close(200, "ok".into()).await;
    // No client certificate.
    let e = raw_connect(&vhost.url(), tls_config(&ca, None)).await;
    assert!(
        e.is_err(),
        "a connection without a client certificate must be refused"
    );
    // A certificate from another CA, with the same common name.
    let other = varsel_testkit::temp_dir();
    certs::init(other.path(), &[SCHOOL.to_owned()]).unwrap();
    let foreign = certs::identity_in(other.path(), SCHOOL);
    let e = raw_connect(&vhost.url(), tls_config(&ca, Some(&foreign))).await;
    assert!(e.is_err(), "a certificate from another CA must be refused");
    // An expired certificate from the right CA.
    let expired_dir = varsel_testkit::temp_dir();
    let expired = certs::issue(
        &certs,
        expired_dir.path(),
        SCHOOL,
        SCHOOL,
        certs::Purpose::Client,
        &[],
        certs::Validity::ExpiredAgo(Duration::from_secs(24 * 3600)),
    )
    .unwrap();
    let e = raw_connect(&vhost.url(), tls_config(&ca, Some(&expired))).await;
    assert!(e.is_err(), "an expired certificate must be refused");
    // Plain AMQP (with guest's password) to the TLS port.
    let e = raw_connect(
        &format!("amqp://guest:guest@127.0.0.1:{PORT}/{}", vhost.name),
        OwnedTLSConfig::default(),
    )
    .await;
    assert!(e.is_err(), "plain AMQP to the TLS port must be refused");
    // Our client refuses a server whose certificate is not from the configured CA.
    let mut wrong_ca = config.amqp.clone();
    wrong_ca.tls = Some(certs::Identity {
        ca: certs::files::ca_cert(other.path()),
        ..certs::identity_in(&certs, SCHOOL)
    });
    let e = amqp::connect_to(&wrong_ca, "wrong-ca").await;
    assert!(
        e.is_err(),
        "a server certificate from another CA must be refused by the client"
    );

    // --- Refused by RabbitMQ's permissions, each with a real connection.
    let school_conn = amqp::connect_to(&school.config.amqp, "attacker-school")
        .await
        .unwrap();
    let get = |q: String| {
        let conn = &school_conn;
        async move {
            let ch = conn.create_channel().await.unwrap();
            ch.basic_get(q.as_str().into(), BasicGetOptions::default())
                .await
                .map(|_| ())
        }
    };
    // Control: its own inbox is readable.
    get(format!("inbox.{SCHOOL}"))
        .await
        .expect("control: a school reads its own inbox");
    let e = get(format!("inbox.{POLICE}")).await.unwrap_err();
    assert!(access_refused(&e), "reading another's inbox: {e}");
    let e = get(amqp::INTAKE.to_owned()).await.unwrap_err();
    assert!(access_refused(&e), "reading intake: {e}");
    // Publishing with another school's id in the routing key.
    let publisher = amqp::Publisher::open(&school_conn).await.unwrap();
    let e = publisher
        .publish(
            amqp::IN,
            &format!("alert.{SCHOOL_B}"),
            b"x",
            BasicProperties::default(),
            false,
        )
        .await
        .unwrap_err();
    assert!(
        format!("{e} {e:?}").contains("ACCESS_REFUSED"),
        "publishing as another school: {e}"
    );
    // Declaring or deleting a queue.
    let ch = school_conn.create_channel().await.unwrap();
    let e = ch
        .queue_declare(
            "school-made".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert!(access_refused(&e), "declaring a queue: {e}");
    let ch = school_conn.create_channel().await.unwrap();
    let e = ch
        .queue_delete(
            format!("inbox.{SCHOOL}").as_str().into(),
            QueueDeleteOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(access_refused(&e), "deleting its inbox: {e}");
    let _ = school_conn.close(200, "done".into()).await;
    // An agency publishing to varsel.out.
    let police_conn = amqp::connect_to(&police.config.amqp, "attacker-agency")
        .await
        .unwrap();
    let publisher = amqp::Publisher::open(&police_conn).await.unwrap();
    let e = publisher
        .publish(
            amqp::OUT,
            &format!("inbox.{SCHOOL}"),
            b"x",
            BasicProperties::default(),
            true,
        )
        .await
        .unwrap_err();
    assert!(
        format!("{e} {e:?}").contains("ACCESS_REFUSED"),
        "an agency publishing to varsel.out: {e}"
    );
    let _ = police_conn.close(200, "done".into()).await;

    // --- Refused by the broker: school A's signed alert over school B's connection.
    let (payload, compact) = school.seal(&doc, chrono::Utc::now()).unwrap();
    let (b_conn, b_pub) = school_b.connect().await.unwrap();
    school_b
        .publish(&b_pub, &payload, &compact)
        .await
        .expect("RabbitMQ accepts it: B's own routing key and user id");
    // Claiming A's user id on B's connection is refused by RabbitMQ itself.
    let spoofed = amqp::properties(payload.kind(), Uuid::now_v7(), Some(SCHOOL));
    let e = b_pub
        .publish(
            amqp::IN,
            &format!("alert.{SCHOOL_B}"),
            compact.as_bytes(),
            spoofed,
            true,
        )
        .await
        .unwrap_err();
    assert!(
        format!("{e} {e:?}").contains("PRECONDITION_FAILED"),
        "a spoofed user_id: {e}"
    );
    let _ = b_conn.close(200, "done".into()).await;
    let reason = poll(
        Duration::from_secs(30),
        "the broker to refuse A's alert from B",
        || refusal_of(&running, payload.id),
    )
    .await;
    assert!(
        reason == "wrong_routing_key" || reason == "identity_mismatch",
        "refused as {reason}"
    );
    assert!(store.alert(payload.id).await.unwrap().is_none());

    // --- Key rotation: two valid signing keys at once, then one revoked on reload.
    let keys2 = dir.path().join("keys2");
    std::fs::create_dir_all(&keys2).unwrap();
    let made = varsel_protocol::envelope::keygen(
        &SCHOOL.parse().unwrap(),
        &keys2,
        chrono::Utc::now() - chrono::Duration::minutes(5),
    )
    .unwrap();
    let new_key: toml::Table = made.registry_entry.parse().unwrap();
    let new_key = new_key["participant"]["signing_key"][0].clone();
    let old_kid = school
        .registry
        .participant(&SCHOOL.parse().unwrap())
        .unwrap()
        .signing_keys[0]
        .kid
        .clone();
    edit_signing_keys(dir.path(), SCHOOL, |keys| keys.push(new_key));
    reload_and_wait(&running, &signals, &made.signing_kid, false).await;
    let mut rotated_cfg =
        varsel_testkit::world::client_config_via(dir.path(), SCHOOL, &transport).unwrap();
    rotated_cfg.keys_dir = keys2.clone();
    let rotated = Client::load(rotated_cfg).unwrap();
    let school = client(SCHOOL); // re-reads the registry with both keys
    let with_new = rotated.send(&doc).await.unwrap();
    let with_old = school.send(&doc).await.unwrap();
    for id in [with_new, with_old] {
        let outcome = poll(
            Duration::from_secs(30),
            "both keys' alerts to be decided",
            || {
                let s = store.clone();
                let r = refusal_of(&running, id);
                async move {
                    if s.alert(id).await.is_ok_and(|a| a.is_some()) {
                        return Some("accepted".to_owned());
                    }
                    r.await.map(|r| format!("refused: {r}"))
                }
            },
        )
        .await;
        assert_eq!(outcome, "accepted", "an alert signed with either valid key");
    }
    edit_signing_keys(dir.path(), SCHOOL, |keys| {
        for k in keys.iter_mut() {
            if k["kid"].as_str() == Some(old_kid.as_str()) {
                k.as_table_mut()
                    .unwrap()
                    .insert("revoked".into(), toml::Value::Boolean(true));
            }
        }
    });
    reload_and_wait(&running, &signals, &old_kid, true).await;
    let revoked = school.send(&doc).await.unwrap();
    // A message whose signature does not verify is refused before its id is trusted, so the
    // refusal is found by its reason: no key_revoked refusal existed before this one.
    let reason = poll(
        Duration::from_secs(30),
        "the revoked key to be refused",
        || {
            let s = store.clone();
            async move {
                s.audit_entries(None).await.ok()?.iter().find_map(|e| {
                    (e.action == "message_refused" && e.detail["reason"] == "key_revoked")
                        .then(|| e.detail["reason"].as_str().unwrap().to_owned())
                })
            }
        },
    )
    .await;
    assert_eq!(reason, "key_revoked");
    assert!(store.alert(revoked).await.unwrap().is_none());
    let still = rotated.send(&doc).await.unwrap();
    wait_until(
        Duration::from_secs(30),
        "the new key to stay accepted",
        || {
            let s = store.clone();
            async move { s.alert(still).await.is_ok_and(|a| a.is_some()) }
        },
    )
    .await;

    running.stop().await;
}
