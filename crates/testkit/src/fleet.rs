//! `varsel serve` as child processes on a world of their own, for the tests that kill, stop and
//! restart what is under the brokers ([`World`], [`Broker`]), and a PostgreSQL database per test
//! ([`Database`]), shared by the fault tests on one RabbitMQ node and the cluster tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;
use varsel_broker::store::Store;
use varsel_participant::client::Client;
use varsel_participant::config::ClientConfig;

use crate::rabbitmq::Vhost;

const DEFAULT_PG: &str = "postgres://varsel:varsel@127.0.0.1:5432/postgres";
/// The ops token of the demo configuration.
pub const TOKEN: &str = "demo-token-0123456789";

/// A free loopback port (free when asked; bound by nobody yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A database that exists for one test; dropped (connections and all) afterwards.
pub struct Database {
    admin: String,
    pub name: String,
    pub url: String,
}

impl Database {
    pub async fn create(admin: &str) -> Database {
        let mut c = sqlx::PgConnection::connect(admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is not reachable at {admin} ({e}); deploy/dev/services.sh starts it")
        });
        let name = format!("varsel_fault_{}", Uuid::now_v7().simple());
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .expect("create a test database");
        let _ = c.close().await;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
        Database {
            admin: admin.to_owned(),
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop cannot await; a thread with a runtime of its own can.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            })
        })
        .join();
    }
}

/// One `varsel serve` process. Killed (SIGKILL) when dropped.
pub struct Broker {
    bin: PathBuf,
    name: String,
    child: Option<Child>,
    pub ops: SocketAddr,
    config: PathBuf,
    dir: PathBuf,
}

impl Broker {
    /// Writes `config_text` (with `@OPS@` replaced by a free loopback address for the ops
    /// server) to `<dir>/<name>.toml` and starts `bin serve` on it.
    pub fn spawn(bin: &Path, dir: &Path, name: &str, config_text: &str) -> Broker {
        let ops: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let text = config_text.replace("@OPS@", &ops.to_string());
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, text).unwrap();
        let mut b = Broker {
            bin: bin.to_path_buf(),
            name: name.into(),
            child: None,
            ops,
            config,
            dir: dir.to_path_buf(),
        };
        b.restart();
        b
    }

    /// Starts the process (again), appending to its log file.
    pub fn restart(&mut self) {
        let logfile = self.dir.join(format!("{}.log", self.name));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&logfile)
            .unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(&self.bin)
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .current_dir(&self.dir)
            .env("RUST_LOG", "warn,varsel=info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start varsel serve");
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no clean close of anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether the process is still running (it did not exit or crash).
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// CPU time (user + system) the process has used so far, from /proc (Linux).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let pid = self.child.as_ref()?.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may contain spaces) start at field 3.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }

    /// The HTTP status of `/readyz`, or None when the server does not answer in 5 s.
    pub async fn readyz(&self) -> Option<u16> {
        http_status(self.ops, "/readyz").await
    }

    pub async fn wait_ready(&mut self, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            assert!(self.alive(), "{} exited; see {}.log", self.name, self.name);
            if self.readyz().await == Some(200) {
                return start.elapsed();
            }
            if start.elapsed() >= limit {
                let log = self.log_text();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!(
                    "{} not ready after {limit:?}; its log ends:\n{}",
                    self.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.name))).unwrap_or_default()
    }
}

impl Drop for Broker {
    /// Kills the process; when a test fails, prints the end of its log first, so the failure
    /// says what the broker was doing.
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let text = self.log_text();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n");
            eprintln!(
                "--- broker {} ({} log lines, the last {LOG_TAIL}) ---\n{tail}\n---",
                self.name,
                lines.len()
            );
        }
    }
}

/// Log lines of a broker process printed when a test fails.
const LOG_TAIL: usize = 80;

/// The HTTP status of `path` on the ops server (with the demo token), or None when it does not
/// answer within 5 s.
pub async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf);
        text.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}

// ---------------------------------------------------------------------------------------------
// The world: keys, registry, routing table, configuration, clients.

/// A broker's world for tests that run `varsel serve` as child processes: the demo's keys and
/// registry, a routing table of the test's, and a configuration on a RabbitMQ virtual host (on
/// the local node, or on the nodes of a cluster), a store URL and short leases, so work claimed
/// by a killed instance is taken over within seconds.
pub struct World {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The virtual host's name.
    pub vhost: String,
    /// The AMQP URLs of the virtual host, one per node.
    pub urls: Vec<String>,
    /// Deletes the virtual host when the world is dropped.
    _vhost: Box<dyn std::any::Any + Send + Sync>,
    store_url: String,
    /// The configuration text with `@OPS@` where each instance's ops address goes.
    pub config: String,
}

impl World {
    /// A world on a fresh virtual host of the local RabbitMQ node; `bin` is the varsel binary.
    pub fn new(
        bin: &Path,
        name: &str,
        store_url: &str,
        smtp_port: Option<u16>,
        routing: &str,
    ) -> World {
        let vhost = Vhost::create(name);
        let (vname, urls) = (vhost.name.clone(), vec![vhost.url()]);
        World::on(
            bin,
            Box::new(vhost),
            vname,
            urls,
            store_url,
            smtp_port,
            routing,
        )
    }

    /// A world on virtual host `vhost` reached at `urls` (the broker's and the clients'
    /// `[amqp] urls`), kept alive by `guard` as long as the world.
    pub fn on(
        bin: &Path,
        guard: Box<dyn std::any::Any + Send + Sync>,
        vhost: String,
        urls: Vec<String>,
        store_url: &str,
        smtp_port: Option<u16>,
        routing: &str,
    ) -> World {
        let dir = crate::temp_dir();
        crate::world::write_world(dir.path()).unwrap();
        std::fs::write(dir.path().join("routing.toml"), routing).unwrap();
        crate::world::broker_config(dir.path(), &urls[0], 1, smtp_port, "@OPS@").ok();
        let text = std::fs::read_to_string(dir.path().join("varsel.toml")).unwrap();
        let config = text
            .replace(
                &format!("url = \"{}\"\n", urls[0]),
                &format!("{}\n", urls_toml(&urls)),
            )
            .replace(
                "url = \"sqlite://varsel.db\"",
                &format!("url = \"{store_url}\""),
            )
            .replace("[outbox]\n", "[outbox]\nlease = \"5s\"\n")
            .replace("[escalation]\n", "[escalation]\nlease = \"5s\"\n");
        assert!(config.contains(store_url) && config.contains("lease = \"5s\""));
        assert!(config.contains(&urls_toml(&urls)), "{config}");
        World {
            dir,
            bin: bin.to_path_buf(),
            vhost,
            urls,
            _vhost: guard,
            store_url: store_url.to_owned(),
            config,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Starts `varsel serve` as instance `name` on this world's configuration.
    pub fn broker(&self, name: &str) -> Broker {
        Broker::spawn(&self.bin, self.path(), name, &self.config)
    }

    /// Like [`World::broker`] with the URLs in another order (the node tried first).
    pub fn broker_via(&self, name: &str, urls: &[String]) -> Broker {
        let config = self
            .config
            .replace(&urls_toml(&self.urls), &urls_toml(urls));
        Broker::spawn(&self.bin, self.path(), name, &config)
    }

    /// The participant client of `id`, on every URL of the world.
    pub fn client(&self, id: &str) -> Client {
        // Written for one URL first, then given the whole list.
        crate::world::client_config(self.path(), id, &self.urls[0]).unwrap();
        let path = self.path().join(format!("{id}.client.toml"));
        let text = std::fs::read_to_string(&path).unwrap().replace(
            &format!("url = \"{}\"\n", self.urls[0]),
            &format!("{}\n", urls_toml(&self.urls)),
        );
        std::fs::write(&path, &text).unwrap();
        let cfg =
            ClientConfig::from_toml_str(&text, &path.display().to_string(), self.path()).unwrap();
        Client::load(cfg).unwrap()
    }

    pub async fn store(&self) -> Store {
        // A relative SQLite path is relative to the configuration's directory.
        let url = match self.store_url.strip_prefix("sqlite://") {
            Some(rel) if !rel.starts_with('/') => {
                format!("sqlite://{}", self.path().join(rel).display())
            }
            _ => self.store_url.clone(),
        };
        Store::connect(&url).await.expect("open the store")
    }
}

/// `urls = [...]`, the configuration line naming several nodes.
pub fn urls_toml(urls: &[String]) -> String {
    let quoted: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    format!("urls = [{}]", quoted.join(", "))
}

/// The PostgreSQL server tests use: `VARSEL_TEST_POSTGRES`, or the local one as varsel.
pub fn admin_pg() -> String {
    std::env::var("VARSEL_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_PG.into())
}
