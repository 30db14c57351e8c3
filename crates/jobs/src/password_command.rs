//! Running a password command (`--password-command`, `password_command = "..."`): with
//! a time limit, in its own process group, and with errors that name the command and
//! its exit status but never what it printed (which may be the password, or part of it).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a password command may take unless told otherwise: long enough for a
/// secret manager that asks for a touch or a PIN, short enough that a command waiting
/// for input that never comes does not hang a backup forever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a password command gave no password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordCommandError {
    #[error("password command {command:?} could not be started: {source}")]
    Start {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "password command {command:?} did not finish within {}s and was stopped \
         (is it waiting for input?)",
        .after.as_secs_f64()
    )]
    TimedOut { command: String, after: Duration },
    #[error("password command {command:?} failed ({status})")]
    Failed { command: String, status: ExitStatus },
}

/// Runs `command` with `sh -c` and returns the first line of its output. Standard input
/// is closed and standard error goes where ours goes (a secret manager's prompt stays
/// visible); a command still running after `timeout` is killed with its children.
pub fn run(command: &str, timeout: Duration) -> Result<String, PasswordCommandError> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| PasswordCommandError::Start {
            command: command.to_string(),
            source,
        })?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let group = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                return Err(PasswordCommandError::TimedOut {
                    command: command.to_string(),
                    after: timeout,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(source) => {
                return Err(PasswordCommandError::Start {
                    command: command.to_string(),
                    source,
                })
            }
        }
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(PasswordCommandError::Failed {
            command: command.to_string(),
            status,
        });
    }
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or("")
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_the_password() {
        assert_eq!(
            run("printf 'pw one\\nrest'", DEFAULT_TIMEOUT).unwrap(),
            "pw one"
        );
    }

    /// Regression (issue 14): a password command that never finished hung the command
    /// forever, and a failing one printed what it wrote.
    #[test]
    fn a_slow_or_failing_command_is_named_without_its_output() {
        let t = Instant::now();
        let e = run("sleep 30 & sleep 30", Duration::from_millis(300)).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert!(matches!(e, PasswordCommandError::TimedOut { .. }), "{e}");
        assert!(e.to_string().contains("\"sleep 30 & sleep 30\""), "{e}");
        let e = run("echo hunter2; echo hunter3 >&2; exit 3", DEFAULT_TIMEOUT).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("exit status: 3"), "{text}");
        assert_eq!(
            text.matches("hunter").count(),
            2,
            "only in the command: {text}"
        );
    }
}
