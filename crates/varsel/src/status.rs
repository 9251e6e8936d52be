//! `varsel status`: the ops API's view of alerts and deliveries in the terminal, and the small
//! HTTP client that reads it.

use uuid::Uuid;
use varsel_broker::ops::http::{AlertView, DeliveryView};

/// `varsel status`: the same view in the terminal, read from the ops API.
pub async fn status(
    url: &str,
    token: Option<&str>,
    alert: Option<Uuid>,
    overdue: bool,
) -> Result<String, String> {
    let path = match (alert, overdue) {
        (Some(id), _) => format!("/api/alerts/{id}"),
        (None, true) => "/api/deliveries?state=overdue".to_owned(),
        (None, false) => "/api/alerts?limit=50".to_owned(),
    };
    let body = http_get(url, &path, token).await?;
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

/// A minimal HTTP/1.1 GET over a plain TCP connection (the ops API listens on loopback or behind
/// a TLS-terminating proxy). Returns the status code and the body.
pub async fn fetch(base: &str, path: &str, token: Option<&str>) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = base
        .strip_prefix("http://")
        .ok_or("the ops URL must start with http://")?;
    let host = rest.trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .map_err(|e| format!("cannot reach the ops API at {base}: {e}"))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n");
    stream
        .write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    stream
        .read_to_end(&mut buf)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("malformed HTTP status line")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

async fn http_get(base: &str, path: &str, token: Option<&str>) -> Result<String, String> {
    let (status, body) = fetch(base, path, token).await?;
    if status != 200 {
        return Err(format!("the ops API answered {status}: {}", body.trim()));
    }
    Ok(body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
