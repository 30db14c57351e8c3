//! The report as plain text: one table of jobs, one of repositories, the incidents.

use std::fmt::Write;

use super::Report;
use crate::dashboard::words::{bytes, span, time};

fn yes_no(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "met",
        Some(false) => "BREACHED",
        None => "-",
    }
}

/// Columns padded to their widest cell.
fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

pub fn text(r: &Report) -> String {
    let mut out = format!(
        "bunker report, {} to {}\n\nJobs\n",
        time(r.since),
        time(r.until)
    );
    let mut rows = vec![[
        "job",
        "runs",
        "ok",
        "failed",
        "late",
        "added",
        "backup size",
        "drills",
        "RTO measured",
        "RPO",
        "RTO",
    ]
    .map(String::from)
    .to_vec()];
    for j in &r.jobs {
        rows.push(vec![
            j.job.clone(),
            j.runs.to_string(),
            j.successes.to_string(),
            j.failures.to_string(),
            j.late.to_string(),
            bytes(j.bytes_added),
            j.backup_size.map_or("-".into(), bytes),
            format!("{}/{}", j.drills_passed, j.drills),
            j.measured_rto_seconds.map_or("-".into(), span),
            yes_no(j.rpo_met).into(),
            yes_no(j.rto_met).into(),
        ]);
    }
    out.push_str(&columns(&rows));
    out.push_str("\nRepositories\n");
    let mut rows = vec![["repository", "size", "added", "quota"]
        .map(String::from)
        .to_vec()];
    for repo in &r.repositories {
        rows.push(vec![
            repo.repository.clone(),
            repo.size.map_or_else(
                || format!("unknown ({})", repo.size_error.as_deref().unwrap_or("")),
                bytes,
            ),
            bytes(repo.added),
            repo.quota.as_ref().map_or("-".into(), |q| {
                format!("{:.0}% of {} ({:?})", q.percent, bytes(q.quota), q.level).to_lowercase()
            }),
        ]);
    }
    out.push_str(&columns(&rows));
    let _ = writeln!(out, "\nOpen incidents: {}", r.incidents.len());
    for i in &r.incidents {
        let _ = writeln!(
            out,
            "  {} {} since {}: {}",
            i.job,
            i.kind,
            time(i.opened),
            i.detail
        );
    }
    out
}
