use anyhow::{bail, Result};
use bunker_repo::{FileType, KeyFile};

use super::Globals;
use crate::cli::{KeyCommand, NewPasswordArgs};
use crate::output::table;

fn new_password(a: &NewPasswordArgs) -> Result<String> {
    let pw = match &a.new_password_file {
        Some(f) => crate::password::from_file(f)?,
        None => match std::env::var("BUNKER_NEW_PASSWORD") {
            Ok(p) => p,
            Err(_) => crate::password::prompt("enter new password: ")?,
        },
    };
    if pw.is_empty() {
        bail!("refusing an empty password");
    }
    Ok(pw)
}

pub fn run(g: &Globals, k: KeyCommand) -> Result<()> {
    let repo = g.open()?;
    let storage = repo.storage();
    match k {
        KeyCommand::List => {
            let mut rows = Vec::new();
            let mut js = Vec::new();
            for (id, _) in storage.list(FileType::Key)? {
                let kf = KeyFile::load(storage, &id)?;
                let current = id == repo.key_id();
                js.push(serde_json::json!({"current": current, "id": id, "userName": kf.username, "hostName": kf.hostname, "created": kf.created}));
                rows.push(vec![
                    format!("{}{}", if current { "*" } else { " " }, id.short()),
                    kf.username,
                    kf.hostname,
                    kf.created
                        .map(|c| c.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default(),
                ]);
            }
            if g.json {
                println!("{}", serde_json::to_string(&js)?);
            } else {
                table(&[" ID", "User", "Host", "Created"], &rows);
            }
        }
        KeyCommand::Add(a) => {
            let id = KeyFile::create(repo.key(), &new_password(&a)?).save(storage)?;
            g.say(format!("saved new key {}", id.short()));
        }
        KeyCommand::Remove { id } => {
            let id = repo.find_file(FileType::Key, &id)?;
            if id == repo.key_id() {
                bail!("refusing to remove key {} that opened the repository: open it with another key first", id.short());
            }
            storage.remove(FileType::Key, &id)?;
            g.say(format!("removed key {}", id.short()));
        }
        KeyCommand::Passwd(a) => {
            let id = KeyFile::create(repo.key(), &new_password(&a)?).save(storage)?;
            storage.remove(FileType::Key, &repo.key_id())?;
            g.say(format!(
                "saved new key {} and removed the old one",
                id.short()
            ));
        }
    }
    Ok(())
}
