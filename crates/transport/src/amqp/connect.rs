//! Opening connections to RabbitMQ: plain or over mutual TLS, each with a deadline, to one of a
//! cluster's nodes (the next one when a node does not answer), and with backoff until one
//! succeeds.

use std::time::Duration;

use lapin::{Connection, ConnectionProperties};

use super::{redact_url, Error};
use crate::settings;

/// How long opening a connection (TCP, TLS and the AMQP handshake) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a publish may wait for RabbitMQ's confirm; RabbitMQ withholds it, for instance,
/// while a memory or disk alarm blocks publishers.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(60);

/// `fut`, or [`Error::TimedOut`] naming `what` once `limit` has passed.
pub(super) async fn within<T>(
    limit: Duration,
    what: impl FnOnce() -> String,
    fut: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::TimedOut {
            what: what(),
            after_s: limit.as_secs(),
        }),
    }
}

/// Opens one plain connection (user and password in the URL), named so ops can tell the
/// connections apart in RabbitMQ's UI.
pub async fn connect(url: &str, name: &str) -> Result<Connection, Error> {
    connect_within(url, name, CONNECT_TIMEOUT).await
}

/// [`connect`] with another deadline than [`CONNECT_TIMEOUT`].
pub(super) async fn connect_within(
    url: &str,
    name: &str,
    limit: Duration,
) -> Result<Connection, Error> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    let open = async {
        Connection::connect(url, props)
            .await
            .map_err(|source| Error::Connect {
                url: redact_url(url),
                source,
            })
    };
    within(
        limit,
        || format!("connecting to RabbitMQ at {}", redact_url(url)),
        open,
    )
    .await
}

/// Opens one connection as configured, to the first of the configured nodes that accepts it (see
/// [`connect_from`]).
pub async fn connect_to(settings: &settings::Amqp, name: &str) -> Result<Connection, Error> {
    connect_from(settings, name, 0).await.map(|(c, _)| c)
}

/// Tries each configured URL once, starting with the one at `start` (modulo their number), and
/// returns the first connection made with the index of its URL, or the last node's error.
pub async fn connect_from(
    settings: &settings::Amqp,
    name: &str,
    start: usize,
) -> Result<(Connection, usize), Error> {
    let n = settings.urls.len();
    let mut last = None;
    for k in 0..n {
        let i = (start + k) % n;
        match connect_url(settings, &settings.urls[i], name).await {
            Ok(c) => return Ok((c, i)),
            Err(e) => {
                if n > 1 {
                    tracing::warn!(error = %e, "RabbitMQ node not reachable, trying the next");
                }
                last = Some(e);
            }
        }
    }
    Err(last.expect("the configuration names at least one URL"))
}

/// Opens one connection to `url`: over TLS with our client certificate and EXTERNAL
/// authentication when `settings.tls` is set (the server verified against the configured CA
/// only), plainly otherwise.
async fn connect_url(
    settings: &settings::Amqp,
    url: &str,
    name: &str,
) -> Result<Connection, Error> {
    let Some(identity) = &settings.tls else {
        return connect(url, name).await;
    };
    let failed = |source| Error::Connect {
        url: redact_url(url),
        source,
    };
    let tls = identity.tls_config().map_err(|e| Error::Tls {
        url: redact_url(url),
        detail: e.to_string(),
    })?;
    let mut uri: lapin::uri::AMQPUri = url.parse().map_err(|detail| Error::Tls {
        url: redact_url(url),
        detail,
    })?;
    uri.query.auth_mechanism = Some(lapin::uri::SASLMechanism::External);
    let props = ConnectionProperties::default().with_connection_name(name.into());
    let runtime = lapin::runtime::default_runtime().map_err(failed)?;
    within(
        CONNECT_TIMEOUT,
        || format!("connecting to RabbitMQ at {}", redact_url(url)),
        async {
            Connection::connect_uri_with_config(uri, props, tls, runtime)
                .await
                .map_err(failed)
        },
    )
    .await
}

/// Connects, trying every configured node in turn from the one at `start`, and after each round
/// in which none answered waits with exponential backoff and jitter (200 ms doubling up to
/// `max_delay`, [`crate::retry`]), until one accepts or `stop` resolves. Returns the connection
/// and the index of the URL it went to. Every failed attempt is logged.
pub async fn connect_with_backoff(
    settings: &settings::Amqp,
    name: &str,
    max_delay: Duration,
    start: usize,
    stop: impl std::future::Future<Output = ()>,
) -> Option<(Connection, usize)> {
    tokio::pin!(stop);
    let mut delays = crate::retry::delays(Duration::from_millis(200), max_delay);
    loop {
        let delay = delays.next().unwrap_or(max_delay);
        tokio::select! {
            made = connect_from(settings, name, start) => match made {
                Ok(c) => return Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "RabbitMQ not reachable, retrying");
                }
            },
            _ = &mut stop => return None,
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = &mut stop => return None,
        }
    }
}
