//! The daemon's HTTP server under attack: endless headers, slow-loris clients, idle
//! keep-alive connections, oversized bodies and more connections than it serves. It
//! must stay small in memory, close what stalls, and keep answering everyone else.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::daemon::{free_port, request, start_daemon, wait_until, KillOnDrop};
use crate::util::*;

const IDLE: Duration = Duration::from_secs(1);
const MAX_CONNECTIONS: usize = 40;

/// A daemon with one job that never runs by itself, and tight HTTP limits.
fn daemon_config(s: &Scratch, port: u16) -> std::path::PathBuf {
    let cfg = s.path("bunker.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[daemon]
listen = "127.0.0.1:{port}"
api_token = "s3cret-token"
state_dir = "{state}"

[daemon.http]
max_connections = {MAX_CONNECTIONS}
max_header_bytes = 16384
max_body_bytes = 65536
idle_timeout = "{idle}ms"

[repositories.primary]
url = "{repo}"
password = "{PASSWORD}"

[jobs.files]
repository = "primary"
source = {{ type = "files", paths = ["{src}"] }}
"#,
            state = s.path("state").display(),
            repo = s.repo().display(),
            src = s.path("src").display(),
            idle = IDLE.as_millis(),
        ),
    )
    .unwrap();
    cfg
}

/// Resident memory of a process in KiB, from /proc/PID/status.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in\n{status}"))
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the daemon");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// The status code at the start of what the server sent, or 0.
fn status_of(raw: &[u8]) -> u16 {
    String::from_utf8_lossy(raw)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Sends a request head that never ends; returns how much the server took before it
/// closed the connection (at most `cap`).
fn endless_headers(port: u16, cap: usize) -> usize {
    let mut s = connect(port);
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Flood: ");
    while sent < cap {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    sent
}

/// Sends a request head one byte at a time; returns how long the server let it.
fn slow_loris(port: u16) -> Duration {
    let start = Instant::now();
    let mut s = connect(port);
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
    let mut buf = [0u8; 1024];
    while start.elapsed() < Duration::from_secs(30) {
        if s.write_all(b"z").is_err() {
            break;
        }
        match s.read(&mut buf) {
            Ok(_) => break,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    start.elapsed()
}

/// The item of issue 14: 8 connections sending 64 MiB of headers each took the old
/// server from 37 to 550 MB, and every idle connection held a thread.
#[test]
fn daemon_http_header_flood_keeps_memory_bounded_and_slow_loris_is_cut() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.path("src")).unwrap();
    let port = free_port();
    let cfg = daemon_config(&s, port);
    let log = s.path("daemon.log");
    let mut daemon = start_daemon(&cfg, &log);
    let pid = daemon.id();
    let _guard = KillOnDrop(&mut daemon);
    wait_until("the daemon to listen", Duration::from_secs(30), || {
        TcpStream::connect(("127.0.0.1", port)).ok()
    });
    assert_eq!(request(port, "GET", "/healthz", None).0, 200);
    let rss_before = rss_kib(pid);

    // The attack: 8 floods of endless headers (again and again) and 16 slow-loris
    // clients, while a monitor keeps asking for /healthz.
    let attacking = Arc::new(AtomicBool::new(true));
    let floods: Vec<_> = (0..8)
        .map(|_| {
            let attacking = attacking.clone();
            std::thread::spawn(move || {
                let mut taken = Vec::new();
                while attacking.load(Ordering::Relaxed) && taken.len() < 20 {
                    taken.push(endless_headers(port, 64 << 20));
                }
                taken
            })
        })
        .collect();
    let lorises: Vec<_> = (0..16)
        .map(|_| std::thread::spawn(move || slow_loris(port)))
        .collect();
    let mut rss_peak = rss_before;
    let mut served = 0;
    let start = Instant::now();
    while start.elapsed() < IDLE * 3 {
        let asked = Instant::now();
        let (status, body) = request(port, "GET", "/healthz", None);
        assert_eq!(status, 200, "{body}");
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}",
            asked.elapsed()
        );
        served += 1;
        rss_peak = rss_peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    attacking.store(false, Ordering::Relaxed);
    for flood in floods {
        for taken in flood.join().unwrap() {
            // The server stops reading at 16 KiB; what the kernel buffers comes on top.
            assert!(taken < 16 << 20, "the server took {taken} bytes of headers");
        }
    }
    for loris in lorises {
        let lasted = loris.join().unwrap();
        assert!(
            lasted >= IDLE / 2 && lasted < IDLE + Duration::from_secs(3),
            "a slow-loris connection lasted {lasted:?}"
        );
    }
    rss_peak = rss_peak.max(rss_kib(pid));
    let grown_mib = rss_peak.saturating_sub(rss_before) / 1024;
    assert!(
        grown_mib < 32,
        "RSS grew from {rss_before} KiB to {rss_peak} KiB"
    );
    assert!(
        served >= 10,
        "only {served} requests served during the attack"
    );

    // A head over max_header_bytes gets 431, a declared body over max_body_bytes 413
    // (before the body is sent), and the API still works.
    let mut big = connect(port);
    let pad = "x".repeat(20_000);
    write!(
        big,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {pad}\r\n\r\n"
    )
    .unwrap();
    let mut raw = vec![0u8; 1024];
    let n = big.read(&mut raw).unwrap();
    assert_eq!(
        status_of(&raw[..n]),
        431,
        "{}",
        String::from_utf8_lossy(&raw[..n])
    );
    let mut post = connect(port);
    write!(
        post,
        "POST /api/v1/jobs/files/run HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer s3cret-token\r\nContent-Length: 10000000\r\n\r\n"
    )
    .unwrap();
    let n = post.read(&mut raw).unwrap();
    assert_eq!(
        status_of(&raw[..n]),
        413,
        "{}",
        String::from_utf8_lossy(&raw[..n])
    );
    assert_eq!(request(port, "GET", "/api/v1/jobs", None).0, 200);
    assert_eq!(request(port, "DELETE", "/api/v1/jobs", None).0, 405);
    assert_eq!(request(port, "GET", "/nope", None).0, 404);

    // A keep-alive connection that goes quiet after its request is closed after the
    // idle time.
    let mut quiet = connect(port);
    quiet
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let n = quiet.read(&mut raw).unwrap();
    assert_eq!(status_of(&raw[..n]), 200);
    let idle_since = Instant::now();
    let mut rest = Vec::new();
    let _ = quiet.read_to_end(&mut rest);
    let idle_for = idle_since.elapsed();
    assert!(
        idle_for >= IDLE / 2 && idle_for < IDLE + Duration::from_secs(3),
        "an idle connection stayed {idle_for:?}"
    );

    // More connections than max_connections: the one over gets 503 at once, and once
    // the idle ones are closed everyone is served again.
    let held: Vec<TcpStream> = (0..MAX_CONNECTIONS).map(|_| connect(port)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let (status, body) = request(port, "GET", "/healthz", None);
    assert_eq!(status, 503, "{body}");
    std::thread::sleep(IDLE + Duration::from_millis(500));
    assert_eq!(request(port, "GET", "/healthz", None).0, 200);
    drop(held);
}
