use anyhow::Result;

use super::Globals;
use crate::cli::UnlockArgs;

pub fn run(g: &Globals, a: UnlockArgs) -> Result<()> {
    let repo = g.open()?;
    let n = bunker_repo::remove_locks(repo.storage(), repo.key(), a.remove_all)?;
    if g.json {
        println!("{}", serde_json::json!({"removed": n}));
    } else {
        g.say(format!("removed {n} lock(s)"));
    }
    Ok(())
}
