//! The report as one HTML document, styles inline and charts as SVG, so that it reads
//! the same in a mail client as in a browser.

use std::fmt::Write;

use chrono::Utc;

use super::Report;
use crate::dashboard::chart::line;
use crate::dashboard::page::esc;
use crate::dashboard::words::{bytes, span, time};

const STYLE: &str = "body{font:14px/1.4 sans-serif;color:#1f2328}table{border-collapse:collapse}\
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left}th{background:#eaeef2}\
.breached{color:#c62828;font-weight:bold}.met{color:#1a7f37}\
figure{display:inline-block;margin:6px;width:420px}svg{width:100%}\
.axis{stroke:#8c959f}.tick{font-size:10px;fill:#656d76}\
.series{fill:none;stroke:#0969da;stroke-width:2}.point{fill:#0969da}\
.empty{font-size:13px;fill:#656d76;text-anchor:middle}";

fn verdict(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "<span class=\"met\">met</span>",
        Some(false) => "<span class=\"breached\">breached</span>",
        None => "—",
    }
}

pub fn html(r: &Report) -> String {
    let mut h = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>bunker report</title>\
         <style>{STYLE}</style></head><body><h1>bunker report</h1><p>{} to {}</p><h2>Jobs</h2>\
         <table><tr><th>job</th><th>runs</th><th>ok</th><th>failed</th><th>late</th>\
         <th>added</th><th>backup size</th><th>drills</th><th>RTO measured</th><th>RPO</th>\
         <th>RTO</th></tr>",
        esc(&time(r.since)),
        esc(&time(r.until))
    );
    for j in &r.jobs {
        let _ = write!(
            h,
            "<tr data-job=\"{n}\"><td>{n}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            j.runs,
            j.successes,
            j.failures,
            j.late,
            esc(&bytes(j.bytes_added)),
            esc(&j.backup_size.map_or("—".into(), bytes)),
            j.drills_passed,
            j.drills,
            esc(&j.measured_rto_seconds.map_or("—".into(), span)),
            verdict(j.rpo_met),
            verdict(j.rto_met),
            n = esc(&j.job),
        );
    }
    h.push_str("</table><h2>Repositories</h2><table><tr><th>repository</th><th>size</th><th>added</th><th>quota</th></tr>");
    for repo in &r.repositories {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&repo.repository),
            esc(&repo.size.map_or("unknown".into(), bytes)),
            esc(&bytes(repo.added)),
            esc(&repo.quota.as_ref().map_or("—".into(), |q| {
                format!("{:.0}% of {}", q.percent, bytes(q.quota))
            }))
        );
    }
    h.push_str("</table><h2>Bytes added per run</h2>");
    for j in &r.jobs {
        let points: Vec<_> = j
            .added
            .iter()
            .map(|(t, b)| (t.with_timezone(&Utc), *b as f64))
            .collect();
        h.push_str(&line(&j.job, &points, &|v| bytes(v as u64)));
    }
    let _ = write!(h, "<h2>Open incidents ({})</h2><ul>", r.incidents.len());
    for i in &r.incidents {
        let _ = write!(
            h,
            "<li>{} <b>{}</b> since {}: {}</li>",
            esc(&i.job),
            esc(&i.kind),
            esc(&time(i.opened)),
            esc(&i.detail)
        );
    }
    h.push_str("</ul></body></html>\n");
    h
}
