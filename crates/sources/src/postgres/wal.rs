//! PostgreSQL's write-ahead log as files: LSNs, segment and timeline names, timeline
//! history files, and the system identifier in `global/pg_control`.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use super::error::{Error, Result};

/// The default WAL segment size (`initdb --wal-segsize` can change it).
pub const DEFAULT_SEGMENT_SIZE: u64 = 16 * 1024 * 1024;

/// A position in the WAL, written `X/Y` in hexadecimal as PostgreSQL does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl FromStr for Lsn {
    type Err = Error;
    fn from_str(s: &str) -> Result<Lsn> {
        let bad = || Error::Invalid(format!("invalid LSN {s:?} (expected the form 16/B374D848)"));
        let (hi, lo) = s.trim().split_once('/').ok_or_else(bad)?;
        let hi = u32::from_str_radix(hi, 16).map_err(|_| bad())?;
        let lo = u32::from_str_radix(lo, 16).map_err(|_| bad())?;
        Ok(Lsn(((hi as u64) << 32) | lo as u64))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xffff_ffff)
    }
}

impl serde::Serialize for Lsn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Lsn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Lsn, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Lsn {
    /// The segment number holding this position.
    pub fn segment(self, seg_size: u64) -> u64 {
        self.0 / seg_size.max(1)
    }
}

/// What a file in the WAL archive is, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WalFile {
    /// `000000010000000000000002`: a complete segment.
    Segment { tli: u32, segno: u64 },
    /// `000000010000000000000002.partial`: the last, incomplete segment of a timeline
    /// that a promotion ended.
    Partial { tli: u32, segno: u64 },
    /// `00000002.history`: how a timeline branched off its parent.
    History { tli: u32 },
    /// `000000010000000000000002.00000028.backup`: the record of a base backup.
    BackupHistory { tli: u32, segno: u64, offset: u32 },
}

/// Segments per 4 GiB of WAL. The size comes from a snapshot's metadata, which may be
/// damaged: a size PostgreSQL cannot have (0, over 4 GiB) gives nonsense, not a panic.
fn segments_per_id(seg_size: u64) -> u64 {
    (0x1_0000_0000 / seg_size.max(1)).max(1)
}

/// The name of segment `segno` on timeline `tli`.
pub fn segment_name(tli: u32, segno: u64, seg_size: u64) -> String {
    let per = segments_per_id(seg_size);
    format!("{tli:08X}{:08X}{:08X}", segno / per, segno % per)
}

fn hex32(s: &str) -> Option<u32> {
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        u32::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

fn parse_segment(name: &str, seg_size: u64) -> Option<(u32, u64)> {
    // Byte slicing below: a name of 24 bytes with a multi-byte character is no segment.
    if name.len() != 24 || !name.is_ascii() {
        return None;
    }
    let tli = hex32(&name[..8])?;
    let log = hex32(&name[8..16])? as u64;
    let seg = hex32(&name[16..])? as u64;
    let per = segments_per_id(seg_size);
    (seg < per).then_some((tli, log * per + seg))
}

impl WalFile {
    /// Parses an archive file name; `None` for names PostgreSQL does not archive.
    pub fn parse(name: &str, seg_size: u64) -> Option<WalFile> {
        if let Some(stem) = name.strip_suffix(".history") {
            return Some(WalFile::History { tli: hex32(stem)? });
        }
        if let Some(stem) = name.strip_suffix(".partial") {
            let (tli, segno) = parse_segment(stem, seg_size)?;
            return Some(WalFile::Partial { tli, segno });
        }
        if let Some(stem) = name.strip_suffix(".backup") {
            let (seg, off) = stem.split_once('.')?;
            let (tli, segno) = parse_segment(seg, seg_size)?;
            return Some(WalFile::BackupHistory {
                tli,
                segno,
                offset: hex32(off)?,
            });
        }
        let (tli, segno) = parse_segment(name, seg_size)?;
        Some(WalFile::Segment { tli, segno })
    }

    pub fn timeline(&self) -> u32 {
        match *self {
            WalFile::Segment { tli, .. }
            | WalFile::Partial { tli, .. }
            | WalFile::History { tli }
            | WalFile::BackupHistory { tli, .. } => tli,
        }
    }
}

/// One line of a timeline history file: timeline `tli` ended at `end` (where its child
/// branched off).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub tli: u32,
    pub end: Lsn,
}

/// Parses a `NNNNNNNN.history` file: `parentTLI<TAB>switchpoint<TAB>reason` lines.
pub fn parse_history(text: &str) -> Result<Vec<HistoryEntry>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split_whitespace();
        let (Some(tli), Some(end)) = (f.next(), f.next()) else {
            return Err(Error::Invalid(format!("timeline history line {line:?}")));
        };
        let tli = tli
            .parse()
            .map_err(|_| Error::Invalid(format!("timeline history line {line:?}")))?;
        out.push(HistoryEntry {
            tli,
            end: end.parse()?,
        });
    }
    Ok(out)
}

/// The system identifier recorded in a data directory's `global/pg_control`.
pub fn system_identifier(pgdata: &Path) -> Result<u64> {
    let path = pgdata.join("global/pg_control");
    let bytes = std::fs::read(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
    control_system_identifier(&bytes)
        .ok_or_else(|| Error::Invalid(format!("{}: too short for a control file", path.display())))
}

/// `system_identifier` is the control file's first field (a native-endian u64).
fn control_system_identifier(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// The system identifier in a segment's first page header (`xlp_sysid` of the long
/// header), when the segment starts with one.
pub fn segment_system_identifier(segment: &[u8]) -> Option<u64> {
    const XLP_LONG_HEADER: u16 = 0x0002;
    let info = u16::from_ne_bytes(segment.get(2..4)?.try_into().ok()?);
    if info & XLP_LONG_HEADER == 0 {
        return None;
    }
    Some(u64::from_ne_bytes(segment.get(24..32)?.try_into().ok()?))
}

/// The segment size in a segment's first page header (`xlp_seg_size` of the long
/// header): a power of two of at least 1 MiB, else none.
pub fn header_segment_size(segment: &[u8]) -> Option<u64> {
    segment_system_identifier(segment)?;
    let v = u32::from_ne_bytes(segment.get(32..36)?.try_into().ok()?) as u64;
    (v.is_power_of_two() && v >= 1 << 20).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first page with a long header: magic, info, timeline, ... system id, seg size.
    fn long_header(seg_size: u32) -> Vec<u8> {
        let mut page = vec![0u8; 40];
        page[2..4].copy_from_slice(&0x0002u16.to_ne_bytes());
        page[24..32].copy_from_slice(&7u64.to_ne_bytes());
        page[32..36].copy_from_slice(&seg_size.to_ne_bytes());
        page
    }

    #[test]
    fn the_segment_size_comes_from_a_long_header_only() {
        assert_eq!(header_segment_size(&long_header(16 << 20)), Some(16 << 20));
        assert_eq!(header_segment_size(&long_header(3 << 20)), None);
        assert_eq!(header_segment_size(&long_header(4096)), None);
        let mut short = long_header(16 << 20);
        short[2..4].copy_from_slice(&0u16.to_ne_bytes());
        assert_eq!(header_segment_size(&short), None);
        assert_eq!(header_segment_size(&[0u8; 10]), None);
    }

    /// Found by the wal_name fuzz target (and in review): `&name[..8]` panicked on a
    /// 24-byte name with a multi-byte character; a segment size of 0 from damaged
    /// metadata divided by zero.
    #[test]
    fn a_24_byte_non_ascii_name_or_a_zero_segment_size_is_no_panic() {
        assert_eq!(WalFile::parse("0000000é000000000000002", 16 << 20), None);
        assert_eq!(WalFile::parse("100000000000000é2é2é2", 16 << 20), None);
        for size in [0, 1, u64::MAX] {
            let _ = WalFile::parse("000000010000000000000002", size);
            let _ = segment_name(1, 2, size);
            let _ = Lsn(5).segment(size);
        }
    }

    #[test]
    fn lsn_round_trips() {
        let l: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(l.0, 0x16_B374_D848);
        assert_eq!(l.to_string(), "16/B374D848");
        assert!("16-B3".parse::<Lsn>().is_err());
    }

    #[test]
    fn names_parse_and_format() {
        let s = DEFAULT_SEGMENT_SIZE;
        assert_eq!(
            segment_name(1, 0x10 * 256 + 2, s),
            "000000010000001000000002"
        );
        assert_eq!(
            WalFile::parse("000000010000001000000002", s),
            Some(WalFile::Segment {
                tli: 1,
                segno: 0x10 * 256 + 2
            })
        );
        assert_eq!(
            WalFile::parse("0000000200000000000000FF.partial", s),
            Some(WalFile::Partial { tli: 2, segno: 255 })
        );
        assert_eq!(
            WalFile::parse("00000003.history", s),
            Some(WalFile::History { tli: 3 })
        );
        assert_eq!(
            WalFile::parse("000000010000000000000002.00000028.backup", s),
            Some(WalFile::BackupHistory {
                tli: 1,
                segno: 2,
                offset: 0x28
            })
        );
        // 16 MiB segments: the last segment of an id is FF.
        assert_eq!(WalFile::parse("000000010000000000000100", s), None);
        assert_eq!(WalFile::parse("archive_status", s), None);
        let lsn: Lsn = "0/3000028".parse().unwrap();
        assert_eq!(
            segment_name(1, lsn.segment(s), s),
            "000000010000000000000003"
        );
    }

    #[test]
    fn history_files_parse() {
        let h = parse_history(
            "1\t0/3000198\tno recovery target specified\n\n2\t0/5000000\tat restore point \"x\"\n",
        )
        .unwrap();
        assert_eq!(
            h,
            vec![
                HistoryEntry {
                    tli: 1,
                    end: "0/3000198".parse().unwrap()
                },
                HistoryEntry {
                    tli: 2,
                    end: "0/5000000".parse().unwrap()
                },
            ]
        );
    }
}
