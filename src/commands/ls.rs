use anyhow::Result;
use bunker_repo::{Id, Node, NodeKind, Repository};

use super::Globals;
use crate::cli::LsArgs;
use crate::output::local_time;

fn node_json(n: &Node, path: &str) -> serde_json::Value {
    serde_json::json!({
        "name": n.name_lossy(), "type": n.kind, "path": path, "uid": n.uid, "gid": n.gid,
        "size": n.size, "mode": n.go_mode(), "permissions": n.permissions(),
        "mtime": n.mtime, "atime": n.atime, "ctime": n.ctime,
        "struct_type": "node",
    })
}

fn walk(
    repo: &Repository,
    tree: &Id,
    prefix: &str,
    under: &str,
    g: &Globals,
    long: bool,
) -> Result<()> {
    for n in repo.load_tree(tree)?.nodes {
        let path = format!("{prefix}/{}", n.name_lossy());
        let inside = path.starts_with(under)
            && (under.len() == path.len()
                || under.ends_with('/')
                || path.as_bytes().get(under.len()) == Some(&b'/'));
        let above = under.starts_with(&path) && under.as_bytes().get(path.len()) == Some(&b'/');
        if under.is_empty() || inside {
            if g.json {
                println!("{}", node_json(&n, &path));
            } else if long {
                let target = if n.kind == NodeKind::Symlink {
                    format!(" -> {}", String::from_utf8_lossy(&n.link_target))
                } else {
                    String::new()
                };
                // restic's columns, times in the local zone.
                println!(
                    "{} {:>5} {:>5} {:>6} {} {path}{target}",
                    n.permissions(),
                    n.uid,
                    n.gid,
                    n.size,
                    local_time(&n.mtime)
                );
            } else {
                println!("{path}");
            }
        }
        if let Some(sub) = n.subtree {
            if under.is_empty() || inside || above {
                walk(repo, &sub, &path, under, g, long)?;
            }
        }
    }
    Ok(())
}

pub fn run(g: &Globals, a: LsArgs) -> Result<()> {
    let repo = g.open()?;
    let snap = repo.find_snapshot(&a.snapshot, &g.filter(&a.filter))?;
    repo.load_index()?;
    if g.json {
        let mut v = crate::commands::snapshots::snapshot_json(&snap);
        v["struct_type"] = serde_json::json!("snapshot");
        println!("{v}");
    }
    let under = a
        .dir
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_string();
    walk(&repo, &snap.tree, "", &under, g, a.long)
}
