//! What phones fetched: the last fetch of each known phone, each known
//! phone's recent fetches (its timeline), and phones that asked for a
//! configuration nobody has registered yet.

use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;

use super::{Backend, Db, Result, on_db};
use crate::domain::timestamp;

/// The most unknown phones kept; older ones are dropped, so a sweep cannot fill the database.
pub const MAX_PENDING: i64 = 1000;

/// A pending phone leaves the list once a live record claims its MAC.
pub const UNCLAIMED: &str = "mac NOT IN (SELECT mac FROM device_provisions WHERE deleted_at IS NULL)";

pub const PENDING_COLUMNS: &str = "mac, vendor, model, ip, user_agent, first_seen, last_seen, count, reason";

/// A known phone's latest fetch.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub mac: String,
    pub at: OffsetDateTime,
    pub ip: String,
    pub user_agent: String,
    pub firmware: String,
    pub file: String,
}

/// One fetch by a known phone, as its timeline shows it.
#[derive(Debug, Clone, FromRow)]
pub struct FetchEvent {
    pub mac: String,
    pub at: OffsetDateTime,
    pub file: String,
    pub ip: String,
    pub user_agent: String,
    pub firmware: String,
    /// `served`, `304`, or the refusal's status.
    pub outcome: String,
    /// Why it was refused; empty when served.
    pub reason: String,
    /// The served file's version (`SecretBox::file_version`); empty if refused.
    pub version: String,
}

/// The newest served fetches kept per phone.
pub const EVENTS_PER_PHONE: i64 = 100;
/// The newest refused fetches kept per phone, apart from those served.
pub const REFUSALS_PER_PHONE: i64 = 20;
/// The most fetches kept in all: a fleet of 10,000 phones at their full
/// history. Past it the oldest go, whoever's they are.
pub const MAX_EVENTS: i64 = 1_000_000;
/// How long a fetch is kept.
pub const EVENT_DAYS: i64 = 30;

/// An unknown phone, as it asked; `count` fetches since the last write.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct PendingPhone {
    pub mac: String,
    /// Guessed from the User-Agent, else the MAC's prefix; "" if neither says.
    pub vendor: String,
    pub model: String,
    pub ip: String,
    pub user_agent: String,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String)]
    pub first_seen: OffsetDateTime,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String)]
    pub last_seen: OffsetDateTime,
    pub count: i64,
    /// Why its last fetch got no file: its MAC has no record, and whether
    /// its network was made to wait.
    pub reason: String,
}

impl Db {
    /// Unknown phones that asked and that no live record claims.
    pub async fn pending_phone_count(&self) -> Result<i64> {
        let sql = format!("SELECT count(*) FROM pending_phones WHERE {UNCLAIMED}");
        on_db!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).fetch_one(pool).await)
    }

    /// Writes a batch of fetches in one transaction; each phone with new
    /// events keeps only its newest `EVENTS_PER_PHONE` served fetches and
    /// `REFUSALS_PER_PHONE` refusals.
    pub async fn record_fetches(
        &self,
        fetched: &[Fetched],
        events: &[FetchEvent],
        pending: &[PendingPhone],
    ) -> Result<()> {
        if fetched.is_empty() && events.is_empty() && pending.is_empty() {
            return Ok(());
        }
        let mut phones: Vec<&str> = events.iter().map(|e| e.mac.as_str()).collect();
        phones.sort_unstable();
        phones.dedup();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for f in fetched {
                sqlx::query(
                    "UPDATE device_provisions SET last_provisioned_at = $2, last_ip = $3, last_user_agent = $4, firmware = $5, last_file = $6
                     WHERE mac = $1 AND deleted_at IS NULL")
                    .bind(&f.mac).bind(f.at).bind(&f.ip).bind(&f.user_agent).bind(&f.firmware).bind(&f.file)
                    .execute(&mut *tx).await?;
            }
            for e in events {
                sqlx::query(
                    "INSERT INTO fetch_events (mac, at, file, ip, user_agent, firmware, outcome, reason, version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                    .bind(&e.mac).bind(e.at).bind(&e.file).bind(&e.ip).bind(&e.user_agent).bind(&e.firmware)
                    .bind(&e.outcome).bind(&e.reason).bind(&e.version)
                    .execute(&mut *tx).await?;
            }
            // Served fetches and refusals are kept apart, so refusals (which
            // anyone who knows the MAC can cause) only push out refusals.
            for mac in phones {
                for (refused, keep) in [(false, EVENTS_PER_PHONE), (true, REFUSALS_PER_PHONE)] {
                    sqlx::query(
                        "DELETE FROM fetch_events WHERE mac = $1 AND (reason <> '') = $3 AND id < (
                            SELECT id FROM fetch_events WHERE mac = $1 AND (reason <> '') = $3 ORDER BY id DESC LIMIT 1 OFFSET $2)")
                        .bind(mac).bind(keep - 1).bind(refused).execute(&mut *tx).await?;
                }
            }
            for p in pending {
                sqlx::query(
                    "INSERT INTO pending_phones (mac, vendor, model, ip, user_agent, first_seen, last_seen, count, reason)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (mac) DO UPDATE SET vendor = excluded.vendor, model = excluded.model, ip = excluded.ip,
                        user_agent = excluded.user_agent, last_seen = excluded.last_seen, count = pending_phones.count + excluded.count,
                        reason = excluded.reason")
                    .bind(&p.mac).bind(&p.vendor).bind(&p.model).bind(&p.ip).bind(&p.user_agent).bind(p.first_seen).bind(p.last_seen).bind(p.count)
                    .bind(&p.reason)
                    .execute(&mut *tx).await?;
            }
            if !pending.is_empty() {
                sqlx::query("DELETE FROM pending_phones WHERE mac NOT IN (SELECT mac FROM pending_phones ORDER BY last_seen DESC, mac LIMIT $1)")
                    .bind(MAX_PENDING).execute(&mut *tx).await?;
            }
            Ok(tx.commit().await?)
        })
    }
}

impl Db {
    /// Drops fetches older than `before`, and those more than `keep`
    /// (`MAX_EVENTS`) behind the newest; a trimmed phone's gaps leave fewer.
    pub async fn trim_fetch_events(&self, before: OffsetDateTime, keep: i64) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM fetch_events WHERE at < $1").bind(before).execute(&mut *tx).await?;
            // By id, which only grows: no scan of the rows kept.
            sqlx::query("DELETE FROM fetch_events WHERE id <= (SELECT MAX(id) FROM fetch_events) - $1")
                .bind(keep).execute(&mut *tx).await?;
            Ok(tx.commit().await?)
        })
    }

    /// A phone's newest fetches, newest first.
    pub async fn fetch_events(&self, mac: &str, limit: i64) -> Result<Vec<FetchEvent>> {
        on_db!(self, pool => sqlx::query_as(
            "SELECT mac, at, file, ip, user_agent, firmware, outcome, reason, version
             FROM fetch_events WHERE mac = $1 ORDER BY id DESC LIMIT $2")
            .bind(mac).bind(limit).fetch_all(pool).await)
    }
}
