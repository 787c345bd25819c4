//! The call log's rows ([`crate::call_log`]): one per call, improved by each leg's callback,
//! searched and paged newest first.

use sqlx::Row;

use super::{Store, UnixSeconds};
use crate::call_log::{CallRecord, Direction, rank};
use crate::error::Error;

/// A logged call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedCall {
    pub id: i64,
    pub record: CallRecord,
}

/// What to look for: text in the numbers or the answering target, or calls of these handsets
/// (whose names matched the text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallSearch {
    pub text: Option<String>,
    pub handsets: Vec<String>,
}

impl Store {
    /// Stores a leg's end: a new call, or a better ending of a call already logged (a retried
    /// callback changes nothing).
    pub async fn log_call(&self, call: &CallRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO call_log (call_sid, started_at, direction, from_number, to_number, \
               handset, answered_by, duration_seconds, result, result_rank) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (call_sid) DO UPDATE SET started_at = excluded.started_at, \
               handset = COALESCE(excluded.handset, call_log.handset), \
               answered_by = excluded.answered_by, duration_seconds = excluded.duration_seconds, \
               result = excluded.result, result_rank = excluded.result_rank \
             WHERE excluded.result_rank > call_log.result_rank",
        )
        .bind(&call.call_sid)
        .bind(call.started_at)
        .bind(call.direction.as_str())
        .bind(&call.from)
        .bind(&call.to)
        .bind(call.handset.as_deref())
        .bind(call.answered_by.as_deref())
        .bind(call.duration_seconds)
        .bind(&call.result)
        .bind(rank(&call.result))
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|e| self.failed(e))
    }

    /// Calls matching `search`, newest first: at most `limit` from `offset`.
    pub async fn calls(
        &self,
        search: &CallSearch,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<LoggedCall>, Error> {
        let mut conditions = Vec::new();
        let mut next = 1;
        let pattern = search.text.as_ref().map(|t| {
            let escaped = t
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        if pattern.is_some() {
            let p = format!("${next}");
            next += 1;
            let mut any: Vec<String> = ["from_number", "to_number", "answered_by", "handset"]
                .iter()
                .map(|c| format!("LOWER(COALESCE({c}, '')) LIKE {p} ESCAPE '\\'"))
                .collect();
            if !search.handsets.is_empty() {
                let list: Vec<String> = (0..search.handsets.len())
                    .map(|i| format!("${}", next + i))
                    .collect();
                next += search.handsets.len();
                let list = list.join(", ");
                any.push(format!("handset IN ({list})"));
                any.push(format!("answered_by IN ({list})"));
            }
            conditions.push(format!("({})", any.join(" OR ")));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT id, call_sid, started_at, direction, from_number, to_number, handset, \
             answered_by, duration_seconds, result FROM call_log {filter} \
             ORDER BY started_at DESC, id DESC LIMIT ${next} OFFSET ${}",
            next + 1
        );
        let mut query = sqlx::query(&sql);
        if let Some(pattern) = &pattern {
            query = query.bind(pattern.clone());
            for id in &search.handsets {
                query = query.bind(id.clone());
            }
        }
        let rows = query
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        let get = |e| self.failed(e);
        rows.iter()
            .map(|row| {
                let direction: String = row.try_get(3).map_err(get)?;
                Ok(LoggedCall {
                    id: row.try_get(0).map_err(get)?,
                    record: CallRecord {
                        call_sid: row.try_get(1).map_err(get)?,
                        started_at: row.try_get::<UnixSeconds, _>(2).map_err(get)?,
                        direction: Direction::parse(&direction)
                            .ok_or_else(|| self.corrupt(format!("call direction {direction:?}")))?,
                        from: row.try_get(4).map_err(get)?,
                        to: row.try_get(5).map_err(get)?,
                        handset: row.try_get(6).map_err(get)?,
                        answered_by: row.try_get(7).map_err(get)?,
                        duration_seconds: row.try_get(8).map_err(get)?,
                        result: row.try_get(9).map_err(get)?,
                    },
                })
            })
            .collect()
    }
}
