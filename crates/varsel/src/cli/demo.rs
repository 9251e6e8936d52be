//! The demo's commands: `demo` runs the whole story, `world` only writes its files.

use std::path::PathBuf;

use anyhow::Context;

use crate::demo;
use varsel_testkit::world;

use super::exit::{fail, Failure, EX_CANTCREAT, EX_UNAVAILABLE};

/// `varsel world`: the demo's keys, registry and routing table in `dir`.
pub(super) fn write_world(dir: PathBuf) -> Result<(), Failure> {
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating {}", dir.display()))
        .map_err(fail(EX_CANTCREAT))?;
    let registry = world::write_world(&dir).map_err(fail(EX_CANTCREAT))?;
    println!("registry:      {}", registry.display());
    println!("routing table: {}", dir.join("routing.toml").display());
    println!("private keys:  {} (mode 0600)", dir.join("keys").display());
    Ok(())
}

/// `varsel demo`: picks the transport from the flags and runs the story.
pub(super) async fn run(
    dir: Option<PathBuf>,
    amqp: String,
    certs: PathBuf,
    plain: bool,
    time_scale: u32,
    stay: bool,
    desk: bool,
) -> Result<(), Failure> {
    let transport = if plain {
        world::Transport::Plain {
            url: "amqp://guest:guest@127.0.0.1:5672/varsel-demo".into(),
        }
    } else if amqp.starts_with("amqps://") {
        let certs = std::path::absolute(&certs).unwrap_or(certs);
        world::Transport::Tls { url: amqp, certs }
    } else {
        world::Transport::Plain { url: amqp }
    };
    let options = demo::Options {
        dir,
        transport,
        time_scale,
        stay,
        desk,
    };
    demo::run(options).await.map_err(fail(EX_UNAVAILABLE))
}
