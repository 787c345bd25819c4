//! The server's one error type. Every message names the setting, file or line at fault,
//! because most of these stop start-up and the owner has to fix them by hand.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required setting is absent from both the environment and the `.env` file.
    #[error("{name} is not set (put it in the environment or in the .env file)")]
    MissingSetting { name: &'static str },
    /// A setting is present but unusable.
    #[error("{name} is not valid: {problem}")]
    InvalidSetting { name: &'static str, problem: String },
    /// A `.env` line cannot be read (its value is never echoed: it may be a secret).
    #[error("{}:{line}: {problem}", path.display())]
    EnvFile {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    /// The handsets file is missing, unreadable or inconsistent.
    #[error("handsets file {}: {problem}", path.display())]
    Handsets { path: PathBuf, problem: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The database cannot be reached, migrated or queried (the URL is shown without its
    /// password).
    #[error("database {url}: {source}")]
    Database {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database {url}: migrations: {source}")]
    Migrations {
        url: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("database {url}: not a sqlite:// or postgres:// URL")]
    DatabaseUrl { url: String },
    /// A value read from the database is not one the server writes.
    #[error("database {url}: {problem}")]
    Corrupt { url: String, problem: String },
    #[error("cannot hash the secret: {0}")]
    Hash(String),
    /// A command was asked for something it will not do (a taken name, a clash), said why.
    #[error("{0}")]
    Refused(String),
}

impl Error {
    pub fn invalid(name: &'static str, problem: impl Into<String>) -> Self {
        Error::InvalidSetting {
            name,
            problem: problem.into(),
        }
    }

    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
