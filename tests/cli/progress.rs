//! Progress that says how long: totals, percentages and ETAs in `--json` status lines
//! (restic's field names) and in the bar a terminal shows, and silence elsewhere.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::*;

const FILES: usize = 16;
const FILE_SIZE: usize = 2 << 20;

/// A tree of incompressible files, and a repository holding one backup of it.
fn backed_up() -> (Scratch, std::path::PathBuf) {
    let s = Scratch::new();
    let src = s.path("src");
    for i in 0..FILES {
        write(
            &src.join(format!("d{}/f{i}", i % 3)),
            &noise(FILE_SIZE, i as u64 + 1),
        );
    }
    bunker(&s.repo(), &["init"]);
    bunker(&s.repo(), &["backup", src.to_str().unwrap()]);
    (s, src)
}

/// bunker with status lines a hundred times a second.
fn fast(repo: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bunker_bin());
    c.arg("-r")
        .arg(repo)
        .args(args)
        .env("BUNKER_PASSWORD", PASSWORD)
        .env("BUNKER_PROGRESS_FPS", "100")
        .env_remove("BUNKER_REPOSITORY");
    c
}

/// The `--json` status lines of a command, asserting it succeeded.
fn statuses(mut cmd: Command) -> Vec<Value> {
    let out = run_with_stdin(&mut cmd, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(
        lines.last().unwrap()["message_type"],
        "summary",
        "{lines:?}"
    );
    lines
        .into_iter()
        .filter(|v| v["message_type"] == "status")
        .collect()
}

/// Status lines with a total: the share done only grows, stays within 0..1, and the
/// time left is given.
fn assert_sound(st: &[Value], total_key: &str, total: u64) {
    let with_total: Vec<&Value> = st.iter().filter(|v| v[total_key].is_u64()).collect();
    assert!(
        !with_total.is_empty(),
        "no status line with {total_key}: {st:?}"
    );
    let mut last = 0.0;
    for v in &with_total {
        assert_eq!(v[total_key], total, "{v}");
        let p = v["percent_done"].as_f64().unwrap_or_else(|| panic!("{v}"));
        assert!((0.0..=1.0).contains(&p) && p >= last, "{st:?}");
        last = p;
        assert!(v["seconds_elapsed"].is_u64(), "{v}");
        if p > 0.0 {
            assert!(v["seconds_remaining"].is_u64(), "{v}");
        }
    }
}

#[test]
fn restore_backup_and_check_report_totals_percent_and_time_left_in_json() {
    let (s, src) = backed_up();
    let total = (FILES * FILE_SIZE) as u64;

    let target = s.path("restored");
    let st = statuses(fast(
        &s.repo(),
        &[
            "--json",
            "restore",
            "latest",
            "--target",
            target.to_str().unwrap(),
        ],
    ));
    assert_sound(&st, "total_bytes", total);
    assert!(
        st.iter()
            .all(|v| v["total_files"].is_null() || v["total_files"] == FILES),
        "{st:?}"
    );
    assert_same_tree(&src, &restored(&target, &src));

    // A second tree the repository has not seen: the scan gives backup its total.
    let more = s.path("more");
    for i in 0..FILES {
        write(
            &more.join(format!("g{i}")),
            &noise(FILE_SIZE, 1000 + i as u64),
        );
    }
    let st = statuses(fast(
        &s.repo(),
        &["--json", "backup", more.to_str().unwrap()],
    ));
    assert_sound(&st, "total_bytes", total);

    let st = statuses(fast(&s.repo(), &["--json", "check", "--read-data"]));
    let packs = std::fs::read_dir(s.repo().join("data"))
        .unwrap()
        .flatten()
        .map(|d| std::fs::read_dir(d.path()).unwrap().count() as u64)
        .sum::<u64>();
    let st_packs: Vec<Value> = st
        .iter()
        .filter(|v| v["total_packs"].is_u64())
        .cloned()
        .collect();
    assert!(!st_packs.is_empty(), "{st:?}");
    assert!(
        st_packs.iter().all(|v| v["total_packs"] == packs),
        "{st_packs:?}"
    );
    assert!(
        st_packs.iter().all(|v| v["percent_done"].is_f64()),
        "{st_packs:?}"
    );
}

#[test]
fn a_terminal_shows_a_bar_with_eta_and_a_pipe_shows_nothing() {
    let (s, src) = backed_up();
    let target = s.path("tty");
    // script(1) gives the command a terminal and records what it drew.
    let line = format!(
        "BUNKER_PASSWORD='{PASSWORD}' BUNKER_PROGRESS_FPS=100 {} -r {} restore latest --target {}",
        bunker_bin().display(),
        s.repo().display(),
        target.display()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .output()
        .expect("script(1) from util-linux");
    let drawn = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{drawn}");
    assert!(
        drawn.contains("% [")
            && drawn.contains("ETA")
            && drawn.contains(&format!("of {FILES} files")),
        "{drawn}"
    );
    assert_same_tree(&src, &restored(&target, &src));

    let piped = s.path("piped");
    let out = run_with_stdin(
        &mut fast(
            &s.repo(),
            &["restore", "latest", "--target", piped.to_str().unwrap()],
        ),
        None,
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\r') && !err.contains("ETA"), "{err}");
}

#[test]
fn run_names_its_step_and_copy_counts_snapshots() {
    let (s, src) = backed_up();
    let state = s.path("state");
    let config = s.path("bunker.toml");
    write(
        &config,
        format!(
            "[daemon]\nstate_dir = \"{}\"\n[repositories.r]\nurl = \"{}\"\npassword = \"{PASSWORD}\"\n\n[jobs.files]\nrepository = \"r\"\nsource = {{ type = \"files\", paths = [\"{}\"] }}\n",
            state.display(),
            s.repo().display(),
            s.path("fresh").display()
        )
        .as_bytes(),
    );
    for i in 0..FILES {
        write(
            &s.path(&format!("fresh/h{i}")),
            &noise(FILE_SIZE, 5000 + i as u64),
        );
    }
    let line = format!(
        "BUNKER_PROGRESS_FPS=100 {} --config {} run files",
        bunker_bin().display(),
        config.display()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .output()
        .expect("script(1) from util-linux");
    let drawn = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{drawn}");
    assert!(drawn.contains("job files: backup"), "{drawn}");

    // Both snapshots into a new repository: status lines count them.
    let other = s.path("other");
    bunker(&other, &["init"]);
    let mut cmd = fast(
        &s.repo(),
        &["--json", "copy", "--to", other.to_str().unwrap()],
    );
    cmd.env("BUNKER_TO_PASSWORD", PASSWORD);
    let st = statuses(cmd);
    assert!(
        st.iter()
            .all(|v| v["total_snapshots"].is_null() || v["total_snapshots"] == 2),
        "{st:?}"
    );
    let target = s.path("from-copy");
    bunker(
        &other,
        &[
            "restore",
            "latest",
            "--path",
            src.to_str().unwrap(),
            "--target",
            target.to_str().unwrap(),
        ],
    );
    assert_same_tree(&src, &restored(&target, &src));
}
