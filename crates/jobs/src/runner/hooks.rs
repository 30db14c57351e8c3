//! Hook commands: run with a time limit, their output kept for the run's record.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::Hook;

/// Runs the hooks one after the other; the first failure stops the list and is the
/// error (`what` names the list in it, e.g. "before hook").
pub fn run_hooks(hooks: &[Hook], what: &str, env: &[(&str, String)]) -> Result<(), String> {
    for h in hooks {
        run_one(&h.argv(), h.timeout(), env).map_err(|e| format!("{what} {}: {e}", show(h)))?;
    }
    Ok(())
}

fn show(h: &Hook) -> String {
    let argv = h.argv();
    let line = if argv.len() == 3 && argv[0] == "sh" && argv[1] == "-c" {
        argv[2].clone()
    } else {
        argv.join(" ")
    };
    format!("{line:?}")
}

fn run_one(argv: &[String], timeout: Duration, env: &[(&str, String)]) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let mut cmd = Command::new(program);
    // Its own process group, so that a timeout stops what a shell line started too.
    cmd.process_group(0)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let mut stderr = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let group = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                return Err(format!("timed out after {}s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    };
    let err = reader.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let last = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Err(format!(
        "{status}{}",
        if last.is_empty() {
            String::new()
        } else {
            format!(": {}", last.trim())
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Hook, Span, Text};

    #[test]
    fn a_failing_or_slow_hook_is_an_error_naming_it() {
        let ok = Hook::Shell(Text::new("test \"$BUNKER_JOB\" = db"));
        run_hooks(&[ok], "before hook", &[("BUNKER_JOB", "db".into())]).unwrap();
        let bad = Hook::Shell(Text::new("echo no space left >&2; exit 3"));
        let e = run_hooks(&[bad], "before hook", &[]).unwrap_err();
        assert!(
            e.contains("before hook")
                && e.contains("exit status: 3")
                && e.contains("no space left"),
            "{e}"
        );
        let slow = Hook::Full {
            command: vec![Text::new("sh"), Text::new("-c"), Text::new("sleep 5; true")],
            timeout: Span(Duration::from_millis(200)),
        };
        let t = Instant::now();
        let e = run_hooks(&[slow], "after hook", &[]).unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }
}
