//! Human output: sizes, times, tables and a progress line on terminals only.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.3} {}", UNITS[u])
    }
}

/// A time as restic shows it in tables: in the local zone (`TZ`), to the second.
pub fn local_time(t: &chrono::DateTime<chrono::FixedOffset>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// How often progress is shown: `BUNKER_PROGRESS_FPS` updates a second (as restic's
/// `RESTIC_PROGRESS_FPS`), else 5 on a terminal and 1 for `--json` status lines.
fn interval(default: Duration) -> Duration {
    std::env::var("BUNKER_PROGRESS_FPS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0)
        .map(|f| Duration::from_secs_f64((1.0 / f).clamp(0.01, 60.0)))
        .unwrap_or(default)
}

/// Where a piece of work stands: done and, when known, the total, in bytes and in
/// items (files, packs).
#[derive(Clone, Copy, Debug, Default)]
pub struct Reading {
    pub bytes: u64,
    pub total_bytes: Option<u64>,
    pub items: u64,
    pub total_items: Option<u64>,
}

impl Reading {
    /// A restore's counters; the totals once the snapshot's trees are read.
    pub fn of_restore(p: &bunker_repo::RestoreProgress) -> Reading {
        let known = p.total_files.load(Ordering::Relaxed) > 0;
        Reading {
            bytes: p.bytes.load(Ordering::Relaxed),
            total_bytes: known.then(|| p.total_bytes.load(Ordering::Relaxed)),
            items: p.files.load(Ordering::Relaxed),
            total_items: known.then(|| p.total_files.load(Ordering::Relaxed)),
        }
    }

    /// The share done, 0 to 1: by bytes where their total is known, else by items.
    pub fn fraction(&self) -> Option<f64> {
        let share = |done: u64, total: Option<u64>| match total {
            Some(0) => Some(1.0),
            Some(t) => Some((done as f64 / t as f64).min(1.0)),
            None => None,
        };
        match self.total_bytes {
            Some(t) if t > 0 => share(self.bytes, Some(t)),
            _ => share(self.items, self.total_items),
        }
    }

    /// Seconds left at the average rate so far.
    pub fn remaining(&self, elapsed: Duration) -> Option<f64> {
        let f = self.fraction()?;
        (f > 0.0).then(|| elapsed.as_secs_f64() * (1.0 - f) / f)
    }

    /// `45.1% [=========>           ] 1.2 GiB of 2.6 GiB, 98.0 MiB/s, ETA 0:00:15; 1234 of
    /// 5000 files` (parts without a total are left out).
    pub fn line(&self, elapsed: Duration, items: &str) -> String {
        let rate = self.bytes as f64 / elapsed.as_secs_f64().max(0.001);
        let of = |t: Option<u64>, f: &dyn Fn(u64) -> String| {
            t.map(|t| format!(" of {}", f(t))).unwrap_or_default()
        };
        let mut out = String::new();
        if let Some(f) = self.fraction() {
            let width = 24;
            let full = ((f * width as f64) as usize).min(width);
            let head = if full < width { ">" } else { "" };
            out.push_str(&format!(
                "{:5.1}% [{}{head}{}] ",
                f * 100.0,
                "=".repeat(full),
                " ".repeat(width - full - head.len())
            ));
        }
        if self.bytes > 0 || self.total_bytes.is_some() {
            out.push_str(&format!(
                "{}{}, {}/s, ",
                bytes(self.bytes),
                of(self.total_bytes, &bytes),
                bytes(rate as u64)
            ));
        }
        if let Some(r) = self.remaining(elapsed) {
            out.push_str(&format!("ETA {}, ", duration(Duration::from_secs_f64(r))));
        }
        out.push_str(&format!(
            "{}{} {items}",
            self.items,
            of(self.total_items, &|n| n.to_string())
        ));
        out
    }

    /// The fields of a `--json` status line, restic's names: `percent_done` (0 to 1),
    /// `seconds_remaining`, `total_bytes`, `bytes_done`, `total_<items>`, `<items>_done`.
    pub fn json(&self, elapsed: Duration, items: &str) -> serde_json::Value {
        let mut v = serde_json::json!({
            "message_type": "status",
            "seconds_elapsed": elapsed.as_secs(),
            "bytes_done": self.bytes,
            format!("{items}_done"): self.items,
        });
        let m = v.as_object_mut().expect("object");
        if let Some(f) = self.fraction() {
            m.insert("percent_done".into(), f.into());
        }
        if let Some(r) = self.remaining(elapsed) {
            m.insert("seconds_remaining".into(), (r.round() as u64).into());
        }
        if let Some(t) = self.total_bytes {
            m.insert("total_bytes".into(), t.into());
        }
        if let Some(t) = self.total_items {
            m.insert(format!("total_{items}"), t.into());
        }
        v
    }
}

/// A progress display driven by a [`Reading`]: a bar on a terminal's stderr, status
/// lines on stdout with `--json`, nothing otherwise.
pub fn meter(
    quiet: bool,
    json: bool,
    items: &'static str,
    read: impl Fn() -> Reading + Send + Sync + 'static,
) -> Ticker {
    let started = Instant::now();
    let read = Arc::new(read);
    let r2 = read.clone();
    let json_status: Option<Box<dyn Fn() -> String + Send>> = json.then(|| {
        Box::new(move || r2().json(started.elapsed(), items).to_string())
            as Box<dyn Fn() -> String + Send>
    });
    Ticker::start(
        quiet || json,
        json_status,
        Box::new(move || read().line(started.elapsed(), items)),
    )
}

/// A line redrawn on stderr every 200 ms while work runs; only on a terminal.
pub struct Ticker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Ticker {
    /// `status` renders the current line; `json` prints it as a status message to stdout
    /// once a second instead (restic's `--json` status lines).
    pub fn start(
        quiet: bool,
        json: Option<Box<dyn Fn() -> String + Send>>,
        status: Box<dyn Fn() -> String + Send>,
    ) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let show = !quiet && std::io::stderr().is_terminal();
        let handle = if json.is_some() || show {
            let stop = stop.clone();
            let (draw, every) = (
                interval(Duration::from_millis(200)),
                interval(Duration::from_secs(1)),
            );
            Some(std::thread::spawn(move || {
                let started = Instant::now();
                let mut last_json = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(draw.min(every));
                    if let Some(j) = &json {
                        if last_json.elapsed() >= every {
                            println!("{}", j());
                            last_json = Instant::now();
                        }
                    } else if show {
                        eprint!("\r\x1b[2K[{}] {}", duration(started.elapsed()), status());
                    }
                }
                if show && json.is_none() {
                    eprint!("\r\x1b[2K");
                }
            }))
        } else {
            None
        };
        Ticker { stop, handle }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Prints rows as an aligned table with a header and a rule.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(header.iter().map(|s| s.to_string()).collect());
    println!(
        "{}",
        "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
    );
    for r in rows {
        line(r.clone());
    }
}
