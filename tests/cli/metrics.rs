//! The daemon's metrics as Prometheus users see them: the documented rule file passes
//! promtool's own unit tests, and a real Prometheus scraping a daemon fires the failure
//! rule with the job's name in `bunker_job`, beside Prometheus's own `job` label.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::daemon::{free_port, request, start_daemon, wait_until, KillOnDrop};
use crate::servers::Prometheus;
use crate::util::*;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/examples")
        .join(name)
}

fn promtool(args: &[&str], file: &Path) -> String {
    let o = Command::new(tool("promtool"))
        .args(args)
        .arg(file)
        .output()
        .expect("run promtool");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success(),
        "promtool {args:?} {}:\n{out}",
        file.display()
    );
    out
}

#[test]
fn documented_prometheus_rules_pass_promtool_unit_tests() {
    let out = promtool(&["check", "rules"], &example("prometheus-rules.yml"));
    assert!(out.contains("SUCCESS: 6 rules found"), "{out}");
    promtool(&["check", "config"], &example("prometheus.yml"));
    let out = promtool(&["test", "rules"], &example("prometheus-rules.test.yml"));
    assert!(out.contains("SUCCESS"), "{out}");
}

/// The value of the sample `series` (name and labels, exactly as printed) in `metrics`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn prometheus_scraping_the_daemon_fires_the_failure_rule_naming_the_job() {
    let s = Scratch::new();
    bunker(&s.repo(), &["init"]);
    make_tricky_tree(&s.path("src"), false);
    let port = free_port();
    let cfg = s.path("bunker.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[daemon]
listen = "127.0.0.1:{port}"
state_dir = "{state}"

[repositories.primary]
url = "{repo}"
password = "{PASSWORD}"
quota = "1GiB"

[jobs.site]
repository = "primary"
schedule = "@every 2s"
source = {{ type = "files", paths = ["{src}"] }}

[jobs.slow]
repository = "primary"
schedule = "@every 1s"
source = {{ type = "files", paths = ["{src}"] }}
hooks.before = ["sleep 2"]

[jobs.broken]
repository = "primary"
schedule = "@every 2s"
source = {{ type = "files", paths = ["{src}"] }}
hooks.before = ["exit 1"]
"#,
            state = s.path("state").display(),
            repo = s.repo().display(),
            src = s.path("src").display(),
        ),
    )
    .unwrap();
    let mut daemon = start_daemon(&cfg, &s.path("daemon.log"));
    let _guard = KillOnDrop(&mut daemon);
    let metrics = || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let (status, body) = request(port, "GET", "/metrics", None);
        (status == 200).then_some(body)
    };

    // A run going leaves the last finished one's outcome standing.
    let m = wait_until(
        "a run of slow in progress after one that succeeded",
        Duration::from_secs(60),
        || {
            metrics().filter(|m| {
                sample(m, r#"bunker_job_running{bunker_job="slow"}"#) == Some(1.0)
                    && sample(
                        m,
                        r#"bunker_job_last_success_timestamp_seconds{bunker_job="slow"}"#,
                    )
                    .is_some()
            })
        },
    );
    assert_eq!(
        sample(&m, r#"bunker_job_last_success{bunker_job="slow"}"#),
        Some(1.0),
        "{m}"
    );
    assert!(
        !m.contains("{job="),
        "a job label clashes with Prometheus's:\n{m}"
    );
    let size = sample(&m, r#"bunker_repository_size_bytes{repository="primary"}"#)
        .unwrap_or_else(|| panic!("no repository size:\n{m}"));
    assert_eq!(
        sample(&m, r#"bunker_repository_quota_bytes{repository="primary"}"#),
        Some(1073741824.0),
        "{m}"
    );
    let stored: u64 = files_under(&s.repo())
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        size > 0.0 && size <= stored as f64,
        "size {size}, the repository holds {stored} bytes"
    );

    let rules = example("prometheus-rules.yml");
    let prom = Prometheus::start("bunker", &[format!("127.0.0.1:{port}")], &[&rules]);
    let firing = wait_until(
        "BunkerBackupFailing firing for broken",
        Duration::from_secs(60),
        || {
            prom.alerts().into_iter().find(|a| {
                a["labels"]["alertname"] == "BunkerBackupFailing" && a["state"] == "firing"
            })
        },
    );
    let labels = &firing["labels"];
    assert_eq!(labels["bunker_job"], "broken", "{firing}");
    assert_eq!(labels["job"], "bunker", "{firing}");
    assert!(labels.get("exported_job").is_none(), "{firing}");
    assert_eq!(firing["annotations"]["summary"], "Backup job broken failed");
    let failing: Vec<_> = prom
        .alerts()
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == "BunkerBackupFailing")
        .map(|a| a["labels"]["bunker_job"].clone())
        .collect();
    assert_eq!(failing, ["broken"], "only the broken job fails");
    // The daemon's log names steps and snapshots, not Rust's Option.
    let log = std::fs::read_to_string(s.path("daemon.log")).unwrap();
    assert!(!log.contains("Some("), "{log}");
    assert!(log.contains("before hook"), "{log}");
    let sizes = prom.query("bunker_repository_size_bytes");
    assert_eq!(sizes.len(), 1, "{sizes:?}");
    assert_eq!(sizes[0]["metric"]["repository"], "primary");
}
