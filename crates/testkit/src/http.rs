//! A GET (or a form POST) over plain HTTP/1.1 with chosen request headers, answering the status,
//! the response headers and the body, within a deadline: what the ops tests need to look at
//! content types, cookies and redirects, which `varsel status` (a client for people) does not
//! show, and what the demo's test needs to sign in to a desk and post its forms.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// GETs `path` from `addr` (`host:port`) with `headers`; panics with what failed, including
/// when no complete answer came within 30 seconds.
pub async fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    within("GET", addr, path, headers, None).await
}

/// POSTs `form` (already `application/x-www-form-urlencoded`) to `path` on `addr` with
/// `headers`; panics as [`get`] does.
pub async fn post_form(addr: &str, path: &str, headers: &[(&str, &str)], form: &str) -> Response {
    within("POST", addr, path, headers, Some(form)).await
}

async fn within(
    method: &str,
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: Option<&str>,
) -> Response {
    let what = format!("{method} http://{addr}{path}");
    let answer = exchange(method, addr, path, headers, form);
    tokio::time::timeout(Duration::from_secs(30), answer)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 30 s"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

async fn exchange(
    method: &str,
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: Option<&str>,
) -> Result<Response, String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(form) = form {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    stream
        .write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    // Read until the body is as long as Content-Length says (some servers, Chromium's DevTools
    // among them, keep the connection open), or to the end without one.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let end = loop {
        let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = head_end {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|n| raw.len() >= end + 4 + n) {
                break end;
            }
        }
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break head_end.ok_or("no end of the response head")?;
        }
        raw.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| format!("response head: {e}"))?;
    let body = String::from_utf8(raw[end + 4..].to_vec()).map_err(|e| format!("body: {e}"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("malformed status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let response = Response {
        status,
        headers,
        body,
    };
    if response.header("transfer-encoding").is_some() {
        return Err("chunked answers are not read by this helper".into());
    }
    if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().map_err(|_| "bad content-length")?;
        if len != response.body.len() {
            return Err(format!(
                "content-length {len}, body {} bytes",
                response.body.len()
            ));
        }
    }
    Ok(response)
}

/// The value of the series `name` with exactly `labels` (in any order) in a Prometheus text or
/// OpenMetrics exposition; `None` if it is not there. Reads `1`, `1.0` and `1e0` alike, so a test
/// does not depend on which of the two formats was served.
pub fn sample(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<&str, &str> = labels.iter().copied().collect();
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, lbl) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if n != name {
                return None;
            }
            let got: BTreeMap<&str, &str> = lbl
                .split(',')
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k, v.trim_matches('"')))
                })
                .collect();
            (got == want).then(|| value.parse::<f64>().ok()).flatten()
        })
        .next()
}
