//! Sources through the runner and the [`Source`] trait: backed up by a job's run,
//! restored, and compared with the original.

use std::path::Path;
use std::sync::Arc;

use bunker_catalog::{Catalog, Outcome, Trigger};
use bunker_repo::Repository;

use super::{Item, Target};
use crate::config::Config;
use crate::runner::{open_repository, run_job, RunOptions};

/// A configuration with one repository (created here) and one job `job` of `source`.
fn setup(dir: &Path, source: &str) -> Config {
    let repo = dir.join("repo");
    let storage = bunker_repo::Storage::create(
        repo.to_str().unwrap(),
        &bunker_repo::StorageOptions::default(),
    )
    .unwrap();
    Repository::init(storage, "pw").unwrap();
    let text = format!(
        "[daemon]\nstate_dir = {state:?}\n\
         [repositories.main]\nurl = {repo:?}\npassword = \"pw\"\n\
         [jobs.job]\nrepository = \"main\"\nsource = {source}\n\
         [jobs.job.verify]\ndrill = \"@daily\"\n",
        state = dir.join("state").to_str().unwrap(),
        repo = repo.to_str().unwrap(),
    );
    Config::parse(&text, &dir.join("bunker.toml")).unwrap()
}

/// Runs the job once, with its drill, and returns the repository and the snapshot.
fn run(config: &Config) -> (Arc<Repository>, bunker_repo::Snapshot) {
    let catalog = Catalog::open_in_memory().unwrap();
    let opts = RunOptions {
        trigger: Trigger::Manual,
        verify_now: true,
        prune_now: false,
        extra_tags: Vec::new(),
        progress: Default::default(),
    };
    let report = run_job(config, &catalog, "job", &opts, &|_| {}).unwrap();
    assert_eq!(report.outcome, Outcome::Success, "{:?}", report.error);
    let drill = report.drill.expect("the run drilled");
    assert!(drill.passed, "{}", drill.detail);
    let repo = open_repository(config.repository("main").unwrap()).unwrap();
    let snapshot = repo
        .find_snapshot(&report.snapshot.unwrap(), &Default::default())
        .unwrap();
    (repo, snapshot)
}

#[test]
fn a_toy_source_is_one_module_and_one_enum_arm() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("words.txt");
    let original = "alpha\nbeta\ngamma\n";
    std::fs::write(&file, original).unwrap();
    let config = setup(
        dir.path(),
        &format!("{{ type = \"toy\", file = {:?} }}", file.to_str().unwrap()),
    );
    let source = config.job("job").unwrap().source.source();
    assert_eq!(source.kind(), "toy");
    let (repo, snapshot) = run(&config);

    let names: Vec<String> = source
        .contents(&repo, &snapshot)
        .unwrap()
        .into_iter()
        .map(|Item { name, .. }| name)
        .collect();
    assert_eq!(names, ["line-0000", "line-0001", "line-0002"]);

    let copy = dir.path().join("copy.txt");
    let to = copy.to_str().unwrap().to_string();
    let restored = source
        .restore(
            &repo,
            &snapshot,
            &Target::New {
                to: to.clone(),
                item: None,
            },
        )
        .unwrap();
    assert_eq!(restored.to, to);
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), original);
    let again = source.restore(&repo, &snapshot, &Target::New { to, item: None });
    assert!(
        matches!(again, Err(crate::Error::TargetExists(_))),
        "{again:?}"
    );

    // In place: the damaged file is saved first, then replaced by the snapshot's.
    std::fs::write(&file, "damaged\n").unwrap();
    let restored = source
        .restore(&repo, &snapshot, &Target::InPlace { item: None })
        .unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    let safety = repo
        .find_snapshot(&restored.safety_snapshot.unwrap(), &Default::default())
        .unwrap();
    assert!(safety.tags.iter().any(|t| t == crate::choice::SAFETY_TAG));
    let before = dir.path().join("before.txt");
    let to = before.to_str().unwrap().to_string();
    source
        .restore(&repo, &safety, &Target::New { to, item: None })
        .unwrap();
    assert_eq!(std::fs::read_to_string(&before).unwrap(), "damaged\n");
}

#[test]
fn the_toy_source_is_checked_by_config_check() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[repositories.main]\nurl = \"/r\"\npassword = \"pw\"\n\
                [jobs.job]\nrepository = \"main\"\nsource = { type = \"toy\", file = \"words.txt\" }\n";
    let e = Config::parse(text, &dir.path().join("bunker.toml")).unwrap_err();
    assert!(
        e.message
            .contains("job \"job\": file \"words.txt\": give an absolute path"),
        "{e}"
    );
}

/// Every regular file under `dir`, by its path below `dir`, with its bytes.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_str().unwrap().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn files_round_trip_through_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("a.txt"), b"first file\n").unwrap();
    std::fs::write(data.join("sub/b.bin"), vec![7u8; 100_000]).unwrap();
    std::fs::write(data.join("sub/skip.tmp"), b"left out").unwrap();
    let config = setup(
        dir.path(),
        &format!(
            "{{ type = \"files\", paths = [{:?}], excludes = [\"*.tmp\"] }}",
            data.to_str().unwrap()
        ),
    );
    let source = config.job("job").unwrap().source.source();
    let (repo, snapshot) = run(&config);
    let items = source.contents(&repo, &snapshot).unwrap();
    assert_eq!(items[0].name, data.to_str().unwrap());

    let out = dir.path().join("out");
    let to = out.to_str().unwrap().to_string();
    let restored = source
        .restore(&repo, &snapshot, &Target::New { to, item: None })
        .unwrap();
    assert_eq!(restored.files, 2);
    std::fs::remove_file(data.join("sub/skip.tmp")).unwrap();
    let inner = out.join(data.strip_prefix("/").unwrap());
    assert_eq!(files_under(&inner), files_under(&data));

    let in_place = source.restore(&repo, &snapshot, &Target::InPlace { item: None });
    assert!(
        matches!(
            in_place,
            Err(crate::Error::Unsupported { kind: "files", .. })
        ),
        "{in_place:?}"
    );
}

#[test]
fn command_output_round_trips_through_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(
        dir.path(),
        "{ type = \"command\", command = [\"sh\", \"-c\", \"printf 'one\\\\ntwo\\\\n'\"], \
         stdin_filename = \"out.txt\" }",
    );
    let source = config.job("job").unwrap().source.source();
    assert_eq!(source.kind(), "command");
    let (repo, snapshot) = run(&config);
    let items = source.contents(&repo, &snapshot).unwrap();
    assert_eq!(
        items,
        [Item {
            name: "out.txt".into(),
            what: "file",
            bytes: Some(8)
        }]
    );
    let out = dir.path().join("out");
    let to = out.to_str().unwrap().to_string();
    source
        .restore(&repo, &snapshot, &Target::New { to, item: None })
        .unwrap();
    assert_eq!(std::fs::read(out.join("out.txt")).unwrap(), b"one\ntwo\n");
}
