//! A minimal SMTP server (RFC 5321 subset: EHLO/HELO, AUTH PLAIN, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT) that records delivered messages. It
//! never advertises STARTTLS, so `require_tls: true` fails against it as
//! against any plaintext-only server. Scripted failures answer `MAIL FROM`
//! with the given reply code.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub ehlo: String,
    /// `(user, password)` when the client authenticated.
    pub auth: Option<(String, String)>,
    pub from: String,
    pub to: Vec<String>,
    /// The DATA section, dot-unstuffed, CRLF line ends.
    pub data: String,
}

#[derive(Debug, Default)]
struct SmtpState {
    mails: Mutex<Vec<Mail>>,
    failures: Mutex<Vec<(u32, u16)>>,
    credentials: Option<(String, String)>,
}

/// A running SMTP server.
pub struct SmtpServer {
    pub addr: SocketAddr,
    state: Arc<SmtpState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpServer {
    pub fn mails(&self) -> Vec<Mail> {
        self.state
            .mails
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Answers the next `n` `MAIL FROM` commands with `code`.
    pub fn fail_next(&self, n: u32, code: u16) {
        if let Ok(mut f) = self.state.failures.lock() {
            f.push((n, code));
        }
    }
}

/// Starts the server; with `credentials`, AUTH PLAIN must match them.
pub async fn start(credentials: Option<(&str, &str)>) -> std::io::Result<SmtpServer> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(SmtpState {
        credentials: credentials.map(|(u, p)| (u.to_string(), p.to_string())),
        ..SmtpState::default()
    });
    let st = state.clone();
    let task = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let st = st.clone();
            tokio::spawn(async move {
                let _ = session(sock, st).await;
            });
        }
    });
    Ok(SmtpServer { addr, state, task })
}

fn next_failure(st: &SmtpState) -> Option<u16> {
    let mut f = st.failures.lock().ok()?;
    let (n, code) = f.first_mut()?;
    let code = *code;
    *n -= 1;
    if *n == 0 {
        f.remove(0);
    }
    Some(code)
}

fn decode_plain(b64: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let mut parts = s.split('\0');
    let _authzid = parts.next()?;
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

async fn session(sock: TcpStream, st: Arc<SmtpState>) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 fake.smtp ESMTP ready\r\n").await?;
    let mut ehlo = String::new();
    let mut auth = None;
    let mut from = None::<String>;
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO ") || upper.starts_with("HELO ") {
            ehlo = cmd[5..].to_string();
            if upper.starts_with("EHLO") {
                "250-fake.smtp\r\n250-AUTH PLAIN\r\n250 8BITMIME".into()
            } else {
                "250 fake.smtp".into()
            }
        } else if upper.starts_with("AUTH PLAIN") {
            let mut arg = cmd.get(10..).unwrap_or("").trim().to_string();
            if arg.is_empty() {
                w.write_all(b"334 \r\n").await?;
                let mut l = String::new();
                r.read_line(&mut l).await?;
                arg = l.trim().to_string();
            }
            match (decode_plain(&arg), &st.credentials) {
                (Some(c), Some(want)) if &c == want => {
                    auth = Some(c);
                    "235 2.7.0 Authentication successful".into()
                }
                (Some(c), None) => {
                    auth = Some(c);
                    "235 2.7.0 Authentication successful".into()
                }
                _ => "535 5.7.8 Authentication credentials invalid".into(),
            }
        } else if upper.starts_with("MAIL FROM:") {
            if st.credentials.is_some() && auth.is_none() {
                "530 5.7.0 Authentication required".into()
            } else if let Some(code) = next_failure(&st) {
                format!("{code} scripted failure")
            } else {
                from = Some(cmd[10..].trim().trim_matches(['<', '>']).to_string());
                to.clear();
                "250 2.1.0 Ok".into()
            }
        } else if upper.starts_with("RCPT TO:") {
            if from.is_none() {
                "503 5.5.1 Need MAIL first".into()
            } else {
                to.push(cmd[8..].trim().trim_matches(['<', '>']).to_string());
                "250 2.1.5 Ok".into()
            }
        } else if upper == "DATA" {
            if to.is_empty() {
                "503 5.5.1 Need RCPT first".into()
            } else {
                w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).await? == 0 {
                        return Ok(());
                    }
                    if l == ".\r\n" || l == ".\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                if let Ok(mut m) = st.mails.lock() {
                    m.push(Mail {
                        ehlo: ehlo.clone(),
                        auth: auth.clone(),
                        from: from.take().unwrap_or_default(),
                        to: std::mem::take(&mut to),
                        data,
                    });
                }
                "250 2.0.0 Ok: queued".into()
            }
        } else if upper == "RSET" {
            from = None;
            to.clear();
            "250 2.0.0 Ok".into()
        } else if upper == "NOOP" {
            "250 2.0.0 Ok".into()
        } else if upper == "QUIT" {
            w.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 Command not recognized".into()
        };
        w.write_all(reply.as_bytes()).await?;
        w.write_all(b"\r\n").await?;
    }
}
