//! Exit codes, as the README documents them: one table, and one mapping of the
//! engine's errors to codes, for the command line and the job runner.

pub const SUCCESS: u8 = 0;
pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
/// A snapshot was written without some files, or a restore could not restore some.
pub const PARTIAL: u8 = 3;
pub const NO_REPOSITORY: u8 = 10;
pub const WRONG_PASSWORD: u8 = 11;
pub const LOCKED: u8 = 12;
/// `run`: the step that failed.
pub const HOOK: u8 = 20;
pub const BACKUP: u8 = 21;
pub const COPY: u8 = 22;
pub const RETENTION: u8 = 23;
pub const VERIFICATION: u8 = 24;
pub const ALREADY_RUNNING: u8 = 25;

/// The code of an engine error: the repository's own codes (no repository, wrong
/// password, locked), else a failure.
pub fn of_repo(e: &bunker_repo::Error) -> u8 {
    match e {
        bunker_repo::Error::NoRepository { .. } => NO_REPOSITORY,
        bunker_repo::Error::WrongPassword { .. } => WRONG_PASSWORD,
        bunker_repo::Error::Locked { .. } => LOCKED,
        _ => FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_errors_have_their_own_codes() {
        let locked = bunker_repo::Error::Locked { by: "pid 1".into() };
        assert_eq!(of_repo(&locked), LOCKED);
        let missing = bunker_repo::Error::NoRepository {
            location: "/r".into(),
        };
        assert_eq!(of_repo(&missing), NO_REPOSITORY);
        assert_eq!(of_repo(&bunker_repo::Error::Invalid("x".into())), FAILURE);
    }
}
