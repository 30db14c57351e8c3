//! Job-level commands on real repositories: `config check | show`, `run` with hooks,
//! copies, retention, verification and the audit log, `catalog rebuild`, `status`,
//! `schedule export` and `notify test` against real receivers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::servers::http_recorder::HttpRecorder;
use crate::servers::smtp::{SmtpSecurity, SmtpServer};
use crate::util::*;

/// Runs bunker with a configuration file (and no repository or password in the
/// environment: the file says everything).
pub fn bunker_cfg(config: &Path, args: &[&str]) -> Output {
    Command::new(bunker_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("BUNKER_REPOSITORY")
        .env_remove("BUNKER_PASSWORD")
        .env("BUNKER_CACHE_DIR", config.parent().unwrap().join("cache"))
        .output()
        .expect("spawn bunker")
}

pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Two local repositories (primary and copy), initialized with the test password.
fn two_repos(s: &Scratch) -> (PathBuf, PathBuf) {
    let (a, b) = (s.path("primary"), s.path("second"));
    bunker(&a, &["init"]);
    bunker(&b, &["init"]);
    std::fs::write(s.path("pass"), PASSWORD).unwrap();
    (a, b)
}

#[test]
fn config_check_names_file_line_and_column_and_exits_2() {
    let s = Scratch::new();
    let cfg = s.path("bunker.toml");
    std::fs::write(
        &cfg,
        "[repositories.r]\nurl = \"/x\"\npassword = \"p\"\n\n[jobs.db]\nrepository = \"r\"\nschedule = \"0 25 * * *\"\nsource = { type = \"files\", paths = [\"/etc\"] }\n",
    )
    .unwrap();
    let o = bunker_cfg(&cfg, &["config", "check"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("{}:7:12:", cfg.display())), "{err}");
    assert!(err.contains("hour"), "{err}");
    // The same as JSON with --json, on standard output.
    let o = bunker_cfg(&cfg, &["--json", "config", "check"]);
    assert_eq!(o.status.code(), Some(2));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (j["line"].as_u64(), j["column"].as_u64()),
        (Some(7), Some(12)),
        "{j}"
    );
    assert!(j["error"].as_str().unwrap().contains("hour"), "{j}");
    assert_eq!(j["path"], cfg.display().to_string());

    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("0 25", "0 2"),
    )
    .unwrap();
    assert!(ok(bunker_cfg(&cfg, &["config", "check"])).contains("ok (1 repository, 1 job"));
    let missing = bunker_cfg(&s.path("nope.toml"), &["config", "check"]);
    assert_eq!(missing.status.code(), Some(2));

    // A notification URL with a typo in its scheme is refused, its key not printed.
    let text = std::fs::read_to_string(&cfg).unwrap()
        + "\n[notify.hook]\ntype = \"webhook\"\nurl = \"htp://hooks.example.com/k3y\"\n";
    std::fs::write(&cfg, text).unwrap();
    let o = bunker_cfg(&cfg, &["config", "check"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("scheme \"htp\" is not http or https"), "{err}");
    assert!(!err.contains("k3y"), "{err}");
}

#[test]
fn config_show_never_prints_a_secret() {
    let s = Scratch::new();
    let cfg = s.path("bunker.toml");
    std::fs::write(
        &cfg,
        "[repositories.r]\nurl = \"/x\"\npassword = \"env:BUNKER_TEST_SHOW_PW\"\n\n[notify.hook]\ntype = \"webhook\"\nurl = \"https://example.com/hook/${BUNKER_TEST_SHOW_KEY}\"\n\n[jobs.db]\nrepository = \"r\"\nsource = { type = \"postgres\", dsn = \"postgresql://u:dbsecret@h/db\", databases = [\"db\"] }\n",
    )
    .unwrap();
    let o = Command::new(bunker_bin())
        .args(["--config"])
        .arg(&cfg)
        .args(["config", "show"])
        .env("BUNKER_TEST_SHOW_PW", "pw-secret-1")
        .env("BUNKER_TEST_SHOW_KEY", "key-secret-2")
        .output()
        .unwrap();
    let shown = ok(o);
    for secret in ["pw-secret-1", "key-secret-2", "dbsecret"] {
        assert!(!shown.contains(secret), "{secret} in\n{shown}");
    }
    assert_eq!(shown.matches("<redacted>").count(), 3, "{shown}");
}

fn files_job_config(s: &Scratch, extra: &str) -> PathBuf {
    let cfg = s.path("bunker.toml");
    let text = format!(
        r#"
[daemon]
state_dir = "{state}"

[repositories.primary]
url = "{primary}"
password_file = "{pass}"

[repositories.second]
url = "{second}"
password_command = "cat {pass}"

[jobs.site]
repository = "primary"
copies = ["second"]
source = {{ type = "files", paths = ["{src}"] }}
retention = {{ keep_last = 2 }}
hooks.before = ["echo before $BUNKER_JOB >> {log}"]
hooks.after = ["echo after $BUNKER_SNAPSHOT >> {log}"]
hooks.on_failure = ["echo failed $BUNKER_FAILED_STEP: $BUNKER_ERROR >> {log}"]
verify = {{ check = "@every 1s", read_data_subset = "100%", drill = "@every 1s" }}
{extra}
"#,
        state = s.path("state").display(),
        primary = s.path("primary").display(),
        second = s.path("second").display(),
        pass = s.path("pass").display(),
        src = s.path("src").display(),
        log = s.path("hooks.log").display(),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

#[test]
fn run_backs_up_copies_keeps_verifies_and_audits() {
    let s = Scratch::new();
    let (primary, second) = two_repos(&s);
    let src = s.path("src");
    make_tricky_tree(&src, false);
    let cfg = files_job_config(&s, "");
    for i in 0..3 {
        write(&src.join(format!("new-{i}.bin")), &noise(200_000, i));
        let out = ok(bunker_cfg(&cfg, &["run", "site"]));
        assert!(out.contains("job site: ok"), "{out}");
    }
    // Retention kept two snapshots of the job in both repositories.
    for repo in [&primary, &second] {
        let snaps: serde_json::Value =
            serde_json::from_str(&bunker(repo, &["snapshots", "--json"])).unwrap();
        assert_eq!(snaps.as_array().unwrap().len(), 2, "{snaps}");
        assert!(snaps[0]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "job=site"));
        restic(repo, &["check", "--read-data"]);
    }
    // The copy restores to the source, byte for byte.
    bunker(
        &second,
        &[
            "restore",
            "latest",
            "--target",
            s.path("out").to_str().unwrap(),
        ],
    );
    assert_same_tree(&src, &restored(&s.path("out"), &src));
    // Hooks ran in order with the run's environment.
    let log = std::fs::read_to_string(s.path("hooks.log")).unwrap();
    assert_eq!(
        log.lines().filter(|l| l.starts_with("before site")).count(),
        3,
        "{log}"
    );
    assert_eq!(
        log.lines().filter(|l| l.starts_with("after ")).count(),
        3,
        "{log}"
    );
    // The catalog has the runs, with a passing drill; the audit log has every step.
    let runs: serde_json::Value =
        serde_json::from_str(&ok(bunker_cfg(&cfg, &["--json", "catalog", "runs"]))).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 3, "{runs}");
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "success"),
        "{runs}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&ok(bunker_cfg(&cfg, &["--json", "status"]))).unwrap();
    assert_eq!(status[0]["last_drill"]["passed"], true, "{status}");
    assert_eq!(status[0]["last_success"]["snapshot_count"], 2, "{status}");
    let audit: serde_json::Value =
        serde_json::from_str(&ok(bunker_cfg(&cfg, &["--json", "catalog", "audit"]))).unwrap();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["backup", "copy", "forget", "check", "drill"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    // The audit log is also in each repository, encrypted, where restic does not look.
    assert!(std::fs::read_dir(primary.join("audit")).unwrap().count() >= 3);

    // Losing the catalog loses nothing: rebuild finds the runs, drills and audit log.
    std::fs::remove_dir_all(s.path("state")).unwrap();
    let rebuilt = ok(bunker_cfg(&cfg, &["catalog", "rebuild"]));
    assert!(
        rebuilt.contains("catalog rebuilt from 2 repositories"),
        "{rebuilt}"
    );
    let runs: serde_json::Value = serde_json::from_str(&ok(bunker_cfg(
        &cfg,
        &["--json", "catalog", "runs", "--job", "site"],
    )))
    .unwrap();
    // Two snapshots in each repository survived retention; the copies carry the tag too.
    assert!(runs.as_array().unwrap().len() >= 2, "{runs}");
    let audit: serde_json::Value =
        serde_json::from_str(&ok(bunker_cfg(&cfg, &["--json", "catalog", "audit"]))).unwrap();
    assert!(audit.as_array().unwrap().len() >= actions.len(), "{audit}");
}

#[test]
fn a_failing_before_hook_stops_the_run_with_its_exit_code() {
    let s = Scratch::new();
    let (primary, _) = two_repos(&s);
    std::fs::create_dir(s.path("src")).unwrap();
    let cfg = files_job_config(&s, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "hooks.before = [\"echo before",
        "hooks.before = [\"echo disk full >&2; exit 4; echo before",
    );
    std::fs::write(&cfg, text).unwrap();
    let o = bunker_cfg(&cfg, &["run", "site"]);
    assert_eq!(o.status.code(), Some(20), "{}", stderr(&o));
    assert!(stderr(&o).contains("before hook"), "{}", stderr(&o));
    assert!(stderr(&o).contains("disk full"), "{}", stderr(&o));
    // Nothing was backed up, the failure hook saw why, the catalog says so.
    assert_eq!(bunker(&primary, &["snapshots", "--json"]).trim(), "[]");
    let log = std::fs::read_to_string(s.path("hooks.log")).unwrap();
    assert!(log.contains("failed before hook:"), "{log}");
    let runs: serde_json::Value =
        serde_json::from_str(&ok(bunker_cfg(&cfg, &["--json", "catalog", "runs"]))).unwrap();
    assert_eq!(runs[0]["outcome"], "failure");
    assert_eq!(runs[0]["failed_step"], "before hook");
    // A wrong password is the repository's exit code, and one line.
    std::fs::write(s.path("pass"), "wrong").unwrap();
    let cfg = files_job_config(&s, "");
    let o = bunker_cfg(&cfg, &["run", "site"]);
    assert_eq!(o.status.code(), Some(11), "{}", stderr(&o));
    // An unknown job is a usage error.
    assert_eq!(bunker_cfg(&cfg, &["run", "nope"]).status.code(), Some(2));
}

#[test]
fn schedule_export_writes_units_for_other_schedulers() {
    let s = Scratch::new();
    std::fs::write(s.path("pass"), PASSWORD).unwrap();
    let cfg = files_job_config(
        &s,
        "schedule = \"0 2 * * *\"\ntimezone = \"Africa/Nairobi\"",
    );
    let systemd = ok(bunker_cfg(
        &cfg,
        &["schedule", "export", "site", "--systemd"],
    ));
    assert!(systemd.contains("OnCalendar="), "{systemd}");
    assert!(systemd.contains("Africa/Nairobi"), "{systemd}");
    assert!(systemd.contains("Persistent=true"), "{systemd}");
    assert!(systemd.contains("run site"), "{systemd}");
    let cron = ok(bunker_cfg(&cfg, &["schedule", "export", "site", "--cron"]));
    assert!(cron.contains("CRON_TZ=Africa/Nairobi"), "{cron}");
    assert!(cron.contains("0 2 * * *"), "{cron}");
    let k8s = ok(bunker_cfg(
        &cfg,
        &[
            "schedule",
            "export",
            "site",
            "--kubernetes",
            "--image",
            "registry.example/bunker:1",
        ],
    ));
    for want in [
        "kind: CronJob",
        "timeZone: \"Africa/Nairobi\"",
        "concurrencyPolicy: Forbid",
        "registry.example/bunker:1",
    ] {
        assert!(k8s.contains(want), "{want} missing:\n{k8s}");
    }
}

#[test]
fn notify_test_reaches_every_kind_of_target() {
    let s = Scratch::new();
    let http = HttpRecorder::start();
    let smtp = SmtpServer::start_with(SmtpSecurity::StartTls, Some(("bunker", "mail-pw")));
    let cfg = s.path("bunker.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[notify.hook]
type = "webhook"
url = "{hook}"
headers = {{ Authorization = "Bearer hook-token" }}

[notify.slack]
type = "slack"
url = "{slack}"

[notify.hc]
type = "healthchecks"
url = "{hc}"

[notify.mail]
type = "email"
host = "127.0.0.1"
port = {port}
tls = "starttls"
accept_invalid_certs = true
username = "bunker"
password = "mail-pw"
from = "bunker@example.com"
to = ["ops@example.com"]

[repositories.r]
url = "/nonexistent"
password = "x"

[jobs.j]
repository = "r"
source = {{ type = "files", paths = ["/etc"] }}
"#,
            hook = http.url("/hook"),
            slack = http.url("/slack"),
            hc = http.url("/ping/abc"),
            port = smtp.port
        ),
    )
    .unwrap();
    let out = ok(bunker_cfg(&cfg, &["notify", "test"]));
    assert_eq!(out.matches(": sent").count(), 4, "{out}");
    let reqs = http.wait_for(|_| true, Duration::from_secs(1));
    let hook = reqs
        .iter()
        .find(|r| r.path == "/hook")
        .expect("webhook call");
    assert_eq!(hook.header("authorization"), Some("Bearer hook-token"));
    assert_eq!(hook.json()["event"], "test");
    let slack = reqs
        .iter()
        .find(|r| r.path == "/slack")
        .expect("slack call");
    assert!(slack.json()["text"]
        .as_str()
        .unwrap()
        .contains("test message"));
    assert!(reqs.iter().any(|r| r.path.starts_with("/ping/abc")));
    let mail = smtp.wait_for_messages(1, Duration::from_secs(10));
    assert!(mail[0].tls, "STARTTLS was not used");
    assert_eq!(mail[0].auth.as_ref().unwrap().login, "bunker");
    assert_eq!(mail[0].rcpt_to, ["ops@example.com"]);
    assert!(mail[0].header("subject").unwrap().contains("test message"));

    // A target that answers 500 is one line naming it, without the URL's secret path.
    http.respond("/hook", 500, "boom");
    let o = bunker_cfg(&cfg, &["notify", "test", "hook"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("hook"), "{}", stderr(&o));
    assert!(stderr(&o).contains("500"), "{}", stderr(&o));
}

#[test]
fn commands_run_by_hand_are_in_the_audit_log_too() {
    let s = Scratch::new();
    let repo = s.repo();
    let state = s.path("state");
    let run = |args: &[&str], pw: &str| {
        let o = Command::new(bunker_bin())
            .arg("-r")
            .arg(&repo)
            .args(args)
            .env("BUNKER_PASSWORD", pw)
            .env("BUNKER_STATE_DIR", &state)
            .env("BUNKER_CACHE_DIR", s.path("cache"))
            .env("USER", "alice")
            .output()
            .unwrap();
        ok(o)
    };
    run(&["init"], PASSWORD);
    std::fs::create_dir(s.path("src")).unwrap();
    run(&["backup", s.path("src").to_str().unwrap()], PASSWORD);
    std::fs::write(s.path("new-pass"), "second password").unwrap();
    run(
        &[
            "key",
            "passwd",
            "--new-password-file",
            s.path("new-pass").to_str().unwrap(),
        ],
        PASSWORD,
    );
    run(&["forget", "--keep-last", "1"], "second password");
    // In the repository, encrypted: one object per event.
    assert_eq!(std::fs::read_dir(repo.join("audit")).unwrap().count(), 3);
    // In the local catalog, with who did it and the command line without secrets.
    let cfg = s.path("bunker.toml");
    std::fs::write(
        &cfg,
        format!(
            "[daemon]\nstate_dir = \"{}\"\n[repositories.r]\nurl = \"{}\"\npassword = \"second password\"\n",
            state.display(),
            repo.display()
        ),
    )
    .unwrap();
    let audit: serde_json::Value =
        serde_json::from_str(&ok(bunker_cfg(&cfg, &["--json", "catalog", "audit"]))).unwrap();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["forget", "key-passwd", "backup"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["who"] == "alice"),
        "{audit}"
    );
    let secret_path = s.path("new-pass").display().to_string();
    assert!(!audit.to_string().contains(&secret_path), "{audit}");
    run(&["check"], "second password");
}

/// `@every 18446744073709551615ms1ms` made `status` and `daemon` divide by zero; a Feb
/// 30 cron passed `config check`. Both are usage errors naming FILE:LINE:COL.
#[test]
fn every_18446744073709551615ms1ms_and_feb_30_are_usage_errors_not_panics() {
    let s = Scratch::new();
    let cfg = s.path("bunker.toml");
    for (schedule, message) in [
        ("@every 18446744073709551615ms1ms", "longer than 100 years"),
        ("0 0 30 2 *", "never runs"),
    ] {
        std::fs::write(
            &cfg,
            format!("[repositories.r]\nurl = \"/x\"\npassword = \"p\"\n\n[jobs.db]\nrepository = \"r\"\nschedule = \"{schedule}\"\nsource = {{ type = \"files\", paths = [\"/etc\"] }}\n"),
        )
        .unwrap();
        for args in [&["config", "check"][..], &["status"], &["daemon"]] {
            let o = bunker_cfg(&cfg, args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains(&format!("{}:7:12:", cfg.display())), "{err}");
            assert!(err.contains(message), "{err}");
        }
    }
}

/// The modes of everything below `root`: directories and files apart.
fn modes_below(root: &Path) -> (Vec<u32>, Vec<u32>) {
    use std::os::unix::fs::PermissionsExt;
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        dirs.push(std::fs::metadata(&d).unwrap().permissions().mode() & 0o7777);
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777);
            }
        }
    }
    for v in [&mut dirs, &mut files] {
        v.sort();
        v.dedup();
    }
    (dirs, files)
}

fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Regression (issue 14, item 11): under umask 022 repositories were created 0755/0644
/// (key files included), `catalog.sqlite` 0644 in a 0755 state directory; the audit log
/// stored `--to-password-command "echo <password>"`; `backup` cached the master key.
#[test]
fn repositories_and_state_are_private_and_no_secret_reaches_the_audit_log() {
    let s = Scratch::new();
    let (repo, second, state, cache) = (
        s.repo(),
        s.path("second"),
        s.path("state/bunker"),
        s.path("cache"),
    );
    std::fs::create_dir(s.path("src")).unwrap();
    write(&s.path("src/file"), b"content\n");
    // Under umask 022, as a login shell has it.
    let run = |args: &[&str], pw: &str| {
        let o = Command::new("sh")
            .arg("-c")
            .arg("umask 022 && exec \"$@\"")
            .arg("sh")
            .arg(bunker_bin())
            .args(args)
            .env("BUNKER_PASSWORD", pw)
            .env("BUNKER_STATE_DIR", &state)
            .env("BUNKER_CACHE_DIR", &cache)
            .env_remove("BUNKER_REPOSITORY")
            .output()
            .unwrap();
        ok(o)
    };
    let r = repo.to_str().unwrap();
    run(&["-r", r, "init"], PASSWORD);
    run(
        &["-r", second.to_str().unwrap(), "init"],
        "second-secret-pw",
    );
    run(
        &["-r", r, "backup", s.path("src").to_str().unwrap()],
        PASSWORD,
    );
    run(
        &[
            "-r",
            r,
            "copy",
            "--to",
            second.to_str().unwrap(),
            "--to-password-command",
            "echo second-secret-pw",
        ],
        PASSWORD,
    );
    // restic, under the same umask, is the reference: 0700 directories, 0400 files.
    let oracle = s.path("restic-repo");
    let o = Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec \"$@\"")
        .arg("sh")
        .arg(tool("restic"))
        .arg("-r")
        .arg(&oracle)
        .arg("init")
        .env("RESTIC_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    ok(o);
    restic(&oracle, &["backup", s.path("src").to_str().unwrap()]);
    let expected = modes_below(&oracle);
    assert_eq!(expected, (vec![0o700], vec![0o400]), "restic's modes");
    assert_eq!(modes_below(&repo), expected, "the repository");
    assert_eq!(modes_below(&second), expected, "the copy's repository");
    // The state directory and the catalog are the owner's alone.
    assert_eq!(mode_of(&state), 0o700);
    for f in std::fs::read_dir(&state).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            assert_eq!(mode_of(&p), 0o600, "{}", p.display());
        }
    }
    assert_eq!(mode_of(&state.join("catalog.sqlite")), 0o600);
    // No command here is a WAL command: no master key in the cache.
    assert!(!cache.join("keys").exists(), "a master key was cached");
    let cfg = s.path("bunker.toml");
    std::fs::write(
        &cfg,
        format!(
            "[daemon]\nstate_dir = \"{}\"\n[repositories.r]\nurl = \"{}\"\npassword = \"x\"\n",
            state.display(),
            repo.display()
        ),
    )
    .unwrap();
    let audit = ok(bunker_cfg(&cfg, &["--json", "catalog", "audit"]));
    assert!(audit.contains("copy"), "{audit}");
    assert!(!audit.contains("second-secret-pw"), "{audit}");
    // A repository an administrator opened to the group stays so, as restic keeps it.
    std::fs::set_permissions(
        repo.join("config"),
        std::os::unix::fs::PermissionsExt::from_mode(0o440),
    )
    .unwrap();
    write(&s.path("src/more"), b"more\n");
    run(
        &["-r", r, "backup", s.path("src").to_str().unwrap()],
        PASSWORD,
    );
    let newest = std::fs::read_dir(repo.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .unwrap();
    assert_eq!(mode_of(&newest), 0o440);
}
