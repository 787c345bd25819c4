//! Mailboxes and their messages. A message arrives from Twilio's recording callback, which
//! Twilio retries: saving is idempotent by `RecordingSid`. Deleting is two steps, because the
//! recording lives at Twilio: mark it `deleting` (it leaves the counts and the listing), delete
//! it at Twilio, then forget it here; a failed Twilio delete is retried from the marked rows.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, UnixSeconds};
use crate::error::Error;

/// A mailbox's id: `number:+14155550100` or `handset:desk` (which the configuration chooses).
pub type MailboxId = String;

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    /// Not yet listened to: lights the message LED.
    New,
    /// Kept after listening.
    Saved,
    /// Deleted by its owner; the Twilio recording is being deleted.
    Deleting,
}

impl MessageState {
    fn as_str(self) -> &'static str {
        match self {
            MessageState::New => "new",
            MessageState::Saved => "saved",
            MessageState::Deleting => "deleting",
        }
    }

    fn parse(text: &str) -> Option<MessageState> {
        match text {
            "new" => Some(MessageState::New),
            "saved" => Some(MessageState::Saved),
            "deleting" => Some(MessageState::Deleting),
            _ => None,
        }
    }
}

/// A recording callback's facts, as Twilio posts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub mailbox: MailboxId,
    pub recording_sid: String,
    pub recording_url: String,
    pub duration_seconds: i64,
    pub call_sid: String,
    pub caller: String,
    pub received_at: UnixSeconds,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: i64,
    pub mailbox: MailboxId,
    pub recording_sid: String,
    pub recording_url: String,
    pub duration_seconds: i64,
    pub call_sid: String,
    pub caller: String,
    pub received_at: UnixSeconds,
    pub state: MessageState,
}

/// How many messages a mailbox holds (those being deleted are not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub new: u32,
    pub saved: u32,
}

/// A mailbox's greeting: a text to speak, or a recording to play (the default text otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Greeting {
    pub text: Option<String>,
    pub recording_url: Option<String>,
}

const MESSAGE_COLUMNS: &str = "id, mailbox, recording_sid, recording_url, duration_seconds, \
                               call_sid, caller, received_at, state";

impl Store {
    /// Stores a message; `false` when this recording was already stored (a retried callback).
    pub async fn save_message(&self, message: &NewMessage) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        sqlx::query("INSERT INTO mailboxes (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
            .bind(&message.mailbox)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?;
        let inserted = sqlx::query(
            "INSERT INTO messages (mailbox, recording_sid, recording_url, duration_seconds, \
             call_sid, caller, received_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7, 'new') \
             ON CONFLICT (recording_sid) DO NOTHING",
        )
        .bind(&message.mailbox)
        .bind(&message.recording_sid)
        .bind(&message.recording_url)
        .bind(message.duration_seconds)
        .bind(&message.call_sid)
        .bind(&message.caller)
        .bind(message.received_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.failed(e))?
        .rows_affected()
            == 1;
        if inserted {
            self.bump(&mut tx).await?;
        }
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(inserted)
    }

    /// A mailbox's messages, oldest first, new ones before saved ones (the order they are
    /// played in); those being deleted are left out.
    pub async fn messages(&self, mailbox: &str) -> Result<Vec<Message>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE mailbox = $1 AND state <> 'deleting' \
             ORDER BY CASE state WHEN 'new' THEN 0 ELSE 1 END, received_at, id"
        ))
        .bind(mailbox)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        rows.iter().map(|row| self.message_from(row)).collect()
    }

    /// One message by id.
    pub async fn message(&self, id: i64) -> Result<Option<Message>, Error> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        row.as_ref().map(|row| self.message_from(row)).transpose()
    }

    /// Several mailboxes' messages together (a handset listening to more than one number),
    /// in no particular order.
    pub async fn messages_in(&self, mailboxes: &[MailboxId]) -> Result<Vec<Message>, Error> {
        let mut all = Vec::new();
        for mailbox in mailboxes {
            all.extend(self.messages(mailbox).await?);
        }
        Ok(all)
    }

    /// Several mailboxes' counts added up.
    pub async fn counts_in(&self, mailboxes: &[MailboxId]) -> Result<Counts, Error> {
        let mut total = Counts::default();
        for mailbox in mailboxes {
            let counts = self.counts(mailbox).await?;
            total.new = total.new.saturating_add(counts.new);
            total.saved = total.saved.saturating_add(counts.saved);
        }
        Ok(total)
    }

    pub async fn counts(&self, mailbox: &str) -> Result<Counts, Error> {
        let row = sqlx::query(
            "SELECT \
               COALESCE(SUM(CASE state WHEN 'new' THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE state WHEN 'saved' THEN 1 ELSE 0 END), 0) \
             FROM messages WHERE mailbox = $1",
        )
        .bind(mailbox)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        let count = |i: usize| -> Result<u32, Error> {
            let n: i64 = row.try_get(i).map_err(|e| self.failed(e))?;
            u32::try_from(n).map_err(|_| self.corrupt(format!("message count {n}")))
        };
        Ok(Counts {
            new: count(0)?,
            saved: count(1)?,
        })
    }

    /// Keeps a listened-to message; `false` if there is no such message (or it is being
    /// deleted).
    pub async fn mark_saved(&self, id: i64) -> Result<bool, Error> {
        self.move_message(id, MessageState::Saved).await
    }

    /// Takes a message out of its mailbox and returns its recording's SID, for deletion at
    /// Twilio; `None` if there is no such message.
    pub async fn start_deleting(&self, id: i64) -> Result<Option<String>, Error> {
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        let row = sqlx::query(
            "UPDATE messages SET state = 'deleting' WHERE id = $1 RETURNING recording_sid",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.failed(e))?;
        let sid: Option<String> = row
            .map(|row| row.try_get(0).map_err(|e| self.failed(e)))
            .transpose()?;
        if sid.is_some() {
            self.bump(&mut tx).await?;
        }
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(sid)
    }

    /// Forgets a message whose Twilio recording is gone.
    pub async fn forget_message(&self, id: i64) -> Result<(), Error> {
        sqlx::query("DELETE FROM messages WHERE id = $1 AND state = 'deleting'")
            .bind(id)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// Messages whose Twilio deletion has not been confirmed yet (to retry).
    pub async fn messages_being_deleted(&self) -> Result<Vec<Message>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE state = 'deleting' ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        rows.iter().map(|row| self.message_from(row)).collect()
    }

    /// Every mailbox holding a message that is not being deleted (for the admin pages, which
    /// also show mailboxes no handset listens to any more).
    pub async fn mailboxes_with_messages(&self) -> Result<Vec<MailboxId>, Error> {
        let rows = sqlx::query(
            "SELECT DISTINCT mailbox FROM messages WHERE state <> 'deleting' ORDER BY mailbox",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        rows.iter()
            .map(|row| row.try_get(0).map_err(|e| self.failed(e)))
            .collect()
    }

    pub async fn greeting(&self, mailbox: &str) -> Result<Greeting, Error> {
        let row = sqlx::query("SELECT greeting_text, greeting_url FROM mailboxes WHERE id = $1")
            .bind(mailbox)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        let Some(row) = row else {
            return Ok(Greeting::default());
        };
        Ok(Greeting {
            text: row.try_get(0).map_err(|e| self.failed(e))?,
            recording_url: row.try_get(1).map_err(|e| self.failed(e))?,
        })
    }

    pub async fn set_greeting(&self, mailbox: &str, greeting: &Greeting) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO mailboxes (id, greeting_text, greeting_url) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET greeting_text = excluded.greeting_text, \
             greeting_url = excluded.greeting_url",
        )
        .bind(mailbox)
        .bind(greeting.text.as_deref())
        .bind(greeting.recording_url.as_deref())
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|e| self.failed(e))
    }

    async fn move_message(&self, id: i64, to: MessageState) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        let changed =
            sqlx::query("UPDATE messages SET state = $1 WHERE id = $2 AND state <> 'deleting'")
                .bind(to.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.failed(e))?
                .rows_affected()
                == 1;
        if changed {
            self.bump(&mut tx).await?;
        }
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(changed)
    }

    fn message_from(&self, row: &AnyRow) -> Result<Message, Error> {
        let get = |e| self.failed(e);
        let state: String = row.try_get("state").map_err(get)?;
        Ok(Message {
            id: row.try_get("id").map_err(get)?,
            mailbox: row.try_get("mailbox").map_err(get)?,
            recording_sid: row.try_get("recording_sid").map_err(get)?,
            recording_url: row.try_get("recording_url").map_err(get)?,
            duration_seconds: row.try_get("duration_seconds").map_err(get)?,
            call_sid: row.try_get("call_sid").map_err(get)?,
            caller: row.try_get("caller").map_err(get)?,
            received_at: row.try_get("received_at").map_err(get)?,
            state: MessageState::parse(&state)
                .ok_or_else(|| self.corrupt(format!("message state {state:?}")))?,
        })
    }
}
