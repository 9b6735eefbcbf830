//! Users who log in, and their sessions.

use sqlx::FromRow;
use time::OffsetDateTime;

use super::{Backend, Db, on_db};

/// What a login attempt needs to know about a user.
#[derive(Debug, Clone, FromRow)]
pub struct LoginUser {
    pub id: i64,
    pub login: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub dev_key_hash: Option<String>,
    pub is_super: i64,
    pub disabled: i64,
    pub locked_until: Option<OffsetDateTime>,
}

/// The user behind a valid token.
#[derive(Debug, Clone, FromRow)]
pub struct SessionUser {
    pub id: i64,
    pub login: String,
    pub name: String,
    pub is_super: i64,
}

/// Wrong passwords allowed before a login is locked.
pub const MAX_LOGIN_ATTEMPTS: i64 = 5;

impl Db {
    pub async fn login_user(&self, login: &str) -> sqlx::Result<Option<LoginUser>> {
        on_db!(self, pool => sqlx::query_as(
            "SELECT id, login, name, password_hash, dev_key_hash, is_super, disabled, locked_until
             FROM users WHERE lower(login) = lower($1) AND deleted_at IS NULL")
            .bind(login).fetch_optional(pool).await)
    }

    /// Counts a wrong password; the attempt that reaches the limit locks the
    /// login until `lock_until`. Returns whether the login is now locked.
    pub async fn record_login_failure(&self, user_id: i64, lock_until: OffsetDateTime) -> sqlx::Result<bool> {
        on_db!(self, pool => {
            let (attempts,): (i64,) = sqlx::query_as(
                "UPDATE users SET login_attempts = login_attempts + 1,
                        locked_until = CASE WHEN login_attempts + 1 >= $2 THEN $3 ELSE locked_until END
                 WHERE id = $1 RETURNING login_attempts")
                .bind(user_id).bind(MAX_LOGIN_ATTEMPTS).bind(lock_until).fetch_one(pool).await?;
            Ok(attempts >= MAX_LOGIN_ATTEMPTS)
        })
    }

    /// A successful login clears the failure count and any expired lock, and
    /// opens a session.
    pub async fn open_session(
        &self,
        user_id: i64,
        token_hash: &str,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> sqlx::Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE users SET login_attempts = 0, locked_until = NULL, last_login_at = $2 WHERE id = $1")
                .bind(user_id).bind(now).execute(&mut *tx).await?;
            // Expired sessions are dropped here, so the table stays small without a sweeper.
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(token_hash).bind(user_id).bind(now).bind(expires).execute(&mut *tx).await?;
            tx.commit().await
        })
    }

    pub async fn session_user(&self, token_hash: &str, now: OffsetDateTime) -> sqlx::Result<Option<SessionUser>> {
        on_db!(self, pool => sqlx::query_as(
            "SELECT u.id, u.login, u.name, u.is_super FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.deleted_at IS NULL AND u.disabled = 0")
            .bind(token_hash).bind(now).fetch_optional(pool).await)
    }

    pub async fn close_session(&self, token_hash: &str) -> sqlx::Result<()> {
        on_db!(self, pool => sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(pool).await.map(|_| ()))
    }

    /// The extension number of a user's first extension, shown at login.
    pub async fn user_extn(&self, user_id: i64) -> sqlx::Result<Option<String>> {
        on_db!(self, pool => sqlx::query_scalar(
            "SELECT extn FROM extensions WHERE user_id = $1 AND deleted_at IS NULL ORDER BY id LIMIT 1")
            .bind(user_id).fetch_optional(pool).await)
    }

    pub async fn admin_has_password(&self) -> sqlx::Result<bool> {
        on_db!(self, pool => sqlx::query_scalar("SELECT password_hash IS NOT NULL FROM users WHERE id = 1")
            .fetch_one(pool).await)
    }

    pub async fn user_exists(&self, user_id: i64) -> sqlx::Result<bool> {
        on_db!(self, pool => sqlx::query_scalar("SELECT COUNT(*) > 0 FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(user_id).fetch_one(pool).await)
    }

    /// Sets a password and signs the user out everywhere. Returns false when
    /// no live user has that login. User 0 (`system`) never gets one.
    pub async fn set_password(&self, login: &str, password_hash: &str, now: OffsetDateTime) -> sqlx::Result<bool> {
        let id: Option<i64> = on_db!(self, pool => sqlx::query_scalar(
            "SELECT id FROM users WHERE lower(login) = lower($1) AND deleted_at IS NULL")
            .bind(login).fetch_optional(pool).await)?;
        match id {
            Some(id) => self.set_user_password(id, password_hash, None, now).await,
            None => Ok(false),
        }
    }

    /// Sets user `id`'s password (and its ha1/ha1b, when given) and signs it
    /// out everywhere. Returns false when there is no such live user, or it
    /// is user 0.
    pub async fn set_user_password(
        &self,
        id: i64,
        password_hash: &str,
        ha1: Option<(&str, &str)>,
        now: OffsetDateTime,
    ) -> sqlx::Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(
                "UPDATE users SET password_hash = $2, login_attempts = 0, locked_until = NULL, updated_at = $3,
                        ha1 = COALESCE($4, ha1), ha1b = COALESCE($5, ha1b)
                 WHERE id = $1 AND deleted_at IS NULL AND id <> 0")
                .bind(id).bind(password_hash).bind(now).bind(ha1.map(|h| h.0)).bind(ha1.map(|h| h.1))
                .execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The password hash of a live user, to check an old password.
    pub async fn password_hash(&self, id: i64) -> sqlx::Result<Option<String>> {
        on_db!(self, pool => sqlx::query_scalar(
            "SELECT password_hash FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(id).fetch_optional(pool).await.map(Option::flatten))
    }

    pub async fn set_dev_key(&self, login: &str, dev_key_hash: &str, now: OffsetDateTime) -> sqlx::Result<bool> {
        on_db!(self, pool => sqlx::query(
            "UPDATE users SET dev_key_hash = $2, updated_at = $3 WHERE lower(login) = lower($1) AND deleted_at IS NULL AND id <> 0")
            .bind(login).bind(dev_key_hash).bind(now).execute(pool).await.map(|r| r.rows_affected() > 0))
    }

    pub async fn add_user(
        &self,
        login: &str,
        name: &str,
        password_hash: &str,
        is_super: bool,
        now: OffsetDateTime,
    ) -> sqlx::Result<i64> {
        on_db!(self, pool => sqlx::query_scalar(
            "INSERT INTO users (login, name, password_hash, is_super, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id")
            .bind(login).bind(name).bind(password_hash).bind(i64::from(is_super)).bind(now).fetch_one(pool).await)
    }
}
