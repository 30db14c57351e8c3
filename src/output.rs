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
            Some(std::thread::spawn(move || {
                let started = Instant::now();
                let mut last_json = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    if let Some(j) = &json {
                        if last_json.elapsed() >= Duration::from_secs(1) {
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
