//! The e-mail channel: a text/plain message (with an HTML alternative when the event
//! has one) over SMTP with STARTTLS, implicit TLS or no
//! encryption, authenticating when a username is configured.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls as SmtpTls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::{error_chain, field_text, one_line, Email, Error, Event, Notifier, Tls};

/// Sends `e` as one message to every recipient. The whole dialogue, not just each read,
/// is bounded by the notifier's timeout.
pub(crate) fn send(n: &Notifier, m: &Email, e: &Event) -> Result<(), Error> {
    let message = message(n, m, e)?;
    let port = m.port.unwrap_or(m.tls.default_port());
    let server = format!("{}:{port}", m.host);
    let transport = transport(n, m, port)?;
    let (done, result) = mpsc::channel();
    // lettre bounds each connect, read and write; the thread bounds their sum. After a
    // timeout it ends by itself when its socket times out.
    std::thread::Builder::new()
        .name("bunker-smtp".to_string())
        .spawn(move || {
            let _ = done.send(transport.send(&message));
        })
        .map_err(|err| Error::Smtp {
            notifier: n.name.clone(),
            server: server.clone(),
            reason: format!("cannot start the sending thread: {err}"),
            transient: true,
        })?;
    let smtp_error = |reason: String, transient: bool| Error::Smtp {
        notifier: n.name.clone(),
        server: server.clone(),
        reason,
        transient,
    };
    match result.recv_timeout(n.timeout) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => {
            let transient = !(err.is_permanent() || err.is_tls() || err.is_client());
            Err(smtp_error(error_chain(&err), transient))
        }
        Err(_) => Err(smtp_error(
            format!("no complete answer within {:?}", n.timeout),
            true,
        )),
    }
}

fn transport(n: &Notifier, m: &Email, port: u16) -> Result<SmtpTransport, Error> {
    let tls_parameters = || {
        TlsParameters::builder(m.host.clone())
            .dangerous_accept_invalid_certs(m.accept_invalid_certs)
            .dangerous_accept_invalid_hostnames(m.accept_invalid_certs)
            .build()
            .map_err(|err| Error::Config {
                notifier: n.name.clone(),
                problem: format!("TLS set-up for {}: {}", m.host, error_chain(&err)),
            })
    };
    let tls = match m.tls {
        Tls::StartTls => SmtpTls::Required(tls_parameters()?),
        Tls::Tls => SmtpTls::Wrapper(tls_parameters()?),
        Tls::None => SmtpTls::None,
    };
    let mut builder = SmtpTransport::builder_dangerous(m.host.as_str())
        .port(port)
        .tls(tls)
        .timeout(Some(n.timeout));
    if let Some(user) = &m.username {
        builder = builder
            .credentials(Credentials::new(
                user.clone(),
                m.password.clone().unwrap_or_default(),
            ))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(builder.build())
}

/// The message: `[bunker] <title>` as subject, the detail and fields as text. Messages
/// about one incident share a `References` header, so mail clients thread an alert with
/// its reminders and its recovery.
pub(crate) fn message(n: &Notifier, m: &Email, e: &Event) -> Result<Message, Error> {
    let mailbox = |role: &str, address: &str| {
        address.parse::<Mailbox>().map_err(|err| Error::Config {
            notifier: n.name.clone(),
            problem: format!("invalid {role} address {address:?}: {err}"),
        })
    };
    if m.to.is_empty() {
        return Err(Error::Config {
            notifier: n.name.clone(),
            problem: "no recipient (to) configured".to_string(),
        });
    }
    let domain = message_id_domain(&e.host);
    let mut builder = Message::builder()
        .from(mailbox("from", &m.from)?)
        .subject(format!("[bunker] {}", one_line(&e.title, 200)))
        .date(SystemTime::from(e.time))
        .message_id(Some(unique_message_id(e, &domain)))
        .user_agent(concat!("bunker/", env!("CARGO_PKG_VERSION")).to_string());
    for to in &m.to {
        builder = builder.to(mailbox("to", to)?);
    }
    if let Some(incident) = &e.incident {
        let thread = format!("<incident.{}@{domain}>", id_part(incident));
        builder = builder.in_reply_to(thread.clone()).references(thread);
    }
    let built = match &e.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            body_text(e),
            html.clone(),
        )),
        None => builder.header(ContentType::TEXT_PLAIN).body(body_text(e)),
    };
    built.map_err(|err| Error::Config {
        notifier: n.name.clone(),
        problem: format!("cannot build the message: {err}"),
    })
}

/// The text body: title, detail, then one `name: value` line per fact.
pub(crate) fn body_text(e: &Event) -> String {
    let mut out = format!("{}\n", e.title);
    if !e.detail.trim().is_empty() {
        out.push('\n');
        out.push_str(e.detail.trim_end());
        out.push('\n');
    }
    out.push('\n');
    let mut facts = vec![
        ("event".to_string(), e.kind.as_str().to_string()),
        ("job".to_string(), e.job.clone()),
        ("host".to_string(), e.host.clone()),
        ("time".to_string(), e.time_rfc3339()),
    ];
    if let Some(i) = &e.incident {
        facts.push(("incident".to_string(), i.clone()));
    }
    facts.extend(e.fields.iter().map(|(k, v)| (k.clone(), field_text(v))));
    for (k, v) in facts {
        out.push_str(&format!("{k}: {v}\n"));
    }
    out.push_str("\n-- \nsent by bunker\n");
    out
}

/// A Message-ID no other message has: time, process and a counter.
fn unique_message_id(e: &Event, domain: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "<bunker.{nanos}.{}.{}.{}@{domain}>",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        e.kind.as_str()
    )
}

/// The right side of message ids: the event's host when it is a usable domain.
fn message_id_domain(host: &str) -> String {
    let part = id_part(host);
    if part.is_empty() {
        "bunker.invalid".to_string()
    } else {
        part
    }
}

/// `s` with every character not allowed in a message id (RFC 5322 dot-atom text, kept
/// to a safe subset) replaced by `-`.
fn id_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('.')
        .to_string()
}
