//! What each fuzz target does with its input: the parsers that read what users write
//! (durations, schedules, the configuration, locations, spans) and what a repository
//! holds (pack headers, index, tree and snapshot JSON, ids, WAL file names). Each target
//! must return, never panic, and where a parser has an inverse the round trip must hold.
//!
//! The same functions run in two ways: `fuzz_targets/*.rs` under libFuzzer
//! (`cargo fuzz run NAME` from this directory, for long runs), and the property tests
//! of `tests/cli/fuzz.rs` inside `cargo test` (bounded, on every CI run).

use std::path::Path;
use std::str::FromStr;

use bunker_jobs::config::{parse_duration, Config, Span, When};
use bunker_repo::{
    parse_bytes, parse_header, Id, IndexFile, Key, Location, MasterIndex, MaxUnused, ReadData,
    RetentionDuration, Snapshot, Tree,
};
use bunker_schedule::{Cron, Schedule, Tz};
use bunker_sources::postgres::wal::WalFile;
use chrono::{DateTime, TimeDelta, Utc};

/// A fuzz target: takes any bytes, panics only on a bug.
pub type Target = fn(&[u8]);

/// Every target, by name, for the property tests and the fuzz binaries.
pub const TARGETS: &[(&str, Target)] = &[
    ("duration", duration),
    ("schedule", schedule),
    ("config", config),
    ("location", location),
    ("retention_span", retention_span),
    ("cli_values", cli_values),
    ("wal_name", wal_name),
    ("pack_header", pack_header),
    ("index_json", index_json),
    ("tree_json", tree_json),
    ("snapshot_json", snapshot_json),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Instants a schedule is asked about: now-ish, around DST changes, the ends of time.
fn instants(seed: &[u8]) -> Vec<DateTime<Utc>> {
    let mut out = vec![
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        DateTime::from_timestamp(1_774_746_000, 0).unwrap_or_default(), // 2026-03-29 01:00Z
        DateTime::from_timestamp(1_792_890_000, 0).unwrap_or_default(), // 2026-10-25 00:00Z
    ];
    let n = seed
        .iter()
        .fold(0i64, |a, b| a.wrapping_mul(31).wrapping_add(*b as i64));
    out.extend(DateTime::from_timestamp(n.rem_euclid(8_000_000_000), 0));
    out
}

/// `parse_duration`: what parses prints back to the same span.
pub fn duration(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(d) = parse_duration(s) {
        let shown = Span(d).to_string();
        assert_eq!(
            parse_duration(&shown).ok(),
            Some(d),
            "{s:?} shown as {shown:?}"
        );
    }
}

/// Cron expressions and `@every`: a schedule that parses has a next and a previous run
/// from any reasonable instant, after and before it, in every zone tried.
pub fn schedule(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(w) = When::from_str(s) {
        for zone in [Tz::UTC, Tz::Europe__Berlin, Tz::America__New_York] {
            for t in instants(data) {
                let next = w.next_after(t, zone);
                let last = w.last_at_or_before(t, zone);
                let _ = w.interval_at(t, zone);
                let inner = t > DateTime::<Utc>::MIN_UTC + TimeDelta::days(40_000)
                    && t < DateTime::<Utc>::MAX_UTC - TimeDelta::days(40_000);
                if inner {
                    assert!(next.is_some_and(|n| n > t), "{s:?} after {t}: {next:?}");
                    assert!(last.is_some_and(|l| l <= t), "{s:?} before {t}: {last:?}");
                }
            }
        }
        assert_eq!(
            When::from_str(&w.to_string()).ok(),
            Some(w.clone()),
            "{s:?}"
        );
    }
    if let Ok(c) = Cron::from_str(s) {
        let _ = Schedule::new(c, Tz::Australia__Lord_Howe).next_after(instants(data)[2]);
    }
}

/// The variables the example configurations (the seeds) name, set so that their
/// edits get past `${NAME}` to the checks behind it.
const EXAMPLE_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "MONGODB_URI",
    "POSTGRES_URL",
    "REDIS_URL",
    "ALERT_API_AUTH",
    "ALERT_WEBHOOK_URL",
    "BUNKER_API_TOKEN",
    "BUNKER_OFFSITE_PASSWORD",
    "BUNKER_PASSWORD",
    "HEALTHCHECKS_URL",
    "ONCALL_WEBHOOK_URL",
    "SLACK_WEBHOOK_URL",
    "SMTP_PASSWORD",
];

/// The configuration file: errors, never panics; what `config show` prints parses (with
/// its redacted notification URLs filled in).
pub fn config(data: &[u8]) {
    static VARIABLES: std::sync::Once = std::sync::Once::new();
    VARIABLES.call_once(|| {
        for name in EXAMPLE_VARIABLES {
            std::env::set_var(name, format!("https://example.com/{name}"));
        }
    });
    let Some(s) = text(data) else { return };
    if let Ok(c) = Config::parse(s, Path::new("fuzz.toml")) {
        // A notification URL is a secret, shown as `<redacted>`, which is no URL: put one
        // back, as a user filling in the shown file would.
        let shown = c.to_redacted_toml().replace(
            "url = \"<redacted>\"",
            "url = \"https://redacted.example/\"",
        );
        if let Err(e) = Config::parse(&shown, Path::new("shown.toml")) {
            panic!("{s:?} parses, but what show prints does not: {e}\n{shown}");
        }
    }
}

/// Repository locations: what parses prints back to the same location.
pub fn location(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(l) = Location::parse(s) {
        let shown = l.to_string();
        assert_eq!(
            Location::parse(&shown).ok(),
            Some(l),
            "{s:?} shown as {shown:?}"
        );
    }
}

/// Retention spans (`keep_within`, `--keep-within`): what parses prints back the same.
pub fn retention_span(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(d) = RetentionDuration::from_str(s) {
        let shown = d.to_string();
        assert_eq!(
            RetentionDuration::from_str(&shown).ok(),
            Some(d),
            "{s:?} shown as {shown:?}"
        );
    }
}

/// Other values typed on the command line: ids and id prefixes, sizes, read-data
/// subsets, prune's max-unused.
pub fn cli_values(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(id) = Id::from_str(s) {
        assert_eq!(id.to_hex(), s.to_ascii_lowercase());
    }
    let _ = parse_bytes(s);
    let _ = ReadData::from_str(s);
    let _ = MaxUnused::from_str(s);
}

/// WAL archive names, with segment sizes from a snapshot's metadata (any u64).
pub fn wal_name(data: &[u8]) {
    let (size, name) = data.split_at(data.len().min(8));
    let mut b = [0u8; 8];
    b[..size.len()].copy_from_slice(size);
    let Some(name) = text(name) else { return };
    for seg_size in [u64::from_le_bytes(b), 16 << 20, 1 << 20, 1 << 30] {
        let _ = WalFile::parse(name, seg_size);
    }
}

fn key() -> Key {
    Key::from_kdf_output(&[7u8; 64])
}

/// Pack headers: the input is a header's plaintext (encrypted here, so the parser sees
/// what a damaged or hostile pack holds once it authenticates), the pack size in front.
pub fn pack_header(data: &[u8]) {
    let (size, header) = data.split_at(data.len().min(8));
    let mut b = [0u8; 8];
    b[..size.len()].copy_from_slice(size);
    let key = key();
    let mut tail = key.encrypt(header);
    let hlen = tail.len() as u32;
    tail.extend_from_slice(&hlen.to_le_bytes());
    let id = Id::hash(data);
    for pack_size in [u64::from_le_bytes(b), tail.len() as u64, u64::MAX] {
        if let Ok(blobs) = parse_header(&key, &id, &tail, pack_size) {
            for blob in blobs {
                assert!(u64::from(blob.offset) + u64::from(blob.length) <= pack_size);
            }
        }
    }
    let _ = parse_header(&key, &id, data, data.len() as u64);
}

/// Index files as JSON, loaded into the master index.
pub fn index_json(data: &[u8]) {
    if let Ok(file) = serde_json::from_slice::<IndexFile>(data) {
        let mut index = MasterIndex::default();
        for pack in &file.packs {
            index.add_pack(pack);
            let _ = pack.packed_blobs();
        }
        for t in [bunker_repo::BlobType::Data, bunker_repo::BlobType::Tree] {
            for (_, location) in index.iter(t) {
                let _ = location.plain_size();
            }
        }
    }
}

/// Tree blobs: what parses serialises and parses again to the same tree.
pub fn tree_json(data: &[u8]) {
    if let Ok(tree) = Tree::from_blob(data) {
        let again = Tree::from_blob(&tree.to_blob()).expect("a tree bunker wrote parses");
        assert_eq!(again.to_blob(), tree.to_blob());
        for node in &tree.nodes {
            let _ = tree.find(&node.name);
        }
    }
}

/// Snapshot files as JSON, as listed, filtered and shown.
pub fn snapshot_json(data: &[u8]) {
    if let Ok(s) = serde_json::from_slice::<Snapshot>(data) {
        let _ = s.short_id();
        let _ = s.has_tags("a,b");
        let _ = serde_json::to_vec(&s).expect("a snapshot serialises");
    }
}
