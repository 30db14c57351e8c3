//! Fault injection for HTTP services: a layer under opendal's retries that fails,
//! loses, delays or truncates a chosen fraction of requests, so that tests can show
//! backups either complete correctly or fail cleanly on a bad network.
//!
//! Enabled by `BUNKER_INJECT_FAULTS`, e.g. `fail=0.1,lost=0.05,delay=0.1,truncate=0.1,seed=7`:
//! - `fail`: the request is never sent; the client sees a temporary error;
//! - `lost`: the request is carried out, but its response is replaced by a temporary
//!   error, so the client cannot know that it succeeded;
//! - `delay`: the request waits 50–500 ms before it is sent;
//! - `truncate`: the response body stops at a random point.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use opendal::raw::{Layer, Servicer};
use opendal::{Buffer, HttpBody, HttpTransport, HttpTransporter, OperationContext};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{Error, Result};

#[derive(Clone)]
pub struct FaultLayer {
    fail: f64,
    lost: f64,
    delay: f64,
    truncate: f64,
    rng: Arc<Mutex<StdRng>>,
}

impl std::fmt::Debug for FaultLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FaultLayer(fail={}, lost={}, delay={}, truncate={})",
            self.fail, self.lost, self.delay, self.truncate
        )
    }
}

impl FaultLayer {
    pub fn parse(spec: &str) -> Result<FaultLayer> {
        let mut layer = FaultLayer {
            fail: 0.0,
            lost: 0.0,
            delay: 0.0,
            truncate: 0.0,
            rng: Arc::new(Mutex::new(StdRng::from_entropy())),
        };
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let bad =
                || Error::Invalid(format!("BUNKER_INJECT_FAULTS: {part:?} is not NAME=NUMBER"));
            let (name, value) = part.split_once('=').ok_or_else(bad)?;
            if name == "seed" {
                let seed = value.parse::<u64>().map_err(|_| bad())?;
                layer.rng = Arc::new(Mutex::new(StdRng::seed_from_u64(seed)));
                continue;
            }
            let p = value
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(bad)?;
            match name {
                "fail" => layer.fail = p,
                "lost" => layer.lost = p,
                "delay" => layer.delay = p,
                "truncate" => layer.truncate = p,
                _ => return Err(bad()),
            }
        }
        Ok(layer)
    }

    fn roll(&self, p: f64) -> bool {
        p > 0.0
            && self
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .gen_bool(p)
    }

    fn below(&self, n: u64) -> u64 {
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .gen_range(0..n.max(1))
    }
}

impl Layer for FaultLayer {
    fn apply_context(&self, _srv: Servicer, inner: OperationContext) -> OperationContext {
        let transport = HttpTransporter::new(FaultyTransport {
            inner: inner.http_transport().clone(),
            faults: self.clone(),
        });
        inner.with_http_transport(transport)
    }
}

struct FaultyTransport {
    inner: HttpTransporter,
    faults: FaultLayer,
}

fn injected(what: &str) -> opendal::Error {
    opendal::Error::new(
        opendal::ErrorKind::Unexpected,
        format!("injected fault: {what}"),
    )
    .set_temporary()
}

impl HttpTransport for FaultyTransport {
    async fn fetch(&self, req: http::Request<Buffer>) -> opendal::Result<http::Response<HttpBody>> {
        let f = &self.faults;
        if f.roll(f.delay) {
            tokio::time::sleep(Duration::from_millis(50 + f.below(450))).await;
        }
        if f.roll(f.fail) {
            return Err(injected("request not sent"));
        }
        let resp = self.inner.fetch(req).await?;
        if f.roll(f.lost) {
            return Err(injected("response lost"));
        }
        if !f.roll(f.truncate) {
            return Ok(resp);
        }
        let (parts, body) = resp.into_parts();
        let limit = match parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            Some(0) | None => return Ok(http::Response::from_parts(parts, body)),
            Some(n) => f.below(n),
        };
        let body = body.map_inner(|stream| {
            Box::new(Truncated {
                stream,
                left: limit,
            })
        });
        Ok(http::Response::from_parts(parts, body))
    }
}

type BodyStream = Box<dyn Stream<Item = opendal::Result<Buffer>> + Send + Sync + Unpin + 'static>;

/// A body that ends, without an error of its own, after `left` bytes.
struct Truncated {
    stream: BodyStream,
    left: u64,
}

impl Stream for Truncated {
    type Item = opendal::Result<Buffer>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.stream).poll_next(cx) {
            Poll::Ready(Some(Ok(buf))) => {
                let n = (buf.len() as u64).min(self.left);
                self.left -= n;
                Poll::Ready(Some(Ok(buf.slice(0..n as usize))))
            }
            other => other,
        }
    }
}
