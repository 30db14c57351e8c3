//! Putting entries into the target without going through what was there before.
//!
//! A target may hold anything: a symlink planted where a restored file or directory
//! goes (pointing at a system file), or a hard link shared with a file outside. A
//! restore never writes through either: a directory that is not a real directory is
//! replaced by one, and a file is always a new inode, created with `O_CREAT|O_EXCL|
//! O_NOFOLLOW` after whatever had its name was unlinked. Unlinking a link removes the
//! link, never what it points to or shares its inode with.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Makes `dir` a real directory: kept if it is one, created if missing, and anything
/// else under its name (a symlink, a file) replaced. Its parent is already real.
pub(super) fn real_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => std::fs::remove_file(dir)?,
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    match std::fs::create_dir(dir) {
        // Created meanwhile by another thread of this restore (never happens with the
        // walk's order) or by someone else: look again, without following.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => match std::fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => Ok(()),
            _ => Err(e),
        },
        r => r,
    }
}

/// Frees the name `dest` for a new entry: a file, symlink, FIFO or device node there
/// is unlinked. A directory is left alone (it may hold anything): the caller's create
/// then fails and the entry is reported.
pub(super) fn free_name(dest: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => Err(std::io::Error::new(
            ErrorKind::AlreadyExists,
            "a directory is in the way",
        )),
        Ok(_) => std::fs::remove_file(dest),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates a new file at `dest` for writing, never opening what was there.
pub(super) fn new_file(dest: &Path) -> std::io::Result<File> {
    free_name(dest)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .mode(0o600)
        .open(dest)
}
