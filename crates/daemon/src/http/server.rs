//! Connections: accepted on a tokio runtime of the server's own (two threads, however
//! many clients; an idle connection costs a task, not a thread), each served by hyper
//! with bounds from `[daemon.http]`:
//!
//! - at most `max_connections` at once; the one over is answered 503 and closed;
//! - a request head (request line and headers) over `max_header_bytes` gets 431 and
//!   the connection is closed, so a client cannot make the daemon buffer more;
//! - a request head must arrive within `idle_timeout` of the connection opening or of
//!   the previous response (slow-loris clients and idle keep-alive connections are
//!   closed), and a write the client does not read for that long fails
//!   ([`super::stall`]);
//! - bodies are bounded by the router's layers ([`super::router`]).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use bunker_jobs::config::HttpLimits;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tracing::{debug, warn};

use super::stall::StallGuard;

/// hyper's read buffer cannot be smaller than this.
const MIN_READ_BUFFER: usize = 8192;
/// Headers in one request head; more is refused like an oversized head.
const MAX_HEADERS: usize = 100;
/// Connections over the limit being answered 503 at once; beyond, they are just closed.
const MAX_REFUSING: usize = 64;

/// The running server: stops when [`HttpServer::stop`] is called.
pub struct HttpServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: JoinHandle<()>,
}

impl HttpServer {
    /// Listens on `listen` (`HOST:PORT`) and serves `app` on a thread of its own.
    pub fn start(listen: &str, limits: &HttpLimits, app: Router) -> io::Result<HttpServer> {
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(8)
            .thread_name("bunker-http")
            .enable_all()
            .build()?;
        let (stop, stopped) = watch::channel(false);
        let limits = limits.clone();
        let thread = std::thread::Builder::new()
            .name("bunker-http".into())
            .spawn(move || {
                runtime.block_on(accept(listener, limits, app, stopped));
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(HttpServer { addr, stop, thread })
    }

    /// The address it listens on (with the port chosen when the configuration says 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, drops the open connections and waits for the thread.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.thread.join();
    }
}

async fn accept(
    listener: std::net::TcpListener,
    limits: HttpLimits,
    app: Router,
    mut stopped: watch::Receiver<bool>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "the HTTP server cannot use its socket");
            return;
        }
    };
    let idle = limits.idle_timeout.0;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(idle)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(MIN_READ_BUFFER))
        .max_headers(MAX_HEADERS);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most likely: let some close first.
                    warn!(error = %e, "the HTTP server could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!(%peer, "connection refused: max_connections reached");
            if let Ok(permit) = refusing.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(permit);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(StallGuard::new(stream, idle));
        // Handlers that must know who connected (the dashboard's loopback rule) find
        // the peer in the request's extensions, as axum's `ConnectInfo`.
        let app = tower::ServiceExt::map_request(
            app.clone(),
            move |mut r: hyper::Request<hyper::body::Incoming>| {
                r.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                r
            },
        );
        let conn = http.serve_connection(io, TowerToHyperService::new(app));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(%peer, error = %e, "connection closed");
            }
            drop(slot);
        });
    }
}

/// Answers a connection over the limit with 503 without reading its request, then
/// reads (briefly) what it sent so that closing does not reset the connection before
/// the client has read the answer.
async fn refuse(mut stream: TcpStream) {
    let answer = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n\
                   Content-Type: application/json\r\nContent-Length: 43\r\n\r\n\
                   {\"error\":\"too many connections, try again\"}";
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => left = left.saturating_sub(n),
            }
        }
        io::Result::Ok(())
    })
    .await;
}
