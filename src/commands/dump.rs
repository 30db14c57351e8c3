use std::io::Write;

use anyhow::{bail, Context, Result};
use bunker_repo::{FileReader, NodeKind};

use super::Globals;
use crate::cli::DumpArgs;

pub fn run(g: &Globals, a: DumpArgs) -> Result<()> {
    let repo = g.open()?;
    let snap = repo.find_snapshot(&a.snapshot, &g.filter(&a.filter))?;
    repo.load_index()?;
    let mut tree = repo.load_tree(&snap.tree)?;
    let parts: Vec<&str> = a.path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        bail!("give the path of a file inside the snapshot");
    }
    for (i, part) in parts.iter().enumerate() {
        let node = tree
            .find(part.as_bytes())
            .cloned()
            .with_context(|| format!("{} not found in snapshot {}", a.path, snap.short_id()))?;
        if i + 1 == parts.len() {
            if node.kind != NodeKind::File {
                bail!("{} is not a regular file", a.path);
            }
            let mut out = std::io::stdout().lock();
            let mut content = FileReader::new(repo.clone(), node.content);
            std::io::copy(&mut content, &mut out)?;
            out.flush()?;
            return Ok(());
        }
        let sub = node
            .subtree
            .with_context(|| format!("{part} is not a directory"))?;
        tree = repo.load_tree(&sub)?;
    }
    Ok(())
}
