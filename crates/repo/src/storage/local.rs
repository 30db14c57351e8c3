//! Who may read a repository on a local disk: restic's modes, whatever the umask.
//!
//! restic creates directories 0700 and files 0400 (read-only, so that nothing edits
//! them by accident). A repository whose `config` an administrator made readable by the
//! group is group-accessible: restic then creates directories 0770 and files 0440, and
//! so does bunker. Key files are as private as the rest.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// The modes of new directories and files in one repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Modes {
    pub dir: u32,
    pub file: u32,
}

impl Modes {
    /// Only the owner: a new repository, or one whose `config` only the owner reads.
    pub const PRIVATE: Modes = Modes {
        dir: 0o700,
        file: 0o400,
    };
    /// Owner and group, for a repository whose `config` the group may read.
    pub const GROUP: Modes = Modes {
        dir: 0o770,
        file: 0o440,
    };

    /// The modes an existing repository at `root` asks for, as restic derives them.
    pub fn of(root: &Path) -> Modes {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(root.join("config")) {
            Ok(m) if m.mode() & 0o040 != 0 => Modes::GROUP,
            _ => Modes::PRIVATE,
        }
    }

    /// Creates `dir` and its missing parents with the directory mode (directories that
    /// exist keep theirs, as with restic).
    pub fn create_dirs(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(self.dir)
            .create(dir)
    }

    /// Makes a file just written read-only (for the group too when the repository is
    /// group-accessible). A file system that refuses modes (some network mounts) keeps
    /// what it has, as restic does.
    pub fn seal_file(&self, file: &Path) {
        let _ = std::fs::set_permissions(file, std::fs::Permissions::from_mode(self.file));
    }
}
