//! Putting a custom-format archive back: into a database with `pg_restore`, one table
//! into another schema, one table as CSV, and the globals with `psql`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;

use super::error::{Error, Result};
use super::server::{quote_ident, quote_literal, Database, Server};
use super::tools::Tool;

/// Where `pg_restore` reads the archive from. Parallel restore needs a file: pg_restore
/// seeks in it.
pub enum ArchiveInput<'a> {
    Stream(&'a mut dyn Read),
    File(&'a Path),
}

/// How to run `pg_restore`.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// Parallel jobs; more than one needs [`ArchiveInput::File`].
    pub jobs: usize,
    /// Objects owned by the connecting role instead of the original owners.
    pub no_owner: bool,
    /// Stop at the first error (the restore is then incomplete and must be discarded).
    pub exit_on_error: bool,
    /// `--section` values; empty means all.
    pub sections: Vec<&'static str>,
    /// A `pg_restore -l` list file choosing what to restore.
    pub use_list: Option<std::path::PathBuf>,
}

/// A table named on the command line: `name` or `schema.name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    pub schema: String,
    pub name: String,
}

impl std::str::FromStr for TableRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<TableRef> {
        let (schema, name) = match s.split_once('.') {
            Some((sc, n)) => (sc, n),
            None => ("public", s),
        };
        if schema.is_empty() || name.is_empty() {
            return Err(Error::Invalid(format!(
                "invalid table name {s:?}: use TABLE or SCHEMA.TABLE"
            )));
        }
        Ok(TableRef {
            schema: schema.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

impl TableRef {
    /// `"schema"."name"`.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// Copies `rd` into `w`; a failed read is `Err(Ok(e))`, a failed write `Err(Err(e))` so
/// that the caller can tell its own data from the consumer going away.
fn pump(
    rd: &mut dyn Read,
    w: &mut dyn Write,
) -> std::result::Result<(), std::result::Result<std::io::Error, std::io::Error>> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match rd.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Ok(e)),
        };
        w.write_all(&buf[..n]).map_err(Err)?;
    }
}

/// Runs `tool` (already configured in `cmd`) with `input` on its standard input.
fn run_with_input(
    tool: &Tool,
    mut cmd: std::process::Command,
    input: ArchiveInput<'_>,
) -> Result<String> {
    match input {
        ArchiveInput::File(path) => {
            cmd.arg(path).stdin(Stdio::null()).stdout(Stdio::null());
            let (child, drain) = tool.spawn(cmd)?;
            tool.finish(child, drain)
        }
        ArchiveInput::Stream(rd) => {
            cmd.stdin(Stdio::piped()).stdout(Stdio::null());
            let (mut child, drain) = tool.spawn(cmd)?;
            let mut stdin = child.stdin.take().expect("piped stdin");
            let pumped = pump(rd, &mut stdin);
            drop(stdin);
            match pumped {
                Ok(()) => tool.finish(child, drain),
                // The tool stopped reading: its own error says why.
                Err(Err(write_err)) => match tool.finish(child, drain) {
                    Err(e) => Err(e),
                    Ok(_) => Err(Error::io(format!("writing to {}", tool.name()), write_err)),
                },
                Err(Ok(read_err)) => {
                    let _ = child.kill();
                    let _ = tool.finish(child, drain);
                    Err(Error::io(
                        "reading the archive from the repository",
                        read_err,
                    ))
                }
            }
        }
    }
}

impl Server {
    /// Restores an archive into the existing database `db`. Returns pg_restore's warnings.
    pub fn restore(
        &self,
        db: &str,
        input: ArchiveInput<'_>,
        opts: &RestoreOptions,
    ) -> Result<String> {
        let tool = self.tool("pg_restore");
        let mut cmd = tool.command();
        cmd.arg("--dbname").arg(self.dsn_for(db));
        if opts.jobs > 1 {
            if matches!(input, ArchiveInput::Stream(_)) {
                return Err(Error::Invalid(
                    "parallel restore needs the archive in a file".into(),
                ));
            }
            cmd.arg(format!("--jobs={}", opts.jobs));
        }
        if opts.no_owner {
            cmd.args(["--no-owner", "--no-acl"]);
        }
        if opts.exit_on_error {
            cmd.arg("--exit-on-error");
        }
        for s in &opts.sections {
            cmd.arg(format!("--section={s}"));
        }
        if let Some(list) = &opts.use_list {
            cmd.arg("--use-list").arg(list);
        }
        run_with_input(&tool, cmd, input)
    }

    /// The archive's table of contents (`pg_restore --list`).
    pub fn archive_list(&self, input: ArchiveInput<'_>) -> Result<String> {
        let tool = self.tool("pg_restore");
        let mut cmd = tool.command();
        cmd.arg("--list");
        let list_file = tempfile_path("bunker-pg-list")?;
        cmd.arg("--file").arg(&list_file.0);
        let done = run_with_input(&tool, cmd, input);
        let text = std::fs::read_to_string(&list_file.0);
        match (done, text) {
            (Ok(_), Ok(t)) => Ok(t),
            // pg_restore stops reading once it has the list: a broken pipe is expected.
            (Err(Error::Io { .. }), Ok(t)) if !t.is_empty() => Ok(t),
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(Error::io("reading pg_restore's list", e)),
        }
    }

    /// Restores into `scratch` everything one table needs: all schema objects (types,
    /// sequences, functions) without owners, and the data of `table` alone. `open`
    /// gives a fresh stream of the archive each time it is called.
    pub fn restore_one_table(
        &self,
        scratch: &str,
        table: &TableRef,
        open: &mut dyn FnMut() -> std::io::Result<Box<dyn Read>>,
    ) -> Result<()> {
        let mut rd = open().map_err(|e| Error::io("reading the archive", e))?;
        let list = self.archive_list(ArchiveInput::Stream(&mut rd))?;
        let wanted = format!("TABLE DATA {} {} ", table.schema, table.name);
        let mut found = false;
        let kept: Vec<&str> = list
            .lines()
            .filter(|l| {
                let Some(desc) = list_entry_desc(l) else {
                    return true;
                };
                if desc.starts_with("TABLE DATA ") {
                    let keep = desc.starts_with(&wanted);
                    found |= keep;
                    return keep;
                }
                !desc.starts_with("BLOB")
            })
            .collect();
        if !found {
            return Err(Error::Invalid(format!(
                "the dump has no data for table {table}"
            )));
        }
        let list_file = tempfile_path("bunker-pg-use-list")?;
        std::fs::write(&list_file.0, kept.join("\n") + "\n")
            .map_err(|e| Error::io("writing a pg_restore list", e))?;
        let mut rd = open().map_err(|e| Error::io("reading the archive", e))?;
        let opts = RestoreOptions {
            no_owner: true,
            sections: vec!["pre-data", "data"],
            use_list: Some(list_file.0.clone()),
            ..Default::default()
        };
        // Without --exit-on-error: an object that cannot be created here (an extension
        // not installed) must not stop the recovery of the table; it is checked below.
        let _ = self.restore(scratch, ArchiveInput::Stream(&mut rd), &opts);
        let exists: bool = self.query_value(
            Some(scratch),
            &format!(
                "SELECT to_regclass({}) IS NOT NULL",
                quote_literal(&table.quoted())
            ),
        )?;
        if !exists {
            return Err(Error::Invalid(format!(
                "table {table} could not be restored from the dump"
            )));
        }
        Ok(())
    }

    /// Moves `table` (restored in `scratch`) into schema `to_schema` of database `db`.
    /// Refuses to overwrite a table already there. Returns the number of rows.
    pub fn move_table(
        &self,
        scratch: &str,
        table: &TableRef,
        db: &str,
        to_schema: &str,
    ) -> Result<u64> {
        let target = TableRef {
            schema: to_schema.to_string(),
            name: table.name.clone(),
        };
        let taken: bool = self.query_value(
            Some(db),
            &format!(
                "SELECT to_regclass({}) IS NOT NULL",
                quote_literal(&target.quoted())
            ),
        )?;
        if taken {
            return Err(Error::Invalid(format!(
                "{target} already exists in database {db}: choose another --to-schema"
            )));
        }
        if table.schema != to_schema {
            self.execute(
                Some(scratch),
                &format!(
                    "CREATE SCHEMA IF NOT EXISTS {s}; ALTER TABLE {t} SET SCHEMA {s}",
                    s = quote_ident(to_schema),
                    t = table.quoted()
                ),
            )?;
        }
        self.execute(
            Some(db),
            &format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(to_schema)),
        )?;
        let dump_tool = self.tool("pg_dump");
        let mut dump = dump_tool.command();
        dump.args([
            "--format=custom",
            "--compress=0",
            "--no-owner",
            "--no-acl",
            "--table",
        ])
        .arg(target.quoted())
        .arg("--dbname")
        .arg(self.dsn_for(scratch));
        let mut dump = super::tools::Dump::start(dump_tool, dump)?;
        let mut out = dump.take_stdout();
        let opts = RestoreOptions {
            no_owner: true,
            exit_on_error: true,
            ..Default::default()
        };
        let restored = self.restore(db, ArchiveInput::Stream(&mut out), &opts);
        drop(out);
        let dumped = dump.finish();
        restored?;
        dumped?;
        self.query_value(
            Some(db),
            &format!("SELECT count(*) FROM {}", target.quoted()),
        )
    }

    /// Writes `table` of database `db` as CSV with a header line.
    pub fn export_csv(&self, db: &str, table: &TableRef, out: &mut dyn Write) -> Result<()> {
        let tool = self.tool("psql");
        let mut cmd = tool.command();
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.dsn_for(db))
            .arg("-c")
            .arg(format!(
                "COPY {} TO STDOUT WITH (FORMAT csv, HEADER)",
                table.quoted()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let (mut child, drain) = tool.spawn(cmd)?;
        let mut stdout = child.stdout.take().expect("piped stdout");
        let pumped = pump(&mut stdout, out);
        drop(stdout);
        match pumped {
            Ok(()) => tool.finish(child, drain).map(drop),
            Err(Ok(e)) => {
                let _ = tool.finish(child, drain);
                Err(Error::io("reading psql's output", e))
            }
            Err(Err(e)) => {
                let _ = child.kill();
                let _ = tool.finish(child, drain);
                Err(Error::io("writing the CSV", e))
            }
        }
    }

    /// Runs the globals script (roles, tablespaces) with psql, going on past errors.
    /// Returns the errors, e.g. roles that already exist: reported, not fatal.
    pub fn restore_globals(&self, sql: &mut dyn Read) -> Result<Vec<String>> {
        let tool = self.tool("psql");
        let mut cmd = tool.command();
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=0", "-f", "-", "-d"])
            .arg(&self.dsn);
        cmd.stdin(Stdio::piped()).stdout(Stdio::null());
        let (mut child, drain) = tool.spawn(cmd)?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let pumped = pump(sql, &mut stdin);
        drop(stdin);
        let stderr = tool.finish(child, drain)?;
        if let Err(Ok(e)) = pumped {
            return Err(Error::io("reading the globals from the repository", e));
        }
        Ok(stderr
            .lines()
            .filter(|l| l.contains("ERROR:"))
            .map(|l| {
                l.split_once("ERROR:")
                    .map_or(l, |(_, m)| m)
                    .trim()
                    .to_string()
            })
            .collect())
    }
}

/// The description part of a `pg_restore --list` line: `ID; OID OID DESC...`.
fn list_entry_desc(line: &str) -> Option<&str> {
    if line.starts_with(';') {
        return None;
    }
    let (_, rest) = line.split_once("; ")?;
    let mut parts = rest.splitn(3, ' ');
    parts.next()?;
    parts.next()?;
    parts.next()
}

/// A file path in the temporary directory, removed when dropped.
struct TempPath(std::path::PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tempfile_path(prefix: &str) -> Result<TempPath> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let p = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
    Ok(TempPath(p))
}

/// A database created for a restore that must not outlive it (a drill, a table
/// recovery): dropped when this value is dropped, also on failure.
pub struct ScratchDatabase {
    server: Server,
    name: String,
    keep: bool,
}

impl ScratchDatabase {
    pub fn create(server: &Server, name: &str, like: &Database) -> Result<ScratchDatabase> {
        server.create_database(name, like)?;
        Ok(ScratchDatabase {
            server: server.clone(),
            name: name.to_string(),
            keep: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Keeps the database (it became the real one).
    pub fn keep(mut self) -> String {
        self.keep = true;
        self.name.clone()
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if !self.keep {
            let _ = self.server.drop_database(&self.name);
        }
    }
}
