//! Running the PostgreSQL client tools: finding them, feeding and draining their pipes,
//! and turning a non-zero exit into an error that carries the tool's own message.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use super::error::{Error, Result};

/// One client tool (`pg_dump`, `psql`, ...), from `--pg-bin` or `PATH`.
#[derive(Clone)]
pub struct Tool {
    name: &'static str,
    path: PathBuf,
    /// Given to the tool as `PGPASSWORD`, out of sight of other users.
    password: Option<String>,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl Tool {
    pub fn new(bin_dir: Option<&Path>, name: &'static str) -> Tool {
        let path = match bin_dir {
            Some(d) => d.join(name),
            None => PathBuf::from(name),
        };
        Tool {
            name,
            path,
            password: None,
        }
    }

    /// The tool with the password it connects with (in its environment).
    pub fn with_password(mut self, password: Option<String>) -> Tool {
        self.password = password;
        self
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// A command for this tool; `bunker` as its application name, so that bunker's
    /// own sessions can be told apart on the server.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.path);
        c.env("PGAPPNAME", "bunker");
        if let Some(p) = &self.password {
            c.env("PGPASSWORD", p);
        }
        c
    }

    /// Starts `cmd` with its stderr collected in the background.
    pub(crate) fn spawn(&self, mut cmd: Command) -> Result<(Child, JoinHandle<String>)> {
        cmd.stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        let mut err = child.stderr.take().expect("piped stderr");
        let drain = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Ok((child, drain))
    }

    fn spawn_error(&self, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::ToolMissing {
                tool: self.name.to_string(),
            }
        } else {
            Error::io(format!("starting {}", self.name), e)
        }
    }

    /// Waits for a tool started with [`Tool::spawn`]; a non-zero exit is an error with
    /// what the tool printed.
    pub(crate) fn finish(&self, mut child: Child, drain: JoinHandle<String>) -> Result<String> {
        let status = child
            .wait()
            .map_err(|e| Error::io(format!("waiting for {}", self.name), e))?;
        let stderr = drain.join().unwrap_or_default();
        if status.success() {
            Ok(stderr)
        } else {
            Err(Error::Tool {
                tool: self.name.to_string(),
                message: tool_message(self.name, &stderr, status),
            })
        }
    }

    /// Runs `cmd` to the end and returns its standard output.
    pub(crate) fn output(&self, mut cmd: Command) -> Result<String> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let (mut child, drain) = self.spawn(cmd)?;
        let mut out = String::new();
        let read = child
            .stdout
            .take()
            .expect("piped stdout")
            .read_to_string(&mut out);
        self.finish(child, drain)?;
        read.map_err(|e| Error::io(format!("reading {}'s output", self.name), e))?;
        Ok(out)
    }

    /// The major version and full version string `--version` prints.
    pub fn version(&self) -> Result<(u32, String)> {
        let mut cmd = self.command();
        cmd.arg("--version");
        let out = self.output(cmd)?;
        // "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        let version = out
            .split_whitespace()
            .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .unwrap_or("")
            .to_string();
        let major = version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| {
                Error::Invalid(format!("cannot read {}'s version from {out:?}", self.name))
            })?;
        Ok((major, version))
    }
}

/// The tool's error lines as one line: its `error:`/`FATAL:` lines and their details,
/// without the tool's name repeated in front of each.
fn tool_message(name: &str, stderr: &str, status: std::process::ExitStatus) -> String {
    let prefix = format!("{name}: ");
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_prefix(&prefix).unwrap_or(l))
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect();
    if lines.is_empty() {
        return format!("exited with {status} and printed nothing");
    }
    // A restore can print thousands of lines; the first errors say what went wrong.
    let mut msg = lines
        .iter()
        .take(6)
        .copied()
        .collect::<Vec<_>>()
        .join(" / ");
    if lines.len() > 6 {
        msg.push_str(&format!(" / ... ({} more lines)", lines.len() - 6));
    }
    msg
}

/// A running dump tool whose standard output is the archive being backed up.
pub struct Dump {
    tool: Tool,
    child: Child,
    stdout: Option<ChildStdout>,
    drain: JoinHandle<String>,
}

impl Dump {
    pub(crate) fn start(tool: Tool, mut cmd: Command) -> Result<Dump> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let (mut child, drain) = tool.spawn(cmd)?;
        let stdout = child.stdout.take();
        Ok(Dump {
            tool,
            child,
            stdout,
            drain,
        })
    }

    /// The archive stream (once).
    pub fn take_stdout(&mut self) -> ChildStdout {
        self.stdout.take().expect("the dump's output is taken once")
    }

    /// Waits for the tool to exit; an archive is complete only if this returns `Ok`.
    /// Returns what the tool printed on stderr (warnings).
    pub fn finish(mut self) -> Result<String> {
        drop(self.stdout.take());
        self.tool.finish(self.child, self.drain)
    }

    /// Stops the tool (after a failure on bunker's side).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
