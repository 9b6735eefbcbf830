//! XSwitch's dicts: small realm/key/value tables (settings, enumerations).

use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;

use super::logs::{NewLogEntry, commit_one_row, log_in_tx};
use super::{Backend, Db, Result, on_db};
use crate::domain::timestamp::RowTimes;

pub const COLUMNS: &str = "id, realm, k, v, d, o, created_at, updated_at, deleted_at";

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct Dict {
    pub id: i64,
    pub realm: String,
    pub k: String,
    pub v: String,
    /// Description.
    pub d: String,
    /// Order within the realm.
    pub o: i64,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub times: RowTimes,
}

/// The fields of a dict row that clients write.
#[derive(Debug, Clone)]
pub struct DictFields {
    pub realm: String,
    pub k: String,
    pub v: String,
    pub d: String,
    pub o: i64,
}

impl Db {
    pub async fn dicts(&self, realm: Option<&str>) -> Result<Vec<Dict>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM dicts WHERE deleted_at IS NULL AND ($1 = '' OR realm = $1) ORDER BY realm, o, id"
        );
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(realm.unwrap_or("")).fetch_all(pool).await)
    }

    pub async fn dict(&self, id: i64) -> Result<Option<Dict>> {
        let sql = format!("SELECT {COLUMNS} FROM dicts WHERE id = $1 AND deleted_at IS NULL");
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await)
    }

    pub async fn insert_dict(&self, f: &DictFields, now: OffsetDateTime, log: &NewLogEntry) -> Result<i64> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO dicts (realm, k, v, d, o, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id")
                .bind(&f.realm).bind(&f.k).bind(&f.v).bind(&f.d).bind(f.o).bind(now).fetch_one(&mut *tx).await?;
            log_in_tx!(tx, log, Some(id), 1, now);
            tx.commit().await?;
            Ok(id)
        })
    }

    pub async fn update_dict(&self, id: i64, f: &DictFields, now: OffsetDateTime, log: &NewLogEntry) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(
                "UPDATE dicts SET realm = $2, k = $3, v = $4, d = $5, o = $6, updated_at = $7 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(&f.realm).bind(&f.k).bind(&f.v).bind(&f.d).bind(f.o).bind(now)
                .execute(&mut *tx).await?;
            commit_one_row!(tx, done, log, id, now)
        })
    }

    pub async fn delete_dict(&self, id: i64, now: OffsetDateTime, log: &NewLogEntry) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE dicts SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?;
            commit_one_row!(tx, done, log, id, now)
        })
    }
}
