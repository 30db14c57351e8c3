//! The web dashboard in a real headless Chromium (WebDriver through chromedriver),
//! against a daemon whose catalog holds real runs: one job that succeeds, one that
//! fails, one that is late, one with a restore drill. Every page loads without a
//! console error and shows the numbers the catalog and the repository hold; the login,
//! the cookie's flags and CSRF are enforced; downloads give back the backed-up bytes.
//!
//! With `BUNKER_SCREENSHOTS=DIR` the screenshots of every page are also written to
//! DIR (docs/dashboard/ is made that way).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use crate::daemon::{free_port, start_daemon, wait_until};
use crate::jobs::{bunker_cfg, ok};
use crate::servers::{http, Browser};
use crate::util::*;

const LOGIN: &str = "dashboard pass phrase";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(s: &Scratch, port: u16, token: &str, hash: &str) -> PathBuf {
    let cfg = s.path("bunker.toml");
    let text = format!(
        r#"
[daemon]
listen = "127.0.0.1:{port}"
api_token = "{token}"
state_dir = "{state}"

[daemon.dashboard]
password_hash = "{hash}"

[repositories.primary]
url = "{repo}"
password = "{PASSWORD}"
quota = "1GiB"

[jobs.ok]
repository = "primary"
schedule = "0 3 * * *"
source = {{ type = "files", paths = ["{ok}"] }}
retention = {{ keep_last = 5, keep_daily = 7 }}
objectives = {{ rpo = "2d" }}

[jobs.failing]
repository = "primary"
schedule = "0 3 * * *"
source = {{ type = "files", paths = ["{ok}"] }}
hooks.before = ["echo refusing >&2; exit 1"]

[jobs.late]
repository = "primary"
schedule = "@every 4s"
alerts.grace = "1s"
source = {{ type = "files", paths = ["{ok}"] }}
hooks.before = [{{ command = ["sleep", "600"], timeout = "15m" }}]

[jobs.drilled]
repository = "primary"
schedule = "0 3 * * *"
source = {{ type = "files", paths = ["{drilled}"] }}
verify = {{ drill = "@daily" }}
objectives = {{ rto = "1h" }}
"#,
        state = s.path("state").display(),
        repo = s.repo().display(),
        ok = s.path("src/ok").display(),
        drilled = s.path("src/drilled").display(),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn hash_password(password: &str) -> String {
    let o = run_with_stdin(
        Command::new(bunker_bin()).args(["dashboard", "hash-password"]),
        Some(format!("{password}\n").as_bytes()),
    );
    let out = ok(o);
    let hash = out.trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(password));
    hash
}

fn jobs_api(port: u16) -> Vec<Value> {
    let (status, body) = http(port, "GET", "/api/v1/jobs", &[], b"").expect("daemon answers");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn job<'a>(jobs: &'a [Value], name: &str) -> &'a Value {
    jobs.iter()
        .find(|j| j["job"] == name)
        .expect("job in the API")
}

/// Loads a page, waits for it, checks the console and that no secret is in it, and
/// keeps a screenshot named `shot`.
struct Visit<'a> {
    browser: &'a Browser,
    base: String,
    secrets: Vec<String>,
    shots: PathBuf,
    extra_shots: Option<PathBuf>,
}

impl Visit<'_> {
    fn page(&self, path: &str, shot: &str) {
        self.browser.goto(&format!("{}{path}", self.base));
        self.check(path, shot);
    }

    fn check(&self, what: &str, shot: &str) {
        let errors: Vec<_> = self
            .browser
            .console()
            .into_iter()
            .filter(|(level, _)| level == "SEVERE" || level == "WARNING")
            .collect();
        assert!(errors.is_empty(), "{what}: console: {errors:?}");
        let html = self
            .browser
            .script("return document.documentElement.outerHTML;", json!([]));
        let html = html.as_str().unwrap();
        for s in &self.secrets {
            assert!(!html.contains(s.as_str()), "{what} shows a secret");
        }
        let png = self.browser.screenshot();
        assert_eq!(
            &png[..8],
            b"\x89PNG\r\n\x1a\n",
            "{what}: screenshot is a PNG"
        );
        std::fs::write(self.shots.join(format!("{shot}.png")), &png).unwrap();
        if let Some(dir) = &self.extra_shots {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(format!("{shot}.png")), &png).unwrap();
        }
    }

    /// Waits until `css` matches an element (after a form's submission).
    fn wait_for(&self, css: &str) -> String {
        wait_until(css, Duration::from_secs(20), || self.browser.text(css))
    }
}

/// Fetches `url` in the page (with the session cookie) and returns the body's bytes.
fn fetch_bytes(b: &Browser, url: &str) -> (u16, Vec<u8>) {
    let v = b.script_async(
        "var done = arguments[arguments.length - 1];\
         fetch(arguments[0], {credentials: 'same-origin'}).then(function (r) {\
           return r.arrayBuffer().then(function (buf) {\
             var bytes = new Uint8Array(buf), s = '';\
             for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }\
             done({status: r.status, body: btoa(s)});\
           });\
         }).catch(function (e) { done({status: 0, body: '', error: String(e)}); });",
        json!([url]),
    );
    let body = base64::engine::general_purpose::STANDARD
        .decode(v["body"].as_str().unwrap_or_default())
        .unwrap();
    (v["status"].as_u64().unwrap_or(0) as u16, body)
}

/// A raw request with a cookie and a form body; returns the status.
fn post_form(port: u16, path: &str, cookie: Option<&str>, form: &str) -> u16 {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    let c;
    if let Some(v) = cookie {
        c = format!("bunker_session={v}");
        headers.push(("Cookie", c.as_str()));
    }
    http(port, "POST", path, &headers, form.as_bytes())
        .unwrap()
        .0
}

fn in_snapshot(p: &Path) -> String {
    p.strip_prefix("/").unwrap().display().to_string()
}

#[test]
fn dashboard_in_chromium_shows_real_runs_enforces_login_and_csrf_and_downloads_the_bytes() {
    let s = Scratch::new();
    bunker(&s.repo(), &["init"]);
    let a = noise(300_000, 7);
    write(&s.path("src/ok/a.bin"), &a);
    write(&s.path("src/ok/dir/b.txt"), b"hello from the dashboard\n");
    write(&s.path("src/ok/dir/deeper/c.txt"), &noise(5000, 3));
    write(&s.path("src/drilled/d.txt"), b"drill me\n");
    let port = free_port();
    let token = format!("tok-{:x}", rand::random::<u64>());
    let hash = hash_password(LOGIN);
    let cfg = config(&s, port, &token, &hash);

    // The history the pages show: two successes, a failure, a run with a drill.
    ok(bunker_cfg(&cfg, &["run", "ok"]));
    write(&s.path("src/ok/second.bin"), &noise(100_000, 9));
    ok(bunker_cfg(&cfg, &["run", "ok"]));
    let failed = bunker_cfg(&cfg, &["run", "failing"]);
    assert_eq!(failed.status.code(), Some(20));
    ok(bunker_cfg(&cfg, &["run", "drilled", "--verify"]));

    let _daemon = Killed(start_daemon(&cfg, &s.path("daemon.log")));
    wait_until("the daemon", Duration::from_secs(30), || {
        http(port, "GET", "/healthz", &[], b"")
            .ok()
            .filter(|r| r.0 == 200)
    });
    wait_until("the late job to be late", Duration::from_secs(60), || {
        let jobs = jobs_api(port);
        let late = job(&jobs, "late")["incidents"].as_array().unwrap().clone();
        late.iter().any(|i| i["kind"] == "late").then_some(())
    });
    let jobs = jobs_api(port);

    // Not logged in: no page, only the login; a POST with no session is refused.
    let (status, _) = http(port, "GET", "/", &[], b"").unwrap();
    assert_eq!(status, 303);
    assert_eq!(post_form(port, "/jobs/ok/run", None, "csrf=x"), 401);

    let browser = Browser::start();
    let shots = s.path("shots");
    std::fs::create_dir_all(&shots).unwrap();
    let v = Visit {
        browser: &browser,
        base: format!("http://127.0.0.1:{port}"),
        secrets: vec![
            PASSWORD.to_string(),
            token.clone(),
            hash.clone(),
            LOGIN.to_string(),
        ],
        shots: shots.clone(),
        extra_shots: std::env::var_os("BUNKER_SCREENSHOTS").map(PathBuf::from),
    };
    v.page("/", "login");
    assert!(
        browser.url().contains("/login?next=%2F"),
        "{}",
        browser.url()
    );

    // A wrong password is refused, the right one logs in.
    let submit = "document.querySelector('#password').value = arguments[0];\
                  document.querySelector('form.login').submit();";
    browser.script(submit, json!(["not it"]));
    assert_eq!(v.wait_for("#login-error"), "wrong password");
    // (the 401 of the refused login is the browser's own console line)
    browser.console();
    browser.script(submit, json!([LOGIN]));
    v.wait_for("#banner");
    v.check("overview", "overview");
    let cookie = browser
        .cookies()
        .into_iter()
        .find(|c| c["name"] == "bunker_session")
        .expect("session cookie");
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    assert_eq!(cookie["secure"], true, "{cookie}");
    let session = cookie["value"].as_str().unwrap().to_string();

    // The overview: the worst state, and each card as the catalog has it.
    let attr = |css: &str, name: &str| {
        browser
            .script(
                "var e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;",
                json!([css, name]),
            )
            .as_str()
            .map(str::to_string)
    };
    assert_eq!(attr("#banner", "data-state").as_deref(), Some("failing"));
    assert_eq!(attr("#job-ok", "data-state").as_deref(), Some("ok"));
    assert_eq!(
        attr("#job-failing", "data-state").as_deref(),
        Some("failing")
    );
    assert_eq!(attr("#job-late", "data-state").as_deref(), Some("late"));
    assert_eq!(attr("#job-drilled", "data-state").as_deref(), Some("ok"));
    assert_eq!(browser.text("#job-failing .failures").as_deref(), Some("1"));
    let today = |job: &str| attr(&format!("#job-{job} rect.day:last-of-type"), "data-state");
    assert_eq!(today("ok").as_deref(), Some("ok"));
    assert_eq!(today("failing").as_deref(), Some("failed"));
    assert!(browser
        .text("#job-ok")
        .unwrap()
        .contains("keeps the last 5, 7 daily"));

    // The job page: its runs and the charts drawn from them.
    v.page("/jobs/ok", "job");
    let runs: Vec<Value> = serde_json::from_str(
        &http(port, "GET", "/api/v1/runs?job=ok", &[], b"")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(runs.len(), 2);
    let shown = browser.script(
        "return Array.from(document.querySelectorAll('figure')).map(function (f) {\
           return [f.querySelector('figcaption').textContent,\
                   Array.from(f.querySelectorAll('circle')).map(function (c) { return Number(c.dataset.value); })]; });",
        json!([]),
    );
    let added: Vec<f64> = runs
        .iter()
        .rev()
        .map(|r| r["bytes_added"].as_f64().unwrap())
        .collect();
    let chart = |name: &str| -> Vec<f64> {
        shown
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f[0] == name)
            .unwrap_or_else(|| panic!("no chart {name}: {shown}"))[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    assert_eq!(chart("Bytes added"), added);
    assert_eq!(chart("Duration").len(), 2);
    assert!(added[0] > added[1] && added[1] > 0.0, "{added:?}");
    assert!(browser.text("#cli").unwrap().contains("run ok"));

    // The failed run's page names the step and the error.
    let failing: Vec<Value> = serde_json::from_str(
        &http(port, "GET", "/api/v1/runs?job=failing", &[], b"")
            .unwrap()
            .1,
    )
    .unwrap();
    v.page(&format!("/runs/{}", failing[0]["id"]), "run");
    let error = browser.text("#error").unwrap();
    assert!(error.starts_with("before hook"), "{error}");
    assert_eq!(browser.text("#outcome").as_deref(), Some("failure"));
    // A successful run's page lists its steps.
    v.page(&format!("/runs/{}", runs[0]["id"]), "run-ok");
    assert!(
        browser.text("#log").unwrap().contains("backup"),
        "{:?}",
        browser.text("#log")
    );

    // Drills, with the restore time the catalog measured.
    v.page("/drills", "drills");
    let drill = &job(&jobs, "drilled")["last_drill"];
    assert_eq!(drill["passed"], true);
    let rto = attr(".rto", "data-seconds").unwrap();
    assert_eq!(
        rto.parse::<f64>().unwrap(),
        drill["restore_seconds"].as_f64().unwrap()
    );

    // The repository: as many snapshots as the repository holds.
    let snaps: Vec<Value> =
        serde_json::from_str(&bunker(&s.repo(), &["--json", "snapshots"])).unwrap();
    assert_eq!(snaps.len(), 3);
    v.page("/repositories", "repositories");
    v.page("/repositories/primary", "repository");
    assert_eq!(browser.text("#snapshot-count").as_deref(), Some("3"));
    assert!(browser.text("#quota").unwrap().contains("of 1.0 GiB"));
    v.page("/snapshots", "snapshots");
    assert_eq!(
        browser.text("#snapshot-count").as_deref(),
        Some("3 snapshots")
    );
    v.page("/snapshots?job=ok", "snapshots-ok");
    assert_eq!(
        browser.text("#snapshot-count").as_deref(),
        Some("2 snapshots")
    );

    // Browse the newest snapshot of `ok` and download a file and a directory.
    let newest = runs[0]["snapshot"].as_str().unwrap();
    let dir = in_snapshot(&s.path("src/ok"));
    v.page(
        &format!("/snapshots/primary/{newest}?path={dir}"),
        "snapshot-tree",
    );
    let href = attr("a.file[href*='a.bin']", "href").expect("a link to a.bin");
    let (status, got) = fetch_bytes(&browser, &href);
    assert_eq!(status, 200);
    assert!(
        got == a,
        "a.bin: {} bytes back, {} backed up",
        got.len(),
        a.len()
    );
    let tar_href = attr("a.dir[href*='dir']", "href").expect("a link to dir/");
    browser.goto(&format!("{}{tar_href}", v.base));
    let tar_link = attr("#download-dir", "href").unwrap();
    let (status, tar) = fetch_bytes(&browser, &tar_link);
    assert_eq!(status, 200);
    let out = s.path("untarred");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(s.path("dir.tar"), &tar).unwrap();
    let x = Command::new("tar")
        .arg("-xf")
        .arg(s.path("dir.tar"))
        .arg("-C")
        .arg(&out)
        .output()
        .unwrap();
    assert!(x.status.success(), "{}", String::from_utf8_lossy(&x.stderr));
    for f in ["b.txt", "deeper/c.txt"] {
        assert_eq!(
            std::fs::read(out.join("dir").join(f)).unwrap(),
            std::fs::read(s.path("src/ok/dir").join(f)).unwrap(),
            "{f} from the tar"
        );
    }

    // Audit log and incidents; acknowledging one goes through the form.
    v.page("/audit", "audit");
    assert!(browser.text("table").unwrap().contains("backup"));
    v.page("/incidents", "incidents");
    let open = browser.text("#open-count").unwrap();
    assert!(open.starts_with('2') || open.starts_with('3'), "{open}");
    browser.script(
        "document.querySelector('form[action=\"/incidents/acknowledge\"]').submit();",
        json!([]),
    );
    v.wait_for(".acked");

    // CSRF: the session alone does not act; a missing or wrong token is refused.
    assert_eq!(post_form(port, "/jobs/ok/run", Some(&session), ""), 403);
    assert_eq!(
        post_form(port, "/jobs/ok/run", Some(&session), "csrf=0000"),
        403
    );
    assert_eq!(
        post_form(port, "/incidents/acknowledge", Some(&session), "key=x"),
        403
    );
    let still: Vec<Value> = serde_json::from_str(
        &http(port, "GET", "/api/v1/runs?job=ok", &[], b"")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(still.len(), 2, "a refused form started a run");

    // "Run now" from the job page does start a run.
    v.page("/jobs/ok", "job-before-run");
    browser.script("document.querySelector('#run-now').click();", json!([]));
    wait_until(
        "the run asked from the page",
        Duration::from_secs(60),
        || {
            let runs: Vec<Value> = serde_json::from_str(
                &http(port, "GET", "/api/v1/runs?job=ok", &[], b"")
                    .unwrap()
                    .1,
            )
            .unwrap();
            (runs.len() == 3 && runs[0]["outcome"] == "success").then_some(())
        },
    );
    let audit = bunker_cfg(&cfg, &["--json", "catalog", "audit"]);
    let audit = String::from_utf8_lossy(&audit.stdout).to_string();
    assert!(audit.contains("dashboard-run"), "{audit}");
}
