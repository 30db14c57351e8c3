//! E-mail: a scripted SMTP dialogue in-process, and aiosmtpd (the CLI tests' receiver)
//! for STARTTLS, implicit TLS and authentication.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use super::smtp::{SmtpAuth, SmtpSecurity, SmtpServer};
use super::{event, notifier};
use crate::{Channel, Email, Error, EventKind, Tls};

const TIMEOUT: Duration = Duration::from_secs(10);

fn email(port: u16, tls: Tls, login: Option<(&str, &str)>) -> Channel {
    Channel::Email(Email {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls,
        username: login.map(|(u, _)| u.to_string()),
        password: login.map(|(_, p)| p.to_string()),
        from: "bunker <bunker@example.com>".into(),
        to: vec!["ops@example.com".into(), "dba@example.com".into()],
        accept_invalid_certs: true,
    })
}

/// What the scripted server saw: every command line, and the message after DATA.
struct Transcript {
    commands: Vec<String>,
    data: String,
}

/// Plays a minimal ESMTP server (no TLS, AUTH PLAIN and LOGIN) for one connection.
fn scripted_server() -> (u16, std::thread::JoinHandle<Transcript>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut out = &conn;
        let mut reader = BufReader::new(&conn);
        let mut reply = |s: &str| out.write_all(format!("{s}\r\n").as_bytes()).unwrap();
        let mut t = Transcript {
            commands: vec![],
            data: String::new(),
        };
        reply("220 scripted ESMTP");
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            let line = line.trim_end().to_string();
            t.commands.push(line.clone());
            let verb = line.split(' ').next().unwrap().to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" => reply("250-scripted\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME"),
                "AUTH" => reply("235 2.7.0 ok"),
                "MAIL" | "RCPT" => reply("250 ok"),
                "DATA" => {
                    reply("354 go ahead");
                    loop {
                        let mut l = String::new();
                        reader.read_line(&mut l).unwrap();
                        if l == ".\r\n" {
                            break;
                        }
                        t.data.push_str(&l);
                    }
                    reply("250 queued");
                }
                "QUIT" => {
                    reply("221 bye");
                    break;
                }
                _ => reply("502 unknown"),
            }
        }
        t
    });
    (port, t)
}

/// Standard base64 without padding checks: enough to read an AUTH PLAIN argument.
fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = vec![];
    for c in s.bytes().filter(|&c| c != b'=') {
        bits = bits << 6 | ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

/// The unfolded value of header `name` in a raw message.
fn header(data: &str, name: &str) -> Option<String> {
    let head = data.split("\r\n\r\n").next()?;
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

#[test]
fn plain_smtp_dialogue_carries_envelope_auth_subject_and_body() {
    let (port, server) = scripted_server();
    let n = notifier(
        email(port, Tls::None, Some(("alerts", "pa55word"))),
        TIMEOUT,
    );
    n.send(&event(EventKind::Failure)).unwrap();
    let t = server.join().unwrap();
    let cmds = &t.commands;
    assert!(cmds[0].starts_with("EHLO "), "{cmds:?}");
    let auth = cmds.iter().find(|c| c.starts_with("AUTH PLAIN ")).unwrap();
    assert_eq!(
        base64_decode(&auth["AUTH PLAIN ".len()..]),
        b"\0alerts\0pa55word"
    );
    assert!(
        cmds.contains(&"MAIL FROM:<bunker@example.com>".to_string()),
        "{cmds:?}"
    );
    assert!(
        cmds.contains(&"RCPT TO:<ops@example.com>".to_string()),
        "{cmds:?}"
    );
    assert!(
        cmds.contains(&"RCPT TO:<dba@example.com>".to_string()),
        "{cmds:?}"
    );
    assert_eq!(cmds.last().unwrap(), "QUIT");

    let d = &t.data;
    assert_eq!(
        header(d, "Subject").unwrap(),
        "[bunker] backup db failed: pg_dump: connection refused"
    );
    assert_eq!(
        header(d, "Date").unwrap(),
        "Mon, 06 May 2024 07:08:09 +0000"
    );
    let id = header(d, "Message-ID").unwrap();
    assert!(
        id.starts_with("<bunker.") && id.ends_with("@db1.example.com>"),
        "{id}"
    );
    assert_eq!(
        header(d, "References").unwrap(),
        "<incident.db-failure@db1.example.com>"
    );
    assert!(header(d, "To").unwrap().contains("dba@example.com"));
    assert!(header(d, "Content-Type").unwrap().starts_with("text/plain"));
    let body = d
        .split("\r\n\r\n")
        .skip(1)
        .collect::<Vec<_>>()
        .join("\r\n\r\n");
    assert!(body.contains("is the server running?"), "{body}");
    assert!(body.contains("bytes_added: 1234"), "{body}");
    assert!(body.contains("time: 2024-05-06T07:08:09Z"), "{body}");
}

#[test]
fn starttls_with_required_login_delivers_over_tls() {
    let server = SmtpServer::start_with(SmtpSecurity::StartTls, Some(("alerts", "pa55word")));
    let n = notifier(
        email(server.port, Tls::StartTls, Some(("alerts", "pa55word"))),
        TIMEOUT,
    );
    n.send(&event(EventKind::Failure)).unwrap();
    n.send(&event(EventKind::Recovery)).unwrap();
    let got = server.wait_for_messages(2, TIMEOUT);
    let m = &got[0];
    assert!(m.tls, "not over TLS");
    assert_eq!(
        m.auth,
        Some(SmtpAuth {
            mechanism: "PLAIN".into(),
            login: "alerts".into(),
            password: "pa55word".into()
        })
    );
    assert_eq!(m.mail_from, "bunker@example.com");
    assert_eq!(m.rcpt_to, ["ops@example.com", "dba@example.com"]);
    assert_eq!(
        m.header("subject"),
        Some("[bunker] backup db failed: pg_dump: connection refused")
    );
    assert!(
        m.body
            .contains("pg_dump: error: connection to server failed\n"),
        "{}",
        m.body
    );
    assert!(m.body.contains("event: failure\n"), "{}", m.body);
    // The alert and its recovery share the thread reference; their ids differ.
    assert_eq!(m.header("references"), got[1].header("references"));
    assert_ne!(m.header("message-id"), got[1].header("message-id"));
}

#[test]
fn implicit_tls_delivers_without_credentials() {
    let server = SmtpServer::start_with(SmtpSecurity::Tls, None);
    let n = notifier(email(server.port, Tls::Tls, None), TIMEOUT);
    n.send(&event(EventKind::Test)).unwrap();
    let m = &server.wait_for_messages(1, TIMEOUT)[0];
    assert!(m.tls);
    assert_eq!(m.auth, None);
}

#[test]
fn a_self_signed_certificate_is_refused_unless_accepted() {
    let server = SmtpServer::start();
    let mut channel = email(server.port, Tls::StartTls, Some(("alerts", "pa55word")));
    if let Channel::Email(m) = &mut channel {
        m.accept_invalid_certs = false;
    }
    let err = notifier(channel, TIMEOUT)
        .send(&event(EventKind::Failure))
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Smtp { .. }), "{err:?}");
    assert!(
        text.contains(&format!("SMTP server 127.0.0.1:{}", server.port)),
        "{text}"
    );
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert!(!text.contains("pa55word"), "{text}");
    assert!(server.messages().is_empty());
}

#[test]
fn wrong_credentials_are_a_permanent_error_without_the_password() {
    let server = SmtpServer::start_with(SmtpSecurity::StartTls, Some(("alerts", "right")));
    let n = notifier(
        email(server.port, Tls::StartTls, Some(("alerts", "WRONGPASS"))),
        TIMEOUT,
    );
    let err = n.send(&event(EventKind::Failure)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("535"), "{text}");
    assert!(!text.contains("WRONGPASS"), "{text}");
    assert!(!err.is_temporary());
}

#[test]
fn a_refused_connection_fails_fast() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let start = Instant::now();
    let err = notifier(email(port, Tls::StartTls, None), Duration::from_secs(5))
        .send(&event(EventKind::Failure))
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(err.is_temporary(), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn a_silent_server_times_out_within_the_timeout() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let held = std::thread::spawn(move || l.accept().map(|(s, _)| s));
    let start = Instant::now();
    let err = notifier(email(port, Tls::None, None), Duration::from_millis(500))
        .send(&event(EventKind::Failure))
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(err.is_temporary(), "{err:?}");
    drop(held.join());
}

#[test]
fn bad_addresses_are_configuration_errors() {
    let mut channel = email(25, Tls::None, None);
    if let Channel::Email(m) = &mut channel {
        m.to = vec!["not an address".into()];
    }
    let err = notifier(channel, TIMEOUT)
        .send(&event(EventKind::Test))
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("\"not an address\""), "{err}");
}

/// The receiver also takes AUTH LOGIN (lettre prefers PLAIN): Python's smtplib sends it.
#[test]
fn the_receiver_accepts_auth_login() {
    let server = SmtpServer::start_with(SmtpSecurity::StartTls, Some(("u1", "p1")));
    let script = "import smtplib, ssl, sys\n\
        s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)\n\
        s.starttls(context=ssl._create_unverified_context())\n\
        s.ehlo()\n\
        s.user, s.password = 'u1', 'p1'\n\
        s.auth('LOGIN', s.auth_login)\n\
        s.sendmail('a@example.com', ['b@example.com'], 'Subject: hi\\r\\n\\r\\nbody\\r\\n')\n\
        s.quit()\n";
    let out = Command::new("python3")
        .args(["-c", script, &server.port.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = &server.wait_for_messages(1, TIMEOUT)[0];
    assert_eq!(m.auth.as_ref().unwrap().mechanism, "LOGIN");
    assert_eq!(m.auth.as_ref().unwrap().login, "u1");
    assert_eq!(m.body.trim(), "body");
    assert!(m.tls);
}
