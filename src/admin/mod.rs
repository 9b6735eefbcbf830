//! The admin core: the rules about device records, extensions, users and
//! settings, in one typed layer that every door calls alike — the API, the
//! console and the command line. Each change is checked here, written by
//! the store with its operation-log row in the same transaction, and
//! recorded with its [`Actor`].
//!
//! Beside it stands the phone core (`provision`): what a phone fetches.

pub mod contacts;
pub mod devices;
pub mod error;
pub mod export;
pub mod extensions;
pub mod keys;
pub mod lenient;
pub mod log;
pub mod push;
pub mod rows;
pub mod sessions;
pub mod settings;
pub mod timeline;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

pub use self::error::{Error, Result, RowError};
use crate::packs::PackShelf;
use crate::passwords::LoginGate;
use crate::secrets::SecretBox;
use crate::store::Db;
use crate::store::users::SessionUser;
use crate::workers::WorkerPool;

/// What the admin core works with.
#[derive(Clone)]
pub struct Admin {
    pub db: Db,
    pub secrets: SecretBox,
    pub packs: Arc<PackShelf>,
    /// Password hashing, a few at a time (see `passwords`).
    pub passwords: Arc<WorkerPool>,
    /// Logins under way and started, per source network.
    pub login_gate: Arc<LoginGate>,
    /// How long a session lasts.
    pub token_lifetime: Duration,
}

/// The door a change came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Door {
    Api,
    Console,
    Cli,
    /// sipprov itself, at start (the first admin password).
    System,
}

/// Who makes a change, and from where: what its log row names.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: i64,
    /// The user's display name, as log rows show it.
    pub name: String,
    pub login: String,
    /// Whether the user is an administrator.
    pub admin: bool,
    pub door: Door,
    /// The client's address; `cli` for the command line.
    pub source: String,
}

impl Actor {
    /// A signed-in user acting through `door` from `source`.
    pub fn signed_in(user: &SessionUser, door: Door, source: Option<std::net::IpAddr>) -> Actor {
        Actor {
            user_id: user.id,
            name: user.name.clone(),
            login: user.login.clone(),
            admin: user.is_admin(),
            door,
            source: source.map(|ip| ip.to_string()).unwrap_or_default(),
        }
    }

    /// sipprov itself, named as XSwitch's log names it: user 0, `SYSTEM`.
    pub fn system() -> Actor {
        Actor {
            user_id: 0,
            name: "SYSTEM".into(),
            login: "system".into(),
            admin: true,
            door: Door::System,
            source: String::new(),
        }
    }

    /// The command line, run by whoever can read the data dir: the system
    /// user (0) acts.
    pub fn command_line() -> Actor {
        let who = std::env::var("USER").unwrap_or_default();
        Actor {
            user_id: 0,
            name: if who.is_empty() {
                "command line".into()
            } else {
                format!("command line ({who})")
            },
            login: "system".into(),
            admin: true,
            door: Door::Cli,
            source: "cli".into(),
        }
    }
}

/// A required name, trimmed: printable and at most `max` characters, or a
/// refusal naming `field`.
pub(crate) fn required_name(field: &str, value: Option<String>, max: usize) -> Result<String> {
    let name = value.map(|n| n.trim().to_string()).unwrap_or_default();
    if name.is_empty() {
        return Err(Error::field(field, "required"));
    }
    if name.chars().count() > max || name.chars().any(char::is_control) {
        return Err(Error::field(
            field,
            format!("must be printable and at most {max} characters"),
        ));
    }
    Ok(name)
}

impl Admin {
    /// The user of the live session whose token hashes to `token_hash`.
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<SessionUser>> {
        Ok(self
            .db
            .session_user(token_hash, crate::domain::timestamp::now())
            .await?)
    }

    /// Records the deletion of row `id` of a resource whose rules have not
    /// moved into the core, as [`Admin::record`] does.
    pub async fn record_deleted(&self, actor: &Actor, resource: &str, id: i64) {
        let change = serde_json::json!({ "id": id });
        self.record(actor, resource, log::Action::Delete, Some(id), &change)
            .await;
    }

    /// Records a change to a resource whose rules have not moved into the
    /// core (queues, sensors, media): its row is written right after the
    /// change. A row that cannot be written is logged, and the change stands.
    pub async fn record(
        &self,
        actor: &Actor,
        resource: &str,
        action: log::Action,
        id: Option<i64>,
        change: &impl serde::Serialize,
    ) {
        let summary = if id.is_some() {
            crate::store::logs::Summary::Id
        } else {
            crate::store::logs::Summary::Text(String::new())
        };
        let entry = actor.entry(resource, action, summary, log::message(change, &[]));
        if let Err(err) = self.db.append_log(&entry, id, crate::domain::timestamp::now()).await {
            tracing::error!(error = %err, "could not write the operation log");
        }
    }
}
