use std::path::Path;

use super::*;

const GOOD: &str = r#"
[daemon]
listen = "127.0.0.1:0"
api_token = "env:BUNKER_TEST_TOKEN"

[repositories.main]
url = "/srv/backups/main"
password = "hunter2"

[repositories.offsite]
url = "s3:https://s3.example.com/bucket/bunker"
password_file = "/etc/bunker/offsite.pass"
options = { "s3.region" = "eu-west-1" }

[notify.ops]
type = "slack"
url = "https://hooks.slack.com/services/T000/B000/secretkey"

[jobs.db]
repository = "main"
copies = ["offsite"]
schedule = "0 2 * * *"
timezone = "Africa/Nairobi"
notify = ["ops"]
source = { type = "postgres", dsn = "postgresql://app:pw@db/app", databases = ["app"] }
retention = { keep_daily = 30, keep_weekly = 12, keep_monthly = 12, keep_within = "2d" }
objectives = { rpo = "1h", rto = "15m" }
hooks.before = ["echo starting"]
hooks.on_failure = [{ command = ["logger", "backup failed"], timeout = "10s" }]
verify = { check = "0 5 * * *", read_data_subset = "10%", drill = "@weekly", expect_tables = ["public.users"] }
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("bunker.toml"))
}

#[test]
fn a_complete_file_parses() {
    std::env::set_var("BUNKER_TEST_TOKEN", "t0ken");
    let c = parse(GOOD).unwrap();
    let db = c.job("db").unwrap();
    assert_eq!(db.repository.get_ref(), "main");
    assert_eq!(db.zone(&c.daemon).name(), "Africa/Nairobi");
    assert_eq!(db.repositories().collect::<Vec<_>>(), ["main", "offsite"]);
    assert_eq!(db.objectives.rpo.unwrap().0.as_secs(), 3600);
    assert_eq!(db.retention.as_ref().unwrap().policy().keep_daily, 30);
    assert_eq!(db.hooks.on_failure[0].timeout().as_secs(), 10);
    assert_eq!(c.daemon.api_token.as_ref().unwrap().resolve(), Ok("t0ken"));
    assert_eq!(c.notifiers_of(db).len(), 1);
}

#[test]
fn show_redacts_every_secret() {
    std::env::set_var("BUNKER_TEST_TOKEN", "t0ken");
    let shown = parse(GOOD).unwrap().to_redacted_toml();
    for secret in ["hunter2", "secretkey", "t0ken", "app:pw"] {
        assert!(!shown.contains(secret), "{secret} shown in:\n{shown}");
    }
    assert!(shown.contains("<redacted>"));
    assert!(shown.contains("0 2 * * *"));
    // What show prints is itself a configuration that parses (with the secrets
    // standing in as literal values; a notification URL must still be a URL).
    parse(&shown.replace("url = \"<redacted>\"", "url = \"https://redacted.example\"")).unwrap();
}

fn error_of(text: &str) -> ConfigError {
    parse(text).unwrap_err()
}

#[test]
fn errors_name_line_and_column() {
    let e = error_of("[jobs.db]\nrepository = \"main\"\nschedule = \"61 2 * * *\"\n");
    assert_eq!((e.line, e.column), (3, 12), "{e}");
    assert!(e.message.contains("minute"), "{e}");

    let text = GOOD.replace("copies = [\"offsite\"]", "copies = [\"ofsite\"]");
    let e = error_of(&text);
    assert!(e.message.contains("no repository named \"ofsite\""), "{e}");
    assert_eq!(e.line, 21, "{e}");
    assert_eq!(e.to_string().split(':').next(), Some("bunker.toml"));

    let e = error_of(&GOOD.replace("keep_within = \"2d\"", "keep_within = \"2 days\""));
    assert_eq!(e.line, 26, "{e}");

    let e = error_of(&GOOD.replace(
        "timezone = \"Africa/Nairobi\"",
        "timezone = \"Mars/Olympus\"",
    ));
    assert!(e.message.contains("unknown time zone"), "{e}");
    assert_eq!((e.line, e.column), (23, 12), "{e}");

    let e = error_of("[jobs.db]\nrepositry = \"main\"\n");
    assert!(e.message.contains("unknown field `repositry`"), "{e}");
    assert_eq!(e.line, 2, "{e}");

    let e = error_of("[repositories.main]\nurl = \"/x\"\npassword = \"${BUNKER_TEST_NOT_SET}\"\n");
    assert!(e.message.contains("BUNKER_TEST_NOT_SET is not set"), "{e}");
    assert_eq!(e.line, 3, "{e}");

    let e = error_of("[repositories.main]\nurl = \"/x\"\n");
    assert!(e.message.contains("exactly one of password"), "{e}");
}

#[test]
fn every_schedules_count_from_the_epoch() {
    let w: When = "@every 5s".parse().unwrap();
    let t = chrono::DateTime::from_timestamp(1_000_002, 0).unwrap();
    let tz = bunker_schedule::Tz::UTC;
    assert_eq!(w.next_after(t, tz).unwrap().timestamp(), 1_000_005);
    assert_eq!(w.last_at_or_before(t, tz).unwrap().timestamp(), 1_000_000);
    assert!("@every 0s".parse::<When>().is_err());
}

/// Every example configuration in the repository parses, with the environment
/// variables it names set.
fn examples() -> Vec<(std::path::PathBuf, Config)> {
    for var in [
        "BUNKER_API_TOKEN",
        "BUNKER_OFFSITE_PASSWORD",
        "BUNKER_PASSWORD",
        "SLACK_WEBHOOK_URL",
        "SMTP_PASSWORD",
        "HEALTHCHECKS_URL",
        "DATABASE_URL",
        "ALERT_WEBHOOK_URL",
        "ALERT_API_AUTH",
        "ONCALL_WEBHOOK_URL",
        "POSTGRES_URL",
        "MONGODB_URI",
        "REDIS_URL",
    ] {
        // Notification URLs must be http(s) URLs; the secret part stays findable.
        let value = if var.ends_with("WEBHOOK_URL") || var == "HEALTHCHECKS_URL" {
            format!("https://hooks.example.com/value-of-{var}")
        } else {
            format!("value-of-{var}")
        };
        std::env::set_var(var, value);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut out = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                let c = Config::load(&p).unwrap_or_else(|e| panic!("{e}"));
                out.push((p, c));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_example_parses_and_shows_without_secrets() {
    let all = examples();
    assert!(all.len() >= 7, "{} examples", all.len());
    for (path, c) in &all {
        assert!(!c.jobs.is_empty(), "{}", path.display());
        let shown = c.to_redacted_toml();
        assert!(
            !shown.contains("value-of-"),
            "{} shows a secret:\n{shown}",
            path.display()
        );
    }
}

fn example(name: &str) -> Config {
    examples()
        .into_iter()
        .find(|(p, _)| p.file_name().unwrap().to_string_lossy().starts_with(name))
        .unwrap_or_else(|| panic!("no example {name}"))
        .1
}

/// The schedule's next runs after a given UTC time, as UTC strings.
fn next_runs(c: &Config, job: &str, from: &str, n: usize) -> Vec<String> {
    let j = c.job(job).unwrap();
    let zone = j.zone(&c.daemon);
    let mut t: chrono::DateTime<chrono::Utc> = from.parse().unwrap();
    let mut out = Vec::new();
    for _ in 0..n {
        t = j.schedule.as_ref().unwrap().next_after(t, zone).unwrap();
        out.push(t.format("%a %Y-%m-%d %H:%M").to_string());
    }
    out
}

#[test]
fn seed_000_runs_at_the_runbooks_nairobi_times() {
    let c = example("000");
    // crontab "0 2 * * *" in EAT (UTC+3) is 23:00 UTC the evening before.
    assert_eq!(
        next_runs(&c, "database", "2026-11-21T12:00:00Z", 2),
        ["Sat 2026-11-21 23:00", "Sun 2026-11-22 23:00"]
    );
    // "0 4 * * 0" config backup: Sunday 04:00 EAT.
    assert_eq!(
        next_runs(&c, "config", "2026-11-21T12:00:00Z", 1),
        ["Sun 2026-11-22 01:00"]
    );
    let db = c.job("database").unwrap();
    let p = db.retention.as_ref().unwrap().policy();
    assert_eq!((p.keep_daily, p.keep_weekly), (30, 4));
    assert_eq!(
        c.job("files")
            .unwrap()
            .retention
            .as_ref()
            .unwrap()
            .policy()
            .keep_daily,
        7
    );
    assert_eq!(db.objectives.rpo.unwrap().0.as_secs(), 3600);
    assert_eq!(db.objectives.rto.unwrap().0.as_secs(), 4 * 3600);
}

#[test]
fn seed_001_keeps_thirty_days_and_runs_weekly_on_sunday() {
    let c = example("001");
    assert_eq!(
        next_runs(&c, "database", "2026-11-21T12:00:00Z", 1),
        ["Sun 2026-11-22 02:00"]
    );
    assert_eq!(
        next_runs(&c, "weekly", "2026-11-21T12:00:00Z", 2),
        ["Sun 2026-11-22 01:00", "Sun 2026-11-29 01:00"]
    );
    let p = c
        .job("database")
        .unwrap()
        .retention
        .as_ref()
        .unwrap()
        .policy();
    assert_eq!(p.keep_within_daily.to_string(), "30d");
    assert_eq!(
        c.job("user-files")
            .unwrap()
            .objectives
            .rpo
            .unwrap()
            .0
            .as_secs(),
        86_400
    );
}

#[test]
fn seed_002_has_the_gfs_policy_and_three_clouds() {
    let c = example("002");
    let db = c.job("database").unwrap();
    let p = db.retention.as_ref().unwrap().policy();
    assert_eq!((p.keep_daily, p.keep_weekly, p.keep_monthly), (30, 13, 12));
    assert_eq!(
        db.repositories().collect::<Vec<_>>(),
        ["s3", "gcs", "azure"]
    );
    assert_eq!(
        next_runs(&c, "database", "2026-11-21T12:00:00Z", 1),
        ["Sun 2026-11-22 02:00"]
    );
    assert_eq!(db.objectives.rto.unwrap().0.as_secs(), 900);
}

#[test]
fn seed_003_alerts_like_its_monitoring_script() {
    let c = example("003");
    let db = c.job("database").unwrap();
    assert_eq!(db.alerts.duration_max.unwrap().0.as_secs(), 3600);
    assert_eq!(db.alerts.size_band, 0.5);
    assert_eq!(db.retention.as_ref().unwrap().policy().keep_daily, 30);
    assert_eq!(
        next_runs(&c, "database", "2026-11-21T12:00:00Z", 1),
        ["Sun 2026-11-22 02:00"]
    );
}

#[test]
fn seed_004_backs_up_redis_every_six_hours() {
    let c = example("004");
    assert_eq!(
        next_runs(&c, "redis", "2026-11-21T13:00:00Z", 3),
        [
            "Sat 2026-11-21 18:00",
            "Sun 2026-11-22 00:00",
            "Sun 2026-11-22 06:00"
        ]
    );
    let p = c
        .job("postgres")
        .unwrap()
        .retention
        .as_ref()
        .unwrap()
        .policy();
    assert_eq!(
        (p.keep_daily, p.keep_weekly, p.keep_monthly, p.keep_yearly),
        (30, 12, 12, 7)
    );
    assert_eq!(
        next_runs(&c, "mongodb", "2026-11-21T12:00:00Z", 1),
        ["Sun 2026-11-22 03:00"]
    );
}

/// A file every case below breaks in one place.
const SOUND: &str = r#"[daemon]
api_token = "tok"
listen = "127.0.0.1:9477"

[repositories.main]
url = "/srv/main"
password = "pw"

[repositories.off]
url = "/srv/off"
password = "pw"

[notify.mail]
type = "email"
host = "smtp.example.com"
port = 587
from = "bunker@example.com"
to = ["ops@example.com"]
timeout = "10s"

[jobs.db]
repository = "main"
copies = ["off"]
schedule = "0 2 * * *"
source = { type = "files", paths = ["/srv/data"] }
hooks.before = [{ command = ["true"], timeout = "5s" }]
hooks.after = ["echo done"]
alerts = { size_history = 7 }
labels = { team = "ops" }

[jobs.dump]
repository = "main"
source = { type = "command", command = ["pg_dumpall"], stdin_filename = "all.sql" }
"#;

/// Each value `config check` accepted although the job could never work: it is refused
/// at the line and column of the value (or of its table), with a message naming it.
#[test]
fn config_check_refuses_feb_30_empty_token_zero_history_empty_argv_zero_timeout_empty_path_and_url_and_dot_dot_job(
) {
    parse(SOUND).unwrap();
    let cases = [
        (
            "\"0 2 * * *\"",
            "\"0 0 30 2 *\"",
            "never runs",
            "\"0 0 30 2 *\"",
        ),
        (
            "api_token = \"tok\"",
            "api_token = \"\"",
            "empty value",
            "api_token = \"\"",
        ),
        (
            "size_history = 7",
            "size_history = 0",
            "at least 3 runs",
            "size_history = 0",
        ),
        (
            "command = [\"true\"]",
            "command = []",
            "empty command",
            "command = []",
        ),
        (
            "command = [\"true\"]",
            "command = [\"\"]",
            "empty command",
            "command = [\"\"]",
        ),
        ("[\"pg_dumpall\"]", "[]", "empty command", "[]"),
        ("\"echo done\"", "\"\"", "empty value", "\"\""),
        (
            "timeout = \"5s\"",
            "timeout = \"0s\"",
            "span of zero",
            "timeout = \"0s\"",
        ),
        (
            "timeout = \"10s\"",
            "timeout = \"0ms\"",
            "span of zero",
            "timeout = \"0ms\"",
        ),
        ("[\"/srv/data\"]", "[\"\"]", "empty value", "[\"\"]"),
        (
            "url = \"/srv/main\"",
            "url = \"\"",
            "empty value",
            "url = \"\"",
        ),
        (
            "url = \"/srv/main\"",
            "url = \"${BUNKER_TEST_EMPTY}\"",
            "expands to an empty value",
            "url = \"${BUNKER_TEST_EMPTY}\"",
        ),
        (
            "[jobs.db]",
            "[jobs.\"..\"]",
            "job name \"..\"",
            "[jobs.\"..\"]",
        ),
        (
            "[jobs.db]",
            "[jobs.\".hidden\"]",
            "job name",
            "[jobs.\".hidden\"]",
        ),
        ("[jobs.db]", "[jobs.\"-x\"]", "job name", "[jobs.\"-x\"]"),
        ("[jobs.db]", "[jobs.\"a/b\"]", "job name", "[jobs.\"a/b\"]"),
        (
            "[repositories.main]",
            "[repositories.\"..\"]",
            "repository name",
            "[repositories.\"..\"]",
        ),
        (
            "[notify.mail]",
            "[notify.\"m a i l\"]",
            "notification target name",
            "[notify.\"m a i l\"]",
        ),
        ("port = 587", "port = 0", "nonzero", "port = 0"),
        (
            "\"127.0.0.1:9477\"",
            "\"127.0.0.1\"",
            "HOST:PORT",
            "\"127.0.0.1\"",
        ),
        ("\"127.0.0.1:9477\"", "\":9477\"", "HOST:PORT", "\":9477\""),
        ("team = ", "\"team-x\" = ", "label \"team-x\"", "[jobs.db]"),
        (
            "[\"off\"]",
            "[\"off\", \"off\"]",
            "listed twice",
            "\"off\"]",
        ),
        (
            "schedule = \"0 2 * * *\"",
            "schedule = \"@every 18446744073709551615ms1ms\"",
            "longer than 100 years",
            "schedule = \"@every 18446744073709551615ms1ms\"",
        ),
    ];
    std::env::set_var("BUNKER_TEST_EMPTY", "");
    // The line of `at`: the value, or the table a cross-check reports.
    for (old, new, message, at) in cases {
        assert_eq!(SOUND.matches(old).count(), 1, "{old}");
        let text = SOUND.replace(old, new);
        let e = parse(&text).expect_err(new);
        assert!(e.message.contains(message), "{new}: {e}");
        let (line, _) = line_column(&text, text.find(at).unwrap());
        assert_eq!(e.line, line, "{new}: {e}");
        assert!(e.column > 0, "{new}: {e}");
    }
}
