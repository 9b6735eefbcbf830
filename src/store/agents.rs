//! Users as the management API shows them (agents are users of type
//! `AGENT`), created together with their extension.

use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use time::OffsetDateTime;

use super::extensions::{Extension, ExtensionFields, bind_fields};
use super::list::{Filter, ListSpec};
use super::logs::{NewLogEntry, commit_one_row, log_in_tx};
use super::{Backend, Db, Result, on_db};
use crate::domain::timestamp::{self, RowTimes};

pub const COLUMNS: &str = "id, login, name, type, is_super, disabled, extn, extn_id, cid_name, cid_number, context, domain, email, tel, tel_enabled, auto_record, vm_password_enc, agent_info, ha1, ha1b, last_login_at, created_at, updated_at, deleted_at";

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct User {
    pub id: i64,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub fields: UserFields,
    #[serde(serialize_with = "timestamp::serialize_opt")]
    pub last_login_at: Option<OffsetDateTime>,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub times: RowTimes,
}

/// The fields of a user that the API writes.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct UserFields {
    pub login: String,
    pub name: String,
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    pub is_super: i64,
    pub disabled: i64,
    pub extn: String,
    pub extn_id: i64,
    pub cid_name: String,
    pub cid_number: String,
    pub context: String,
    pub domain: String,
    pub email: String,
    pub tel: String,
    pub tel_enabled: i64,
    pub auto_record: i64,
    #[serde(skip)]
    pub vm_password_enc: String,
    /// A JSON object; the API merges its keys into the row.
    #[serde(skip)]
    pub agent_info: String,
    pub ha1: String,
    pub ha1b: String,
}

const INSERT: &str = "INSERT INTO users (login, name, type, is_super, disabled, extn, extn_id, cid_name, cid_number, context, domain,
        email, tel, tel_enabled, auto_record, vm_password_enc, agent_info, ha1, ha1b, password_hash, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $21) RETURNING id";

const UPDATE: &str =
    "UPDATE users SET login = $2, name = $3, type = $4, is_super = $5, disabled = $6, extn = $7, extn_id = $8,
        cid_name = $9, cid_number = $10, context = $11, domain = $12, email = $13, tel = $14, tel_enabled = $15,
        auto_record = $16, vm_password_enc = $17, agent_info = $18, ha1 = $19, ha1b = $20, updated_at = $21
     WHERE id = $1 AND deleted_at IS NULL";

/// Binds the 19 written fields in `UserFields` order.
macro_rules! bind_user {
    ($query:expr, $f:expr) => {
        $query
            .bind(&$f.login)
            .bind(&$f.name)
            .bind(&$f.kind)
            .bind($f.is_super)
            .bind($f.disabled)
            .bind(&$f.extn)
            .bind($f.extn_id)
            .bind(&$f.cid_name)
            .bind(&$f.cid_number)
            .bind(&$f.context)
            .bind(&$f.domain)
            .bind(&$f.email)
            .bind(&$f.tel)
            .bind($f.tel_enabled)
            .bind($f.auto_record)
            .bind(&$f.vm_password_enc)
            .bind(&$f.agent_info)
            .bind(&$f.ha1)
            .bind(&$f.ha1b)
    };
}

impl Db {
    pub async fn user(&self, id: i64) -> Result<Option<User>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL");
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await)
    }

    /// Creates a user and, when given, its extension, all or nothing.
    /// Returns the user's id and the extension's (0 without one).
    pub async fn create_user(
        &self,
        mut user: UserFields,
        password_hash: &str,
        extension: Option<&ExtensionFields>,
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<(i64, i64)> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if let Some(f) = extension {
                user.extn_id = bind_fields!(sqlx::query_scalar(super::extensions::INSERT), f)
                    .bind(now).fetch_one(&mut *tx).await?;
            }
            let id: i64 = bind_user!(sqlx::query_scalar(INSERT), user)
                .bind(password_hash).bind(now).fetch_one(&mut *tx).await?;
            if extension.is_some() {
                sqlx::query("UPDATE extensions SET user_id = $1 WHERE id = $2")
                    .bind(id).bind(user.extn_id).execute(&mut *tx).await?;
            }
            log_in_tx!(tx, log, Some(id), 1, now);
            tx.commit().await?;
            Ok((id, user.extn_id))
        })
    }

    /// Writes every field; returns false when the user is gone.
    pub async fn update_user(&self, id: i64, f: &UserFields, now: OffsetDateTime, log: &NewLogEntry) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = bind_user!(sqlx::query(UPDATE).bind(id), f).bind(now).execute(&mut *tx).await?;
            commit_one_row!(tx, done, log, id, now)
        })
    }

    /// Deletes a user with its queue memberships and sessions. Its
    /// extensions stay, unowned (user 0), since phones may still use them.
    pub async fn delete_user(&self, id: i64, now: OffsetDateTime, log: &NewLogEntry) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE users SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?;
            sqlx::query("UPDATE queue_agents SET deleted_at = $2, updated_at = $2 WHERE agent_id = $1 AND deleted_at IS NULL")
                .bind(id).bind(now).execute(&mut *tx).await?;
            sqlx::query("UPDATE extensions SET user_id = 0, updated_at = $2 WHERE user_id = $1")
                .bind(id).bind(now).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
            commit_one_row!(tx, done, log, id, now)
        })
    }

    pub async fn user_extensions(&self, id: i64) -> Result<Vec<Extension>> {
        let sql = format!(
            "SELECT {} FROM extensions WHERE user_id = $1 AND deleted_at IS NULL ORDER BY id",
            super::extensions::COLUMNS
        );
        on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_all(pool).await)
    }

    /// Names of the queues an agent is in.
    pub async fn agent_queue_names(&self, id: i64) -> Result<Vec<String>> {
        on_db!(self, pool => sqlx::query_scalar(
            "SELECT q.name FROM queue_agents a JOIN queues q ON q.id = a.queue_id
             WHERE a.agent_id = $1 AND a.deleted_at IS NULL AND q.deleted_at IS NULL ORDER BY q.name")
            .bind(id).fetch_all(pool).await)
    }
}

pub const LIST: ListSpec = ListSpec {
    columns: COLUMNS,
    from: "users",
    always: &["deleted_at IS NULL"],
    filters: &[
        Filter::EqualsIgnoreCase("type", "type"),
        Filter::Contains("login", "login"),
        Filter::Contains("name", "name"),
    ],
    sortable: &[
        ("id", "id"),
        ("login", "login"),
        ("name", "name"),
        ("type", "type"),
        ("created_at", "created_at"),
        ("updated_at", "updated_at"),
    ],
    default_order: "id",
};
