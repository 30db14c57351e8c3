//! Azurite's blob service with the well-known development account and one container.

use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use super::{accepts_connections, env, free_ports, http, server_dir, tool, Daemon, OracleRepo};

/// Azurite's built-in development account and its published key.
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The port restic 0.14's Azure SDK sends `devstoreaccount1` to, whatever else is set.
const EMULATOR_PORT: u16 = 10000;

/// Serializes the tests that need [`EMULATOR_PORT`].
static EMULATOR_PORT_LOCK: Mutex<()> = Mutex::new(());

/// A running Azurite blob service. The endpoint is path-style:
/// `http://127.0.0.1:PORT/devstoreaccount1`, authentication is SharedKey with
/// [`Azurite::account`] and [`Azurite::key`].
pub struct Azurite {
    daemon: Daemon,
    pub port: u16,
    pub container: String,
    /// Held by the server on [`EMULATOR_PORT`]; released after the daemon is killed.
    _emulator_port: Option<MutexGuard<'static, ()>>,
    dir: tempfile::TempDir,
}

impl Azurite {
    /// Starts on a free port and creates the container "bunker".
    pub fn start() -> Azurite {
        Azurite::start_on(free_ports(1)[0], None)
    }

    /// Starts on port 10000, the only one restic 0.14 can reach (see [`Azurite::restic`]).
    /// Tests in this binary that call it take turns; another process holding the port
    /// makes it fail with Azurite's "address in use" in the message.
    pub fn start_on_emulator_port() -> Azurite {
        let guard = EMULATOR_PORT_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Azurite::start_on(EMULATOR_PORT, Some(guard))
    }

    fn start_on(port: u16, guard: Option<MutexGuard<'static, ()>>) -> Azurite {
        let dir = server_dir("azurite");
        let mut cmd = Command::new(tool("azurite-blob"));
        cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(dir.path().join("data"))
            // Accept any client API version, ignore headers Azurite does not know, and
            // send nothing to Microsoft.
            .args(["--skipApiVersionCheck", "--loose", "--disableTelemetry"])
            .current_dir(dir.path());
        let mut a = Azurite {
            daemon: Daemon::spawn("azurite", &mut cmd, &dir.path().join("log")),
            port,
            container: "bunker".to_string(),
            _emulator_port: guard,
            dir,
        };
        let container = a.container.clone();
        a.daemon
            .wait_until("the listening port", || accepts_connections(port));
        a.daemon.wait_until("container creation", || {
            matches!(create_container(port, &container), Ok(201 | 409))
        });
        a
    }

    /// `http://127.0.0.1:PORT/devstoreaccount1`: OpenDAL's azblob `endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    pub fn account(&self) -> &'static str {
        ACCOUNT
    }

    pub fn key(&self) -> &'static str {
        KEY
    }

    /// restic's repository at `path` in the container. Only for a server started with
    /// [`Azurite::start_on_emulator_port`]: restic 0.14 cannot be pointed elsewhere.
    pub fn restic(&self, path: &str) -> OracleRepo {
        assert_eq!(
            self.port, EMULATOR_PORT,
            "restic 0.14 reaches Azurite only on port {EMULATOR_PORT}: \
             start it with Azurite::start_on_emulator_port()"
        );
        OracleRepo {
            repo: format!("azure:{}:/{path}", self.container),
            env: env(&[("AZURE_ACCOUNT_NAME", ACCOUNT), ("AZURE_ACCOUNT_KEY", KEY)]),
            options: vec![],
        }
    }

    /// rustic's (OpenDAL `azblob`) repository at `path` in the container.
    pub fn rustic(&self, path: &str) -> OracleRepo {
        OracleRepo {
            repo: "opendal:azblob".to_string(),
            env: env(&[
                ("OPENDAL_ENDPOINT", &self.endpoint()),
                ("OPENDAL_CONTAINER", &self.container),
                ("OPENDAL_ACCOUNT_NAME", ACCOUNT),
                ("OPENDAL_ACCOUNT_KEY", KEY),
                ("OPENDAL_ROOT", &format!("/{path}")),
            ]),
            options: vec![],
        }
    }
}

/// Creates `container` with a SharedKey-signed "Create Container" request; returns the
/// status (201 created, 409 exists).
fn create_container(port: u16, container: &str) -> std::io::Result<u16> {
    const VERSION: &str = "2021-08-06";
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    // Verb, eleven empty standard headers (a zero Content-Length is signed as empty),
    // the x-ms-* headers, and the resource: the account, then the path-style URL path.
    let string_to_sign = format!(
        "PUT\n{}x-ms-date:{date}\nx-ms-version:{VERSION}\n/{ACCOUNT}/{ACCOUNT}/{container}\nrestype:container",
        "\n".repeat(11)
    );
    let auth = format!(
        "SharedKey {ACCOUNT}:{}",
        hmac_sha256_base64(KEY, &string_to_sign)
    );
    let (status, _) = http(
        port,
        "PUT",
        &format!("/{ACCOUNT}/{container}?restype=container"),
        &[
            ("x-ms-date", &date),
            ("x-ms-version", VERSION),
            ("Authorization", &auth),
        ],
        b"",
    )?;
    Ok(status)
}

/// Base64 of HMAC-SHA256(base64-decoded `key`, `msg`). Python's standard library does
/// it, which keeps a crypto crate out of the test dependencies.
fn hmac_sha256_base64(key: &str, msg: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import base64, hashlib, hmac, sys\n\
             key = base64.b64decode(sys.argv[1])\n\
             mac = hmac.new(key, sys.stdin.buffer.read(), hashlib.sha256).digest()\n\
             print(base64.b64encode(mac).decode())",
            key,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (signs Azurite requests)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(msg.as_bytes())
        .expect("write to python3");
    let out = child.wait_with_output().expect("python3");
    assert!(out.status.success(), "python3 failed to sign a request");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}
