//! What a restore will put back: the snapshot's trees walked depth first, filtered by
//! the include and exclude patterns. A tree that cannot be read loses only what is
//! below it: the walk goes on and the directory is listed as not restored.

use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::Repository;
use crate::tree::{Node, NodeKind};

/// One entry to restore.
pub(super) struct Item {
    /// Path inside the snapshot, starting with `/`.
    pub path: PathBuf,
    pub node: Node,
}

/// The walk's result: the entries, parents before children, and what could not be read.
#[derive(Default)]
pub(super) struct Walk {
    pub items: Vec<Item>,
    /// Directories whose tree could not be read, with the reason.
    pub unreadable: Vec<String>,
}

pub(super) fn matcher(patterns: &[String]) -> Result<Option<Gitignore>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GitignoreBuilder::new("/");
    for p in patterns {
        b.add_line(None, p)
            .map_err(|e| Error::Invalid(format!("pattern {p:?}: {e}")))?;
    }
    Ok(Some(
        b.build()
            .map_err(|e| Error::Invalid(format!("patterns: {e}")))?,
    ))
}

fn matches(m: &Gitignore, path: &Path, is_dir: bool) -> bool {
    m.matched_path_or_any_parents(path, is_dir).is_ignore()
}

/// Whether a failure to read a tree is damage to the repository (the walk goes on
/// without that tree), not a failure to reach it (the restore stops).
fn is_damage(e: &Error) -> bool {
    matches!(e, Error::Corrupt { .. } | Error::NotFound { .. })
}

impl Walk {
    /// Walks the snapshot whose root tree is `root`. A damaged root tree is an error:
    /// then nothing at all can be restored.
    pub fn snapshot(
        repo: &Repository,
        root: &Id,
        inc: Option<&Gitignore>,
        exc: Option<&Gitignore>,
    ) -> Result<Walk> {
        let mut walk = Walk::default();
        let tree = repo.load_tree(root)?;
        walk.nodes(repo, tree.nodes, Path::new("/"), inc, exc)?;
        Ok(walk)
    }

    /// Adds the entries of one directory; returns whether any of them is restored.
    fn nodes(
        &mut self,
        repo: &Repository,
        nodes: Vec<Node>,
        dir: &Path,
        inc: Option<&Gitignore>,
        exc: Option<&Gitignore>,
    ) -> Result<bool> {
        let mut any = false;
        for node in nodes {
            let path = dir.join(node.os_name());
            let is_dir = node.kind == NodeKind::Dir;
            if exc.is_some_and(|m| matches(m, &path, is_dir)) {
                continue;
            }
            let included = inc.is_none_or(|m| matches(m, &path, is_dir));
            if !is_dir {
                if included {
                    any = true;
                    self.items.push(Item { path, node });
                }
                continue;
            }
            let children = match node.subtree {
                Some(id) => match repo.load_tree(&id) {
                    Ok(tree) => tree.nodes,
                    Err(e) if is_damage(&e) => {
                        // An empty directory with the original times would look whole.
                        self.unreadable
                            .push(format!("{}/: directory not restored: {e}", path.display()));
                        continue;
                    }
                    Err(e) => return Err(e),
                },
                None => Vec::new(),
            };
            let at = self.items.len();
            self.items.push(Item {
                path: path.clone(),
                node,
            });
            let child = self.nodes(
                repo,
                children,
                &path,
                if included { None } else { inc },
                exc,
            )?;
            if included || child {
                any = true;
            } else {
                self.items.truncate(at);
            }
        }
        Ok(any)
    }
}
