use anyhow::Result;
use bunker_repo::{Repository, Storage};

use super::Globals;

pub fn run(g: &Globals) -> Result<()> {
    let location = g.location()?;
    let storage = Storage::create(&location)?;
    let password = g.password()?;
    if password.is_empty() {
        anyhow::bail!("refusing an empty password");
    }
    let repo = Repository::init(storage, &password)?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({"message_type": "initialized", "id": repo.config().id, "repository": location})
        );
    } else {
        g.say(format!(
            "created bunker repository {} at {location}",
            repo.config().id.short()
        ));
        g.say("Please note that knowledge of your password is required to access the repository.\nLosing your password means that your data is irrecoverably lost.");
    }
    Ok(())
}
