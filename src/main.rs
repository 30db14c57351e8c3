//! bunker: parse, resolve settings, dispatch, map errors to exit codes.

mod cli;
mod commands;
mod configured;
mod logging;
mod output;
mod password;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use bunker_jobs::exit;

use crate::commands::Globals;

fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(commands::ExitWith(code, _)) = cause.downcast_ref::<commands::ExitWith>() {
            return *code;
        }
        if cause
            .downcast_ref::<bunker_jobs::config::ConfigError>()
            .is_some()
        {
            return exit::USAGE;
        }
        let repo_error = match cause.downcast_ref::<bunker_jobs::Error>() {
            Some(bunker_jobs::Error::Repo(r)) => Some(r),
            _ => cause.downcast_ref::<bunker_repo::Error>(),
        };
        if let Some(r) = repo_error {
            return exit::of_repo(r);
        }
        if cause.downcast_ref::<commands::Partial>().is_some() {
            return exit::PARTIAL;
        }
    }
    exit::FAILURE
}

fn main() -> ExitCode {
    bunker_process::return_large_buffers();
    let cli = Cli::parse();
    // Commands that feed database tools through pipes must see a tool that died as an
    // error (and clean up), not be killed by SIGPIPE.
    if !matches!(
        cli.command,
        Command::Pg(_)
            | Command::Drill(_)
            | Command::WalReceive(_)
            | Command::Pitr(_)
            | Command::Run(_)
            | Command::Daemon
    ) {
        bunker_process::default_sigpipe();
    }
    if matches!(cli.command, Command::Run(_) | Command::Daemon) {
        logging::init(cli.quiet);
    }
    let globals = match Globals::from(&cli).resolve(cli.job.as_deref()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("bunker: {}", one_line(&e));
            return ExitCode::from(exit_code(&e));
        }
    };
    let audit = audited_action(&cli.command).and_then(|a| commands::audit::prepare(&globals, a));
    let result = match cli.command {
        Command::Init(a) => commands::init::run(&globals, a),
        Command::Backup(a) => commands::backup::run(&globals, a),
        Command::Snapshots(a) => commands::snapshots::run(&globals, a),
        Command::Restore(a) => commands::restore::run(&globals, a),
        Command::Ls(a) => commands::ls::run(&globals, a),
        Command::Dump(a) => commands::dump::run(&globals, a),
        Command::Cat(a) => commands::cat::run(&globals, a),
        Command::Check(a) => commands::check::run(&globals, a),
        Command::Tag(a) => commands::tag::run(&globals, a),
        Command::Diff(a) => commands::diff::run(&globals, a),
        Command::Stats(a) => commands::stats::run(&globals, a),
        Command::Key(k) => commands::key::run(&globals, k),
        Command::Unlock(a) => commands::unlock::run(&globals, a),
        Command::Forget(a) => commands::forget::run(&globals, a),
        Command::Prune(a) => commands::prune::run(&globals, a),
        Command::Copy(a) => commands::copy::run(&globals, a),
        Command::Repair(c) => commands::repair::run(&globals, c),
        Command::Pg(c) => commands::pg::run(&globals, c),
        Command::WalPush(a) => commands::wal::push(&globals, a),
        Command::WalFetch(a) => return ExitCode::from(commands::wal::fetch(&globals, a)),
        Command::WalReceive(a) => commands::wal::receive(&globals, a),
        Command::Pitr(a) => commands::pg_physical::pitr(&globals, a),
        Command::Drill(c) => commands::drill::run(&globals, c),
        Command::Config(c) => commands::config::run(&globals, c),
        Command::Run(a) => commands::run::run(&globals, a),
        Command::Daemon => commands::daemon::run(&globals),
        Command::Status(a) => commands::status::run(&globals, a),
        Command::Watch => commands::watch::run(&globals),
        Command::Schedule(c) => commands::schedule::run(&globals, c),
        Command::Catalog(c) => commands::catalog::run(&globals, c),
        Command::Notify(c) => commands::notify::run(&globals, c),
        Command::Quickstart(a) => commands::quickstart::run(&globals, a),
        Command::Dashboard(c) => commands::dashboard::run(&globals, c),
        Command::Report(a) => commands::report::run(&globals, a),
    };
    match result {
        Ok(()) => {
            if let Some(pending) = audit {
                pending.record(&globals);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = exit_code(&e);
            if !format!("{e}").is_empty() {
                eprintln!("bunker: {}", one_line(&e));
            }
            ExitCode::from(code)
        }
    }
}

/// The audit-log action of a command run by hand that changes or reads out a
/// repository's data (job runs record their own).
fn audited_action(c: &Command) -> Option<&'static str> {
    use crate::cli::{KeyCommand, RepairCommand};
    Some(match c {
        Command::Backup(_) => "backup",
        Command::Restore(_) => "restore",
        Command::Forget(a) if !a.dry_run => "forget",
        Command::Prune(a) if !a.dry_run => "prune",
        Command::Copy(_) => "copy",
        Command::Tag(_) => "tag",
        Command::Repair(RepairCommand::Index(_)) => "repair-index",
        Command::Repair(RepairCommand::Packs(_)) => "repair-packs",
        Command::Repair(RepairCommand::Snapshots(a)) if !a.dry_run => "repair-snapshots",
        Command::Key(KeyCommand::Add(_)) => "key-add",
        Command::Key(KeyCommand::Remove { .. }) => "key-remove",
        Command::Key(KeyCommand::Passwd(_)) => "key-passwd",
        _ => return None,
    })
}

/// The error and its causes on one line, without repeating what the outer one says.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        // A storage error already says what its service said, without the request
        // context opendal's own text carries.
        if matches!(
            c.downcast_ref::<bunker_repo::Error>(),
            Some(bunker_repo::Error::Storage { .. })
        ) {
            break;
        }
    }
    parts.join(": ").replace('\n', " ")
}
