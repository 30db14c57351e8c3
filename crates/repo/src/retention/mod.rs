//! Retention: which snapshots a policy keeps, decided as restic 0.14's `forget` decides.
//!
//! Snapshots are grouped (by default by host and paths), each group is sorted newest
//! first, and every snapshot is tested against each rule in turn:
//!
//! * `keep_tags`: kept if it carries every tag of one of the sets;
//! * `keep_within`: kept if it is newer than the group's reference time minus the
//!   duration. The reference is the newest snapshot of the group that is not in the
//!   future (restic's choice, so that forgetting does not depend on when it runs);
//! * `keep_last`, `keep_hourly` ... `keep_yearly`: each rule remembers the bucket (hour,
//!   day, ISO week, month, year) of the last snapshot it kept. A snapshot whose bucket
//!   differs is kept while the rule's count lasts, so every bucket keeps its newest
//!   snapshot;
//! * `keep_within_hourly` ... `keep_within_yearly`: the same buckets without a count,
//!   for snapshots newer than the reference minus the duration.
//!
//! Buckets are read off the time as it was recorded, in its own UTC offset, as Go's
//! `time.Time` methods do: around a DST change `01:30+01:00` and `03:30+02:00` are
//! different hours, and `02:30+02:00` and `02:30+01:00` are the same one.
//!
//! On top of restic's rules, bunker never removes a snapshot tagged [`PROTECTED_TAG`].

mod duration;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, TimeDelta, TimeZone, Timelike};

use crate::snapshot::{Snapshot, SnapshotFilter};
use duration::{go_add_date, go_local_offset};

pub use duration::RetentionDuration;

/// Snapshots with this tag are kept whatever the policy says (reason [`PROTECTED_REASON`]),
/// and `forget` refuses to remove them by id. `bunker backup --label NAME` adds it, so a
/// backup taken before a risky change (a migration, an upgrade) outlives every policy.
pub const PROTECTED_TAG: &str = "forever";

/// The reason given for a snapshot kept because it carries [`PROTECTED_TAG`].
pub const PROTECTED_REASON: &str = "protected";

/// Whether `snapshot` carries [`PROTECTED_TAG`].
pub fn is_protected(snapshot: &Snapshot) -> bool {
    snapshot.tags.iter().any(|t| t == PROTECTED_TAG)
}

/// What to keep. Counts of 0 and zero durations switch a rule off; a policy with every
/// rule off is empty (see [`RetentionPolicy::is_empty`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub keep_last: u32,
    pub keep_hourly: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    pub keep_yearly: u32,
    pub keep_within: RetentionDuration,
    pub keep_within_hourly: RetentionDuration,
    pub keep_within_daily: RetentionDuration,
    pub keep_within_weekly: RetentionDuration,
    pub keep_within_monthly: RetentionDuration,
    pub keep_within_yearly: RetentionDuration,
    /// Each entry is a comma-separated set of tags that must all be present (an empty
    /// entry matches snapshots without tags, as in restic).
    pub keep_tags: Vec<String>,
}

impl RetentionPolicy {
    /// No rule is on: applying it would keep everything (restic) — `forget` refuses it.
    pub fn is_empty(&self) -> bool {
        *self == RetentionPolicy::default()
    }
}

impl fmt::Display for RetentionPolicy {
    /// restic's description, e.g. "keep 7 daily, 4 weekly snapshots".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: Vec<String> = [
            (self.keep_last, "latest"),
            (self.keep_hourly, "hourly"),
            (self.keep_daily, "daily"),
            (self.keep_weekly, "weekly"),
            (self.keep_monthly, "monthly"),
            (self.keep_yearly, "yearly"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        let withins: Vec<String> = self
            .within_buckets()
            .iter()
            .filter(|(d, _)| !d.is_zero())
            .map(|(d, b)| format!("{} snapshots within {d}", b.name()))
            .collect();
        let mut s = String::new();
        if !counts.is_empty() {
            s = format!("{} snapshots", counts.join(", "));
        }
        if !withins.is_empty() {
            if !s.is_empty() {
                s += ", ";
            }
            s += &withins.join(", ");
        }
        if !self.keep_tags.is_empty() {
            if !s.is_empty() {
                s += " and ";
            }
            let sets: Vec<String> = self.keep_tags.iter().map(|t| tag_set_text(t)).collect();
            s += &format!("all snapshots with tags [{}]", sets.join(" "));
        }
        if !self.keep_within.is_zero() {
            if !s.is_empty() {
                s += " and ";
            }
            s += &format!("all snapshots within {} of the newest", self.keep_within);
        }
        write!(f, "keep {s}")
    }
}

impl RetentionPolicy {
    fn within_buckets(&self) -> [(RetentionDuration, Bucket); 5] {
        [
            (self.keep_within_hourly, Bucket::Hour),
            (self.keep_within_daily, Bucket::Day),
            (self.keep_within_weekly, Bucket::Week),
            (self.keep_within_monthly, Bucket::Month),
            (self.keep_within_yearly, Bucket::Year),
        ]
    }
}

/// Splits a comma-separated tag set as restic does: items trimmed, empty items kept.
fn tag_set(s: &str) -> Vec<&str> {
    s.split(',').map(str::trim).collect()
}

/// A tag set as restic prints it: `[a, b]`.
fn tag_set_text(s: &str) -> String {
    format!("[{}]", tag_set(s).join(", "))
}

/// restic's `HasTags`: every tag of the set is present; an empty tag in the set matches
/// a snapshot without tags.
fn has_tags(snapshot: &Snapshot, set: &[&str]) -> bool {
    snapshot.has_tags(&set.join(","))
}

/// The snapshots `forget` works on, selected as restic 0.14 selects them: any of the
/// hosts; any of the tag sets (all tags of the set, an empty set entry meaning "no
/// tags"); and, unlike an exact match, every one of the paths among the snapshot's.
pub fn select_for_forget(snapshots: Vec<Snapshot>, filter: &SnapshotFilter) -> Vec<Snapshot> {
    snapshots
        .into_iter()
        .filter(|s| filter.matches(s))
        .collect()
}

/// Which fields make snapshots one group (restic's `--group-by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupBy {
    pub host: bool,
    pub paths: bool,
    pub tags: bool,
}

impl Default for GroupBy {
    /// restic's default: `host,paths`.
    fn default() -> Self {
        GroupBy {
            host: true,
            paths: true,
            tags: false,
        }
    }
}

impl FromStr for GroupBy {
    type Err = String;

    /// A comma-separated list of `host`, `paths`, `tags` (singular forms too); the empty
    /// string puts every snapshot in one group.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut g = GroupBy {
            host: false,
            paths: false,
            tags: false,
        };
        for part in s.split(',') {
            match part {
                "host" | "hosts" => g.host = true,
                "path" | "paths" => g.paths = true,
                "tag" | "tags" => g.tags = true,
                "" => {}
                other => {
                    return Err(format!(
                        "unknown grouping {other:?}: use host, paths and/or tags"
                    ))
                }
            }
        }
        Ok(g)
    }
}

/// What the snapshots of one group share. Fields not grouped by are empty/`None`, as
/// in restic's JSON (`"tags": null` also when grouping by tags and they have none).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    pub host: String,
    /// Sorted.
    pub paths: Option<Vec<String>>,
    /// Sorted.
    pub tags: Option<Vec<String>>,
}

impl GroupKey {
    fn of(s: &Snapshot, by: GroupBy) -> GroupKey {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        GroupKey {
            host: if by.host {
                s.hostname.clone()
            } else {
                String::new()
            },
            paths: by.paths.then(|| sorted(&s.paths)),
            tags: (by.tags && !s.tags.is_empty()).then(|| sorted(&s.tags)),
        }
    }
}

impl fmt::Display for GroupKey {
    /// restic's group header text: `host [h], tags [a, b], paths [/x, /y]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.host.is_empty() {
            parts.push(format!("host [{}]", self.host));
        }
        if let Some(t) = &self.tags {
            parts.push(format!("tags [{}]", t.join(", ")));
        }
        if let Some(p) = &self.paths {
            parts.push(format!("paths [{}]", p.join(", ")));
        }
        f.write_str(&parts.join(", "))
    }
}

/// How many snapshots each counted rule could still keep after a snapshot was decided
/// (restic's `counters`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub last: u32,
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
}

/// A kept snapshot and the rules that kept it, in restic's words ("daily snapshot",
/// "within 1d", "has tags [a]", ...), plus [`PROTECTED_REASON`].
#[derive(Clone, Debug)]
pub struct KeptSnapshot {
    pub snapshot: Snapshot,
    pub reasons: Vec<String>,
    pub counters: Counters,
}

/// The decision for one group; both lists are newest first.
#[derive(Clone, Debug, Default)]
pub struct GroupDecision {
    pub key: GroupKey,
    pub keep: Vec<KeptSnapshot>,
    pub remove: Vec<Snapshot>,
}

/// The calendar unit a rule keeps one snapshot of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bucket {
    /// Every snapshot is its own bucket (`keep_last`).
    Each,
    Hour,
    Day,
    /// ISO 8601 week: weeks start on Monday, week 1 holds the year's first Thursday.
    Week,
    Month,
    Year,
}

impl Bucket {
    fn name(self) -> &'static str {
        match self {
            Bucket::Each => "last",
            Bucket::Hour => "hourly",
            Bucket::Day => "daily",
            Bucket::Week => "weekly",
            Bucket::Month => "monthly",
            Bucket::Year => "yearly",
        }
    }

    /// restic's bucket number (YYYYMMDDHH, YYYYMMDD, YYYYWW, YYYYMM, YYYY), read off the
    /// wall clock in the time's own offset; `nr` (the position in the group) for `Each`.
    fn of(self, t: &DateTime<FixedOffset>, nr: usize) -> i64 {
        let (y, m, d, h) = (
            i64::from(t.year()),
            i64::from(t.month()),
            i64::from(t.day()),
            i64::from(t.hour()),
        );
        match self {
            Bucket::Each => nr as i64,
            Bucket::Hour => y * 1_000_000 + m * 10_000 + d * 100 + h,
            Bucket::Day => y * 10_000 + m * 100 + d,
            Bucket::Week => {
                let w = t.iso_week();
                i64::from(w.year()) * 100 + i64::from(w.week())
            }
            Bucket::Month => y * 100 + m,
            Bucket::Year => y,
        }
    }
}

/// Groups `snapshots`, applies `policy` to each group and returns the decisions, groups
/// ordered by key. `now` bounds the keep-within reference (snapshots in the future are
/// not the reference), and its time zone stands for the machine's local zone: restic
/// computes keep-within windows in it when the newest snapshot was recorded with the
/// local offset (across a DST change that moves the window by an hour). Pass
/// `chrono::Local::now()`.
pub fn apply_policy<Tz: TimeZone>(
    snapshots: &[Snapshot],
    policy: &RetentionPolicy,
    group_by: GroupBy,
    now: &DateTime<Tz>,
) -> Vec<GroupDecision> {
    let mut groups: BTreeMap<GroupKey, Vec<Snapshot>> = BTreeMap::new();
    for s in snapshots {
        groups
            .entry(GroupKey::of(s, group_by))
            .or_default()
            .push(s.clone());
    }
    groups
        .into_iter()
        .map(|(key, list)| decide(key, list, policy, now))
        .collect()
}

/// One counted rule's state while walking a group.
struct CountedRule {
    bucket: Bucket,
    left: u32,
    last: i64,
}

/// One keep-within-bucket rule's state.
struct WithinRule {
    bucket: Bucket,
    within: RetentionDuration,
    since: Option<DateTime<FixedOffset>>,
    last: i64,
}

fn decide<Tz: TimeZone>(
    key: GroupKey,
    mut list: Vec<Snapshot>,
    policy: &RetentionPolicy,
    now: &DateTime<Tz>,
) -> GroupDecision {
    // Newest first; equal times (which restic leaves in load order) by id.
    list.sort_by(|a, b| b.time.cmp(&a.time).then(a.id.cmp(&b.id)));
    let mut decision = GroupDecision {
        key,
        ..Default::default()
    };
    if policy.is_empty() {
        decision.keep = list
            .into_iter()
            .map(|snapshot| KeptSnapshot {
                snapshot,
                reasons: vec!["policy is empty".into()],
                counters: Counters::default(),
            })
            .collect();
        return decision;
    }
    let zone = now.timezone();
    let reference = reference_time(&list, now);
    let within_since =
        |d: &RetentionDuration| (!d.is_zero()).then(|| within_threshold(&reference, d, &zone));
    let keep_within = within_since(&policy.keep_within);
    let mut counted: Vec<CountedRule> = [
        (policy.keep_last, Bucket::Each),
        (policy.keep_hourly, Bucket::Hour),
        (policy.keep_daily, Bucket::Day),
        (policy.keep_weekly, Bucket::Week),
        (policy.keep_monthly, Bucket::Month),
        (policy.keep_yearly, Bucket::Year),
    ]
    .into_iter()
    .map(|(left, bucket)| CountedRule {
        bucket,
        left,
        last: -1,
    })
    .collect();
    let mut withins: Vec<WithinRule> = policy
        .within_buckets()
        .into_iter()
        .filter(|(d, _)| !d.is_zero())
        .map(|(within, bucket)| WithinRule {
            bucket,
            within,
            since: within_since(&within).flatten(),
            last: -1,
        })
        .collect();

    for (nr, s) in list.into_iter().enumerate() {
        let mut reasons = Vec::new();
        for set in &policy.keep_tags {
            if has_tags(&s, &tag_set(set)) {
                reasons.push(format!("has tags {}", tag_set_text(set)));
            }
        }
        if let Some(since) = keep_within {
            if since.is_none_or(|t| s.time > t) {
                reasons.push(format!("within {}", policy.keep_within));
            }
        }
        for rule in counted.iter_mut().filter(|r| r.left > 0) {
            let b = rule.bucket.of(&s.time, nr);
            if b != rule.last {
                rule.last = b;
                rule.left -= 1;
                reasons.push(format!("{} snapshot", rule.bucket.name()));
            }
        }
        for rule in &mut withins {
            if rule.since.is_none_or(|t| s.time > t) {
                let b = rule.bucket.of(&s.time, nr);
                if b != rule.last {
                    rule.last = b;
                    reasons.push(format!("{} within {}", rule.bucket.name(), rule.within));
                }
            }
        }
        let policy_keeps = !reasons.is_empty();
        if is_protected(&s) {
            reasons.push(PROTECTED_REASON.into());
        }
        if reasons.is_empty() {
            decision.remove.push(s);
            continue;
        }
        let mut counters = Counters::default();
        if policy_keeps {
            let left = |i: usize| counted[i].left;
            counters = Counters {
                last: left(0),
                hourly: left(1),
                daily: left(2),
                weekly: left(3),
                monthly: left(4),
                yearly: left(5),
            };
        }
        decision.keep.push(KeptSnapshot {
            snapshot: s,
            reasons,
            counters,
        });
    }
    decision
}

/// The newest snapshot time strictly before `now`, or Go's zero time (year 1, UTC) when
/// every snapshot is in the future. The flag says whether it is Go's zero time.
fn reference_time<Tz: TimeZone>(list: &[Snapshot], now: &DateTime<Tz>) -> Reference {
    let mut latest = Reference::Zero;
    for s in list {
        let after = match &latest {
            Reference::Zero => s.time > go_zero_time(),
            Reference::At(t) => s.time > *t,
        };
        if after && s.time < *now {
            latest = Reference::At(s.time);
        }
    }
    latest
}

/// The keep-within reference time.
enum Reference {
    /// Go's zero time, `0001-01-01T00:00:00Z` in the UTC location.
    Zero,
    At(DateTime<FixedOffset>),
}

fn go_zero_time() -> DateTime<FixedOffset> {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .expect("valid date")
        .and_hms_opt(0, 0, 0)
        .expect("valid time")
        .and_utc()
        .fixed_offset()
}

/// `reference.AddDate(-y, -m, -d).Add(-h hours)` as Go computes it, the start of a
/// keep-within window (exclusive). `None` when the result is before any representable
/// time (everything is within).
///
/// Go parses a snapshot time into the machine's local zone when the recorded offset is
/// that zone's offset at that instant, and otherwise into a fixed zone; `AddDate` then
/// works on the wall clock in that zone. So across a DST change a window of days moves
/// by the DST difference when the newest snapshot was taken in local time, and does not
/// when it was taken elsewhere: `zone` is that local zone.
fn within_threshold<Tz: TimeZone>(
    reference: &Reference,
    d: &RetentionDuration,
    zone: &Tz,
) -> Option<DateTime<FixedOffset>> {
    let (t, local) = match reference {
        Reference::Zero => (go_zero_time(), false),
        Reference::At(t) => {
            let local_offset = zone.offset_from_utc_datetime(&t.naive_utc()).fix();
            (*t, local_offset == *t.offset())
        }
    };
    let wall = go_add_date(
        t.naive_local(),
        -i64::from(d.years),
        -i64::from(d.months),
        -i64::from(d.days),
    )?;
    let offset = if local {
        go_local_offset(zone, &wall)
    } else {
        *t.offset()
    };
    let at = offset.from_local_datetime(&wall).single()?;
    at.checked_sub_signed(TimeDelta::try_hours(i64::from(d.hours))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn dur(s: &str) -> RetentionDuration {
        s.parse().unwrap()
    }

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn snap(n: u8, time: &str, tags: &[&str]) -> Snapshot {
        let mut s: Snapshot = serde_json::from_value(serde_json::json!({
            "time": time,
            "tree": crate::id::Id::default(),
            "paths": ["/data"],
            "hostname": "h",
            "tags": tags,
        }))
        .unwrap();
        s.id = crate::id::Id([n; 32]);
        s
    }

    #[test]
    fn buckets_use_the_recorded_offset_and_iso_weeks() {
        // Europe, spring forward: one hour apart, two hour buckets with a gap.
        let a = t("2021-03-28T01:30:00+01:00");
        let b = t("2021-03-28T03:30:00+02:00");
        assert_eq!(Bucket::Hour.of(&a, 0), 2021032801);
        assert_eq!(Bucket::Hour.of(&b, 0), 2021032803);
        // Fall back: two instants an hour apart share the wall-clock hour.
        let c = t("2021-10-31T02:30:00+02:00");
        let d = t("2021-10-31T02:30:00+01:00");
        assert_ne!(c, d);
        assert_eq!(Bucket::Hour.of(&c, 0), Bucket::Hour.of(&d, 0));
        // The same instant falls in different days in different offsets.
        assert_eq!(Bucket::Day.of(&t("2021-01-01T00:30:00+01:00"), 0), 20210101);
        assert_eq!(Bucket::Day.of(&t("2020-12-31T23:30:00+00:00"), 0), 20201231);
        // ISO weeks: 2021-01-03 is in week 53 of 2020, 2018-12-31 in week 1 of 2019.
        assert_eq!(Bucket::Week.of(&t("2021-01-03T12:00:00Z"), 0), 202053);
        assert_eq!(Bucket::Week.of(&t("2021-01-04T12:00:00Z"), 0), 202101);
        assert_eq!(Bucket::Week.of(&t("2018-12-31T12:00:00Z"), 0), 201901);
        assert_eq!(Bucket::Month.of(&t("2024-02-29T23:59:59Z"), 0), 202402);
        assert_eq!(Bucket::Year.of(&t("2024-02-29T23:59:59Z"), 0), 2024);
        assert_eq!(Bucket::Each.of(&a, 7), 7);
    }

    #[test]
    fn within_threshold_follows_the_local_zone_only_for_local_offsets() {
        let reference = Reference::At(t("2021-11-02T12:00:00+01:00"));
        let d = dur("7d");
        // The machine's zone is +01:00 (no DST in a fixed zone): wall clock arithmetic.
        let local = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(
            within_threshold(&reference, &d, &local),
            Some(t("2021-10-26T12:00:00+01:00"))
        );
        assert_eq!(
            within_threshold(&reference, &dur("1d5h"), &Utc),
            Some(t("2021-11-01T07:00:00+01:00"))
        );
        // Go's zero time: everything after year 0 is within.
        assert_eq!(
            within_threshold(&Reference::Zero, &dur("1y"), &Utc),
            Some(t("0000-01-01T00:00:00Z"))
        );
    }

    fn kept(d: &GroupDecision) -> Vec<(u8, Vec<String>)> {
        d.keep
            .iter()
            .map(|k| (k.snapshot.id.0[0], k.reasons.clone()))
            .collect()
    }

    #[test]
    fn each_bucket_keeps_its_newest_snapshot_while_counts_last() {
        let snaps = vec![
            snap(1, "2021-10-31T02:30:00+01:00", &[]),
            snap(2, "2021-10-31T02:30:00+02:00", &[]),
            snap(3, "2021-10-31T02:10:00+01:00", &[]),
            snap(4, "2021-10-30T23:00:00+02:00", &[]),
            snap(5, "2021-10-29T23:00:00+02:00", &["db"]),
        ];
        let policy = RetentionPolicy {
            keep_hourly: 2,
            keep_daily: 2,
            keep_tags: vec!["db".into()],
            ..Default::default()
        };
        let now = Utc::now();
        let d = apply_policy(&snaps, &policy, GroupBy::default(), &now);
        assert_eq!(d.len(), 1);
        assert_eq!(
            kept(&d[0]),
            vec![
                (1, vec!["hourly snapshot".into(), "daily snapshot".into()]),
                (4, vec!["hourly snapshot".into(), "daily snapshot".into()]),
                (5, vec!["has tags [db]".into()]),
            ]
        );
        let removed: Vec<u8> = d[0].remove.iter().map(|s| s.id.0[0]).collect();
        assert_eq!(removed, vec![3, 2], "newest first");
        assert_eq!(d[0].keep[1].counters.daily, 0);
    }

    #[test]
    fn keep_within_counts_from_the_newest_snapshot_not_in_the_future() {
        let snaps = vec![
            snap(1, "2099-01-01T00:00:00Z", &[]),
            snap(2, "2021-06-10T12:00:00Z", &[]),
            snap(3, "2021-06-09T12:00:00Z", &[]),
            snap(4, "2021-06-09T11:59:59Z", &[]),
        ];
        let policy = RetentionPolicy {
            keep_within: dur("1d"),
            ..Default::default()
        };
        let now = t("2030-01-01T00:00:00Z");
        let d = apply_policy(&snaps, &policy, GroupBy::default(), &now);
        let ids: Vec<u8> = d[0].keep.iter().map(|k| k.snapshot.id.0[0]).collect();
        assert_eq!(
            ids,
            vec![1, 2],
            "the window ends at the reference, exclusive"
        );
        assert_eq!(d[0].keep[0].reasons, vec!["within 1d".to_string()]);
    }

    #[test]
    fn protected_snapshots_survive_every_policy_without_changing_it() {
        let snaps = vec![
            snap(1, "2021-06-10T12:00:00Z", &[]),
            snap(2, "2021-06-09T12:00:00Z", &[PROTECTED_TAG, "pre-migration"]),
            snap(3, "2021-06-08T12:00:00Z", &[]),
        ];
        let policy = RetentionPolicy {
            keep_last: 2,
            ..Default::default()
        };
        let d = apply_policy(&snaps, &policy, GroupBy::default(), &Utc::now());
        assert_eq!(
            kept(&d[0]),
            vec![
                (1, vec!["last snapshot".into()]),
                (2, vec!["last snapshot".into(), "protected".into()]),
            ]
        );
        let policy = RetentionPolicy {
            keep_last: 1,
            ..Default::default()
        };
        let d = apply_policy(&snaps, &policy, GroupBy::default(), &Utc::now());
        assert_eq!(kept(&d[0])[1], (2, vec!["protected".into()]));
        assert_eq!(d[0].remove.len(), 1);
    }

    #[test]
    fn groups_and_filters_follow_restic() {
        let mut a = snap(1, "2021-06-10T12:00:00Z", &["b", "a"]);
        let mut b = snap(2, "2021-06-09T12:00:00Z", &["a"]);
        let c = snap(3, "2021-06-08T12:00:00Z", &[]);
        a.paths = vec!["/y".into(), "/x".into()];
        b.hostname = "other".into();
        let all = vec![a, b, c];
        let g: GroupBy = "host,tags".parse().unwrap();
        let keys: Vec<GroupKey> = apply_policy(
            &all,
            &RetentionPolicy {
                keep_last: 1,
                ..Default::default()
            },
            g,
            &Utc::now(),
        )
        .into_iter()
        .map(|d| d.key)
        .collect();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0].to_string(), "host [h]");
        assert_eq!(keys[1].to_string(), "host [h], tags [a, b]");
        assert!("hosts,path,".parse::<GroupBy>().is_ok());
        assert!("host,day".parse::<GroupBy>().is_err());
        let none: GroupBy = "".parse().unwrap();
        assert_eq!(GroupKey::of(&all[0], none), GroupKey::default());
        assert_eq!(
            GroupKey::of(&all[0], GroupBy::default()).paths,
            Some(vec!["/x".to_string(), "/y".to_string()])
        );

        let select = |f: SnapshotFilter| -> Vec<u8> {
            select_for_forget(all.clone(), &f)
                .iter()
                .map(|s| s.id.0[0])
                .collect()
        };
        let paths = |p: &[&str]| SnapshotFilter {
            paths: p.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let tags = |t: &[&str]| SnapshotFilter {
            tags: t.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(
            select(paths(&["/x"])),
            vec![1],
            "a subset of the paths selects"
        );
        assert_eq!(select(paths(&["/data"])), vec![2, 3]);
        assert_eq!(
            select(tags(&[""])),
            vec![3],
            "an empty tag set selects untagged"
        );
        assert_eq!(select(tags(&["a, b"])), vec![1]);
        assert_eq!(select(tags(&["b", "a"])), vec![1, 2]);
        assert_eq!(select(tags(&["a,"])), Vec::<u8>::new());
    }

    #[test]
    fn policy_text_and_emptiness() {
        let mut p = RetentionPolicy::default();
        assert!(p.is_empty());
        p.keep_within = dur("0d");
        assert!(p.is_empty(), "zero durations are no rule");
        p.keep_daily = 7;
        p.keep_weekly = 4;
        p.keep_within_daily = dur("1m");
        p.keep_tags = vec!["a,b".into(), "c".into()];
        p.keep_within = dur("2d");
        assert_eq!(
            p.to_string(),
            "keep 7 daily, 4 weekly snapshots, daily snapshots within 1m and all snapshots \
             with tags [[a, b] [c]] and all snapshots within 2d of the newest"
        );
    }
}
