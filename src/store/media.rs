//! Media files: uploads, recordings and TTS prompts, their bytes under
//! `<data-dir>/media/`.

use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;

use super::Arg;
use super::list::{FieldError, Filter, ListSpec, ListSql, like_pattern};
use super::{Backend, Db, Result, on_db};
use crate::domain::timestamp::RowTimes;

/// The advisory lock that lets one node sweep old media at a time.
pub const CLEAN_FILE_LOCK: i64 = 0x5_1BB0_C1EA;

pub const COLUMNS: &str = "id, type, name, description, file_name, ext, mime, file_size, channels, sample_rate, bit_rate, duration,
    original_file_name, dir_path, abs_path, rel_path, thumb_path, meta, geo_position, user_id, channel_uuid, processing_flag,
    tts_key, created_at, updated_at, deleted_at";

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct MediaFile {
    pub id: i64,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub fields: MediaFields,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub times: RowTimes,
}

#[derive(Debug, Clone, Default, FromRow, Serialize, utoipa::ToSchema)]
pub struct MediaFields {
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    pub name: String,
    pub description: String,
    pub file_name: String,
    pub ext: String,
    pub mime: String,
    pub file_size: i64,
    pub channels: i64,
    pub sample_rate: i64,
    pub bit_rate: i64,
    /// Seconds.
    pub duration: i64,
    pub original_file_name: String,
    pub dir_path: String,
    pub abs_path: String,
    pub rel_path: String,
    pub thumb_path: String,
    pub meta: String,
    pub geo_position: String,
    pub user_id: i64,
    pub channel_uuid: String,
    pub processing_flag: i64,
    /// Which synthesis a TTS prompt holds; not shown.
    #[serde(skip)]
    pub tts_key: String,
}

impl Db {
    pub async fn media_file(&self, id: i64) -> Result<Option<MediaFile>> {
        let sql = format!("SELECT {COLUMNS} FROM media_files WHERE id = $1 AND deleted_at IS NULL");
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await)
    }

    pub async fn media_file_by_uuid(&self, uuid: &str) -> Result<Option<MediaFile>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM media_files WHERE channel_uuid = $1 AND deleted_at IS NULL ORDER BY id DESC LIMIT 1"
        );
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(uuid).fetch_optional(pool).await)
    }

    /// Inserts all or none; returns the new rows in order.
    pub async fn insert_media_files(&self, rows: &[MediaFields], now: OffsetDateTime) -> Result<Vec<MediaFile>> {
        let ids: Vec<i64> = on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut ids = Vec::with_capacity(rows.len());
            for f in rows {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO media_files (type, name, description, file_name, ext, mime, file_size, channels, sample_rate, bit_rate,
                        duration, original_file_name, dir_path, abs_path, rel_path, thumb_path, meta, geo_position, user_id, channel_uuid,
                        processing_flag, tts_key, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $23)
                     RETURNING id")
                    .bind(&f.kind).bind(&f.name).bind(&f.description).bind(&f.file_name).bind(&f.ext).bind(&f.mime)
                    .bind(f.file_size).bind(f.channels).bind(f.sample_rate).bind(f.bit_rate).bind(f.duration)
                    .bind(&f.original_file_name).bind(&f.dir_path).bind(&f.abs_path).bind(&f.rel_path).bind(&f.thumb_path)
                    .bind(&f.meta).bind(&f.geo_position).bind(f.user_id).bind(&f.channel_uuid).bind(f.processing_flag).bind(&f.tts_key).bind(now)
                    .fetch_one(&mut *tx).await?;
                ids.push(id);
            }
            tx.commit().await?;
            ids
        });
        Ok(rows
            .iter()
            .zip(ids)
            .map(|(fields, id)| MediaFile {
                id,
                fields: fields.clone(),
                times: RowTimes::new(now),
            })
            .collect())
    }

    pub async fn update_media_file(
        &self,
        id: i64,
        name: &str,
        description: &str,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<bool> {
        on_db!(self, pool => sqlx::query(
            "UPDATE media_files SET name = $2, description = $3, type = $4, updated_at = $5 WHERE id = $1 AND deleted_at IS NULL")
            .bind(id).bind(name).bind(description).bind(kind).bind(now).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    pub async fn delete_media_file(&self, id: i64, now: OffsetDateTime) -> Result<bool> {
        on_db!(self, pool => sqlx::query("UPDATE media_files SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL")
            .bind(id).bind(now).execute(pool).await.map(|r| r.rows_affected() == 1))
    }

    /// The live TTS prompt made by this synthesis, if any.
    pub async fn tts_prompt(&self, tts_key: &str) -> Result<Option<MediaFile>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM media_files WHERE tts_key = $1 AND type = 'TTS' AND deleted_at IS NULL ORDER BY id DESC LIMIT 1"
        );
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(tts_key).fetch_optional(pool).await)
    }

    /// Marks media of `types` made before `before` deleted and returns their
    /// file paths. On PostgreSQL one node sweeps at a time: `None` when
    /// another holds the lock.
    /// Where every live media file is kept.
    pub async fn media_paths(&self) -> Result<Vec<String>> {
        on_db!(self, pool => sqlx::query_scalar(
            "SELECT abs_path FROM media_files WHERE deleted_at IS NULL AND abs_path <> ''")
            .fetch_all(pool).await)
    }

    pub async fn sweep_old_media(
        &self,
        types: &[&str],
        before: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<String>>> {
        let in_list = (3..3 + types.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE media_files SET deleted_at = $2, updated_at = $2
             WHERE deleted_at IS NULL AND created_at < $1 AND type IN ({in_list}) RETURNING abs_path"
        );
        // The same UPDATE inside either backend's transaction.
        macro_rules! sweep {
            ($tx:ident) => {{
                let mut q = sqlx::query_scalar(AssertSqlSafe(sql)).bind(before).bind(now);
                for t in types {
                    q = q.bind(*t);
                }
                q.fetch_all(&mut *$tx).await?
            }};
        }
        match self {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_write().await?;
                let paths = sweep!(tx);
                tx.commit().await?;
                Ok(Some(paths))
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(CLEAN_FILE_LOCK)
                    .fetch_one(&mut *tx)
                    .await?;
                if !locked {
                    return Ok(None);
                }
                let paths = sweep!(tx);
                tx.commit().await?;
                Ok(Some(paths))
            }
        }
    }

    /// What still plays a media file: queues (music on hold, greeting) and
    /// sensors, as `kind id (name)`.
    pub async fn media_users(&self, id: i64) -> Result<Vec<String>> {
        let reference = serde_json::json!({"media_id": id.to_string()}).to_string();
        let queues: Vec<(i64, String)> = on_db!(self, pool => sqlx::query_as(
            "SELECT id, name FROM queues WHERE deleted_at IS NULL AND (moh_sound = $1 OR greeting = $1) ORDER BY id")
            .bind(&reference).fetch_all(pool).await)?;
        let sensors: Vec<(i64, String)> = on_db!(self, pool => sqlx::query_as(
            "SELECT id, name FROM extn_alarms WHERE deleted_at IS NULL AND media_id = $1 ORDER BY id")
            .bind(id).fetch_all(pool).await)?;
        Ok(queues
            .into_iter()
            .map(|(id, name)| format!("queue {id} ({name})"))
            .chain(sensors.into_iter().map(|(id, name)| format!("sensor {id} ({name})")))
            .collect())
    }
}

pub const LIST: ListSpec = ListSpec {
    columns: COLUMNS,
    from: "media_files",
    always: &["deleted_at IS NULL"],
    filters: &[
        Filter::Equals("uuid", "channel_uuid"),
        Filter::EqualsIgnoreCase("type", "type"),
        Filter::Custom("types", types_filter, Some(SOME_TYPE)),
        Filter::Contains("name", "name"),
        Filter::From("startDate", "created_at"),
        Filter::Until("endDate", "created_at"),
        Filter::Custom("q", search_filter, None),
    ],
    sortable: &[
        ("id", "id"),
        ("name", "name"),
        ("type", "type"),
        ("file_size", "file_size"),
        ("created_at", "created_at"),
        ("updated_at", "updated_at"),
    ],
    default_order: "id DESC",
};

/// `types=UPLOAD,TTS,SYSTEM`.
pub fn types_filter(value: &str, sql: &mut ListSql) -> std::result::Result<(), FieldError> {
    let mut placeholders = Vec::new();
    for kind in value
        .split(',')
        .map(|t| t.trim().to_uppercase())
        .filter(|t| !t.is_empty())
    {
        sql.args.push(Arg::Text(kind));
        placeholders.push(format!("${}", sql.args.len()));
    }
    if placeholders.is_empty() {
        return Err(FieldError::new("types", "give types separated by commas"));
    }
    sql.conditions
        .push(format!("upper(type) IN ({})", placeholders.join(", ")));
    Ok(())
}

/// `q`: part of the name or description.
pub fn search_filter(value: &str, sql: &mut ListSql) -> std::result::Result<(), FieldError> {
    sql.args.push(Arg::Text(like_pattern(value)));
    let p = format!("${}", sql.args.len());
    sql.conditions.push(format!(
        "(lower(name) LIKE {p} ESCAPE '\\' OR lower(description) LIKE {p} ESCAPE '\\')"
    ));
    Ok(())
}

/// What `types_filter` takes: something besides commas, or blank.
pub const SOME_TYPE: &str = r"^(\s*|[\s\S]*[^,\s][\s\S]*)$";
