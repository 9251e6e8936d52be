//! `varsel status`: the ops API's view of alerts and deliveries in the terminal, read with
//! reqwest over HTTP, or HTTPS (rustls on ring) when the ops API sits behind a TLS proxy.

use std::path::Path;
use std::time::Duration;

use uuid::Uuid;
use varsel_broker::ops::http::{AlertView, DeliveryView};

/// `varsel status`: the same view in the terminal, read from the ops API.
pub async fn status(ops: &Ops, alert: Option<Uuid>, overdue: bool) -> Result<String, String> {
    let path = match (alert, overdue) {
        (Some(id), _) => format!("/api/alerts/{id}"),
        (None, true) => "/api/deliveries?state=overdue".to_owned(),
        (None, false) => "/api/alerts?limit=50".to_owned(),
    };
    let body = ops.get_ok(&path).await?;
    let mut out = String::new();
    use std::fmt::Write;
    if alert.is_some() {
        let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let a: AlertView = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        let _ = writeln!(out, "{}", alert_line(&a));
        for d in &a.deliveries {
            let _ = writeln!(out, "  {}", delivery_line(d));
        }
        let _ = writeln!(out, "  timeline:");
        for e in v["timeline"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "    {} {:<28} {}",
                e["at"].as_str().unwrap_or(""),
                e["action"].as_str().unwrap_or(""),
                e["actor"].as_str().unwrap_or("")
            );
        }
    } else if overdue {
        let ds: Vec<DeliveryView> = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let _ = writeln!(out, "{} overdue deliveries", ds.len());
        for d in &ds {
            let _ = writeln!(out, "  alert {}  {}", d.alert, delivery_line(d));
        }
    } else {
        let alerts: Vec<AlertView> = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let _ = writeln!(out, "{} alerts (newest first)", alerts.len());
        for a in &alerts {
            let _ = writeln!(out, "{}", alert_line(a));
            for d in &a.deliveries {
                let _ = writeln!(out, "  {}", delivery_line(d));
            }
        }
    }
    Ok(out)
}

fn alert_line(a: &AlertView) -> String {
    format!(
        "{} {:<12} {:<26} {:<9} {:<8} from {} at {}",
        a.id,
        a.state,
        a.category,
        a.urgency,
        a.status,
        a.sender,
        a.created_at.format("%Y-%m-%d %H:%M:%S")
    )
}

fn delivery_line(d: &DeliveryView) -> String {
    format!(
        "{:<28} {:<7} {:<9} {:<13}{}",
        d.recipient,
        d.kind,
        d.role,
        d.state,
        if d.overdue { " OVERDUE" } else { "" }
    )
}

/// The longest answer read from the ops API (the dashboard's largest list is far smaller).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How long connecting, and the whole request, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one ops API: its base URL, the bearer token, and for `https://` the CA to trust.
pub struct Ops {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Ops {
    /// A client for `base` (`http://host:port` or `https://…`). With `ca`, an HTTPS server must
    /// have a certificate from that CA (PEM), and no other root is trusted; without it, the
    /// system's roots are.
    pub fn new(base: &str, token: Option<&str>, ca: Option<&Path>) -> Result<Ops, String> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "the ops URL must start with http:// or https://, not {:?}",
                base.chars().take(200).collect::<String>()
            ));
        }
        // reqwest is built without a crypto provider of its own: ring, as everywhere in varsel.
        // Fails only when one is installed already, which is then ring too.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .https_only(ca.is_some());
        if let Some(ca) = ca {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("cannot read the ops CA {}: {e}", ca.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| format!("{} holds no PEM certificate", ca.display()))?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(Ops {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.map(str::to_owned),
        })
    }

    /// GETs `path`: the status code and the body (UTF-8, at most 16 MiB).
    pub async fn get(&self, path: &str) -> Result<(u16, String), String> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.get(&url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        // reqwest's own text names only the URL; the cause (refused, a certificate from an
        // unknown issuer, a timeout) is in its sources, which `{:#}` joins as the CLI does.
        let unreachable = |e: reqwest::Error| {
            format!(
                "cannot reach the ops API at {}: {:#}",
                self.base,
                anyhow::Error::new(e)
            )
        };
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!(
                    "the ops API's answer to {path} is over {MAX_BODY} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8(body)
            .map_err(|e| format!("the ops API's answer to {path} is not UTF-8: {e}"))?;
        Ok((status, body))
    }

    /// GETs `path` and returns the body of a 200 answer; any other answer is an error.
    async fn get_ok(&self, path: &str) -> Result<String, String> {
        let (status, body) = self.get(path).await?;
        if status != 200 {
            let shown: String = body.trim().chars().take(1000).collect();
            return Err(format!(
                "the ops API answered {status}: {}",
                shown.escape_debug()
            ));
        }
        Ok(body)
    }
}

/// One GET with a bearer token over plain HTTP or HTTPS with the system's roots.
pub async fn fetch(base: &str, path: &str, token: Option<&str>) -> Result<(u16, String), String> {
    Ops::new(base, token, None)?.get(path).await
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A real HTTP/1.1 server on loopback that answers one request with `body` in chunks cut at
    /// the given byte offsets, each chunk written and flushed on its own.
    async fn chunked_server(body: &'static [u8], cuts: &'static [usize]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "the client closed before its request ended");
                request.extend_from_slice(&buf[..n]);
            }
            let request = String::from_utf8(request).unwrap();
            assert!(
                request.contains("authorization: Bearer t0ken")
                    || request.contains("Authorization: Bearer t0ken"),
                "{request}"
            );
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            let mut from = 0;
            for &to in cuts.iter().chain([body.len()].iter()) {
                let part = &body[from..to];
                socket
                    .write_all(format!("{:x}\r\n", part.len()).as_bytes())
                    .await
                    .unwrap();
                socket.write_all(part).await.unwrap();
                socket.write_all(b"\r\n").await.unwrap();
                socket.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                from = to;
            }
            socket.write_all(b"0\r\n\r\n").await.unwrap();
            socket.flush().await.unwrap();
        });
        url
    }

    #[tokio::test]
    async fn a_character_split_across_chunks_is_read_whole() {
        // "ö" is 0xC3 0xB6: the first chunk ends after 0xC3. The hand-written client decoded the
        // bytes lossily and then sliced the text by the chunk sizes, and panicked here.
        let body = "Försäkringskassan".as_bytes();
        assert_eq!(&body[1..3], "ö".as_bytes());
        let url = chunked_server("Försäkringskassan".as_bytes(), &[2, 5]).await;
        let (status, text) =
            tokio::time::timeout(Duration::from_secs(30), fetch(&url, "/x", Some("t0ken")))
                .await
                .expect("answered within 30 s")
                .unwrap();
        assert_eq!(status, 200);
        assert_eq!(text, "Försäkringskassan");
    }

    #[test]
    fn a_ca_file_without_a_certificate_and_a_bad_url_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        let e = Ops::new("https://127.0.0.1:9471", None, Some(&ca))
            .err()
            .unwrap();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let e = Ops::new("ftp://127.0.0.1", None, None).err().unwrap();
        assert!(e.contains("must start with http:// or https://"), "{e}");
    }

    /// An HTTPS server on loopback, its certificate for 127.0.0.1 from a CA made in `dir`,
    /// answering every request with 200 and `body`. Returns its URL and the CA's PEM file.
    async fn https_server(dir: &Path, body: &'static str) -> (String, PathBuf) {
        use varsel_testkit::certs::{self, Purpose, Validity};
        let ca = dir.join("ops-ca");
        certs::make_ca(&ca, "ops test CA").unwrap();
        let id = certs::issue(
            &ca,
            dir,
            "ops",
            "127.0.0.1",
            Purpose::Server,
            &["127.0.0.1".to_owned()],
            Validity::default(),
        )
        .unwrap();
        let chain = CertificateDer::pem_file_iter(&id.cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&id.key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                // A client that refuses the certificate ends its handshake: the next one.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    continue;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(n) if n > 0 => request.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        });
        (url, ca.join("ca.pem"))
    }

    #[tokio::test]
    async fn https_trusts_the_given_ca_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let (url, ca) = https_server(dir.path(), "Försäkringskassan").await;
        let within = |ops: Ops| async move {
            tokio::time::timeout(Duration::from_secs(30), async move { ops.get("/x").await })
                .await
                .expect("answered within 30 s")
        };
        let ops = Ops::new(&url, Some("t0ken"), Some(&ca)).unwrap();
        assert_eq!(within(ops).await, Ok((200, "Försäkringskassan".to_owned())));

        // A server certificate from another CA is refused, as is one no system root signed.
        let other = tempfile::tempdir().unwrap();
        varsel_testkit::certs::make_ca(other.path(), "another CA").unwrap();
        let ops = Ops::new(&url, None, Some(&other.path().join("ca.pem"))).unwrap();
        let e = within(ops).await.unwrap_err();
        assert!(
            e.contains("cannot reach the ops API") && e.contains("UnknownIssuer"),
            "{e}"
        );
        let e = within(Ops::new(&url, None, None).unwrap())
            .await
            .unwrap_err();
        assert!(
            e.contains("cannot reach the ops API") && e.contains("UnknownIssuer"),
            "{e}"
        );

        // With a CA given, plain HTTP is not silently used instead.
        let plain = url.replacen("https://", "http://", 1);
        let e = within(Ops::new(&plain, None, Some(&ca)).unwrap())
            .await
            .unwrap_err();
        assert!(e.contains("cannot reach the ops API"), "{e}");
    }
}
