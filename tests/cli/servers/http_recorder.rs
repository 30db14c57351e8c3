//! An HTTP/1.1 server on a free loopback port that records every request and answers
//! 200, or a status set for a path: the receiving end of webhook, Slack and healthchecks
//! notifications. Plain `std` (no test-only dependency), so crates can use it too.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The request target: path and query, e.g. `/hook?x=1`.
    pub path: String,
    /// Header names as sent, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it came chunked.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {}: body is not JSON ({e}): {}",
                self.method,
                self.path,
                self.text()
            )
        })
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    /// Path (without query) → status and body to answer with instead of 200.
    responses: HashMap<String, (u16, String)>,
}

/// The running recorder; stops when dropped.
pub struct HttpRecorder {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl HttpRecorder {
    /// Listens on `127.0.0.1` on a free port and records from now on.
    pub fn start() -> HttpRecorder {
        HttpRecorder::start_on(0)
    }

    /// A free loopback port with nothing listening on it: a receiver that is down,
    /// until [`HttpRecorder::start_on`] brings one up there.
    pub fn reserve_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind a free port")
            .port()
    }

    /// Listens on `127.0.0.1:port` (0: a free one) and records from now on.
    pub fn start_on(port: u16) -> HttpRecorder {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind HTTP recorder");
        let port = listener.local_addr().expect("local addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || serve(conn, &state));
                }
            })
        };
        HttpRecorder {
            port,
            state,
            stop,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers requests to `path` (query ignored) with `status` and `body` from now on.
    pub fn respond(&self, path: &str, status: u16, body: &str) {
        self.lock()
            .responses
            .insert(path.to_string(), (status, body.to_string()));
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Waits until some request satisfies `pred` and returns all that do; panics after
    /// `timeout` listing what did arrive.
    pub fn wait_for(&self, pred: impl Fn(&Recorded) -> bool, timeout: Duration) -> Vec<Recorded> {
        let start = Instant::now();
        loop {
            let all = self.requests();
            let hits: Vec<Recorded> = all.iter().filter(|r| pred(r)).cloned().collect();
            if !hits.is_empty() {
                return hits;
            }
            if start.elapsed() > timeout {
                let seen: Vec<String> = all
                    .iter()
                    .map(|r| format!("{} {} {}", r.method, r.path, r.text()))
                    .collect();
                panic!(
                    "no matching HTTP request within {timeout:?}; {} arrived:\n{}",
                    seen.len(),
                    seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for HttpRecorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request, records it and answers; the connection is then closed.
fn serve(conn: TcpStream, state: &Mutex<State>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&conn) else {
        return;
    };
    let bare_path = request.path.split('?').next().unwrap_or("").to_string();
    let (status, body) = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests.push(request);
        s.responses
            .get(&bare_path)
            .cloned()
            .unwrap_or((200, "OK".to_string()))
    };
    let answer = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    );
    let mut w = &conn;
    let _ = w.write_all(answer.as_bytes());
    let _ = w.flush();
    let _ = conn.shutdown(Shutdown::Both);
}

fn read_request(conn: &TcpStream) -> Option<Recorded> {
    let r = &mut BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if find("Expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        let mut w = conn;
        let _ = w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let body =
        if find("Transfer-Encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            read_chunked(r)?
        } else {
            let len: usize = find("Content-Length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut b = vec![0; len];
            r.read_exact(&mut b).ok()?;
            b
        };
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

fn read_chunked(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut t = String::new();
                if r.read_line(&mut t).ok()? == 0 || t.trim().is_empty() {
                    return Some(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).ok()?;
        let mut crlf = String::new();
        r.read_line(&mut crlf).ok()?;
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
