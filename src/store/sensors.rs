//! Sensors (`extn_alarms`): alarm endpoints that call out through an
//! extension and play a media file, and the devices behind each.

use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;

use super::list::{Filter, ListSpec};
use super::{Backend, Db, Result, on_db};
use crate::domain::timestamp::RowTimes;

pub const COLUMNS: &str = "id, name, description, caller_number, call_duration, extn_id, action, data, media_id, created_at, updated_at, deleted_at";
pub const DEVICE_COLUMNS: &str = "id, extn_alarms_id, device_id, device_name, status, event_name, event_time, call_uuid, created_at, updated_at, deleted_at";

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct Sensor {
    pub id: i64,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub fields: SensorFields,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub times: RowTimes,
}

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct SensorFields {
    pub name: String,
    pub description: String,
    pub caller_number: String,
    pub call_duration: String,
    pub extn_id: i64,
    pub action: String,
    /// JSON `{"media_id","media_path","media_type"}`.
    pub data: String,
    #[serde(skip)]
    pub media_id: i64,
}

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct SensorDevice {
    pub id: i64,
    pub extn_alarms_id: i64,
    pub device_id: String,
    pub device_name: String,
    pub status: String,
    pub event_name: String,
    pub event_time: String,
    pub call_uuid: String,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub times: RowTimes,
}

impl Db {
    pub async fn sensor(&self, id: i64) -> Result<Option<Sensor>> {
        let sql = format!("SELECT {COLUMNS} FROM extn_alarms WHERE id = $1 AND deleted_at IS NULL");
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await)
    }

    pub async fn insert_sensor(&self, f: &SensorFields, now: OffsetDateTime) -> Result<i64> {
        on_db!(self, pool => sqlx::query_scalar(
            "INSERT INTO extn_alarms (name, description, caller_number, call_duration, extn_id, action, data, media_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id")
            .bind(&f.name).bind(&f.description).bind(&f.caller_number).bind(&f.call_duration).bind(f.extn_id)
            .bind(&f.action).bind(&f.data).bind(f.media_id).bind(now).fetch_one(pool).await)
    }

    pub async fn update_sensor(&self, id: i64, f: &SensorFields, now: OffsetDateTime) -> Result<bool> {
        on_db!(self, pool => sqlx::query(
            "UPDATE extn_alarms SET name = $2, description = $3, caller_number = $4, call_duration = $5, extn_id = $6,
                action = $7, data = $8, media_id = $9, updated_at = $10 WHERE id = $1 AND deleted_at IS NULL")
            .bind(id).bind(&f.name).bind(&f.description).bind(&f.caller_number).bind(&f.call_duration).bind(f.extn_id)
            .bind(&f.action).bind(&f.data).bind(f.media_id).bind(now).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    /// Deletes a sensor with its devices.
    pub async fn delete_sensor(&self, id: i64, now: OffsetDateTime) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE extn_alarms SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?;
            sqlx::query("UPDATE extn_alarm_devices SET deleted_at = $2, updated_at = $2 WHERE extn_alarms_id = $1 AND deleted_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Device ids a sensor already has.
    pub async fn sensor_device_ids(&self, sensor_id: i64) -> Result<Vec<String>> {
        on_db!(self, pool => sqlx::query_scalar(
            "SELECT device_id FROM extn_alarm_devices WHERE extn_alarms_id = $1 AND deleted_at IS NULL")
            .bind(sensor_id).fetch_all(pool).await)
    }

    /// Adds devices to a sensor, all or none, with status `init`.
    pub async fn insert_sensor_devices(
        &self,
        sensor_id: i64,
        devices: &[(String, String)],
        now: OffsetDateTime,
    ) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for (device_id, device_name) in devices {
                sqlx::query(
                    "INSERT INTO extn_alarm_devices (extn_alarms_id, device_id, device_name, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $4)")
                    .bind(sensor_id).bind(device_id).bind(device_name).bind(now).execute(&mut *tx).await?;
            }
            Ok(tx.commit().await?)
        })
    }

    pub async fn delete_sensor_device(&self, id: i64, now: OffsetDateTime) -> Result<bool> {
        on_db!(self, pool => sqlx::query(
            "UPDATE extn_alarm_devices SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL")
            .bind(id).bind(now).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    pub async fn extension_exists(&self, id: i64) -> Result<bool> {
        on_db!(self, pool => sqlx::query_scalar("SELECT COUNT(*) > 0 FROM extensions WHERE id = $1 AND deleted_at IS NULL")
            .bind(id).fetch_one(pool).await)
    }
}

pub const LIST: ListSpec = ListSpec {
    columns: COLUMNS,
    from: "extn_alarms",
    always: &["deleted_at IS NULL"],
    filters: &[Filter::Contains("name", "name")],
    sortable: &[("id", "id"), ("name", "name"), ("created_at", "created_at")],
    default_order: "id DESC",
};

pub const DEVICES: ListSpec = ListSpec {
    columns: DEVICE_COLUMNS,
    from: "extn_alarm_devices",
    always: &["deleted_at IS NULL"],
    filters: &[],
    sortable: &[("id", "id"), ("device_id", "device_id")],
    default_order: "id DESC",
};
