//! Exported schedules run as printed: the crontab line runs its job under cron's bare
//! environment (no variable of the daemon's needed), and the systemd units pass
//! `systemd-analyze verify` with their environment file and hardening.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::jobs::{bunker_cfg, ok};
use crate::util::*;

/// A job with a daily schedule, and a daemon token only the daemon's environment has.
fn config(s: &Scratch) -> PathBuf {
    let cfg = s.path("bunker.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[daemon]
state_dir = "{state}"
api_token = "${{BUNKER_TEST_DAEMON_ONLY_TOKEN}}"

[repositories.primary]
url = "{repo}"
password = "{PASSWORD}"

[jobs.site]
repository = "primary"
schedule = "0 2 * * *"
source = {{ type = "files", paths = ["{src}"] }}
"#,
            state = s.path("state").display(),
            repo = s.repo().display(),
            src = s.path("src").display(),
        ),
    )
    .unwrap();
    cfg
}

fn export(cfg: &Path, how: &str) -> String {
    let program = bunker_bin();
    ok(bunker_cfg(
        cfg,
        &[
            "schedule",
            "export",
            "site",
            how,
            "--program",
            program.to_str().unwrap(),
        ],
    ))
}

#[test]
fn the_crontab_line_runs_under_crons_bare_environment() {
    let s = Scratch::new();
    bunker(&s.repo(), &["init"]);
    make_tricky_tree(&s.path("src"), false);
    let cfg = config(&s);
    let cron = export(&cfg, "--cron");
    let line = cron
        .lines()
        .find(|l| !l.starts_with('#') && !l.starts_with("CRON_TZ="))
        .unwrap_or_else(|| panic!("no crontab entry in\n{cron}"));
    // Five schedule fields, then the command cron hands to /bin/sh (`\%` meaning `%`).
    let command = line.splitn(6, ' ').nth(5).unwrap().replace("\\%", "%");
    std::fs::create_dir_all(s.path("home")).unwrap();
    let o = Command::new("/usr/bin/env")
        .arg("-i")
        .arg(format!("HOME={}", s.path("home").display()))
        .args(["LOGNAME=root", "SHELL=/bin/sh", "PATH=/usr/bin:/bin"])
        .args(["/bin/sh", "-c", &command])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{command}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let snaps: serde_json::Value = serde_json::from_str(&bunker(
        &s.repo(),
        &["--json", "snapshots", "--tag", "job=site"],
    ))
    .unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 1, "{snaps}");

    // The daemon needs its token: it refuses to start, naming it (exit 2), and config
    // check warns.
    let o = bunker_cfg(&cfg, &["daemon"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "[daemon] api_token: environment variable BUNKER_TEST_DAEMON_ONLY_TOKEN is not set"
        ),
        "{err}"
    );
    let o = bunker_cfg(&cfg, &["config", "check"]);
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("only the daemon needs it"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn systemd_units_pass_systemd_analyze_verify_with_environment_file_and_hardening() {
    let s = Scratch::new();
    let cfg = config(&s);
    let text = export(&cfg, "--systemd");
    let (service, timer) = text
        .split_once("# bunker-site.timer\n")
        .unwrap_or_else(|| panic!("no timer in\n{text}"));
    let service = service.trim_start_matches("# bunker-site.service\n");
    for want in [
        "EnvironmentFile=-/etc/bunker/bunker.env",
        "ProtectSystem=full",
        "PrivateTmp=true",
        "NoNewPrivileges=true",
    ] {
        assert!(service.contains(want), "{want} missing:\n{service}");
    }
    let dir = s.path("units");
    std::fs::create_dir_all(&dir).unwrap();
    let verify = |service: &str| {
        write(&dir.join("bunker-site.service"), service.as_bytes());
        write(&dir.join("bunker-site.timer"), timer.as_bytes());
        let o = Command::new(tool("systemd-analyze"))
            .args(["verify", "--man=no"])
            .arg(dir.join("bunker-site.service"))
            .arg(dir.join("bunker-site.timer"))
            .output()
            .expect("run systemd-analyze");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), said)
    };
    assert_eq!(verify(service), (true, String::new()));
    // It would say so: a value systemd cannot read is a complaint on its output.
    let (_, said) = verify(&service.replace("ProtectSystem=full", "ProtectSystem=bogus"));
    assert!(
        said.contains("ProtectSystem") || said.contains("protect system"),
        "{said}"
    );
}

#[test]
fn the_kubernetes_cronjob_mounts_its_configuration_and_passes_schema_validation() {
    let s = Scratch::new();
    let cfg = config(&s);
    // One more variable, in a repository password: a key of the Secret.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("password = \"{PASSWORD}\""),
        "password = \"env:BUNKER_TEST_REPO_PASSWORD\"",
    );
    std::fs::write(&cfg, &text).unwrap();
    let o = Command::new(bunker_bin())
        .arg("--config")
        .arg(&cfg)
        .args(["schedule", "export", "site", "--kubernetes"])
        .args(["--image", "registry.example/ops/bunker:1.4"])
        .env("BUNKER_TEST_REPO_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let yaml = String::from_utf8_lossy(&o.stdout).into_owned();
    let file = s.path("site.yaml");
    std::fs::write(&file, &yaml).unwrap();

    let validate = |file: &Path| {
        let o = Command::new(tool("kubernetes-validate"))
            .args(["--strict", "--no-warn"])
            .arg(file)
            .output()
            .expect("run kubernetes-validate");
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let (passed, said) = validate(&file);
    assert!(passed, "{said}\n{yaml}");
    for kind in [
        "configmap/bunker-site",
        "secret/bunker-site",
        "cronjob/bunker-site",
    ] {
        assert!(
            said.contains(&format!("passed for resource {kind}")),
            "{said}"
        );
    }
    // A misspelt field is caught: the validator is not a rubber stamp.
    let broken = s.path("broken.yaml");
    std::fs::write(&broken, yaml.replace("mountPath:", "mountpath:")).unwrap();
    assert!(!validate(&broken).0, "a misspelt field passed");

    // The ConfigMap holds the file byte for byte, the Secret a key per variable, and the
    // container reads both, with the image given.
    let script = "import json, sys, yaml\n\
                  docs = list(yaml.safe_load_all(open(sys.argv[1])))\n\
                  print(json.dumps(docs))";
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let docs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(docs[0]["kind"], "ConfigMap");
    assert_eq!(docs[0]["data"]["bunker.toml"], text.as_str());
    assert_eq!(docs[1]["kind"], "Secret");
    let keys: Vec<&String> = docs[1]["stringData"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["BUNKER_TEST_DAEMON_ONLY_TOKEN", "BUNKER_TEST_REPO_PASSWORD"]
    );
    let pod = &docs[2]["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "registry.example/ops/bunker:1.4");
    assert_eq!(
        container["args"],
        serde_json::json!(["--config", "/etc/bunker/bunker.toml", "run", "site"])
    );
    assert_eq!(container["envFrom"][0]["secretRef"]["name"], "bunker-site");
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/etc/bunker");
    assert_eq!(pod["volumes"][0]["configMap"]["name"], "bunker-site");
}
