//! The operation log: who changed what, from where.

use serde::{Serialize, Serializer};
use sqlx::FromRow;
use time::OffsetDateTime;

use super::Arg;
use super::list::{FieldError, Filter, ListSpec, ListSql};
use super::{Backend, Db, Result, on_db};
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

fn as_string<S: Serializer>(v: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// A log row about to be written, by the store in the transaction of the
/// change it records.
#[derive(Debug, Clone)]
pub struct NewLogEntry {
    pub user_id: i64,
    pub user_name: String,
    pub source_ip: String,
    pub resource: String,
    pub action: &'static str,
    pub summary: Summary,
    /// The change as JSON, secrets removed.
    pub message: String,
}

/// What a log row says the change did; the store fills in what it learns
/// only as it writes (a new row's id, how many rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Summary {
    /// `id 12`: the row the change made or touched.
    Id,
    /// `3 rows`.
    Rows,
    Text(String),
}

impl NewLogEntry {
    /// The summary, given the row the change made or touched and how many.
    pub fn summary_of(&self, id: Option<i64>, rows: usize) -> String {
        match &self.summary {
            Summary::Id => id.map_or_else(String::new, |id| format!("id {id}")),
            // As the operation log has always written it, for scripts that read it.
            Summary::Rows => format!("{rows} rows"),
            Summary::Text(text) => text.clone(),
        }
    }
}

/// Writes `$entry` into the transaction `$tx` of the change it records;
/// `$id` and `$rows` fill its summary. Evaluates to the log row's id.
macro_rules! log_in_tx {
    ($tx:expr, $entry:expr, $id:expr, $rows:expr, $now:expr) => {{
        let entry: &$crate::store::logs::NewLogEntry = $entry;
        let log_id: i64 = sqlx::query_scalar(
            "INSERT INTO logs (user_id, user_name, source_ip, resource, action, summary, message, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(entry.user_id)
        .bind(&entry.user_name)
        .bind(&entry.source_ip)
        .bind(&entry.resource)
        .bind(entry.action)
        .bind(entry.summary_of($id, $rows))
        .bind(&entry.message)
        .bind($now)
        .fetch_one(&mut *$tx)
        .await?;
        log_id
    }};
}
pub(crate) use log_in_tx;

/// Ends the change of row `$id` in `$tx`: when `$done` changed that one
/// row, writes its log row and commits (`Ok(true)`); else the transaction is
/// dropped and nothing changed (`Ok(false)`: the row is not there).
macro_rules! commit_one_row {
    ($tx:ident, $done:expr, $log:expr, $id:expr, $now:expr) => {{
        if $done.rows_affected() != 1 {
            return Ok(false);
        }
        $crate::store::logs::log_in_tx!($tx, $log, Some($id), 1, $now);
        $tx.commit().await?;
        Ok(true)
    }};
}
pub(crate) use commit_one_row;

impl Db {
    /// Writes a log row on its own, for a change whose store function does
    /// not take one.
    pub async fn append_log(&self, e: &NewLogEntry, id: Option<i64>, now: OffsetDateTime) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            log_in_tx!(tx, e, id, 1, now);
            Ok(tx.commit().await?)
        })
    }
}

/// Rows failed logins may add to the log in one hour, one per login name
/// and source network; past them, the hour's other failures share one row.
/// So nobody without a password can add more than this many (and one) an
/// hour, however many names and networks they try.
pub const MAX_FAILED_LOGIN_ROWS_PER_HOUR: i64 = 1_000;

/// A failed login, as the log counts it.
#[derive(Debug, Clone)]
pub struct FailedLogin<'a> {
    /// The login name as typed (cut to a bounded length).
    pub login: &'a str,
    /// Its source network (`198.51.100.0/24`, `2001:db8:1:2::/64`).
    pub network: &'a str,
    /// Why it failed: wrong credentials, or a lock.
    pub reason: &'a str,
}

impl Db {
    /// Counts a failed login on its row for this hour, login name and
    /// network, adding the row on the first failure; past
    /// `MAX_FAILED_LOGIN_ROWS_PER_HOUR` rows this hour, on the hour's shared
    /// row.
    pub async fn count_failed_login(&self, failed: &FailedLogin<'_>, now: OffsetDateTime) -> Result<()> {
        let hour = now
            .replace_minute(0)
            .and_then(|t| t.replace_second(0))
            .and_then(|t| t.replace_nanosecond(0))
            .unwrap_or(now);
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let find = |login: String, network: String| {
                sqlx::query_as::<_, (i64, i64)>(
                    "SELECT log_id, attempts FROM failed_login_rows WHERE hour = $1 AND login = $2 AND network = $3")
                    .bind(hour).bind(login).bind(network)
            };
            let mut key = (failed.login.to_string(), failed.network.to_string());
            let mut row = find(key.0.clone(), key.1.clone()).fetch_optional(&mut *tx).await?;
            if row.is_none() {
                let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM failed_login_rows WHERE hour = $1")
                    .bind(hour).fetch_one(&mut *tx).await?;
                if rows >= MAX_FAILED_LOGIN_ROWS_PER_HOUR {
                    // The hour's shared row: no login name, every network.
                    key = (String::new(), "*".into());
                    row = find(key.0.clone(), key.1.clone()).fetch_optional(&mut *tx).await?;
                }
            }
            let shared = key.1 == "*";
            let summary = |attempts: i64| {
                let plural = if attempts == 1 { "" } else { "s" };
                if shared {
                    format!("login failed: {attempts} more attempt{plural} this hour, from names and networks past the hour's {MAX_FAILED_LOGIN_ROWS_PER_HOUR} rows")
                } else {
                    format!("login failed: {attempts} attempt{plural} this hour ({})", failed.reason)
                }
            };
            match row {
                Some((log_id, attempts)) => {
                    sqlx::query("UPDATE failed_login_rows SET attempts = $4 WHERE hour = $1 AND login = $2 AND network = $3")
                        .bind(hour).bind(&key.0).bind(&key.1).bind(attempts + 1).execute(&mut *tx).await?;
                    sqlx::query("UPDATE logs SET summary = $2 WHERE id = $1")
                        .bind(log_id).bind(summary(attempts + 1)).execute(&mut *tx).await?;
                }
                None => {
                    let log_id: i64 = sqlx::query_scalar(
                        "INSERT INTO logs (user_id, user_name, source_ip, resource, action, summary, message, created_at)
                         VALUES (0, $1, $2, 'sessions', 'LOGIN', $3, '{}', $4) RETURNING id")
                        .bind(&key.0).bind(&key.1).bind(summary(1)).bind(now).fetch_one(&mut *tx).await?;
                    sqlx::query("INSERT INTO failed_login_rows (hour, login, network, log_id, attempts) VALUES ($1, $2, $3, $4, 1)")
                        .bind(hour).bind(&key.0).bind(&key.1).bind(log_id).execute(&mut *tx).await?;
                }
            }
            Ok(tx.commit().await?)
        })
    }

    /// Deletes log rows older than `before` and, past `max_rows`, the
    /// oldest; returns how many went.
    pub async fn prune_logs(&self, before: OffsetDateTime, max_rows: i64) -> Result<u64> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let old = sqlx::query("DELETE FROM logs WHERE created_at < $1")
                .bind(before).execute(&mut *tx).await?.rows_affected();
            let over = sqlx::query(
                "DELETE FROM logs WHERE id <= (SELECT id FROM logs ORDER BY id DESC LIMIT 1 OFFSET $1)")
                .bind(max_rows).execute(&mut *tx).await?.rows_affected();
            // Counts of past hours are done with.
            sqlx::query("DELETE FROM failed_login_rows WHERE hour < $1")
                .bind(OffsetDateTime::now_utc() - time::Duration::hours(2)).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(old + over)
        })
    }
}

pub const LIST: ListSpec = ListSpec {
    columns: COLUMNS,
    from: "logs",
    always: &[],
    filters: &[
        Filter::Custom("operator", operator_filter, None),
        Filter::EqualsIgnoreCase("resource", "resource"),
        Filter::EqualsIgnoreCase("action", "action"),
        Filter::From("startDate", "created_at"),
        Filter::Until("endDate", "created_at"),
    ],
    sortable: &[
        ("id", "id"),
        ("created_at", "created_at"),
        ("user_name", "user_name"),
        ("resource", "resource"),
        ("action", "action"),
    ],
    default_order: "id DESC",
};

/// The operator as a user's login or display name, ignoring case.
pub fn operator_filter(value: &str, sql: &mut ListSql) -> std::result::Result<(), FieldError> {
    sql.push(
        |p| {
            format!(
                "(lower(user_name) = lower({p}) OR user_id IN (SELECT id FROM users WHERE lower(login) = lower({p})))"
            )
        },
        Arg::Text(value.to_string()),
    );
    Ok(())
}

impl Db {
    /// The newest changes the log records to device record `id`, newest
    /// first: those whose summary names it, and the one that created it
    /// (an import's summary counts its rows instead). A push's summary
    /// names its job, so pushes are left out.
    pub async fn device_changes(&self, id: i64, limit: i64) -> Result<Vec<LogEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM logs
             WHERE (resource = 'device_provisions' AND summary = $1 AND action <> 'RESYNC')
                OR id = (SELECT created_log_id FROM device_provisions WHERE id = $2)
             ORDER BY id DESC LIMIT $3"
        );
        on_db!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(format!("id {id}")).bind(id).bind(limit).fetch_all(pool).await)
    }
}
