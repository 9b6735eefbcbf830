//! Key templates: named sets of programmable keys many devices share, and
//! each device's own keys.

use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;

use super::list::{Filter, ListSpec};
use super::logs::{NewLogEntry, commit_one_row, log_in_tx};
use super::{Backend, Db, Result, on_db};
use crate::domain::timestamp::RowTimes;

const COLUMNS: &str = "id, name, keys, created_at, updated_at, deleted_at";

/// A template as stored: its keys are a JSON array (`domain::keys`).
#[derive(Debug, Clone, FromRow)]
pub struct KeyTemplateRow {
    pub id: i64,
    pub name: String,
    pub keys: String,
    #[sqlx(flatten)]
    pub times: RowTimes,
}

/// A device's keys as stored, with what decides which keys it can have.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct DeviceKeysRow {
    pub id: i64,
    pub mac: String,
    pub vendor_code: String,
    /// The model.
    #[sqlx(rename = "type")]
    pub model: String,
    pub keys: String,
    pub key_template_id: Option<i64>,
    /// How many lines it has.
    pub lines: i64,
    /// Every slot its phone was given a key in (JSON).
    pub shown_key_slots: String,
}

const DEVICE_KEYS_COLUMNS: &str = "id, mac, vendor_code, type, keys, key_template_id, shown_key_slots,
    (SELECT COUNT(*) FROM device_provision_lines l WHERE l.device_id = device_provisions.id) AS lines";

/// Sets the slots shown of a template's devices, in the transaction that
/// changes the template.
macro_rules! set_shown_slots {
    ($tx:ident, $shown:expr, $template:expr) => {
        for (device, slots) in $shown {
            sqlx::query("UPDATE device_provisions SET shown_key_slots = $2 WHERE id = $1 AND key_template_id = $3")
                .bind(device)
                .bind(slots)
                .bind($template)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

impl Db {
    pub async fn key_template(&self, id: i64) -> Result<Option<KeyTemplateRow>> {
        let sql = format!("SELECT {COLUMNS} FROM key_templates WHERE id = $1 AND deleted_at IS NULL");
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await)
    }

    /// How many live templates the site has.
    pub async fn key_template_count(&self) -> Result<i64> {
        on_db!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM key_templates WHERE deleted_at IS NULL")
            .fetch_one(pool).await)
    }

    pub async fn insert_key_template(
        &self,
        name: &str,
        keys: &str,
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<i64> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO key_templates (name, keys, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id")
                .bind(name).bind(keys).bind(now).fetch_one(&mut *tx).await?;
            log_in_tx!(tx, log, Some(id), 1, now);
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Rewrites a template, and the slots shown of its devices (id, JSON);
    /// false when it is gone.
    pub async fn update_key_template(
        &self,
        id: i64,
        name: &str,
        keys: &str,
        shown: &[(i64, String)],
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE key_templates SET name = $2, keys = $3, updated_at = $4 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(name).bind(keys).bind(now).execute(&mut *tx).await?;
            set_shown_slots!(tx, shown, id);
            commit_one_row!(tx, done, log, id, now)
        })
    }

    /// Deletes a template, with the slots shown of its devices (id, JSON);
    /// the devices that had it keep their own keys only.
    pub async fn delete_key_template(
        &self,
        id: i64,
        shown: &[(i64, String)],
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE key_templates SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?;
            set_shown_slots!(tx, shown, id);
            sqlx::query("UPDATE device_provisions SET key_template_id = NULL, updated_at = $2 WHERE key_template_id = $1")
                .bind(id).bind(now).execute(&mut *tx).await?;
            commit_one_row!(tx, done, log, id, now)
        })
    }

    pub async fn device_keys(&self, id: i64) -> Result<Option<DeviceKeysRow>> {
        let sql = format!("SELECT {DEVICE_KEYS_COLUMNS} FROM device_provisions WHERE id = $1 AND deleted_at IS NULL");
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await)
    }

    /// The live devices a template is given to.
    pub async fn devices_with_key_template(&self, template_id: i64) -> Result<Vec<DeviceKeysRow>> {
        let sql = format!(
            "SELECT {DEVICE_KEYS_COLUMNS} FROM device_provisions WHERE key_template_id = $1 AND deleted_at IS NULL ORDER BY id"
        );
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(template_id).fetch_all(pool).await)
    }

    /// Sets a device's own keys and its template; false when it is gone.
    /// The record counts as changed, so its phone is behind until it fetches.
    pub async fn set_device_keys(
        &self,
        id: i64,
        keys: &str,
        template_id: Option<i64>,
        shown: &str,
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(
                "UPDATE device_provisions SET keys = $2, key_template_id = $3, shown_key_slots = $4, updated_at = $5
                 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(keys).bind(template_id).bind(shown).bind(now).execute(&mut *tx).await?;
            commit_one_row!(tx, done, log, id, now)
        })
    }
}

pub const LIST: ListSpec = ListSpec {
    columns: COLUMNS,
    from: "key_templates",
    always: &["deleted_at IS NULL"],
    filters: &[Filter::Contains("name", "name")],
    sortable: &[
        ("id", "id"),
        ("name", "name"),
        ("created_at", "created_at"),
        ("updated_at", "updated_at"),
    ],
    default_order: "id",
};
