//! What the server keeps between requests: the handsets and what they are provisioned with,
//! mailboxes and their messages, each handset's forwarding and do-not-disturb and last
//! status, the call log, and the admin accounts and sessions of the web interface.
//!
//! SQLite is the default (one file beside the handsets file, nothing to install); PostgreSQL
//! when `OFFHOOK_DATABASE_URL` names one, so that several server instances can share it. Every
//! query is written once, in the SQL both accept (`$n` parameters, `ON CONFLICT`, `RETURNING`),
//! and runs through sqlx's `Any` driver. Each dialect has its own migrations
//! (`server/migrations/<dialect>/`), embedded in the binary and run at start.
//!
//! - [`voicemail`] — mailboxes and messages.
//! - [`handsets`] — forwarding, do-not-disturb and last status per handset.
//! - [`directory`] — the handsets themselves (imported from the handsets file, edited in
//!   `/admin`).
//! - [`provisioning`] — what the server sets on each handset: phone settings, contacts,
//!   speed dials; when its event stream was last open.
//! - [`admin`] — admin accounts, sessions and one-time setup links.
//! - [`call_log`] — calls, from Twilio's status callbacks.
//!
//! Every change a handset is told about (a message stored or changing state, a handset's
//! settings) moves one counter in the same transaction ([`Store::change_version`]), which the
//! handsets' event streams poll: that is how a change made through one server instance
//! reaches handsets connected to another.

pub mod admin;
pub mod call_log;
pub mod directory;
pub mod handsets;
pub mod provisioning;
pub mod voicemail;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::error::Error;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long start-up waits for the database before it says it cannot reach it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect a URL's scheme names (`None`: neither).
    pub fn of(url: &str) -> Option<Dialect> {
        let scheme = url.split(':').next()?.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Dialect::Sqlite),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            _ => None,
        }
    }
}

/// The database, opened and migrated.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// The URL without its password, for messages.
    shown_url: String,
}

impl Store {
    /// The default database: `offhook.db` in the handsets file's directory.
    pub fn default_url(handsets_file: &Path) -> String {
        let dir = handsets_file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        format!("sqlite://{}?mode=rwc", dir.join("offhook.db").display())
    }

    /// Connects (creating a SQLite file if needed) and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Store, Error> {
        sqlx::any::install_default_drivers();
        let shown_url = without_password(url);
        let failed = |source| Error::Database {
            url: shown_url.clone(),
            source,
        };
        let dialect = Dialect::of(url).ok_or_else(|| Error::DatabaseUrl {
            url: shown_url.clone(),
        })?;
        // One writer at a time is all SQLite allows; a small pool avoids "database is locked".
        let max_connections = match dialect {
            Dialect::Sqlite => 1,
            Dialect::Postgres => 8,
        };
        let options = sqlx::any::AnyConnectOptions::from_str(url).map_err(failed)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(failed)?;
        let migrator = match dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|source| Error::Migrations {
                url: shown_url.clone(),
                source,
            })?;
        Ok(Store {
            pool,
            dialect,
            shown_url,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The URL without its password.
    pub fn url(&self) -> &str {
        &self.shown_url
    }

    /// Whether the database answers (for `/health`).
    pub async fn check(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// The highest migration applied.
    pub async fn schema_version(&self) -> Result<i64, Error> {
        use sqlx::Row;
        let row = sqlx::query("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        row.try_get::<Option<i64>, _>(0)
            .map(|v| v.unwrap_or(0))
            .map_err(|e| self.failed(e))
    }

    /// The change counter: it moves whenever a message is stored or changes state, or a
    /// handset's settings change, through any server instance on this database. One row,
    /// cheap to poll.
    pub async fn change_version(&self) -> Result<i64, Error> {
        use sqlx::Row;
        let row = sqlx::query("SELECT version FROM change_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        row.try_get(0).map_err(|e| self.failed(e))
    }

    /// Moves the change counter, inside the transaction of the change itself.
    async fn bump(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), Error> {
        sqlx::query("UPDATE change_version SET version = version + 1 WHERE id = 1")
            .execute(&mut **tx)
            .await
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Closes the connections; every later query fails at once (shutdown, and tests of a
    /// database that went away).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn failed(&self, source: sqlx::Error) -> Error {
        Error::Database {
            url: self.shown_url.clone(),
            source,
        }
    }

    fn corrupt(&self, problem: String) -> Error {
        Error::Corrupt {
            url: self.shown_url.clone(),
            problem,
        }
    }
}

/// `url` with any password replaced by `***` (an unparsable URL is shown only by its scheme).
pub fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => format!("{}:…", url.split(':').next().unwrap_or("database")),
    }
}

/// Seconds since the Unix epoch, as stored.
pub type UnixSeconds = i64;

#[cfg(test)]
pub(crate) mod test_postgres;
#[cfg(test)]
mod tests;
