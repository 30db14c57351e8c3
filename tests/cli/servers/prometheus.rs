//! Prometheus (Debian `prometheus`): scrapes targets on loopback every second and
//! evaluates rule files as often, with its database in a temporary directory.

use std::path::Path;
use std::process::Command;

use super::{free_ports, http, server_dir, Daemon};
use crate::util::tool;

/// A running Prometheus; its HTTP API at `http://127.0.0.1:PORT/api/v1/`.
pub struct Prometheus {
    daemon: Daemon,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts with one scrape job named `job_name` over `targets` (`host:port`) and the
    /// given rule files.
    pub fn start(job_name: &str, targets: &[String], rule_files: &[&Path]) -> Prometheus {
        let dir = server_dir("prometheus");
        let port = free_ports(1)[0];
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("  - \"{}\"\n", p.display()))
            .collect();
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{}\
             scrape_configs:\n  - job_name: {job_name}\n    static_configs:\n      - targets: [{}]\n",
            rules.concat(),
            targets.join(", ")
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let mut cmd = Command::new(tool("prometheus"));
        cmd.arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn");
        let mut p = Prometheus {
            daemon: Daemon::spawn("prometheus", &mut cmd, &dir.path().join("log")),
            port,
            dir,
        };
        p.daemon.wait_until("/-/ready", || {
            matches!(http(port, "GET", "/-/ready", &[], b""), Ok((200, _)))
        });
        p
    }

    /// `GET /api/v1/PATH` (a query string included), parsed; panics unless it succeeded.
    pub fn api(&self, path: &str) -> serde_json::Value {
        let (status, body) =
            http(self.port, "GET", &format!("/api/v1/{path}"), &[], b"").expect("prometheus api");
        assert_eq!(status, 200, "prometheus /api/v1/{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("prometheus /api/v1/{path}: {e}: {body}"));
        assert_eq!(v["status"], "success", "{body}");
        v["data"].clone()
    }

    /// The result vector of an instant query (`query` URL-encoded by the caller).
    pub fn query(&self, query: &str) -> Vec<serde_json::Value> {
        self.api(&format!("query?query={query}"))["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The alerts pending or firing now.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        self.api("alerts")["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}
