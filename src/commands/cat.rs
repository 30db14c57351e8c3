use std::io::Write;

use anyhow::{bail, Context, Result};
use bunker_repo::{BlobType, FileType, Id, IndexFile, KeyFile, LockFile, Snapshot};

use super::Globals;
use crate::cli::CatArgs;

fn pretty<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn run(g: &Globals, a: CatArgs) -> Result<()> {
    let repo = g.open()?;
    let need_id = || {
        a.id.clone()
            .with_context(|| format!("cat {} needs an id", a.kind))
    };
    match a.kind.as_str() {
        "config" => pretty(repo.config()),
        "masterkey" => {
            let plain = KeyFile::load(repo.storage(), &repo.key_id())?;
            pretty(&plain)
        }
        "snapshot" => {
            let s = repo.find_snapshot(&need_id()?, &Default::default())?;
            pretty::<Snapshot>(&s)
        }
        "index" => {
            let id = repo.find_file(FileType::Index, &need_id()?)?;
            pretty(&repo.load_json::<IndexFile>(FileType::Index, &id)?)
        }
        "key" => {
            let id = repo.find_file(FileType::Key, &need_id()?)?;
            pretty(&KeyFile::load(repo.storage(), &id)?)
        }
        "lock" => {
            let id = repo.find_file(FileType::Lock, &need_id()?)?;
            pretty(&repo.load_json::<LockFile>(FileType::Lock, &id)?)
        }
        "pack" => {
            let id = repo.find_file(FileType::Pack, &need_id()?)?;
            std::io::stdout().lock().write_all(&repo.storage().read(FileType::Pack, &id)?)?;
            Ok(())
        }
        "blob" | "tree" => {
            repo.load_index()?;
            let id: Id = need_id()?.parse()?;
            let data = if a.kind == "tree" {
                repo.read_blob(BlobType::Tree, &id)?
            } else {
                repo.read_blob(BlobType::Data, &id).or_else(|_| repo.read_blob(BlobType::Tree, &id))?
            };
            std::io::stdout().lock().write_all(&data)?;
            Ok(())
        }
        other => bail!("cannot cat {other:?}: use config, masterkey, snapshot, index, key, lock, pack, blob or tree"),
    }
}
