//! Garage 2.x: one node, or a cluster of several nodes on this machine, with an access
//! key and a bucket it may read, write and own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use super::{
    accepts_connections, env, free_ports, http, random_hex, server_dir, tool, Daemon, OracleRepo,
    START_DEADLINE,
};

/// The S3 region Garage answers to: the one most clients assume when none is given.
const REGION: &str = "us-east-1";

/// A running Garage cluster (one node or more). Clients talk S3 to any node's
/// [`Garage::node_endpoint`]; path-style requests only (Garage has no virtual-host buckets
/// configured), region [`Garage::region`].
pub struct Garage {
    nodes: Vec<Node>,
    pub bucket: String,
    pub key_id: String,
    pub secret: String,
    /// Dropped last: the nodes are killed before their directories go.
    dir: tempfile::TempDir,
}

struct Node {
    /// `<node id>@127.0.0.1:<rpc port>`, known once the node has started.
    id: String,
    config: PathBuf,
    log: PathBuf,
    rpc_port: u16,
    s3_port: u16,
    admin_port: u16,
    daemon: Option<Daemon>,
}

impl Garage {
    /// One node, replication factor 1.
    pub fn single() -> Garage {
        Garage::start(1)
    }

    /// `n` nodes on this machine, replication factor `n`: each its own ports, metadata
    /// and data directories, one shared RPC secret; connected, all in the layout, which
    /// is applied. With 3 nodes, reads and writes need 2 (quorum), so one node may be
    /// stopped.
    pub fn cluster(n: usize) -> Garage {
        assert!(n >= 1, "a cluster needs at least one node");
        Garage::start(n)
    }

    fn start(n: usize) -> Garage {
        let dir = server_dir("garage");
        let rpc_secret = random_hex(32);
        let ports = free_ports(3 * n);
        let nodes = (0..n)
            .map(|i| {
                let node_dir = dir.path().join(format!("node{i}"));
                std::fs::create_dir_all(&node_dir).expect("mkdir");
                let (rpc_port, s3_port, admin_port) =
                    (ports[3 * i], ports[3 * i + 1], ports[3 * i + 2]);
                let config = node_dir.join("garage.toml");
                std::fs::write(
                    &config,
                    format!(
                        r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "sqlite"
metadata_fsync = false
data_fsync = false
replication_factor = {n}
rpc_secret = "{rpc_secret}"
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3_port}"

[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
"#,
                        meta = node_dir.join("meta").display(),
                        data = node_dir.join("data").display(),
                    ),
                )
                .expect("write garage.toml");
                Node {
                    id: String::new(),
                    config,
                    log: node_dir.join("log"),
                    rpc_port,
                    s3_port,
                    admin_port,
                    daemon: None,
                }
            })
            .collect();
        let mut g = Garage {
            nodes,
            bucket: "bunker".to_string(),
            key_id: format!("GK{}", random_hex(12)),
            secret: random_hex(32),
            dir,
        };
        for i in 0..n {
            g.spawn_node(i);
        }
        for i in 0..n {
            let port = g.nodes[i].rpc_port;
            g.node_daemon(i)
                .wait_until("its RPC port", || accepts_connections(port));
        }
        for i in 0..n {
            g.nodes[i].id = g.cli_retry(i, &["node", "id", "-q"]).trim().to_string();
        }
        for i in 0..n {
            g.connect_to_peers(i);
        }
        let mut assign = vec!["layout", "assign", "-z", "dc1", "-c", "1G"];
        assign.extend(
            g.nodes
                .iter()
                .map(|node| node.id.split('@').next().expect("node id")),
        );
        g.cli_retry(0, &assign);
        g.cli_retry(0, &["layout", "apply", "--version", "1"]);
        for i in 0..n {
            g.wait_healthy(i);
        }
        g.cli_retry(
            0,
            &[
                "key", "import", "--yes", "-n", "bunker", &g.key_id, &g.secret,
            ],
        );
        g.cli_retry(0, &["bucket", "create", &g.bucket]);
        g.cli_retry(
            0,
            &[
                "bucket", "allow", "--read", "--write", "--owner", &g.bucket, "--key", &g.key_id,
            ],
        );
        g
    }

    /// The S3 endpoint of node 0, like `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.node_endpoint(0)
    }

    /// The S3 endpoint of node `i`.
    pub fn node_endpoint(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].s3_port)
    }

    pub fn region(&self) -> &'static str {
        REGION
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Kills node `i` (SIGKILL: no goodbye to its peers).
    pub fn stop_node(&mut self, i: usize) {
        assert!(
            self.nodes[i].daemon.is_some(),
            "garage node {i} is not running"
        );
        self.nodes[i].daemon = None;
    }

    /// Starts node `i` again with the same configuration and directories, and waits until
    /// it and its peers are connected both ways and it serves requests. (They would find
    /// each other by themselves, but only after seconds to tens of seconds of back-off;
    /// until then requests can fail for want of quorum.)
    pub fn start_node(&mut self, i: usize) {
        assert!(self.nodes[i].daemon.is_none(), "garage node {i} is running");
        self.spawn_node(i);
        self.connect_to_peers(i);
        let peers: Vec<usize> = (0..self.nodes.len())
            .filter(|&j| j != i && self.nodes[j].daemon.is_some())
            .collect();
        for j in peers {
            self.cli_retry(j, &["node", "connect", &self.nodes[i].id]);
        }
        self.wait_healthy(i);
    }

    /// restic's repository at `path` inside the bucket.
    pub fn restic(&self, path: &str) -> OracleRepo {
        OracleRepo {
            repo: format!("s3:{}/{}/{}", self.endpoint(), self.bucket, path),
            env: env(&[
                ("AWS_ACCESS_KEY_ID", &self.key_id),
                ("AWS_SECRET_ACCESS_KEY", &self.secret),
                ("AWS_DEFAULT_REGION", REGION),
            ]),
            options: vec![],
        }
    }

    /// rustic's (OpenDAL `s3`) repository at `path` inside the bucket.
    pub fn rustic(&self, path: &str) -> OracleRepo {
        OracleRepo {
            repo: "opendal:s3".to_string(),
            env: env(&[
                ("OPENDAL_ENDPOINT", &self.endpoint()),
                ("OPENDAL_BUCKET", &self.bucket),
                ("OPENDAL_REGION", REGION),
                ("OPENDAL_ACCESS_KEY_ID", &self.key_id),
                ("OPENDAL_SECRET_ACCESS_KEY", &self.secret),
                ("OPENDAL_ROOT", &format!("/{path}")),
            ]),
            options: vec![],
        }
    }

    fn spawn_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let mut cmd = Command::new(tool("garage"));
        cmd.arg("-c")
            .arg(&node.config)
            .arg("server")
            .env("RUST_LOG", "garage=info");
        node.daemon = Some(Daemon::spawn(
            &format!("garage node {i}"),
            &mut cmd,
            &node.log,
        ));
    }

    /// Opens node `i`'s connections to every other running node. Garage's RPC goes over
    /// each node's own outgoing connections, so a pair needs one connect from each side.
    fn connect_to_peers(&self, i: usize) {
        for (j, peer) in self.nodes.iter().enumerate() {
            if j != i && peer.daemon.is_some() {
                self.cli_retry(i, &["node", "connect", &peer.id]);
            }
        }
    }

    fn node_daemon(&mut self, i: usize) -> &mut Daemon {
        self.nodes[i]
            .daemon
            .as_mut()
            .unwrap_or_else(|| panic!("garage node {i} is not running"))
    }

    /// Waits until node `i` says it can answer requests (quorum for every partition).
    fn wait_healthy(&mut self, i: usize) {
        let port = self.nodes[i].admin_port;
        self.node_daemon(i)
            .wait_until("a healthy cluster (admin /health)", || {
                matches!(http(port, "GET", "/health", &[], b""), Ok((200, _)))
            });
    }

    fn cli(&self, i: usize, args: &[&str]) -> Output {
        Command::new(tool("garage"))
            .arg("-c")
            .arg(&self.nodes[i].config)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run garage")
    }

    /// Runs a `garage` admin command against node `i` until it succeeds (the node may
    /// still be starting or waiting for the layout to spread); returns stdout.
    fn cli_retry(&self, i: usize, args: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let o = self.cli(i, args);
            if o.status.success() {
                return String::from_utf8_lossy(&o.stdout).into_owned();
            }
            if start.elapsed() > START_DEADLINE {
                panic!(
                    "garage {args:?} on node {i} still failing after {START_DEADLINE:?}: {}{}\n\
                     --- node log {}:\n{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr),
                    self.nodes[i].log.display(),
                    self.nodes[i]
                        .daemon
                        .as_ref()
                        .map(Daemon::log_tail)
                        .unwrap_or_default()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The cluster's temporary directory (node configs, data, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
