//! Trees (directory listings) and their nodes, in restic's JSON form.
//!
//! restic writes `mode` as Go's `os.FileMode` (type bits high, permissions low), names
//! as Go-quoted strings and non-UTF-8 symlink targets in `linktarget_raw`; the
//! conversions live here so the rest of the engine sees Unix values and raw bytes.

use base64::Engine;
use chrono::{DateTime, FixedOffset, Local, TimeZone};
use serde::{Deserialize, Serialize};

use crate::gostring;
use crate::id::Id;

/// What kind of file system object a node describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    File,
    Dir,
    Symlink,
    Dev,
    Chardev,
    Fifo,
    Socket,
    Irregular,
}

/// One entry of a directory, with everything restic records about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Raw name bytes (any bytes but `/` and NUL).
    pub name: Vec<u8>,
    pub kind: NodeKind,
    /// Permission bits plus setuid/setgid/sticky, as in `st_mode & 0o7777`.
    pub mode: u32,
    pub mtime: DateTime<FixedOffset>,
    pub atime: DateTime<FixedOffset>,
    pub ctime: DateTime<FixedOffset>,
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    pub group: String,
    pub inode: u64,
    pub device_id: u64,
    pub size: u64,
    pub links: u64,
    pub link_target: Vec<u8>,
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// `st_rdev` of device nodes.
    pub device: u64,
    pub content: Vec<Id>,
    pub subtree: Option<Id>,
}

// Go os.FileMode bits.
const GO_DIR: u32 = 1 << 31;
const GO_SYMLINK: u32 = 1 << 27;
const GO_DEVICE: u32 = 1 << 26;
const GO_PIPE: u32 = 1 << 25;
const GO_SOCKET: u32 = 1 << 24;
const GO_SETUID: u32 = 1 << 23;
const GO_SETGID: u32 = 1 << 22;
const GO_CHARDEV: u32 = 1 << 21;
const GO_STICKY: u32 = 1 << 20;
const GO_IRREGULAR: u32 = 1 << 19;

fn to_go_mode(kind: NodeKind, mode: u32) -> u32 {
    let mut m = mode & 0o777;
    if mode & 0o4000 != 0 {
        m |= GO_SETUID;
    }
    if mode & 0o2000 != 0 {
        m |= GO_SETGID;
    }
    if mode & 0o1000 != 0 {
        m |= GO_STICKY;
    }
    m | match kind {
        NodeKind::File => 0,
        NodeKind::Dir => GO_DIR,
        NodeKind::Symlink => GO_SYMLINK,
        NodeKind::Dev => GO_DEVICE,
        NodeKind::Chardev => GO_DEVICE | GO_CHARDEV,
        NodeKind::Fifo => GO_PIPE,
        NodeKind::Socket => GO_SOCKET,
        NodeKind::Irregular => GO_IRREGULAR,
    }
}

fn from_go_mode(m: u32) -> u32 {
    let mut mode = m & 0o777;
    if m & GO_SETUID != 0 {
        mode |= 0o4000;
    }
    if m & GO_SETGID != 0 {
        mode |= 0o2000;
    }
    if m & GO_STICKY != 0 {
        mode |= 0o1000;
    }
    mode
}

/// Converts Unix seconds and nanoseconds into a local-time timestamp as restic writes.
pub fn timestamp(secs: i64, nsecs: i64) -> DateTime<FixedOffset> {
    let utc = DateTime::from_timestamp(secs, nsecs as u32).unwrap_or_default();
    utc.with_timezone(&Local).fixed_offset()
}

fn zero_time() -> DateTime<FixedOffset> {
    FixedOffset::east_opt(0)
        .expect("utc")
        .with_ymd_and_hms(1, 1, 1, 0, 0, 0)
        .single()
        .expect("valid")
}

#[derive(Serialize, Deserialize)]
struct NodeJson {
    name: String,
    #[serde(rename = "type")]
    kind: NodeKind,
    #[serde(default, skip_serializing_if = "is_zero32")]
    mode: u32,
    #[serde(default = "zero_time")]
    mtime: DateTime<FixedOffset>,
    #[serde(default = "zero_time")]
    atime: DateTime<FixedOffset>,
    #[serde(default = "zero_time")]
    ctime: DateTime<FixedOffset>,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    user: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    group: String,
    #[serde(default, skip_serializing_if = "is_zero64")]
    inode: u64,
    #[serde(default, skip_serializing_if = "is_zero64")]
    device_id: u64,
    #[serde(default, skip_serializing_if = "is_zero64")]
    size: u64,
    #[serde(default, skip_serializing_if = "is_zero64")]
    links: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    linktarget: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    linktarget_raw: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    extended_attributes: Vec<XattrJson>,
    #[serde(default, skip_serializing_if = "is_zero64")]
    device: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    content: Option<Vec<Id>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subtree: Option<Id>,
}

#[derive(Serialize, Deserialize)]
struct XattrJson {
    name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    value: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_zero32(v: &u32) -> bool {
    *v == 0
}
fn is_zero64(v: &u64) -> bool {
    *v == 0
}

impl Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let (linktarget, linktarget_raw) = match std::str::from_utf8(&self.link_target) {
            Ok(t) => (t.to_string(), None),
            Err(_) => (
                String::from_utf8_lossy(&self.link_target).into_owned(),
                Some(b64.encode(&self.link_target)),
            ),
        };
        NodeJson {
            name: gostring::quote(&self.name),
            kind: self.kind,
            mode: to_go_mode(self.kind, self.mode),
            mtime: self.mtime,
            atime: self.atime,
            ctime: self.ctime,
            uid: self.uid,
            gid: self.gid,
            user: self.user.clone(),
            group: self.group.clone(),
            inode: self.inode,
            device_id: self.device_id,
            size: self.size,
            links: self.links,
            linktarget,
            linktarget_raw,
            extended_attributes: self
                .xattrs
                .iter()
                .map(|(n, v)| XattrJson {
                    name: n.clone(),
                    value: Some(b64.encode(v)),
                })
                .collect(),
            device: self.device,
            content: if self.kind == NodeKind::File {
                Some(self.content.clone())
            } else {
                None
            },
            subtree: self.subtree,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        use serde::de::Error;
        let j = NodeJson::deserialize(d)?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let name = gostring::unquote(&j.name)
            .ok_or_else(|| D::Error::custom(format!("bad node name {:?}", j.name)))?;
        let link_target = match &j.linktarget_raw {
            Some(raw) => b64.decode(raw).map_err(D::Error::custom)?,
            None => j.linktarget.into_bytes(),
        };
        let mut xattrs = Vec::new();
        for x in j.extended_attributes {
            let v = match x.value {
                Some(v) => b64.decode(v).map_err(D::Error::custom)?,
                None => Vec::new(),
            };
            xattrs.push((x.name, v));
        }
        Ok(Node {
            name,
            kind: j.kind,
            mode: from_go_mode(j.mode),
            mtime: j.mtime,
            atime: j.atime,
            ctime: j.ctime,
            uid: j.uid,
            gid: j.gid,
            user: j.user,
            group: j.group,
            inode: j.inode,
            device_id: j.device_id,
            size: j.size,
            links: j.links,
            link_target,
            xattrs,
            device: j.device,
            content: j.content.unwrap_or_default(),
            subtree: j.subtree,
        })
    }
}

impl Node {
    /// A node with the given name and kind and everything else empty.
    pub fn new(name: Vec<u8>, kind: NodeKind) -> Node {
        Node {
            name,
            kind,
            mode: 0,
            mtime: zero_time(),
            atime: zero_time(),
            ctime: zero_time(),
            uid: 0,
            gid: 0,
            user: String::new(),
            group: String::new(),
            inode: 0,
            device_id: 0,
            size: 0,
            links: 0,
            link_target: Vec::new(),
            xattrs: Vec::new(),
            device: 0,
            content: Vec::new(),
            subtree: None,
        }
    }

    /// The mode as restic stores and prints it: Go's `os.FileMode`, type bits high.
    pub fn go_mode(&self) -> u32 {
        to_go_mode(self.kind, self.mode)
    }

    /// The mode as Go's `FileMode.String()` spells it and restic prints it in `ls`:
    /// one letter per type bit (`d`, `L`, `D`, `p`, `S`, `u`, `g`, `c`, `t`, `?`, or
    /// `-` for none), then `rwxrwxrwx`, e.g. `dtrwxrwxrwx` for `/tmp`.
    pub fn permissions(&self) -> String {
        const LETTERS: &str = "dalTLDpSugct?";
        let m = self.go_mode();
        let mut s: String = LETTERS
            .chars()
            .enumerate()
            .filter(|(i, _)| m & (1 << (31 - i)) != 0)
            .map(|(_, c)| c)
            .collect();
        if s.is_empty() {
            s.push('-');
        }
        for (i, c) in "rwxrwxrwx".chars().enumerate() {
            s.push(if m & (1 << (8 - i)) != 0 { c } else { '-' });
        }
        s
    }

    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// The name as an OS string (exact bytes).
    pub fn os_name(&self) -> &std::ffi::OsStr {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(&self.name)
    }
}

/// A directory: its nodes sorted by name.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Tree {
    #[serde(default, deserialize_with = "null_as_default")]
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The blob bytes restic would write: JSON plus a trailing newline.
    pub fn to_blob(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).expect("json");
        v.push(b'\n');
        v
    }

    pub fn from_blob(data: &[u8]) -> serde_json::Result<Tree> {
        serde_json::from_slice(data)
    }

    pub fn sort(&mut self) {
        self.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// The node called `name`; trees are sorted by name (restic sorts them too).
    pub fn find(&self, name: &[u8]) -> Option<&Node> {
        let i = self
            .nodes
            .binary_search_by(|n| n.name.as_slice().cmp(name))
            .ok()?;
        Some(&self.nodes[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_read_like_go() {
        let node = |kind, mode| {
            let mut n = Node::new(b"x".to_vec(), kind);
            n.mode = mode;
            n.permissions()
        };
        assert_eq!(node(NodeKind::Dir, 0o1777), "dtrwxrwxrwx");
        assert_eq!(node(NodeKind::File, 0o4755), "urwxr-xr-x");
        assert_eq!(node(NodeKind::File, 0o644), "-rw-r--r--");
        assert_eq!(node(NodeKind::Fifo, 0o644), "prw-r--r--");
        assert_eq!(node(NodeKind::Symlink, 0o777), "Lrwxrwxrwx");
        assert_eq!(node(NodeKind::Chardev, 0o666), "Dcrw-rw-rw-");
        let mut d = Node::new(b"d".to_vec(), NodeKind::Dir);
        d.mode = 0o1777;
        assert_eq!(d.go_mode(), 2148532735, "as restic prints /tmp");
    }

    #[test]
    fn restic_node_json_parses() {
        let j = r#"{"nodes":[{"name":"invalid-symlink","type":"symlink","mode":134218239,"mtime":"2021-02-27T23:56:20.22+01:00","atime":"2021-02-27T23:56:20.22+01:00","ctime":"2021-02-27T23:56:20.22+01:00","uid":1000,"gid":1000,"user":"michael","linktarget":"x","content":null},
        {"name":"d","type":"dir","mode":2147484141,"mtime":"2020-04-23T20:32:52.919484424+02:00","atime":"2020-04-23T20:32:52.919484424+02:00","ctime":"2020-04-23T20:32:52.919484424+02:00","uid":1000,"gid":1000,"inode":1323366,"device_id":2054,"content":null,"subtree":"7fb495dd7dab2a5d9251a19ef43aadb31b1b98c45f9614c3a9495b0c85ab42e7"}]}"#;
        let t: Tree = serde_json::from_str(j).unwrap();
        assert_eq!(t.nodes[0].kind, NodeKind::Symlink);
        assert_eq!(t.nodes[0].mode, 0o777);
        assert_eq!(t.nodes[1].mode, 0o755);
        assert_eq!(t.nodes[1].mtime.timestamp_subsec_nanos(), 919484424);
        let again: Tree = Tree::from_blob(&t.to_blob()).unwrap();
        assert_eq!(again.nodes, t.nodes);
    }

    #[test]
    fn raw_names_and_targets_survive() {
        let mut n = Node::new(b"a\xffb\n".to_vec(), NodeKind::Symlink);
        n.link_target = b"\xfe/target".to_vec();
        n.mode = 0o4755;
        let t = Tree {
            nodes: vec![n.clone()],
        };
        let back = Tree::from_blob(&t.to_blob()).unwrap();
        assert_eq!(back.nodes[0], n);
    }
}
