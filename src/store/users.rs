//! Users who log in, and their sessions.

use sqlx::FromRow;
use time::OffsetDateTime;

use super::logs::{NewLogEntry, commit_one_row, log_in_tx};
use super::{Backend, Db, Result, on_db};

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
}

/// The user behind a valid token.
#[derive(Debug, Clone, FromRow)]
pub struct SessionUser {
    pub id: i64,
    pub login: String,
    pub name: String,
    pub is_super: i64,
}

impl SessionUser {
    /// An administrator may do everything: a super user, and user 1 (`admin`).
    pub fn is_admin(&self) -> bool {
        self.is_super == 1 || self.id == 1
    }
}

/// Wrong passwords allowed before a login is locked.
pub const MAX_LOGIN_ATTEMPTS: i64 = 5;
/// Login names one network may have counted at once; past this, the
/// network may try no name it has not tried before, so guessing names
/// from one network cannot grow the table.
pub const MAX_NAMES_PER_NETWORK: i64 = 100;
/// Counted names from every network together. Past it, a new count takes
/// the place of the one tried least recently that is not a lock, so a full
/// table refuses nobody: only counts go, never a lock.
pub const MAX_COUNTED_NAMES: i64 = 100_000;

/// The name a login lock is kept under: the login as typed, whether or not
/// a user has it, case folded and cut to a bounded length.
fn lock_key(login: &str) -> String {
    login.trim().to_lowercase().chars().take(64).collect()
}

/// What a login attempt may do, decided before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAttempt {
    /// Check the password. `clean` when the network has no wrong password
    /// counted for any name.
    Check { clean: bool },
    /// Wrong passwords for this name from this network locked it.
    Locked(OffsetDateTime),
    /// The network has `MAX_NAMES_PER_NETWORK` names counted and this is
    /// not one of them.
    NetworkFull,
}

impl Db {
    pub async fn login_user(&self, login: &str) -> Result<Option<LoginUser>> {
        on_db!(self, pool => sqlx::query_as(
            "SELECT id, login, name, password_hash, dev_key_hash, is_super, disabled
             FROM users WHERE lower(login) = lower($1) AND deleted_at IS NULL")
            .bind(login).fetch_optional(pool).await)
    }

    /// Whether a login name may be tried from a source network: not while a
    /// lock of its own is on, nor a name the network has not tried before
    /// when it has tried too many. Reads only: a right password from a
    /// network with no wrong ones counted writes nothing here.
    pub async fn begin_login_attempt(&self, login: &str, network: &str, now: OffsetDateTime) -> Result<LoginAttempt> {
        on_db!(self, pool => {
            let (counted, locked_until, from_network): (bool, Option<OffsetDateTime>, i64) = sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM login_locks WHERE login = $1 AND network = $2),
                        (SELECT locked_until FROM login_locks WHERE login = $1 AND network = $2),
                        (SELECT COUNT(*) FROM login_locks WHERE network = $2)")
                .bind(lock_key(login)).bind(network).fetch_one(pool).await?;
            Ok(match locked_until {
                Some(until) if until > now => LoginAttempt::Locked(until),
                _ if !counted && from_network >= MAX_NAMES_PER_NETWORK => LoginAttempt::NetworkFull,
                _ => LoginAttempt::Check { clean: from_network == 0 },
            })
        })
    }

    /// Counts a wrong password for a login name from a source network; the
    /// `MAX_LOGIN_ATTEMPTS`th locks the name for that network until
    /// `lock_until`, which is returned. A lock that has ended starts the
    /// count again. Counts quiet for as long as a lock lasts go first; a
    /// new count with the table full takes the place of the count tried
    /// least recently that is not a lock (a lock only when every row is one).
    pub async fn count_wrong_password(
        &self,
        login: &str,
        network: &str,
        now: OffsetDateTime,
        lock_until: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>> {
        let quiet_since = now - (lock_until - now);
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM login_locks WHERE last_attempt_at < $1 AND (locked_until IS NULL OR locked_until < $2)")
                .bind(quiet_since).bind(now).execute(&mut *tx).await?;
            let (counted, rows): (bool, i64) = sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM login_locks WHERE login = $1 AND network = $2),
                        (SELECT COUNT(*) FROM login_locks)")
                .bind(lock_key(login)).bind(network).fetch_one(&mut *tx).await?;
            if !counted && rows >= MAX_COUNTED_NAMES {
                sqlx::query(
                    "DELETE FROM login_locks WHERE (login, network) IN (
                       SELECT login, network FROM login_locks
                       ORDER BY (locked_until IS NOT NULL AND locked_until > $1), last_attempt_at
                       LIMIT $2)")
                    .bind(now).bind(rows - MAX_COUNTED_NAMES + 1).execute(&mut *tx).await?;
            }
            let locked_until: Option<OffsetDateTime> = sqlx::query_scalar(
                "INSERT INTO login_locks (login, network, attempts, locked_until, last_attempt_at)
                 VALUES ($1, $2, 1, CASE WHEN $4 <= 1 THEN $5 END, $3)
                 ON CONFLICT (login, network) DO UPDATE SET
                   attempts = CASE WHEN login_locks.locked_until <= $3 THEN 1 ELSE login_locks.attempts + 1 END,
                   locked_until = CASE
                     WHEN login_locks.locked_until <= $3 THEN NULL
                     WHEN login_locks.attempts + 1 >= $4 THEN COALESCE(login_locks.locked_until, $5)
                     ELSE login_locks.locked_until END,
                   last_attempt_at = $3
                 RETURNING locked_until")
                .bind(lock_key(login)).bind(network).bind(now).bind(MAX_LOGIN_ATTEMPTS).bind(lock_until)
                .fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(locked_until)
        })
    }

    /// A right password clears the count of its name and network.
    pub async fn clear_login_attempts(&self, login: &str, network: &str) -> Result<()> {
        on_db!(self, pool => sqlx::query("DELETE FROM login_locks WHERE login = $1 AND network = $2")
            .bind(lock_key(login)).bind(network).execute(pool).await.map(drop))
    }

    /// Ends every lock and count of a login name, from every network.
    /// Returns how many networks had one.
    pub async fn unlock_login(&self, login: &str, now: OffsetDateTime, log: &NewLogEntry) -> Result<u64> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("DELETE FROM login_locks WHERE login = $1")
                .bind(lock_key(login)).execute(&mut *tx).await?;
            log_in_tx!(tx, log, None, done.rows_affected() as usize, now);
            tx.commit().await?;
            Ok(done.rows_affected())
        })
    }

    /// A successful login opens a session.
    pub async fn open_session(
        &self,
        user_id: i64,
        token_hash: &str,
        now: OffsetDateTime,
        expires: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
                .bind(user_id).bind(now).execute(&mut *tx).await?;
            // Expired sessions are dropped here, so the table stays small without a sweeper.
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(token_hash).bind(user_id).bind(now).bind(expires).execute(&mut *tx).await?;
            log_in_tx!(tx, log, Some(user_id), 1, now);
            Ok(tx.commit().await?)
        })
    }

    pub async fn session_user(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<SessionUser>> {
        on_db!(self, pool => sqlx::query_as(
            "SELECT u.id, u.login, u.name, u.is_super FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.deleted_at IS NULL AND u.disabled = 0")
            .bind(token_hash).bind(now).fetch_optional(pool).await)
    }

    pub async fn close_session(&self, token_hash: &str, now: OffsetDateTime, log: &NewLogEntry) -> Result<()> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&mut *tx).await?;
            log_in_tx!(tx, log, None, 1, now);
            Ok(tx.commit().await?)
        })
    }

    /// The extension number of a user's first extension, shown at login.
    pub async fn user_extn(&self, user_id: i64) -> Result<Option<String>> {
        on_db!(self, pool => sqlx::query_scalar(
            "SELECT extn FROM extensions WHERE user_id = $1 AND deleted_at IS NULL ORDER BY id LIMIT 1")
            .bind(user_id).fetch_optional(pool).await)
    }

    pub async fn admin_has_password(&self) -> Result<bool> {
        on_db!(self, pool => sqlx::query_scalar("SELECT password_hash IS NOT NULL FROM users WHERE id = 1")
            .fetch_one(pool).await)
    }

    pub async fn user_exists(&self, user_id: i64) -> Result<bool> {
        on_db!(self, pool => sqlx::query_scalar("SELECT COUNT(*) > 0 FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(user_id).fetch_one(pool).await)
    }

    /// Sets a password and signs the user out everywhere. Returns false when
    /// no live user has that login. User 0 (`system`) never gets one.
    pub async fn set_password(
        &self,
        login: &str,
        password_hash: &str,
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<bool> {
        let id: Option<i64> = on_db!(self, pool => sqlx::query_scalar(
            "SELECT id FROM users WHERE lower(login) = lower($1) AND deleted_at IS NULL")
            .bind(login).fetch_optional(pool).await)?;
        match id {
            Some(id) => self.set_user_password(id, password_hash, None, now, log).await,
            None => Ok(false),
        }
    }

    /// Sets user `id`'s password (and its ha1/ha1b, when given), ends any
    /// lock on its login and signs it out everywhere. Returns false when there is no such live user, or it
    /// is user 0.
    pub async fn set_user_password(
        &self,
        id: i64,
        password_hash: &str,
        ha1: Option<(&str, &str)>,
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(
                "UPDATE users SET password_hash = $2, updated_at = $3,
                        ha1 = COALESCE($4, ha1), ha1b = COALESCE($5, ha1b)
                 WHERE id = $1 AND deleted_at IS NULL AND id <> 0")
                .bind(id).bind(password_hash).bind(now).bind(ha1.map(|h| h.0)).bind(ha1.map(|h| h.1))
                .execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM login_locks WHERE login = (SELECT lower(login) FROM users WHERE id = $1)")
                .bind(id).execute(&mut *tx).await?;
            commit_one_row!(tx, done, log, id, now)
        })
    }

    /// The password hash of a live user, to check an old password.
    pub async fn password_hash(&self, id: i64) -> Result<Option<String>> {
        on_db!(self, pool => sqlx::query_scalar(
            "SELECT password_hash FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(id).fetch_optional(pool).await.map(Option::flatten))
    }

    pub async fn set_dev_key(
        &self,
        login: &str,
        dev_key_hash: &str,
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<bool> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let id: Option<i64> = sqlx::query_scalar(
                "UPDATE users SET dev_key_hash = $2, updated_at = $3 WHERE lower(login) = lower($1) AND deleted_at IS NULL AND id <> 0 RETURNING id")
                .bind(login).bind(dev_key_hash).bind(now).fetch_optional(&mut *tx).await?;
            let Some(id) = id else { return Ok(false) };
            log_in_tx!(tx, log, Some(id), 1, now);
            tx.commit().await?;
            Ok(true)
        })
    }

    pub async fn add_user(
        &self,
        login: &str,
        name: &str,
        password_hash: &str,
        is_super: bool,
        now: OffsetDateTime,
        log: &NewLogEntry,
    ) -> Result<i64> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO users (login, name, password_hash, is_super, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id")
                .bind(login).bind(name).bind(password_hash).bind(i64::from(is_super)).bind(now).fetch_one(&mut *tx).await?;
            log_in_tx!(tx, log, Some(id), 1, now);
            tx.commit().await?;
            Ok(id)
        })
    }
}
