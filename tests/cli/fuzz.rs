//! The fuzz targets of `fuzz/` as property tests: each parser of user or repository
//! input gets random bytes and random edits of valid inputs, and must return without a
//! panic (with its round trips holding). CI runs a bounded number of cases (a few
//! seconds in all); `BUNKER_FUZZ_CASES=N` runs N per target for a longer session, and
//! `fuzz/` runs the same targets under libFuzzer.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Valid inputs each target starts from: edits of these reach deep into the parser.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let texts: Vec<String> = match target {
        "duration" => ["90s", "1h30m", "500ms", "2d", "36500d", "0s", "7"]
            .map(String::from)
            .to_vec(),
        "schedule" => [
            "0 2 * * *",
            "*/15 * * * *",
            "0 0 29 2 *",
            "30 2 * * SUN",
            "0 0 13 * 5",
            "1-30/2 0-23/3 1,15 JAN-DEC MON-FRI",
            "@daily",
            "@every 30s",
            "@every 1h30m",
        ]
        .map(String::from)
        .to_vec(),
        "config" => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
            let mut out = Vec::new();
            for dir in [root.clone(), root.join("seeds")] {
                for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    if e.path().extension().is_some_and(|x| x == "toml") {
                        out.push(std::fs::read_to_string(e.path()).unwrap());
                    }
                }
            }
            assert!(!out.is_empty(), "no example configurations");
            out
        }
        "location" => [
            "/srv/backup",
            "local:rel/dir",
            "s3:https://s3.example.com:9000/bucket/prefix",
            "s3:host/bucket",
            "gs:bucket:/p",
            "azure:c:/p",
            "sftp:u@h:/p",
            "sftp://u@[::1]:22/p",
        ]
        .map(String::from)
        .to_vec(),
        "retention_span" => ["1y2m3d4h", "30d", "2h", "0d"].map(String::from).to_vec(),
        "cli_values" => [
            "a".repeat(64),
            "10%".into(),
            "2/5".into(),
            "5G".into(),
            "unlimited".into(),
            "1.5MiB".into(),
        ]
        .to_vec(),
        "wal_name" => {
            let size = (16u64 << 20).to_le_bytes();
            return [
                "000000010000000000000002",
                "000000010000000000000002.partial",
                "00000002.history",
                "000000010000000000000002.00000028.backup",
                "0000000100000000000000é2",
            ]
            .iter()
            .map(|n| [&size[..], n.as_bytes()].concat())
            .collect();
        }
        "pack_header" => {
            let mut entry = vec![0u8];
            entry.extend(100u32.to_le_bytes());
            entry.extend([9u8; 32]);
            let mut compressed = vec![3u8];
            compressed.extend(50u32.to_le_bytes());
            compressed.extend(80u32.to_le_bytes());
            compressed.extend([8u8; 32]);
            return vec![[&1000u64.to_le_bytes()[..], &entry, &compressed].concat()];
        }
        "index_json" => vec![format!(
            r#"{{"supersedes":["{a}"],"packs":[{{"id":"{a}","blobs":[{{"id":"{b}","type":"data","offset":0,"length":45,"uncompressed_length":100}},{{"id":"{a}","type":"tree","offset":45,"length":60}}]}}]}}"#,
            a = "a".repeat(64),
            b = "b".repeat(64)
        )],
        "tree_json" => vec![format!(
            r#"{{"nodes":[{{"name":"f","type":"file","mode":420,"mtime":"2026-01-01T00:00:00Z","atime":"2026-01-01T00:00:00Z","ctime":"2026-01-01T00:00:00Z","uid":0,"gid":0,"size":3,"content":["{a}"]}},{{"name":"d","type":"dir","mode":2147484141,"mtime":"2026-01-01T00:00:00+02:00","atime":"2026-01-01T00:00:00Z","ctime":"2026-01-01T00:00:00Z","uid":0,"gid":0,"subtree":"{a}"}},{{"name":"l","type":"symlink","linktarget":"../x","mode":134218239,"mtime":"2026-01-01T00:00:00Z","atime":"2026-01-01T00:00:00Z","ctime":"2026-01-01T00:00:00Z","uid":0,"gid":0}}]}}"#,
            a = "c".repeat(64)
        )],
        "snapshot_json" => vec![format!(
            r#"{{"time":"2026-01-01T02:00:00.123456789+03:00","tree":"{a}","paths":["/srv"],"hostname":"h","username":"u","tags":["job=db","x"],"program_version":"bunker 0.1.0","summary":{{"files_new":1,"total_bytes_processed":3}}}}"#,
            a = "d".repeat(64)
        )],
        other => panic!("no seeds for {other}"),
    };
    texts.into_iter().map(String::into_bytes).collect()
}

/// One edit of an input: overwrite, insert or delete at a position, or repeat a piece.
#[derive(Clone, Debug)]
enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Repeat(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to these parsers more often than chance would pick them.
    let byte = prop_oneof![
        any::<u8>(),
        proptest::sample::select(b"0123456789*/-,@:.\"[]{}=\n \\$%e".to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(p, b)| Edit::Set(p, b)),
        (any::<usize>(), proptest::collection::vec(byte, 1..8))
            .prop_map(|(p, b)| Edit::Insert(p, b)),
        (any::<usize>(), 1..16usize).prop_map(|(p, n)| Edit::Delete(p, n)),
        (any::<usize>(), 1..32usize, 1..4usize).prop_map(|(p, n, k)| Edit::Repeat(p, n, k)),
    ]
}

fn apply(mut data: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = data.len();
        match e {
            Edit::Set(p, b) if len > 0 => data[p % len] = *b,
            Edit::Insert(p, bytes) => {
                let at = p % (len + 1);
                data.splice(at..at, bytes.iter().copied());
            }
            Edit::Delete(p, n) if len > 0 => {
                let at = p % len;
                data.drain(at..(at + n).min(len));
            }
            Edit::Repeat(p, n, k) if len > 0 => {
                let at = p % len;
                let piece = data[at..(at + n).min(len)].to_vec();
                for _ in 0..*k {
                    data.splice(at..at, piece.iter().copied());
                }
            }
            _ => {}
        }
    }
    data
}

/// Runs `target` on `cases` inputs: a third random bytes, the rest edited seeds.
fn fuzz(name: &str, cases: u32) {
    let (_, target) = targets::TARGETS.iter().find(|(n, _)| *n == name).unwrap();
    let cases = std::env::var("BUNKER_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    let seeds = seeds(name);
    let input = prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..256),
        2 => (0..seeds.len(), proptest::collection::vec(edit(), 1..6))
            .prop_map(move |(i, edits)| apply(seeds[i].clone(), &edits)),
    ];
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&input, |data| {
        target(&data);
        Ok(())
    });
    if let Err(e) = result {
        panic!("fuzz target {name}: {e}");
    }
}

macro_rules! fuzz_tests {
    ($($name:ident: $cases:expr),* $(,)?) => {
        $(#[test]
        fn $name() {
            fuzz(stringify!($name), $cases);
        })*

        /// Every target of fuzz/ has a property test here.
        #[test]
        fn every_fuzz_target_runs_in_ci() {
            let here = [$(stringify!($name)),*];
            for (name, _) in targets::TARGETS {
                assert!(here.contains(name), "{name} has no property test");
            }
        }
    };
}

fuzz_tests! {
    duration: 3000,
    schedule: 1500,
    config: 400,
    location: 3000,
    retention_span: 3000,
    cli_values: 3000,
    wal_name: 3000,
    pack_header: 2000,
    index_json: 2000,
    tree_json: 2000,
    snapshot_json: 2000,
}
