//! Logging in and out, for the API and the console alike. Locks go by the
//! name as typed, whether or not a user has it, and by the network it came
//! from; a name no user has is checked against a dummy hash of the same
//! cost, so neither the answer nor its time tells which logins exist. Each
//! network gets a few checks at once and a few a second, and checks from
//! networks with no counted failures go first. Failed logins are counted
//! in the operation log, never a row each.

use std::net::IpAddr;

use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::log::{Action, message};
use super::{Actor, Admin, Door, Error, Result};
use crate::domain::{source_network, timestamp};
use crate::secrets;
use crate::store::logs::{FailedLogin, Summary};
use crate::store::users::{LoginAttempt, LoginUser};
use crate::workers::Priority;

/// How long a login stays locked after too many wrong passwords.
pub const LOCKOUT: time::Duration = time::Duration::hours(2);
const WRONG_CREDENTIALS: &str = "Wrong username or password";

/// What a login presents.
pub enum Secret {
    Password(String),
    DevKey(String),
}

/// A login to check: the name as typed, what proves it, from where.
pub struct Credentials {
    pub login: String,
    pub secret: Secret,
    /// The client's address, when known.
    pub from: Option<IpAddr>,
    pub door: Door,
}

/// A session opened: its token (only its hash is kept), when it ends, and
/// its user.
pub struct Session {
    pub token: String,
    pub expires: OffsetDateTime,
    pub user: LoginUser,
    /// The user's first extension, or "".
    pub extn: String,
}

impl Admin {
    /// Checks credentials and opens a session, or says why not.
    pub async fn log_in(&self, credentials: Credentials) -> Result<Session> {
        let Credentials {
            login,
            secret,
            from,
            door,
        } = credentials;
        let login = login.trim().to_string();
        if login.is_empty() {
            return Err(Error::field("login", "required"));
        }
        match &secret {
            Secret::Password(p) if p.is_empty() => return Err(Error::field("password", "required")),
            Secret::DevKey(k) if k.is_empty() => return Err(Error::field("dev_key", "required")),
            _ => {}
        }
        let db = &self.db;
        let now = timestamp::now();
        let lock_until = now + LOCKOUT;
        let source = from.map(source_network);
        let network = source.map_or_else(|| "unknown".into(), |n| n.to_string());
        let failed = |reason: &'static str| FailedLogin {
            login: &login,
            network: &network,
            reason,
        };
        // Each network gets a few password checks at once and a few a second.
        let entry = match source.map(|n| self.login_gate.enter(n)) {
            Some(Err(wait)) => {
                return Err(Error::Busy(format!(
                    "too many logins from your network; try again in {} s",
                    wait.as_secs().max(1)
                )));
            }
            entered => entered,
        };
        let clean = match db.begin_login_attempt(&login, &network, now).await? {
            LoginAttempt::Locked(until) => {
                self.count_failed(&failed("locked"), now).await;
                return Err(locked(until));
            }
            LoginAttempt::NetworkFull => return Err(network_full()),
            LoginAttempt::Check { clean } => clean,
        };
        // Networks with no counted failure (nor their wide network, lately,
        // on this node) are checked before the others.
        let priority = match entry.as_ref().map(|entry| entry.as_ref().map(|e| e.priority())) {
            Some(Ok(Priority::First)) | None if clean => Priority::First,
            _ => Priority::Normal,
        };
        let user = db.login_user(&login).await?.filter(|u| u.disabled == 0);
        let stored = user.as_ref().and_then(|u| match secret {
            Secret::Password(_) => u.password_hash.clone(),
            Secret::DevKey(_) => u.dev_key_hash.clone(),
        });
        let matches = self
            .passwords
            .run_or_refuse(priority, move || match secret {
                // A missing user or hash is still checked against a dummy, so
                // the answer takes as long either way.
                Secret::Password(p) => secrets::verify_password(&p, stored.as_deref()),
                Secret::DevKey(k) => {
                    let presented = secrets::token_hash(&k);
                    let expected = stored.unwrap_or_default();
                    presented.len() == expected.len() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
                }
            })
            .await
            .map_err(|_| {
                Error::Busy("too many logins are waiting for their check; try again in a few seconds".into())
            })?;
        let user = match user {
            Some(user) if matches => user,
            _ => {
                if let Some(source) = source {
                    self.login_gate.failed(source);
                }
                let refusal = match db.count_wrong_password(&login, &network, now, lock_until).await? {
                    Some(until) => {
                        tracing::warn!(network = %network, "a login name locked after repeated wrong passwords");
                        locked(until)
                    }
                    None => Error::Forbidden(WRONG_CREDENTIALS.into()),
                };
                let reason = if matches!(refusal, Error::Forbidden(ref m) if m == WRONG_CREDENTIALS) {
                    "wrong credentials"
                } else {
                    "locked"
                };
                self.count_failed(&failed(reason), now).await;
                return Err(refusal);
            }
        };
        db.clear_login_attempts(&login, &network).await?;
        let (token, hash) = secrets::new_token();
        let expires = now + self.token_lifetime;
        let actor = Actor {
            user_id: user.id,
            name: user.name.clone(),
            login: user.login.clone(),
            admin: user.is_super == 1 || user.id == 1,
            door,
            source: from.map(|ip| ip.to_string()).unwrap_or_default(),
        };
        let change = serde_json::json!({"login": login});
        let log = actor.entry(
            "sessions",
            Action::Login,
            Summary::Text(user.login.clone()),
            message(&change, &[]),
        );
        db.open_session(user.id, &hash, now, expires, &log).await?;
        let extn = db.user_extn(user.id).await?.unwrap_or_default();
        Ok(Session {
            token,
            expires,
            user,
            extn,
        })
    }

    /// Ends the session whose token hashes to `token_hash`.
    pub async fn log_out(&self, actor: &Actor, token_hash: &str) -> Result<()> {
        let log = actor.entry("sessions", Action::Logout, Summary::Text("OK".into()), "{}".into());
        Ok(self.db.close_session(token_hash, timestamp::now(), &log).await?)
    }

    /// A failed login counted on its operation-log row; a row that cannot
    /// be written is logged, and the answer stands.
    async fn count_failed(&self, failed: &FailedLogin<'_>, now: OffsetDateTime) {
        if let Err(err) = self.db.count_failed_login(failed, now).await {
            tracing::error!(error = %err, "could not count a failed login in the operation log");
        }
    }
}

/// A network that has had too many names counted may try no new one.
fn network_full() -> Error {
    Error::Busy(format!(
        "too many failed logins from your network ({} names); try again after {} without one",
        crate::store::users::MAX_NAMES_PER_NETWORK,
        humantime::format_duration(std::time::Duration::from_secs(LOCKOUT.whole_seconds().unsigned_abs()))
    ))
}

fn locked(until: OffsetDateTime) -> Error {
    Error::Forbidden(format!(
        "login locked after {} wrong passwords; try again after {} UTC",
        crate::store::users::MAX_LOGIN_ATTEMPTS,
        timestamp::format(&until)
    ))
}
