//! Admin accounts, their sessions and the one-time setup links (the web interface's sign-in,
//! [`crate::admin`]). Sessions live here rather than in memory so that any server instance on
//! the database can serve any signed-in admin. Session and setup tokens are stored only as
//! their SHA-256 ([`crate::admin::token_hash`]): a copy of the database signs nobody in.

use sqlx::Row;

use super::{Store, UnixSeconds};
use crate::error::Error;

/// An admin account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub id: i64,
    pub username: String,
    /// Argon2id PHC string ([`crate::secret`]).
    pub password_hash: String,
}

/// A signed-in session, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub admin_id: i64,
    pub username: String,
    pub csrf_token: String,
    pub created_at: UnixSeconds,
    pub last_seen_at: UnixSeconds,
}

/// Why an admin could not be added.
#[derive(Debug)]
pub enum AddAdminError {
    /// The user name is taken.
    Exists,
    /// The setup link was used, expired, or never existed.
    SetupLinkInvalid,
    Store(Error),
}

impl From<Error> for AddAdminError {
    fn from(e: Error) -> Self {
        AddAdminError::Store(e)
    }
}

impl Store {
    /// How many admin accounts there are.
    pub async fn admin_count(&self) -> Result<i64, Error> {
        let row = sqlx::query("SELECT COUNT(*) FROM admins")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        row.try_get(0).map_err(|e| self.failed(e))
    }

    pub async fn admin_by_name(&self, username: &str) -> Result<Option<Admin>, Error> {
        let row = sqlx::query("SELECT id, username, password_hash FROM admins WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        let get = |e| self.failed(e);
        row.map(|row| {
            Ok(Admin {
                id: row.try_get(0).map_err(get)?,
                username: row.try_get(1).map_err(get)?,
                password_hash: row.try_get(2).map_err(get)?,
            })
        })
        .transpose()
    }

    /// Adds an admin; with `setup_token_hash`, only if that setup link is still valid at
    /// `now`, using it up (and every other setup link with it) in the same transaction.
    pub async fn add_admin(
        &self,
        username: &str,
        password_hash: &str,
        now: UnixSeconds,
        setup_token_hash: Option<&str>,
    ) -> Result<i64, AddAdminError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        if let Some(hash) = setup_token_hash {
            let used = sqlx::query(
                "DELETE FROM admin_setup_tokens WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?
            .rows_affected();
            if used != 1 {
                return Err(AddAdminError::SetupLinkInvalid);
            }
        }
        let row = sqlx::query(
            "INSERT INTO admins (username, password_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (username) DO NOTHING RETURNING id",
        )
        .bind(username)
        .bind(password_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.failed(e))?;
        let Some(row) = row else {
            return Err(AddAdminError::Exists);
        };
        let id: i64 = row.try_get(0).map_err(|e| self.failed(e))?;
        // An admin exists now: no setup link may make another.
        sqlx::query("DELETE FROM admin_setup_tokens")
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?;
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(id)
    }

    /// Sets an existing admin's password and ends that admin's sessions; `false` if there is
    /// no such admin.
    pub async fn set_admin_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        let row =
            sqlx::query("UPDATE admins SET password_hash = $1 WHERE username = $2 RETURNING id")
                .bind(password_hash)
                .bind(username)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.failed(e))?;
        let Some(row) = row else {
            return Ok(false);
        };
        let id: i64 = row.try_get(0).map_err(|e| self.failed(e))?;
        sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?;
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(true)
    }

    /// Stores a setup link's token hash, valid until `expires_at`.
    pub async fn add_setup_token(
        &self,
        token_hash: &str,
        expires_at: UnixSeconds,
    ) -> Result<(), Error> {
        sqlx::query("INSERT INTO admin_setup_tokens (token_hash, expires_at) VALUES ($1, $2)")
            .bind(token_hash)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Whether a setup link is valid at `now` (it is used up only by [`Store::add_admin`]).
    pub async fn setup_token_valid(
        &self,
        token_hash: &str,
        now: UnixSeconds,
    ) -> Result<bool, Error> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM admin_setup_tokens WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        let n: i64 = row.try_get(0).map_err(|e| self.failed(e))?;
        Ok(n > 0)
    }

    pub async fn add_session(
        &self,
        token_hash: &str,
        admin_id: i64,
        csrf_token: &str,
        now: UnixSeconds,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO admin_sessions (token_hash, admin_id, csrf_token, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(token_hash)
        .bind(admin_id)
        .bind(csrf_token)
        .bind(now)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|e| self.failed(e))
    }

    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>, Error> {
        let row = sqlx::query(
            "SELECT s.admin_id, a.username, s.csrf_token, s.created_at, s.last_seen_at \
             FROM admin_sessions s JOIN admins a ON a.id = s.admin_id WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        let get = |e| self.failed(e);
        row.map(|row| {
            Ok(Session {
                admin_id: row.try_get(0).map_err(get)?,
                username: row.try_get(1).map_err(get)?,
                csrf_token: row.try_get(2).map_err(get)?,
                created_at: row.try_get(3).map_err(get)?,
                last_seen_at: row.try_get(4).map_err(get)?,
            })
        })
        .transpose()
    }

    pub async fn touch_session(&self, token_hash: &str, now: UnixSeconds) -> Result<(), Error> {
        sqlx::query("UPDATE admin_sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Forgets sessions idle since before `idle_before` or created before `created_before`,
    /// and expired setup links; returns how many sessions went.
    pub async fn expire_sessions(
        &self,
        idle_before: UnixSeconds,
        created_before: UnixSeconds,
        now: UnixSeconds,
    ) -> Result<u64, Error> {
        let gone =
            sqlx::query("DELETE FROM admin_sessions WHERE last_seen_at < $1 OR created_at < $2")
                .bind(idle_before)
                .bind(created_before)
                .execute(&self.pool)
                .await
                .map_err(|e| self.failed(e))?
                .rows_affected();
        sqlx::query("DELETE FROM admin_setup_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(gone)
    }
}
