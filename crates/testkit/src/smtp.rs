//! A mail sink on loopback for `varsel demo` and the test suite (not a mail server: it keeps
//! what it is sent in memory and delivers nothing). A real SMTP peer: it speaks enough of RFC 5321 for lettre's client
//! (EHLO/HELO, AUTH PLAIN, MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT) and
//! keeps every message it accepts so a test can read what an agency's mailbox would receive.
//! It can be told to answer 451 to MAIL FROM, and stopped, so tests can exercise retries; a
//! recipient whose local part is `nobody` is refused with 550, for permanent failures. It can
//! also be made slow: the reply to each message's data then comes only after a delay, as from an
//! overloaded relay (the message is kept when its data has arrived, before the delay, as a relay
//! queues it before it answers).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// One message the sink accepted: the envelope and the message data, dot-unstuffed, with CRLF
/// line endings as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    /// The header section, unfolded, as (name, raw value) pairs in order.
    pub fn headers(&self) -> Vec<(String, String)> {
        let head = match self.data.find("\r\n\r\n") {
            Some(end) => &self.data[..end],
            None => &self.data,
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some((_, value)) = headers.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim_start());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        headers
    }

    /// A header's value with RFC 2047 encoded words decoded; the first one if repeated.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers()
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| decode_encoded_words(&v))
    }

    /// The decoded subject, or an empty string.
    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    /// The body decoded from its Content-Transfer-Encoding (7bit, 8bit, quoted-printable or
    /// base64), with CRLF turned into LF. Single-part messages only, which is what varsel sends.
    pub fn body(&self) -> String {
        let raw = match self.data.find("\r\n\r\n") {
            Some(end) => &self.data[end + 4..],
            None => "",
        };
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = match encoding.as_str() {
            "quoted-printable" => decode_quoted_printable(raw),
            "base64" => {
                let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("base64 body")
            }
            _ => raw.as_bytes().to_vec(),
        };
        String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
    }

    /// Every decoded header and the decoded body: what a reader of the mailbox could see.
    pub fn decoded(&self) -> String {
        let mut out = String::new();
        for (name, value) in self.headers() {
            out.push_str(&name);
            out.push_str(": ");
            out.push_str(&decode_encoded_words(&value));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.body());
        out
    }
}

struct Shared {
    messages: Mutex<Vec<Received>>,
    failing: AtomicBool,
    /// Milliseconds to wait before answering a message's data.
    data_delay_ms: AtomicU64,
    count: watch::Sender<usize>,
}

impl Shared {
    fn push(&self, message: Received) {
        let mut messages = self.messages.lock().expect("sink lock");
        messages.push(message);
        let n = messages.len();
        self.count.send_replace(n);
    }
}

/// A running SMTP server on 127.0.0.1 with a port chosen by the system.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl SmtpSink {
    /// Binds 127.0.0.1:0 and starts accepting connections.
    pub async fn start() -> SmtpSink {
        SmtpSink::start_on("127.0.0.1:0".parse().expect("loopback address")).await
    }

    /// Binds `addr` (e.g. a relay's port that was down until now) and starts accepting.
    pub async fn start_on(addr: SocketAddr) -> SmtpSink {
        let listener = TcpListener::bind(addr)
            .await
            .expect("bind the SMTP sink on loopback");
        let addr = listener.local_addr().expect("SMTP sink address");
        let (count, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            messages: Mutex::new(Vec::new()),
            failing: AtomicBool::new(false),
            data_delay_ms: AtomicU64::new(0),
            count,
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        SmtpSink {
            addr,
            shared,
            task: Mutex::new(Some(task)),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.messages.lock().expect("sink lock").clone()
    }

    /// Waits until at least `n` messages have arrived or `timeout` has passed, and returns
    /// what has arrived (the caller asserts on it).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let mut count = self.shared.count.subscribe();
        let _ = tokio::time::timeout(timeout, count.wait_for(|c| *c >= n)).await;
        self.messages()
    }

    /// While failing, MAIL FROM is answered with 451 (a transient refusal).
    pub fn set_failing(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }

    /// From now on, the reply to each message's data (250 once it is kept) comes `delay` late.
    pub fn set_data_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.data_delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Closes the listening socket and every open session; later connections are refused.
    pub async fn stop(&self) {
        let task = self.task.lock().expect("sink lock").take();
        if let Some(task) = task {
            task.abort();
            // Waiting for the aborted task makes sure the listener is closed when this returns.
            let _ = task.await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Ok(mut task) = self.task.lock() {
            if let Some(task) = task.take() {
                task.abort();
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Sessions live in this set, so aborting the loop aborts them too.
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    sessions.spawn(session(stream, Arc::clone(&shared)));
                }
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
}

#[derive(Default)]
struct Transaction {
    from: Option<String>,
    to: Vec<String>,
}

async fn session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut txn = Transaction::default();
    writer
        .write_all(b"220 localhost varsel test sink ESMTP ready\r\n")
        .await?;
    while let Some(line) = read_line(&mut reader).await? {
        let upper = line.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("");
        let reply: String = match verb {
            "EHLO" => {
                txn = Transaction::default();
                "250-localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-AUTH PLAIN\r\n250 OK".into()
            }
            "HELO" => {
                txn = Transaction::default();
                "250 localhost".into()
            }
            "AUTH" => {
                if upper.split_whitespace().nth(2).is_none() {
                    // PLAIN without an initial response: ask for it, accept anything.
                    writer.write_all(b"334 \r\n").await?;
                    if read_line(&mut reader).await?.is_none() {
                        return Ok(());
                    }
                }
                "235 2.7.0 Authentication succeeded".into()
            }
            "MAIL" if upper.starts_with("MAIL FROM:") => {
                if shared.failing.load(Ordering::SeqCst) {
                    "451 4.3.0 Temporary failure, try again later".into()
                } else {
                    txn = Transaction {
                        from: Some(angle_address(&line["MAIL FROM:".len()..])),
                        to: Vec::new(),
                    };
                    "250 2.1.0 OK".into()
                }
            }
            "RCPT" if upper.starts_with("RCPT TO:") => {
                if txn.from.is_none() {
                    "503 5.5.1 MAIL first".into()
                } else {
                    let address = angle_address(&line["RCPT TO:".len()..]);
                    if address.to_ascii_lowercase().starts_with("nobody@") {
                        "550 5.1.1 No such mailbox".into()
                    } else {
                        txn.to.push(address);
                        "250 2.1.5 OK".into()
                    }
                }
            }
            "DATA" => {
                if txn.from.is_none() || txn.to.is_empty() {
                    "503 5.5.1 MAIL and RCPT first".into()
                } else {
                    writer
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let Some(data) = read_data(&mut reader).await? else {
                        return Ok(());
                    };
                    let txn = std::mem::take(&mut txn);
                    shared.push(Received {
                        from: txn.from.unwrap_or_default(),
                        to: txn.to,
                        data,
                    });
                    let delay = shared.data_delay_ms.load(Ordering::SeqCst);
                    if delay > 0 {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    "250 2.0.0 OK: queued".into()
                }
            }
            "RSET" => {
                txn = Transaction::default();
                "250 2.0.0 OK".into()
            }
            "NOOP" => "250 2.0.0 OK".into(),
            "QUIT" => {
                writer.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not recognized".into(),
        };
        writer.write_all(reply.as_bytes()).await?;
        writer.write_all(b"\r\n").await?;
    }
    Ok(())
}

/// One line without its CRLF, or `None` at end of stream.
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    if reader.read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// The message data up to the lone ".", with the leading dot of stuffed lines removed
/// (RFC 5321 section 4.5.2).
async fn read_data<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> std::io::Result<Option<String>> {
    let mut data = String::new();
    loop {
        let Some(line) = read_line(reader).await? else {
            return Ok(None);
        };
        if line == "." {
            return Ok(Some(data));
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
        data.push_str("\r\n");
    }
}

/// The address inside `<...>`, without parameters such as `BODY=8BITMIME`.
fn angle_address(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(start), Some(end)) if start < end => arg[start + 1..end].to_owned(),
        _ => arg.split_whitespace().next().unwrap_or("").to_owned(),
    }
}

fn decode_quoted_printable(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            // A soft line break joins two encoded lines.
            if bytes[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if bytes[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let Some(hex) = s.get(i + 1..i + 3) {
                if let Ok(b) = u8::from_str_radix(hex, 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=` and `=?utf-8?q?...?=`); whitespace
/// between two adjacent encoded words is dropped, as the RFC says.
pub fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        match encoded_word(candidate) {
            Some((text, len)) => {
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &candidate[len..];
                after_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &candidate[2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (_charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    let bytes = match encoding {
        "B" | "b" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?,
        "Q" | "q" => decode_quoted_printable(&text.replace('_', " ")),
        _ => return None,
    };
    let len = s.len() - rest.len() + end + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), len))
}
