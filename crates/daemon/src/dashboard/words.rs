//! Numbers, times and policies as a person reads them on a page.

use bunker_jobs::config::Retention;
use chrono::{DateTime, Utc};

/// `1.5 GiB`, `512 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `45s`, `12m`, `3h 5m`, `2d 4h`.
pub fn span(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 10.0 {
        return format!("{s:.1}s");
    }
    let s = s.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `2026-05-01 08:00 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// How long ago `t` was: `5m 2s ago`, or `in 3m` for the future.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = (now - t).num_milliseconds() as f64 / 1000.0;
    if d >= 0.0 {
        format!("{} ago", span(d))
    } else {
        format!("in {}", span(-d))
    }
}

/// A retention policy in words: `the last 3, 7 daily, 4 weekly; all within 30d`.
pub fn retention(r: Option<&Retention>) -> String {
    let Some(r) = r else {
        return "keeps every snapshot".into();
    };
    let mut parts = Vec::new();
    for (n, what) in [
        (r.keep_last, "last"),
        (r.keep_hourly, "hourly"),
        (r.keep_daily, "daily"),
        (r.keep_weekly, "weekly"),
        (r.keep_monthly, "monthly"),
        (r.keep_yearly, "yearly"),
    ] {
        if let Some(n) = n {
            parts.push(if what == "last" {
                format!("the last {n}")
            } else {
                format!("{n} {what}")
            });
        }
    }
    for (w, what) in [
        (&r.keep_within, "all"),
        (&r.keep_within_daily, "daily"),
        (&r.keep_within_weekly, "weekly"),
        (&r.keep_within_monthly, "monthly"),
        (&r.keep_within_yearly, "yearly"),
    ] {
        if let Some(w) = w {
            parts.push(format!("{what} within {}", w.get_ref()));
        }
    }
    if !r.keep_tags.is_empty() {
        parts.push(format!("tagged {}", r.keep_tags.join(", ")));
    }
    format!("keeps {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_spans_read_like_a_person_writes_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 << 30), "5.0 GiB");
        assert_eq!(span(3.25), "3.2s");
        assert_eq!(span(75.0), "1m 15s");
        assert_eq!(span(3.0 * 3600.0 + 300.0), "3h 5m");
        assert_eq!(span(2.0 * 86_400.0 + 7200.0), "2d 2h");
    }

    #[test]
    fn retention_in_words() {
        let r: Retention =
            toml::from_str("keep_last = 3\nkeep_daily = 7\nkeep_within = \"30d\"").unwrap();
        assert_eq!(
            retention(Some(&r)),
            "keeps the last 3, 7 daily, all within 30d"
        );
        assert_eq!(retention(None), "keeps every snapshot");
    }
}
