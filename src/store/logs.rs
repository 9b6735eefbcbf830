//! The operation log: who changed what, from where.

use serde::{Serialize, Serializer};
use sqlx::FromRow;
use time::OffsetDateTime;

use super::{Db, on_db};
use crate::domain::timestamp;

pub const COLUMNS: &str = "id, user_id, user_name, source_ip, resource, action, summary, message, created_at";

/// A log row; XSwitch shows its ids as strings.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct LogEntry {
    #[serde(serialize_with = "as_string")]
    #[schema(value_type = String, example = "11")]
    pub id: i64,
    #[serde(serialize_with = "as_string")]
    #[schema(value_type = String, example = "1")]
    pub user_id: i64,
    pub user_name: String,
    pub source_ip: String,
    /// The API resource, e.g. `device_provisions`.
    pub resource: String,
    /// CREATE, UPDATE, DELETE, IMPORT, LOGIN or LOGOUT.
    pub action: String,
    pub summary: String,
    /// The request as JSON, secrets removed.
    pub message: String,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, example = "2020-08-03 11:25:18")]
    pub created_at: OffsetDateTime,
}

fn as_string<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// A log row about to be written.
#[derive(Debug, Clone)]
pub struct NewLogEntry {
    pub user_id: i64,
    pub user_name: String,
    pub source_ip: String,
    pub resource: String,
    pub action: &'static str,
    pub summary: String,
    pub message: String,
}

impl Db {
    pub async fn append_log(&self, e: &NewLogEntry, now: OffsetDateTime) -> sqlx::Result<()> {
        on_db!(self, pool => sqlx::query(
            "INSERT INTO logs (user_id, user_name, source_ip, resource, action, summary, message, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(e.user_id).bind(&e.user_name).bind(&e.source_ip).bind(&e.resource).bind(e.action)
            .bind(&e.summary).bind(&e.message).bind(now)
            .execute(pool).await.map(|_| ()))
    }
}
