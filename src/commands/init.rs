use anyhow::{bail, Context, Result};
use bunker_repo::{Repository, Storage};

use super::Globals;
use crate::cli::InitArgs;

pub fn run(g: &Globals, a: InitArgs) -> Result<()> {
    let location = g.location()?;
    let polynomial = match (&a.from, a.copy_chunker_params) {
        (Some(from), true) => {
            let pw = match &a.from_password_file {
                Some(f) => crate::password::from_file(f)?,
                None => std::env::var("BUNKER_FROM_PASSWORD")
                    .context("set BUNKER_FROM_PASSWORD or --from-password-file for --from")?,
            };
            Some(Repository::open(g.storage(from)?, &pw)?.polynomial())
        }
        (None, true) => bail!("--copy-chunker-params needs --from REPO"),
        _ => None,
    };
    let storage = Storage::create(&location, &g.storage_options()?)?;
    let password = g.password()?;
    if password.is_empty() {
        bail!("refusing an empty password");
    }
    let repo = Repository::init_with(storage, &password, polynomial)?;
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
