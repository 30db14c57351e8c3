//! One PostgreSQL server, reached with a libpq connection string (key=value or URI; empty
//! means libpq's defaults from `PG*` variables).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::conninfo::split_password;
use super::error::{Error, Result};
use super::tools::{Dump, Tool};

/// A server and the client tools to reach it with.
#[derive(Clone)]
pub struct Server {
    /// The connection string without its password.
    pub(super) dsn: String,
    /// The password the connection string held: the tools get it in `PGPASSWORD`.
    password: Option<String>,
    bin_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("dsn", &self.dsn)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("bin_dir", &self.bin_dir)
            .finish()
    }
}

/// What a backup records about the server.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerInfo {
    pub version: String,
    pub version_num: u32,
    /// The database the connection string names.
    pub database: String,
}

/// A database and what it takes to create it again: encoding, locale, owner.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Database {
    pub name: String,
    pub size: u64,
    pub encoding: String,
    pub collate: String,
    pub ctype: String,
    pub owner: String,
}

/// `"name"`, with embedded quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, with embedded quotes doubled (standard_conforming_strings is on since 9.1).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl Server {
    /// A password in `dsn` is kept apart from it: the tools get it in their environment,
    /// never on their command line, which `ps` shows to every user of the machine.
    pub fn new(dsn: &str, bin_dir: Option<&Path>) -> Server {
        let (dsn, password) = split_password(dsn);
        Server {
            dsn,
            password,
            bin_dir: bin_dir.map(Path::to_path_buf),
        }
    }

    /// The connection string as given, without its password (empty: libpq's defaults).
    pub fn dsn(&self) -> &str {
        &self.dsn
    }

    /// The password the connection string held, if any.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    pub fn tool(&self, name: &'static str) -> Tool {
        Tool::new(self.bin_dir.as_deref(), name).with_password(self.password.clone())
    }

    /// The connection string with the database replaced by `db`.
    pub fn dsn_for(&self, db: &str) -> String {
        let d = &self.dsn;
        if let Some(rest) = d
            .strip_prefix("postgresql://")
            .or_else(|| d.strip_prefix("postgres://"))
        {
            let scheme = &d[..d.len() - rest.len()];
            let (main, query) = match rest.find('?') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let authority = main.split('/').next().unwrap_or("");
            return format!("{scheme}{authority}/{}{query}", percent_encode(db));
        }
        let value = format!("'{}'", db.replace('\\', "\\\\").replace('\'', "\\'"));
        if d.is_empty() {
            format!("dbname={value}")
        } else {
            // In a key=value string the last setting of a keyword wins.
            format!("{d} dbname={value}")
        }
    }

    /// The connection string as given, or the named database's.
    fn dsn_opt(&self, db: Option<&str>) -> String {
        match db {
            Some(db) => self.dsn_for(db),
            None => self.dsn.clone(),
        }
    }

    fn psql(&self, db: Option<&str>, sql: &str) -> (Tool, Command) {
        let tool = self.tool("psql");
        let mut cmd = tool.command();
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.dsn_opt(db))
            .arg("-c")
            .arg(sql);
        (tool, cmd)
    }

    /// Runs one SQL statement (on the connection string's database unless `db`).
    pub fn execute(&self, db: Option<&str>, sql: &str) -> Result<()> {
        let (tool, cmd) = self.psql(db, sql);
        tool.output(cmd).map(drop)
    }

    /// Runs a query and returns its rows, each decoded from the row's JSON object.
    pub fn query<T: DeserializeOwned>(&self, db: Option<&str>, sql: &str) -> Result<Vec<T>> {
        let wrapped = format!("SELECT coalesce(json_agg(q), '[]') FROM ({sql}) q");
        let (tool, cmd) = self.psql(db, &wrapped);
        let out = tool.output(cmd)?;
        serde_json::from_str(out.trim())
            .map_err(|e| Error::Invalid(format!("unexpected answer from the server: {e}")))
    }

    /// A query returning one value.
    pub fn query_value<T: DeserializeOwned>(&self, db: Option<&str>, sql: &str) -> Result<T> {
        #[derive(Deserialize)]
        struct V<T> {
            v: T,
        }
        let rows: Vec<V<T>> = self.query(db, &format!("SELECT ({sql}) AS v"))?;
        rows.into_iter()
            .next()
            .map(|r| r.v)
            .ok_or_else(|| Error::Invalid("the server returned no row".into()))
    }

    pub fn info(&self) -> Result<ServerInfo> {
        let mut rows: Vec<ServerInfo> = self.query(
            None,
            "SELECT current_setting('server_version') AS version, \
             current_setting('server_version_num')::int AS version_num, \
             current_database() AS database",
        )?;
        rows.pop()
            .ok_or_else(|| Error::Invalid("the server returned no row".into()))
    }

    /// The databases one can connect to (templates excluded).
    pub fn databases(&self) -> Result<Vec<Database>> {
        self.query(
            None,
            "SELECT d.datname AS name, pg_database_size(d.oid) AS size, \
             pg_encoding_to_char(d.encoding) AS encoding, d.datcollate AS collate, \
             d.datctype AS ctype, pg_get_userbyid(d.datdba) AS owner \
             FROM pg_database d WHERE d.datallowconn AND NOT d.datistemplate \
             ORDER BY d.datname",
        )
    }

    pub fn database_exists(&self, name: &str) -> Result<bool> {
        self.query_value(
            None,
            &format!(
                "SELECT exists(SELECT 1 FROM pg_database WHERE datname = {})",
                quote_literal(name)
            ),
        )
    }

    /// This server reached through a database other than `names`, for the statements
    /// about them (`ALTER DATABASE … ALLOW_CONNECTIONS`, `RENAME`, `DROP`), which
    /// PostgreSQL refuses on the database a session is connected to: the connection
    /// string's own database when it is none of them, else the maintenance database
    /// `postgres` (or `template1`, when `postgres` is one of them).
    pub fn maintenance(&self, names: &[&str]) -> Result<Server> {
        let current: String = self.query_value(None, "SELECT current_database()")?;
        if !names.contains(&current.as_str()) {
            return Ok(self.clone());
        }
        let other = ["postgres", "template1"]
            .into_iter()
            .find(|m| !names.contains(m))
            .expect("two names, at most one taken");
        let admin = Server {
            dsn: self.dsn_for(other),
            password: self.password.clone(),
            bin_dir: self.bin_dir.clone(),
        };
        // Reachable, or the swap would fail half-way through.
        admin.execute(None, "SELECT 1")?;
        Ok(admin)
    }

    /// Whether the connected role may rename and drop database `name`: it owns it (or is
    /// a member of its owner, or a superuser) and may create databases.
    pub fn may_replace_database(&self, name: &str) -> Result<bool> {
        self.query_value(
            None,
            &format!(
                "SELECT coalesce((SELECT (r.rolsuper OR r.rolcreatedb) \
                 AND pg_has_role(current_user, d.datdba, 'MEMBER') \
                 FROM pg_database d, pg_roles r \
                 WHERE d.datname = {} AND r.rolname = current_user), false)",
                quote_literal(name)
            ),
        )
    }

    /// Refuses to go on when `tool` is older than the server: pg_dump cannot dump a
    /// newer server, and its own message does not say what to do.
    pub fn check_client(&self, tool: &Tool, server: &ServerInfo) -> Result<()> {
        let (major, version) = tool.version()?;
        let server_major = server.version_num / 10000;
        if server_major > major {
            return Err(Error::ClientTooOld {
                tool: tool.name().to_string(),
                client: version,
                server: server.version.clone(),
                server_major,
            });
        }
        Ok(())
    }

    /// Starts `pg_dump` of one database in the custom format, uncompressed: the
    /// repository compresses, and unchanged tables stay byte-identical between days so
    /// that chunks deduplicate.
    pub fn dump(&self, db: &str) -> Result<Dump> {
        let tool = self.tool("pg_dump");
        let mut cmd = tool.command();
        cmd.args(["--format=custom", "--compress=0", "--dbname"])
            .arg(self.dsn_for(db));
        Dump::start(tool, cmd)
    }

    /// `pg_dumpall --globals-only` (roles, tablespaces) as SQL. Where role passwords
    /// cannot be read (managed services deny pg_authid), without them, and says so in
    /// the returned warning.
    pub fn dump_globals(&self) -> Result<(Vec<u8>, Option<String>)> {
        let tool = self.tool("pg_dumpall");
        let run = |extra: &[&str]| {
            let mut cmd = tool.command();
            cmd.args(["--globals-only", "--dbname"])
                .arg(&self.dsn)
                .args(extra);
            tool.output(cmd)
        };
        match run(&[]) {
            Ok(sql) => Ok((sql.into_bytes(), None)),
            Err(Error::Tool { message, .. }) if message.contains("pg_authid") => {
                let sql = run(&["--no-role-passwords"])?;
                Ok((
                    sql.into_bytes(),
                    Some("role passwords were not readable (no access to pg_authid); roles were saved without them".into()),
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// Creates an empty database like `like` (encoding, locale, and owner when that
    /// role exists here), from template0 as a restore needs.
    pub fn create_database(&self, name: &str, like: &Database) -> Result<()> {
        let owner_exists: bool = self.query_value(
            None,
            &format!(
                "SELECT exists(SELECT 1 FROM pg_roles WHERE rolname = {})",
                quote_literal(&like.owner)
            ),
        )?;
        let mut sql = format!(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
            quote_ident(name),
            quote_literal(&like.encoding),
            quote_literal(&like.collate),
            quote_literal(&like.ctype)
        );
        if owner_exists {
            sql.push_str(&format!(" OWNER {}", quote_ident(&like.owner)));
        }
        self.execute(None, &sql)
    }

    /// Drops a database, ending its sessions first.
    pub fn drop_database(&self, name: &str) -> Result<()> {
        self.execute(
            None,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name)),
        )
    }

    /// Renames `from` to `to`, ending other sessions on `from` first. New connections are
    /// refused during the switch so that none slips in between.
    pub fn rename_database(&self, from: &str, to: &str) -> Result<()> {
        let (f, t) = (quote_ident(from), quote_ident(to));
        self.execute(None, &format!("ALTER DATABASE {f} ALLOW_CONNECTIONS false"))?;
        let terminate = format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = {} AND pid <> pg_backend_pid()",
            quote_literal(from)
        );
        let rename = format!("ALTER DATABASE {f} RENAME TO {t}");
        // Terminated sessions take a moment to go; the rename fails while one remains.
        let mut result = Ok(());
        for _ in 0..100 {
            result = self
                .execute(None, &terminate)
                .and_then(|()| self.execute(None, &rename));
            match &result {
                Err(e) if e.to_string().contains("is being accessed by other users") => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                _ => break,
            }
        }
        let now = if result.is_ok() { &t } else { &f };
        let reopen = self.execute(
            None,
            &format!("ALTER DATABASE {now} ALLOW_CONNECTIONS true"),
        );
        result.and(reopen)
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_for_replaces_the_database() {
        let kv = Server::new("host=/tmp port=5433 user=postgres dbname=app", None);
        assert_eq!(
            kv.dsn_for("o'k"),
            "host=/tmp port=5433 user=postgres dbname=app dbname='o\\'k'"
        );
        // The password is kept apart: it never goes into a command line.
        let url = Server::new("postgresql://u:p@db:5432/app?sslmode=require", None);
        assert_eq!(
            url.dsn_for("new db"),
            "postgresql://u@db:5432/new%20db?sslmode=require"
        );
        assert_eq!(url.password(), Some("p"));
        assert_eq!(
            Server::new("postgres://db", None).dsn_for("x"),
            "postgres://db/x"
        );
        assert_eq!(Server::new("", None).dsn_for("x"), "dbname='x'");
    }
}
