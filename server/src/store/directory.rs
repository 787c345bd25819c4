//! The handsets themselves: ids, identities, extensions, names, numbers and secret hashes.
//!
//! The database is their one source on a server that has one: the handsets file is imported at
//! start ([`Store::import_handsets`]: each handset the database has never had is added), and
//! from then on they are added, edited and removed in `/admin` or with `offhook-server
//! add-handset`. Every change moves the handsets counter ([`Store::handsets_version`]) with the
//! change counter, so that every instance reloads them and the handsets hear of it.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, UnixSeconds};
use crate::error::Error;
use crate::handsets::{Handset, HandsetEntry, Handsets};

/// Why a handset could not be added or changed.
#[derive(Debug)]
pub enum DirectoryError {
    /// The result would not be a valid set of handsets (a clash, a bad field): the message
    /// says what.
    Invalid(String),
    /// There is no handset with that id.
    NotFound,
    Store(Error),
}

impl From<Error> for DirectoryError {
    fn from(e: Error) -> Self {
        DirectoryError::Store(e)
    }
}

impl std::fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DirectoryError::Invalid(problem) => f.write_str(problem),
            DirectoryError::NotFound => f.write_str("there is no such handset"),
            DirectoryError::Store(e) => e.fmt(f),
        }
    }
}

/// What importing the handsets file did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Ids added to the database.
    pub added: Vec<String>,
    /// Ids left out because they were removed in `/admin`.
    pub removed_before: Vec<String>,
    /// Ids already in the database whose entry in the file differs (the database's is used).
    pub differing: Vec<String>,
    /// Entries that clash with a handset already in the database (an identity or extension
    /// taken by another id), with the reason.
    pub refused: Vec<(String, String)>,
}

const COLUMNS: &str = "id, identity, extension, display_name, secret_hash, numbers";

/// What may change about a handset in `/admin` (not its id or identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandsetEdit {
    pub display_name: String,
    pub extension: String,
    pub numbers: Vec<String>,
}

impl Store {
    /// The handsets counter: it moves whenever a handset is added, removed or changed.
    pub async fn handsets_version(&self) -> Result<i64, Error> {
        let row = sqlx::query("SELECT handsets_version FROM change_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        row.try_get(0).map_err(|e| self.failed(e))
    }

    /// Every handset, in order, as stored.
    pub async fn handset_entries(&self) -> Result<Vec<HandsetEntry>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM handsets ORDER BY position, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        rows.iter().map(|row| self.entry_from(row)).collect()
    }

    /// Every handset, validated (a row the server would not have written is an error).
    pub async fn load_handsets(&self) -> Result<Handsets, Error> {
        let entries = self.handset_entries().await?;
        Handsets::from_entries(entries)
            .map_err(|problem| self.corrupt(format!("handsets: {problem}")))
    }

    /// One handset, validated; `None` if there is none with this id.
    pub async fn handset(&self, id: &str) -> Result<Option<Handset>, Error> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM handsets WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        Handset::from_entry(self.entry_from(&row)?)
            .map(Some)
            .map_err(|problem| self.corrupt(format!("handset {id:?}: {problem}")))
    }

    /// Adds a handset, checked against every other one (ids, identities and extensions are
    /// unique; a removed id may come back).
    pub async fn add_handset(
        &self,
        entry: HandsetEntry,
        now: UnixSeconds,
    ) -> Result<Handset, DirectoryError> {
        let handset = Handset::from_entry(entry).map_err(DirectoryError::Invalid)?;
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        let mut entries = self.entries_in(&mut tx).await?;
        entries.push(handset.to_entry());
        Handsets::from_entries(entries).map_err(DirectoryError::Invalid)?;
        self.insert(&mut tx, &handset.to_entry(), now).await?;
        sqlx::query("DELETE FROM removed_handsets WHERE id = $1")
            .bind(&handset.id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?;
        self.bump_handsets(&mut tx).await?;
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(handset)
    }

    /// Changes a handset's name, extension and numbers, checked against every other one.
    pub async fn edit_handset(
        &self,
        id: &str,
        edit: &HandsetEdit,
    ) -> Result<Handset, DirectoryError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        let mut entries = self.entries_in(&mut tx).await?;
        let Some(entry) = entries.iter_mut().find(|e| e.id == id) else {
            return Err(DirectoryError::NotFound);
        };
        entry.display_name = edit.display_name.clone();
        entry.extension = edit.extension.clone();
        entry.numbers = edit.numbers.clone();
        let changed = Handset::from_entry(entry.clone()).map_err(DirectoryError::Invalid)?;
        Handsets::from_entries(entries).map_err(DirectoryError::Invalid)?;
        sqlx::query(
            "UPDATE handsets SET display_name = $1, extension = $2, numbers = $3 WHERE id = $4",
        )
        .bind(&changed.display_name)
        .bind(&changed.extension)
        .bind(join_numbers(&changed.to_entry().numbers))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.unique_clash(e))?;
        self.bump_handsets(&mut tx).await?;
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(changed)
    }

    /// Gives a handset a new secret hash; its old secret stops working.
    pub async fn set_handset_secret(
        &self,
        id: &str,
        secret_hash: &str,
    ) -> Result<(), DirectoryError> {
        crate::secret::StoredHash::parse(secret_hash).map_err(DirectoryError::Invalid)?;
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        let changed = sqlx::query("UPDATE handsets SET secret_hash = $1 WHERE id = $2")
            .bind(secret_hash)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?
            .rows_affected();
        if changed != 1 {
            return Err(DirectoryError::NotFound);
        }
        self.bump_handsets(&mut tx).await?;
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(())
    }

    /// Removes a handset with everything kept about it (settings, provisioning, contacts,
    /// speed dials, status); its voicemail stays in its mailbox. The handsets file will not
    /// bring it back.
    pub async fn remove_handset(&self, id: &str, now: UnixSeconds) -> Result<(), DirectoryError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        let gone = sqlx::query("DELETE FROM handsets WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?
            .rows_affected();
        if gone != 1 {
            return Err(DirectoryError::NotFound);
        }
        for table in [
            "handset_settings",
            "handset_status",
            "handset_provisioning",
            "handset_contacts",
            "handset_speed_dials",
            "handset_streams",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE device_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.failed(e))?;
        }
        sqlx::query(
            "INSERT INTO removed_handsets (id, removed_at) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET removed_at = excluded.removed_at",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.failed(e))?;
        self.bump_handsets(&mut tx).await?;
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(())
    }

    /// Imports the handsets file's entries: each id the database has never had is added (in
    /// the file's order); ids removed in `/admin` stay removed; ids already here keep the
    /// database's entry. Several instances may import at once: an id is inserted only once.
    pub async fn import_handsets(
        &self,
        file: Vec<HandsetEntry>,
        now: UnixSeconds,
    ) -> Result<Imported, Error> {
        let mut done = Imported::default();
        if file.is_empty() {
            return Ok(done);
        }
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        let mut entries = self.entries_in(&mut tx).await?;
        let removed: Vec<String> = sqlx::query("SELECT id FROM removed_handsets")
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?
            .iter()
            .map(|row| row.try_get(0).map_err(|e| self.failed(e)))
            .collect::<Result<_, _>>()?;
        for entry in file {
            if removed.contains(&entry.id) {
                done.removed_before.push(entry.id);
                continue;
            }
            if let Some(stored) = entries.iter().find(|e| e.id == entry.id) {
                if !same_entry(stored, &entry) {
                    done.differing.push(entry.id);
                }
                continue;
            }
            let mut candidate = entries.clone();
            candidate.push(entry.clone());
            if let Err(problem) = Handsets::from_entries(candidate) {
                done.refused.push((entry.id, problem));
                continue;
            }
            self.insert(&mut tx, &entry, now)
                .await
                .map_err(|e| match e {
                    DirectoryError::Store(e) => e,
                    other => self.corrupt(other.to_string()),
                })?;
            done.added.push(entry.id.clone());
            entries.push(entry);
        }
        if !done.added.is_empty() {
            self.bump_handsets(&mut tx).await?;
        }
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(done)
    }

    async fn entries_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<Vec<HandsetEntry>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM handsets ORDER BY position, id"
        ))
        .fetch_all(&mut **tx)
        .await
        .map_err(|e| self.failed(e))?;
        rows.iter().map(|row| self.entry_from(row)).collect()
    }

    async fn insert(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        entry: &HandsetEntry,
        now: UnixSeconds,
    ) -> Result<(), DirectoryError> {
        let identity = entry.identity.clone().unwrap_or_else(|| entry.id.clone());
        sqlx::query(
            "INSERT INTO handsets \
               (id, identity, extension, display_name, secret_hash, numbers, position, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, COALESCE(MAX(position), 0) + 1, $7 FROM handsets",
        )
        .bind(entry.id.trim())
        .bind(identity.trim())
        .bind(entry.extension.trim())
        .bind(entry.display_name.trim())
        .bind(entry.secret_hash.trim())
        .bind(join_numbers(&entry.numbers))
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.unique_clash(e))?;
        Ok(())
    }

    /// A unique constraint's refusal (another instance added a clashing handset meanwhile)
    /// as a clash; anything else as a database failure.
    fn unique_clash(&self, e: sqlx::Error) -> DirectoryError {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => DirectoryError::Invalid(
                "the id, identity or extension is already another handset's".into(),
            ),
            _ => DirectoryError::Store(self.failed(e)),
        }
    }

    /// Moves the handsets counter and the change counter together.
    pub(super) async fn bump_handsets(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE change_version SET version = version + 1, \
             handsets_version = handsets_version + 1 WHERE id = 1",
        )
        .execute(&mut **tx)
        .await
        .map(drop)
        .map_err(|e| self.failed(e))
    }

    fn entry_from(&self, row: &AnyRow) -> Result<HandsetEntry, Error> {
        let get = |e| self.failed(e);
        let numbers: String = row.try_get(5).map_err(get)?;
        Ok(HandsetEntry {
            id: row.try_get(0).map_err(get)?,
            identity: Some(row.try_get(1).map_err(get)?),
            extension: row.try_get(2).map_err(get)?,
            display_name: row.try_get(3).map_err(get)?,
            secret_hash: row.try_get(4).map_err(get)?,
            numbers: numbers.split_whitespace().map(str::to_string).collect(),
        })
    }
}

fn join_numbers(numbers: &[String]) -> String {
    numbers
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn same_entry(a: &HandsetEntry, b: &HandsetEntry) -> bool {
    let identity = |e: &HandsetEntry| e.identity.clone().unwrap_or_else(|| e.id.clone());
    identity(a) == identity(b)
        && a.extension == b.extension
        && a.display_name == b.display_name
        && a.secret_hash == b.secret_hash
        && a.numbers == b.numbers
}
