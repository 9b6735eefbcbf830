//! What phones fetched: the last fetch of each known phone, and phones that
//! asked for a configuration nobody has registered yet.

use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;

use super::{Backend, Db, Result, on_db};
use crate::domain::timestamp;

/// The most unknown phones kept; older ones are dropped, so a sweep cannot fill the database.
pub const MAX_PENDING: i64 = 1000;

/// A pending phone leaves the list once a live record claims its MAC.
pub const UNCLAIMED: &str = "mac NOT IN (SELECT mac FROM device_provisions WHERE deleted_at IS NULL)";

pub const PENDING_COLUMNS: &str = "mac, vendor, model, ip, user_agent, first_seen, last_seen, count";

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
}

impl Db {
    /// Unknown phones that asked and that no live record claims.
    pub async fn pending_phone_count(&self) -> Result<i64> {
        let sql = format!("SELECT count(*) FROM pending_phones WHERE {UNCLAIMED}");
        on_db!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).fetch_one(pool).await)
    }

    /// Writes a batch of fetches in one transaction.
    pub async fn record_fetches(&self, fetched: &[Fetched], pending: &[PendingPhone]) -> Result<()> {
        if fetched.is_empty() && pending.is_empty() {
            return Ok(());
        }
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for f in fetched {
                sqlx::query(
                    "UPDATE device_provisions SET last_provisioned_at = $2, last_ip = $3, last_user_agent = $4, firmware = $5, last_file = $6
                     WHERE mac = $1 AND deleted_at IS NULL")
                    .bind(&f.mac).bind(f.at).bind(&f.ip).bind(&f.user_agent).bind(&f.firmware).bind(&f.file)
                    .execute(&mut *tx).await?;
            }
            for p in pending {
                sqlx::query(
                    "INSERT INTO pending_phones (mac, vendor, model, ip, user_agent, first_seen, last_seen, count)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (mac) DO UPDATE SET vendor = excluded.vendor, model = excluded.model, ip = excluded.ip,
                        user_agent = excluded.user_agent, last_seen = excluded.last_seen, count = pending_phones.count + excluded.count")
                    .bind(&p.mac).bind(&p.vendor).bind(&p.model).bind(&p.ip).bind(&p.user_agent).bind(p.first_seen).bind(p.last_seen).bind(p.count)
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
