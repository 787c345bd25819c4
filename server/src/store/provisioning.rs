//! What the server provisions to each handset ([`crate::provisioning`]): phone settings,
//! contacts and speed dials. Every change moves the change counter, so that the handset's
//! event stream sends `event: config` within a poll.

use std::collections::HashMap;

use sqlx::Row;

use super::{Store, UnixSeconds};
use crate::error::Error;
use crate::provisioning::{Contact, Provisioning, SpeedDials, Volumes};

impl Store {
    /// A handset's phone settings (all unset if the server never set any).
    pub async fn provisioning(&self, device_id: &str) -> Result<Provisioning, Error> {
        let row = sqlx::query(
            "SELECT ring_cadence, digit_map, country, volume_ring, volume_earpiece, \
             volume_speaker, codec_preferences, edges FROM handset_provisioning WHERE device_id = $1",
        )
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        let Some(row) = row else {
            return Ok(Provisioning::default());
        };
        let get = |e| self.failed(e);
        let volume = |i: usize| -> Result<Option<u8>, Error> {
            let v: Option<i64> = row.try_get(i).map_err(get)?;
            v.map(|v| u8::try_from(v).map_err(|_| self.corrupt(format!("volume {v}"))))
                .transpose()
        };
        let list = |i: usize| -> Result<Option<Vec<String>>, Error> {
            let v: Option<String> = row.try_get(i).map_err(get)?;
            Ok(v.map(|v| v.split_whitespace().map(str::to_string).collect()))
        };
        Ok(Provisioning {
            ring_cadence: row.try_get(0).map_err(get)?,
            digit_map: row.try_get(1).map_err(get)?,
            country: row.try_get(2).map_err(get)?,
            volumes: Volumes {
                ring: volume(3)?,
                earpiece: volume(4)?,
                speaker: volume(5)?,
            },
            codec_preferences: list(6)?,
            edges: list(7)?,
        })
    }

    pub async fn set_provisioning(&self, device_id: &str, p: &Provisioning) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        let list = |l: &Option<Vec<String>>| l.as_ref().map(|l| l.join(" "));
        sqlx::query(
            "INSERT INTO handset_provisioning (device_id, ring_cadence, digit_map, country, \
               volume_ring, volume_earpiece, volume_speaker, codec_preferences, edges) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (device_id) DO UPDATE SET ring_cadence = excluded.ring_cadence, \
               digit_map = excluded.digit_map, country = excluded.country, \
               volume_ring = excluded.volume_ring, volume_earpiece = excluded.volume_earpiece, \
               volume_speaker = excluded.volume_speaker, \
               codec_preferences = excluded.codec_preferences, edges = excluded.edges",
        )
        .bind(device_id)
        .bind(p.ring_cadence.as_deref())
        .bind(p.digit_map.as_deref())
        .bind(p.country.as_deref())
        .bind(p.volumes.ring.map(i64::from))
        .bind(p.volumes.earpiece.map(i64::from))
        .bind(p.volumes.speaker.map(i64::from))
        .bind(list(&p.codec_preferences))
        .bind(list(&p.edges))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.failed(e))?;
        self.bump(&mut tx).await?;
        tx.commit().await.map_err(|e| self.failed(e))
    }

    /// A handset's contacts, in order.
    pub async fn contacts(&self, device_id: &str) -> Result<Vec<Contact>, Error> {
        let rows = sqlx::query(
            "SELECT name, number FROM handset_contacts WHERE device_id = $1 ORDER BY position",
        )
        .bind(device_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        let get = |e| self.failed(e);
        rows.iter()
            .map(|row| {
                Ok(Contact {
                    name: row.try_get(0).map_err(get)?,
                    number: row.try_get(1).map_err(get)?,
                })
            })
            .collect()
    }

    /// Replaces a handset's contacts.
    pub async fn set_contacts(&self, device_id: &str, contacts: &[Contact]) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        sqlx::query("DELETE FROM handset_contacts WHERE device_id = $1")
            .bind(device_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?;
        for (position, contact) in (0_i64..).zip(contacts) {
            sqlx::query(
                "INSERT INTO handset_contacts (device_id, position, name, number) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(device_id)
            .bind(position)
            .bind(&contact.name)
            .bind(&contact.number)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?;
        }
        self.bump(&mut tx).await?;
        tx.commit().await.map_err(|e| self.failed(e))
    }

    pub async fn speed_dials(&self, device_id: &str) -> Result<SpeedDials, Error> {
        let rows = sqlx::query(
            "SELECT digit, number FROM handset_speed_dials WHERE device_id = $1 ORDER BY digit",
        )
        .bind(device_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        let get = |e| self.failed(e);
        rows.iter()
            .map(|row| Ok((row.try_get(0).map_err(get)?, row.try_get(1).map_err(get)?)))
            .collect()
    }

    /// Replaces a handset's speed dials.
    pub async fn set_speed_dials(&self, device_id: &str, dials: &SpeedDials) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        sqlx::query("DELETE FROM handset_speed_dials WHERE device_id = $1")
            .bind(device_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?;
        for (digit, number) in dials {
            sqlx::query(
                "INSERT INTO handset_speed_dials (device_id, digit, number) VALUES ($1, $2, $3)",
            )
            .bind(device_id)
            .bind(digit)
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?;
        }
        self.bump(&mut tx).await?;
        tx.commit().await.map_err(|e| self.failed(e))
    }

    /// Notes that a handset's event stream is open now (through any instance).
    pub async fn stream_seen(&self, device_id: &str, now: UnixSeconds) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO handset_streams (device_id, seen_at) VALUES ($1, $2) \
             ON CONFLICT (device_id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(device_id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|e| self.failed(e))
    }

    /// When each handset's event stream was last seen open, by device id.
    pub async fn streams_seen(&self) -> Result<HashMap<String, UnixSeconds>, Error> {
        let rows = sqlx::query("SELECT device_id, seen_at FROM handset_streams")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        let get = |e| self.failed(e);
        rows.iter()
            .map(|row| Ok((row.try_get(0).map_err(get)?, row.try_get(1).map_err(get)?)))
            .collect()
    }
}
