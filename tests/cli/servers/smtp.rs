//! A real SMTP server that records what it receives: Python's aiosmtpd (Debian
//! `python3-aiosmtpd`, installed by scripts/setup) with a self-signed certificate made by
//! `openssl`, on a free loopback port in its own temporary directory.
//!
//! It speaks EHLO, STARTTLS or implicit TLS, AUTH PLAIN and LOGIN, MAIL FROM, RCPT TO,
//! DATA and QUIT, and writes each accepted message (envelope, the credentials it
//! authenticated with, whether TLS was on, headers, decoded text body and raw data) as a
//! JSON file that [`SmtpServer::messages`] reads. Only `std`, `tempfile` and `serde_json`:
//! crates' own tests use this file too.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the server secures connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connect, then STARTTLS, which the server requires before AUTH and MAIL.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No TLS at all; AUTH is offered in the clear.
    None,
}

/// Credentials a client authenticated with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpAuth {
    /// `PLAIN` or `LOGIN`.
    pub mechanism: String,
    pub login: String,
    pub password: String,
}

/// One accepted message.
#[derive(Clone, Debug)]
pub struct SmtpMessage {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// `None` if the client did not authenticate.
    pub auth: Option<SmtpAuth>,
    /// True if the message came over TLS (STARTTLS or implicit).
    pub tls: bool,
    /// The name the client gave in EHLO/HELO.
    pub helo: String,
    /// Header fields with RFC 2047 words decoded and folded lines joined.
    pub headers: Vec<(String, String)>,
    /// The text/plain part, transfer encoding undone, with `\n` line ends.
    pub body: String,
    /// The text/html part, decoded likewise, if the message has one.
    pub html: Option<String>,
    /// The top-level Content-Type without parameters (`multipart/alternative`).
    pub content_type: String,
    /// The message as it came after DATA.
    pub data: String,
}

impl SmtpMessage {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running SMTP server; killed when dropped.
pub struct SmtpServer {
    pub port: u16,
    pub security: SmtpSecurity,
    child: Child,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// STARTTLS required, any credentials accepted, authentication optional.
    pub fn start() -> SmtpServer {
        SmtpServer::start_with(SmtpSecurity::StartTls, None)
    }

    /// With `login`, authentication is required and only that user and password pass
    /// (others get `535`); without, any credentials pass and AUTH is optional.
    pub fn start_with(security: SmtpSecurity, login: Option<(&str, &str)>) -> SmtpServer {
        SmtpServer::start_on(security, login, 0)
    }

    /// Like [`SmtpServer::start_with`], on `port` (0: a free one), so that a test can
    /// bring a receiver up where clients already tried to reach it.
    pub fn start_on(security: SmtpSecurity, login: Option<(&str, &str)>, port: u16) -> SmtpServer {
        let python = python_with_aiosmtpd();
        let dir = tempfile::Builder::new()
            .prefix("bunker-smtp-")
            .tempdir()
            .expect("tempdir");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        if security != SmtpSecurity::None {
            make_certificate(&cert, &key);
        }
        let messages = dir.path().join("messages");
        std::fs::create_dir(&messages).expect("mkdir messages");
        let config = serde_json::json!({
            "security": match security {
                SmtpSecurity::StartTls => "starttls",
                SmtpSecurity::Tls => "tls",
                SmtpSecurity::None => "none",
            },
            "cert": cert, "key": key, "messages": messages,
            "port_file": dir.path().join("port"),
            "port": port,
            "login": login.map(|(u, p)| [u, p]),
        });
        let log_path = dir.path().join("log");
        let log = File::create(&log_path).expect("create log");
        let child = Command::new(&python)
            .arg("-c")
            .arg(SERVER_PY)
            .arg(config.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting the SMTP server ({python}): {e}"));
        let mut server = SmtpServer {
            port: 0,
            security,
            child,
            dir,
        };
        server.port = server.wait_for_port();
        server
    }

    /// The address clients connect to.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The server's self-signed certificate (PEM), for a client that can trust it.
    pub fn certificate(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<SmtpMessage> {
        let dir = self.dir.path().join("messages");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("read messages dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names.iter().map(|p| parse_message(p)).collect()
    }

    /// Waits until at least `n` messages arrived and returns all of them; panics after
    /// `timeout` with the server's log.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<SmtpMessage> {
        let start = Instant::now();
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < timeout,
                "{} of {n} e-mails arrived within {timeout:?}; SMTP server log:\n{}",
                got.len(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's log (aiosmtpd logs each command at INFO level).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn wait_for_port(&mut self) -> u16 {
        let start = Instant::now();
        let port_file = self.dir.path().join("port");
        loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return port;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "SMTP server exited ({status}) before listening:\n{}",
                    self.log()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "SMTP server not listening after 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first of Debian's python3 and the one on PATH that can import aiosmtpd.
fn python_with_aiosmtpd() -> String {
    for python in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return python.to_string();
        }
    }
    panic!(
        "the SMTP test server needs Python's aiosmtpd (Debian python3-aiosmtpd): \
         run scripts/setup (it installs every tool the tests need)"
    );
}

/// A self-signed P-256 certificate for `localhost` and `127.0.0.1`, valid for a week.
fn make_certificate(cert: &Path, key: &Path) {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec"])
        .args([
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "7",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // A leaf, not a CA: a client may trust it as its own anchor (webpki refuses a CA
        // certificate as the server's).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("openssl (makes the SMTP test certificate): {e}: run scripts/setup")
        });
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn parse_message(path: &Path) -> SmtpMessage {
    let text = std::fs::read_to_string(path).expect("read message record");
    let v: serde_json::Value = serde_json::from_str(&text).expect("message record is JSON");
    let s = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_string();
    SmtpMessage {
        mail_from: s(&v["mail_from"]),
        rcpt_to: v["rcpt_to"]
            .as_array()
            .map(|a| a.iter().map(s).collect())
            .unwrap_or_default(),
        auth: v["auth"].as_object().map(|a| SmtpAuth {
            mechanism: s(&a["mechanism"]),
            login: s(&a["login"]),
            password: s(&a["password"]),
        }),
        tls: v["tls"].as_bool().unwrap_or(false),
        helo: s(&v["helo"]),
        headers: v["headers"]
            .as_array()
            .map(|a| a.iter().map(|h| (s(&h[0]), s(&h[1]))).collect())
            .unwrap_or_default(),
        body: s(&v["body"]),
        html: v["html"].as_str().map(str::to_string),
        content_type: s(&v["content_type"]),
        data: s(&v["data"]),
    }
}

/// The server: argv[1] is the JSON configuration made by [`SmtpServer::start_with`].
/// Files are written under a temporary name and renamed, so a reader never sees half.
const SERVER_PY: &str = r#"
import asyncio, email, email.policy, json, logging, os, ssl, sys
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
cfg = json.loads(sys.argv[1])
mode = cfg["security"]
login = cfg["login"]
count = 0

def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)

def authenticator(server, session, envelope, mechanism, auth_data):
    if not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    user = auth_data.login.decode("utf-8", "replace")
    password = auth_data.password.decode("utf-8", "replace")
    ok = login is None or [user, password] == login
    record = {"mechanism": mechanism, "login": user, "password": password}
    # handled=False: aiosmtpd answers 535 itself when the credentials are wrong.
    return AuthResult(success=ok, handled=False, auth_data=record)

class Recorder:
    async def handle_DATA(self, server, session, envelope):
        global count
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_to": envelope.rcpt_tos,
            "auth": session.auth_data if session.authenticated else None,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "helo": session.host_name,
            "headers": [[k, str(v)] for k, v in msg.items()],
            "body": part.get_content().replace("\r\n", "\n") if part is not None else "",
            "html": html.get_content().replace("\r\n", "\n") if html is not None else None,
            "content_type": msg.get_content_type(),
            "data": raw.decode("utf-8", "replace"),
        }
        name = os.path.join(cfg["messages"], "%06d.json" % count)
        write_atomically(name, json.dumps(record))
        return "250 2.0.0 OK: message %d recorded" % count

async def main():
    context = None
    if mode != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cfg["cert"], cfg["key"])
    options = dict(
        hostname="bunker-test-smtp",
        authenticator=authenticator,
        auth_required=login is not None,
        auth_require_tls=(mode == "starttls"),
    )
    if mode == "starttls":
        options.update(tls_context=context, require_starttls=True)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Recorder(), **options),
        host="127.0.0.1", port=cfg["port"],
        ssl=context if mode == "tls" else None,
    )
    port = server.sockets[0].getsockname()[1]
    write_atomically(cfg["port_file"], str(port))
    await asyncio.Event().wait()

asyncio.run(main())
"#;
