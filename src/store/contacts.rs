//! Contacts: names and numbers the company directory lists besides the
//! extensions.

use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;

use super::list::{Filter, ListSpec};
use super::logs::{NewLogEntry, commit_one_row, log_in_tx};
use super::{Backend, Db, Result, on_db};
use crate::domain::timestamp::RowTimes;

const COLUMNS: &str = "id, name, number, created_at, updated_at, deleted_at";

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: i64,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub fields: ContactFields,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub times: RowTimes,
}

/// The fields an administrator writes.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, Serialize, utoipa::ToSchema)]
pub struct ContactFields {
    pub name: String,
    pub number: String,
}

impl Db {
    pub async fn contact(&self, id: i64) -> Result<Option<Contact>> {
        let sql = format!("SELECT {COLUMNS} FROM contacts WHERE id = $1 AND deleted_at IS NULL");
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await)
    }

    /// How many live contacts the site has.
    pub async fn contact_count(&self) -> Result<i64> {
        on_db!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM contacts WHERE deleted_at IS NULL")
            .fetch_one(pool).await)
    }

    /// Inserts all or none, with the log row; returns the new rows in order.
    pub async fn insert_contacts(
        &self,
        rows: Vec<ContactFields>,
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<Vec<Contact>> {
        let ids = on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut ids = Vec::with_capacity(rows.len());
            for f in &rows {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO contacts (name, number, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id")
                    .bind(&f.name).bind(&f.number).bind(now).fetch_one(&mut *tx).await?;
                ids.push(id);
            }
            log_in_tx!(tx, log, ids.first().copied(), ids.len(), now);
            tx.commit().await?;
            ids
        });
        Ok(rows
            .into_iter()
            .zip(ids)
            .map(|(fields, id)| Contact {
                id,
                fields,
                times: RowTimes::new(now),
            })
            .collect())
    }

    /// Writes both fields; returns false when the contact is gone.
    pub async fn update_contact(
        &self,
        id: i64,
        f: &ContactFields,
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE contacts SET name = $2, number = $3, updated_at = $4 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(&f.name).bind(&f.number).bind(now).execute(&mut *tx).await?;
            commit_one_row!(tx, done, log, id, now)
        })
    }

    pub async fn delete_contact(&self, id: i64, now: OffsetDateTime, log: &NewLogEntry) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE contacts SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?;
            commit_one_row!(tx, done, log, id, now)
        })
    }
}

pub const LIST: ListSpec = ListSpec {
    columns: COLUMNS,
    from: "contacts",
    always: &["deleted_at IS NULL"],
    filters: &[Filter::Contains("name", "name"), Filter::Contains("number", "number")],
    sortable: &[
        ("id", "id"),
        ("name", "name"),
        ("number", "number"),
        ("created_at", "created_at"),
        ("updated_at", "updated_at"),
    ],
    default_order: "id",
};
