//! Command-line arguments, restic-style.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "bunker",
    version,
    about = "Backups that restore: encrypted, deduplicated repositories in the restic format"
)]
pub struct Cli {
    /// Repository location (a local path)
    #[arg(short = 'r', long = "repo", env = "BUNKER_REPOSITORY", global = true)]
    pub repo: Option<String>,
    /// Read the password from this file (first line)
    #[arg(long, env = "BUNKER_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// Run this shell command and use its output as the password
    #[arg(long, env = "BUNKER_PASSWORD_COMMAND", global = true)]
    pub password_command: Option<String>,
    /// Print results as JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors and requested output
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Worker threads (default: one per core)
    #[arg(long, global = true, default_value_t = 0)]
    pub threads: usize,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new repository
    Init,
    /// Back up files, directories, standard input or a command's output
    Backup(BackupArgs),
    /// List snapshots
    Snapshots(SnapshotsArgs),
    /// Restore a snapshot into a directory
    Restore(RestoreArgs),
    /// List the files of a snapshot
    Ls(LsArgs),
    /// Write one file of a snapshot to standard output
    Dump(DumpArgs),
    /// Print repository internals: config, snapshot, index, pack, blob, key, lock
    Cat(CatArgs),
    /// Verify the repository's structure and, with --read-data, every byte
    Check(CheckArgs),
    /// Manage the keys (passwords) that open the repository
    #[command(subcommand)]
    Key(KeyCommand),
    /// Remove stale locks
    Unlock(UnlockArgs),
    /// First run: create ./bunker-repo with a generated password, back up a directory, list it
    Quickstart(QuickstartArgs),
}

#[derive(Args, Debug, Default, Clone)]
pub struct FilterArgs {
    /// Only snapshots of this host (repeatable)
    #[arg(long = "host", short = 'H')]
    pub hosts: Vec<String>,
    /// Only snapshots with these tags (comma-separated: all of them; repeat: any set)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Only snapshots of exactly these paths (repeatable)
    #[arg(long = "path")]
    pub paths: Vec<String>,
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Files and directories to back up
    pub paths: Vec<PathBuf>,
    /// Tag the snapshot (repeatable, or comma-separated)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Host name to record (default: this machine's)
    #[arg(long)]
    pub host: Option<String>,
    /// Exclude paths matching a pattern (gitignore syntax; repeatable)
    #[arg(long = "exclude", short = 'e')]
    pub excludes: Vec<String>,
    /// Read exclude patterns from a file (one per line, # comments)
    #[arg(long = "exclude-file")]
    pub exclude_files: Vec<PathBuf>,
    /// Skip the contents of directories that hold a CACHEDIR.TAG
    #[arg(long)]
    pub exclude_caches: bool,
    /// Do not cross file system boundaries
    #[arg(short = 'x', long)]
    pub one_file_system: bool,
    /// Skip files larger than this (e.g. 500K, 2G)
    #[arg(long, value_parser = parse_size)]
    pub exclude_larger_than: Option<u64>,
    /// Compare with this snapshot instead of the latest one of the same host and paths
    #[arg(long)]
    pub parent: Option<String>,
    /// Read every file, ignoring the parent snapshot
    #[arg(long)]
    pub force: bool,
    /// Back up standard input
    #[arg(long)]
    pub stdin: bool,
    /// File name for standard input in the snapshot
    #[arg(long, default_value = "stdin")]
    pub stdin_filename: String,
    /// Back up the standard output of a command (give it after --)
    #[arg(long)]
    pub stdin_from_command: bool,
    /// Time to record instead of now (RFC 3339 or "YYYY-MM-DD HH:MM:SS")
    #[arg(long)]
    pub time: Option<String>,
}

#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Only the latest N snapshots
    #[arg(long)]
    pub latest: Option<usize>,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Snapshot id (or a unique prefix), or "latest"
    pub snapshot: String,
    /// Directory to restore into
    #[arg(long, short = 't')]
    pub target: PathBuf,
    /// Restore only paths matching a pattern (repeatable)
    #[arg(long = "include", short = 'i')]
    pub includes: Vec<String>,
    /// Do not restore paths matching a pattern (repeatable)
    #[arg(long = "exclude", short = 'e')]
    pub excludes: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Snapshot id (or a unique prefix), or "latest"
    pub snapshot: String,
    /// Only list below this directory
    pub dir: Option<String>,
    /// Long listing: mode, owner, size, time
    #[arg(short, long)]
    pub long: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// Snapshot id (or a unique prefix), or "latest"
    pub snapshot: String,
    /// Path of a file inside the snapshot
    pub path: String,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Args, Debug)]
pub struct CatArgs {
    /// config | masterkey | snapshot ID | index ID | pack ID | blob ID | tree ID | key ID | lock ID
    pub kind: String,
    pub id: Option<String>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Read and verify every pack
    #[arg(long)]
    pub read_data: bool,
    /// Read a subset of the packs: n/m (group n of m) or p% (random share)
    #[arg(long)]
    pub read_data_subset: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// List keys
    List,
    /// Add a key with a new password
    Add(NewPasswordArgs),
    /// Remove a key (not the one in use)
    Remove { id: String },
    /// Change the password: add a new key, remove the current one
    Passwd(NewPasswordArgs),
}

#[derive(Args, Debug)]
pub struct NewPasswordArgs {
    /// Read the new password from this file
    #[arg(long)]
    pub new_password_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// Remove all locks, even live ones
    #[arg(long)]
    pub remove_all: bool,
}

#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Directory to back up (default: the current directory)
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Repository location
    #[arg(long, default_value = "bunker-repo")]
    pub at: PathBuf,
    /// Where the generated password is kept
    #[arg(long, default_value = "bunker-password")]
    pub password_out: PathBuf,
}

/// Parses sizes like 1024, 500K, 2M, 3G, 1T (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let m = match s[i..]
                .to_ascii_uppercase()
                .trim_end_matches('B')
                .trim_end_matches('I')
            {
                "" => 1,
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                "T" => 1u64 << 40,
                u => return Err(format!("unknown size unit {u:?}")),
            };
            (&s[..i], m)
        }
        None => (s, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid size {s:?}"))?;
    Ok((n * mult as f64) as u64)
}
