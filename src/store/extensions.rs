//! Extensions: the SIP accounts whose credentials phones receive.

use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;

use super::Arg;
use super::list::{FieldError, Filter, ListSpec, ListSql};
use super::logs::{NewLogEntry, commit_one_row, log_in_tx};
use super::{Backend, Db, Result, on_db};
use crate::domain::timestamp::RowTimes;

pub const COLUMNS: &str = "id, extn, name, domain, context, type, cid_name, cid_number, password_enc, ha1, ha1b, user_id, disabled, description, created_at, updated_at, deleted_at";

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct Extension {
    pub id: i64,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub fields: ExtensionFields,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub times: RowTimes,
}

/// The fields sipprov writes; ids and times are its own.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct ExtensionFields {
    pub extn: String,
    pub name: String,
    pub domain: String,
    pub context: String,
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    pub cid_name: String,
    pub cid_number: String,
    /// AES-GCM ciphertext; the API decrypts it only where it shows the password.
    #[serde(skip)]
    pub password_enc: String,
    pub ha1: String,
    pub ha1b: String,
    pub user_id: i64,
    pub disabled: i64,
    pub description: String,
}

/// A live extension as a device line refers to it.
#[derive(Debug, Clone, FromRow)]
pub struct ExtensionKey {
    pub id: i64,
    pub extn: String,
    pub domain: String,
}

/// A device record that uses an extension as one of its lines.
#[derive(Debug, Clone, FromRow)]
pub struct DeviceUse {
    pub device_id: i64,
    pub mac: String,
}

pub(super) const INSERT: &str = "INSERT INTO extensions (extn, name, domain, context, type, cid_name, cid_number, password_enc, ha1, ha1b, user_id, disabled, description, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id";

const UPDATE: &str =
    "UPDATE extensions SET extn = $2, name = $3, domain = $4, context = $5, type = $6, cid_name = $7, cid_number = $8,
        password_enc = $9, ha1 = $10, ha1b = $11, user_id = $12, disabled = $13, description = $14, updated_at = $15
     WHERE id = $1 AND deleted_at IS NULL";

/// Binds the 13 written fields as `$first…$first+12`, in `ExtensionFields` order.
macro_rules! bind_fields {
    ($query:expr, $f:expr) => {
        $query
            .bind(&$f.extn)
            .bind(&$f.name)
            .bind(&$f.domain)
            .bind(&$f.context)
            .bind(&$f.kind)
            .bind(&$f.cid_name)
            .bind(&$f.cid_number)
            .bind(&$f.password_enc)
            .bind(&$f.ha1)
            .bind(&$f.ha1b)
            .bind($f.user_id)
            .bind($f.disabled)
            .bind(&$f.description)
    };
}
pub(super) use bind_fields;

/// One name and number of the company directory phones show.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, Serialize)]
pub struct DirectoryEntry {
    pub name: String,
    pub number: String,
}

/// The directory: every live, enabled extension and every live contact, by
/// name. Migrations 0011 and 0012's triggers record a change for every
/// column it reads.
/// The most entries the company directory holds, extensions and contacts
/// together: what a phone file carries, and far more than phones keep.
/// Contacts are refused before the bound is reached, extensions never are.
pub const MAX_DIRECTORY_ENTRIES: i64 = 20_000;

/// The directory by name; past its bound, extensions come first.
const DIRECTORY_SQL: &str = "SELECT name, number FROM (
       SELECT name, extn AS number, 0 AS source FROM extensions WHERE deleted_at IS NULL AND disabled = 0
       UNION ALL SELECT name, number, 1 AS source FROM contacts WHERE deleted_at IS NULL
       ORDER BY source, name, number LIMIT $1) AS entries
     ORDER BY name, number";

impl Db {
    /// The company directory, by name.
    pub async fn directory(&self) -> Result<Vec<DirectoryEntry>> {
        on_db!(self, pool => sqlx::query_as(DIRECTORY_SQL).bind(MAX_DIRECTORY_ENTRIES).fetch_all(pool).await)
    }

    /// How many entries the whole directory would have, past its bound too.
    pub async fn directory_size(&self) -> Result<i64> {
        on_db!(self, pool => sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM extensions WHERE deleted_at IS NULL AND disabled = 0)
                  + (SELECT COUNT(*) FROM contacts WHERE deleted_at IS NULL)")
            .fetch_one(pool).await)
    }

    pub async fn extension(&self, id: i64) -> Result<Option<Extension>> {
        let sql = format!("SELECT {COLUMNS} FROM extensions WHERE id = $1 AND deleted_at IS NULL");
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await)
    }

    /// Inserts all or none; returns the new rows in order.
    pub async fn insert_extensions(
        &self,
        rows: Vec<ExtensionFields>,
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<Vec<Extension>> {
        let ids = on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut ids = Vec::with_capacity(rows.len());
            for f in &rows {
                let id: i64 = bind_fields!(sqlx::query_scalar(INSERT), f).bind(now).fetch_one(&mut *tx).await?;
                ids.push(id);
            }
            log_in_tx!(tx, log, ids.first().copied(), ids.len(), now);
            tx.commit().await?;
            ids
        });
        Ok(rows
            .into_iter()
            .zip(ids)
            .map(|(fields, id)| Extension {
                id,
                fields,
                times: RowTimes::new(now),
            })
            .collect())
    }

    /// Writes every field; returns false when the extension is gone.
    pub async fn update_extension(
        &self,
        id: i64,
        f: &ExtensionFields,
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = bind_fields!(sqlx::query(UPDATE).bind(id), f).bind(now).execute(&mut *tx).await?;
            commit_one_row!(tx, done, log, id, now)
        })
    }

    pub async fn delete_extension(&self, id: i64, now: OffsetDateTime, log: &NewLogEntry) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE extensions SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?;
            commit_one_row!(tx, done, log, id, now)
        })
    }

    /// Device records whose lines use the extension.
    pub async fn extension_users(&self, id: i64) -> Result<Vec<DeviceUse>> {
        on_db!(self, pool => sqlx::query_as(
            "SELECT device_id, mac FROM device_provision_lines WHERE extension_id = $1 ORDER BY device_id LIMIT 20")
            .bind(id).fetch_all(pool).await)
    }

    /// Live extensions with any of these numbers, in any domain.
    pub async fn extensions_numbered(&self, extns: &[String]) -> Result<Vec<ExtensionKey>> {
        self.fetch_where_in(
            "SELECT id, extn, domain FROM extensions WHERE deleted_at IS NULL AND extn IN ({in})",
            extns,
        )
        .await
    }

    /// Live extensions among `extns` in `domain`; for range creation.
    pub async fn existing_extns(&self, domain: &str, extns: &[String]) -> Result<Vec<String>> {
        let keys = self.extensions_numbered(extns).await?;
        Ok(keys
            .into_iter()
            .filter(|k| k.domain == domain)
            .map(|k| k.extn)
            .collect())
    }
}

pub const LIST: ListSpec = ListSpec {
    columns: COLUMNS,
    from: "extensions",
    always: &["deleted_at IS NULL"],
    filters: &[
        Filter::Contains("extn", "extn"),
        Filter::Contains("name", "name"),
        Filter::Equals("domain", "domain"),
        Filter::Equals("context", "context"),
        Filter::Custom("free", free_filter, Some(FREE)),
    ],
    sortable: &[
        ("id", "id"),
        ("extn", "extn"),
        ("name", "name"),
        ("domain", "domain"),
        ("created_at", "created_at"),
        ("updated_at", "updated_at"),
    ],
    default_order: "id",
};

/// What `free_filter` takes; blank is no filter.
pub const FREE: &str = r"^\s*(1|0|true|false)?\s*$";

/// Extensions on no phone's line (`1`, `true`), or on one (`0`, `false`).
pub fn free_filter(value: &str, sql: &mut ListSql) -> std::result::Result<(), FieldError> {
    let free = match value.trim() {
        "1" | "true" => "1",
        "0" | "false" => "0",
        _ => return Err(FieldError::new("free", format!("'{value}' is not 1, 0, true or false"))),
    };
    sql.push(
        |p| {
            format!(
                "(id IN (SELECT extension_id FROM device_provision_lines WHERE extension_id IS NOT NULL)) = ({p} = '0')"
            )
        },
        Arg::Text(free.to_string()),
    );
    Ok(())
}
