//! OpenSSH's sshd serving SFTP (`internal-sftp`) to a test-made ed25519 key, as the
//! current user.

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{env, free_ports, server_dir, tool, Daemon, OracleRepo};

/// A running sshd on a loopback port with its own host key. Log in as [`Sftp::user`] with
/// [`Sftp::client_key`]; [`Sftp::known_hosts`] holds the host key for `[127.0.0.1]:PORT`.
/// The repository goes below [`Sftp::remote_dir`] (an absolute path on this machine).
pub struct Sftp {
    daemon: Daemon,
    pub port: u16,
    pub user: String,
    dir: tempfile::TempDir,
}

impl Sftp {
    pub fn start() -> Sftp {
        Sftp::start_with("")
    }

    /// A server on which no client may delete or replace a file: `internal-sftp -P`
    /// refuses remove, rmdir and posix-rename (plain SFTP rename never replaces).
    pub fn start_append_only() -> Sftp {
        Sftp::start_with(" -P remove,rmdir,posix-rename")
    }

    fn start_with(sftp_flags: &str) -> Sftp {
        let dir = server_dir("sftp");
        let port = free_ports(1)[0];
        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .expect("reading the user database")
            .expect("the current user has no name")
            .name;
        let d = dir.path();
        for key in ["host_key", "client_key"] {
            let o = Command::new(tool("ssh-keygen"))
                .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                .arg(d.join(key))
                .output()
                .expect("ssh-keygen");
            assert!(o.status.success(), "ssh-keygen: {o:?}");
        }
        let host_key = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
        let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", host_key.join(" ")),
        )
        .expect("write known_hosts");
        std::fs::create_dir(d.join("storage")).expect("mkdir");
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1:{port}\n\
                 HostKey {dir}/host_key\n\
                 PidFile {dir}/sshd.pid\n\
                 AuthorizedKeysFile {dir}/client_key.pub\n\
                 AuthenticationMethods publickey\n\
                 PermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 UseDNS no\n\
                 MaxStartups 100\n\
                 MaxSessions 100\n\
                 Subsystem sftp internal-sftp{sftp_flags}\n",
                dir = d.display()
            ),
        )
        .expect("write sshd_config");
        privsep_dir();
        let mut cmd = Command::new(sshd());
        // -D: stay in the foreground (killable), -e: log to the log file.
        cmd.args(["-D", "-e", "-f"]).arg(d.join("sshd_config"));
        let mut s = Sftp {
            daemon: Daemon::spawn("sshd", &mut cmd, &d.join("log")),
            port,
            user,
            dir,
        };
        s.daemon.wait_until("the SSH banner", || banner(port));
        s
    }

    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// An empty directory the user may write, for repositories.
    pub fn remote_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// An ssh command line that opens the sftp subsystem on this server, checking the
    /// host key against [`Sftp::known_hosts`] and reading no user ssh configuration:
    /// restic's `-o sftp.command=...`.
    pub fn ssh_command(&self) -> String {
        format!(
            "{ssh} -F /dev/null -p {port} -i {key} -o IdentitiesOnly=yes \
             -o UserKnownHostsFile={kh} -o GlobalKnownHostsFile=/dev/null \
             -o StrictHostKeyChecking=yes -o BatchMode=yes {user}@127.0.0.1 -s sftp",
            ssh = tool("ssh").display(),
            port = self.port,
            key = self.client_key().display(),
            kh = self.known_hosts().display(),
            user = self.user,
        )
    }

    /// restic's repository at `path` below [`Sftp::remote_dir`].
    pub fn restic(&self, path: &str) -> OracleRepo {
        OracleRepo {
            repo: format!(
                "sftp:{}@127.0.0.1:{}/{path}",
                self.user,
                self.remote_dir().display()
            ),
            env: vec![],
            options: vec![format!("sftp.command={}", self.ssh_command())],
        }
    }

    /// A directory holding an `ssh` that runs the real one with this server's known_hosts
    /// file. OpenDAL's sftp service starts `ssh` from PATH and has no known_hosts-file
    /// setting (only `known_hosts_strategy`, against ~/.ssh/known_hosts); putting this
    /// directory first on PATH lets it check the host key strictly without touching the
    /// user's files.
    pub fn ssh_wrapper_dir(&self) -> PathBuf {
        let bin = self.dir.path().join("bin");
        let ssh = bin.join("ssh");
        if !ssh.exists() {
            std::fs::create_dir_all(&bin).expect("mkdir");
            std::fs::write(
                &ssh,
                format!(
                    "#!/bin/sh\nexec {real} -F /dev/null -o UserKnownHostsFile={kh} \
                     -o GlobalKnownHostsFile=/dev/null \"$@\"\n",
                    real = tool("ssh").display(),
                    kh = self.known_hosts().display()
                ),
            )
            .expect("write ssh wrapper");
            std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        bin
    }

    /// The environment an OpenDAL sftp client (rustic, bunker) needs for this server:
    /// [`Sftp::ssh_wrapper_dir`] first on PATH, and `XDG_STATE_HOME` in the server's
    /// directory, where the ssh library behind OpenDAL puts its control-socket
    /// directories (default ~/.local/state; rustic leaves one `.ssh-connection*` behind
    /// per run).
    pub fn opendal_env(&self) -> Vec<(String, String)> {
        let mut search = vec![self.ssh_wrapper_dir()];
        search.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let search = std::env::join_paths(search).expect("PATH");
        env(&[
            ("PATH", search.to_str().expect("PATH is UTF-8")),
            (
                "XDG_STATE_HOME",
                self.dir.path().join("state").to_str().expect("UTF-8 path"),
            ),
        ])
    }

    /// rustic's (OpenDAL `sftp`) repository at `path` below [`Sftp::remote_dir`], with
    /// strict host key checking against [`Sftp::known_hosts`] (see [`Sftp::opendal_env`]).
    pub fn rustic(&self, path: &str) -> OracleRepo {
        let mut vars = self.opendal_env();
        vars.extend(env(&[
            (
                "OPENDAL_ENDPOINT",
                &format!("ssh://127.0.0.1:{}", self.port),
            ),
            ("OPENDAL_USER", &self.user),
            (
                "OPENDAL_KEY",
                self.client_key().to_str().expect("UTF-8 path"),
            ),
            ("OPENDAL_KNOWN_HOSTS_STRATEGY", "strict"),
            (
                "OPENDAL_ROOT",
                &format!("{}/{path}", self.remote_dir().display()),
            ),
        ]));
        OracleRepo {
            repo: "opendal:sftp".to_string(),
            env: vars,
            options: vec![],
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// sshd needs an absolute path (it re-executes itself).
fn sshd() -> PathBuf {
    let p = Path::new("/usr/sbin/sshd");
    if p.is_file() {
        p.to_path_buf()
    } else {
        tool("sshd")
    }
}

/// sshd started by root insists on its privilege-separation directory, which lives on
/// tmpfs (/run) and is normally made by the system service; make it if missing.
fn privsep_dir() {
    let dir = Path::new("/run/sshd");
    if nix::unistd::geteuid().is_root() && !dir.is_dir() {
        std::fs::create_dir_all(dir).expect("mkdir /run/sshd");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

/// True once the server greets with its SSH version line.
fn banner(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).is_ok() && &buf == b"SSH-"
}
