//! Between the file system and tree nodes: reading a file's metadata into a [`Node`],
//! and putting a node's metadata back onto a restored file.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::Mutex;

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};

use crate::tree::{timestamp, Node, NodeKind};

/// Caches uid/gid → name lookups (they read /etc/passwd and /etc/group).
#[derive(Default)]
pub struct NameCache {
    users: Mutex<HashMap<u32, String>>,
    groups: Mutex<HashMap<u32, String>>,
}

impl NameCache {
    pub fn user(&self, uid: u32) -> String {
        let mut m = self.users.lock().expect("users");
        m.entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
                    .unwrap_or_default()
            })
            .clone()
    }

    pub fn group(&self, gid: u32) -> String {
        let mut m = self.groups.lock().expect("groups");
        m.entry(gid)
            .or_insert_with(|| {
                nix::unistd::Group::from_gid(Gid::from_raw(gid))
                    .ok()
                    .flatten()
                    .map(|g| g.name)
                    .unwrap_or_default()
            })
            .clone()
    }
}

pub fn kind_of(meta: &Metadata) -> NodeKind {
    let ft = meta.file_type();
    if ft.is_file() {
        NodeKind::File
    } else if ft.is_dir() {
        NodeKind::Dir
    } else if ft.is_symlink() {
        NodeKind::Symlink
    } else if ft.is_block_device() {
        NodeKind::Dev
    } else if ft.is_char_device() {
        NodeKind::Chardev
    } else if ft.is_fifo() {
        NodeKind::Fifo
    } else if ft.is_socket() {
        NodeKind::Socket
    } else {
        NodeKind::Irregular
    }
}

/// A node for `path` from its lstat metadata (content and subtree left empty).
pub fn node_from_metadata(name: &[u8], path: &Path, meta: &Metadata, names: &NameCache) -> Node {
    let kind = kind_of(meta);
    let mut n = Node::new(name.to_vec(), kind);
    n.mode = meta.mode() & 0o7777;
    n.mtime = timestamp(meta.mtime(), meta.mtime_nsec());
    n.atime = timestamp(meta.atime(), meta.atime_nsec());
    n.ctime = timestamp(meta.ctime(), meta.ctime_nsec());
    n.uid = meta.uid();
    n.gid = meta.gid();
    n.user = names.user(meta.uid());
    n.group = names.group(meta.gid());
    n.inode = meta.ino();
    n.device_id = meta.dev();
    n.links = meta.nlink();
    if kind == NodeKind::File {
        n.size = meta.len();
    }
    if matches!(kind, NodeKind::Dev | NodeKind::Chardev) {
        n.device = meta.rdev();
    }
    if kind == NodeKind::Symlink {
        if let Ok(t) = std::fs::read_link(path) {
            n.link_target = t.as_os_str().as_bytes().to_vec();
        }
    }
    if let Ok(list) = xattr::list(path) {
        let mut attrs: Vec<(String, Vec<u8>)> = list
            .filter_map(|name| {
                let value = xattr::get(path, &name).ok().flatten().unwrap_or_default();
                Some((name.to_str()?.to_string(), value))
            })
            .collect();
        attrs.sort();
        n.xattrs = attrs;
    }
    n
}

fn timespec(t: &chrono::DateTime<chrono::FixedOffset>) -> TimeSpec {
    TimeSpec::new(t.timestamp(), t.timestamp_subsec_nanos() as i64)
}

/// Puts ownership (when running as root, or to our own ids), mode, xattrs and times back.
/// Returns a description of what could not be restored, if anything.
pub fn apply_metadata(path: &Path, node: &Node) -> Vec<String> {
    let mut problems = Vec::new();
    let is_root = nix::unistd::geteuid().is_root();
    if is_root {
        let r = nix::unistd::fchownat(
            None,
            path,
            Some(Uid::from_raw(node.uid)),
            Some(Gid::from_raw(node.gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        );
        if let Err(e) = r {
            problems.push(format!("chown: {e}"));
        }
    }
    for (name, value) in &node.xattrs {
        if let Err(e) = xattr::set(path, name, value) {
            problems.push(format!("xattr {name}: {e}"));
        }
    }
    if node.kind != NodeKind::Symlink {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) =
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(node.mode & 0o7777))
        {
            problems.push(format!("chmod: {e}"));
        }
    }
    let r = utimensat(
        None,
        path,
        &timespec(&node.atime),
        &timespec(&node.mtime),
        UtimensatFlags::NoFollowSymlink,
    );
    if let Err(e) = r {
        problems.push(format!("times: {e}"));
    }
    problems
}

/// Whether a directory holds a `CACHEDIR.TAG` with the standard signature.
pub fn is_cache_dir(dir: &Path) -> bool {
    const SIG: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55";
    std::fs::read(dir.join("CACHEDIR.TAG"))
        .map(|b| b.starts_with(SIG))
        .unwrap_or(false)
}
