//! What the store answers when a query fails: a constraint the change
//! broke, named as sipprov knows it, or anything else. Constraints are told
//! apart here, by their names (PostgreSQL) or the columns SQLite names, and
//! nowhere above the store.

/// A unique index or foreign key of sipprov's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// A live user's login, any case.
    UserLogin,
    /// A live extension's number in its domain.
    ExtensionNumber,
    /// An extension that is already a line of the MAC.
    PhoneLine,
    /// A live setting's key in its realm.
    SettingKey,
    /// A live queue's name.
    QueueName,
    /// An agent already in the queue.
    QueueAgent,
    /// A queue's parameter key.
    QueueParam,
    /// A device already in the sensor.
    SensorDevice,
    /// A live key template's name.
    KeyTemplateName,
    /// A row another refers to, or one that refers to a missing row.
    Reference,
    /// One sipprov does not name.
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("a unique value is taken ({0:?})")]
    Unique(Constraint),
    #[error("a reference does not hold ({0:?})")]
    ForeignKey(Constraint),
    /// A list parameter that cannot be read.
    #[error(transparent)]
    Field(#[from] super::list::FieldError),
    #[error(transparent)]
    Other(sqlx::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A taken unique value, as the caller's own error.
pub trait OrTaken<T> {
    /// `taken()` when the change broke `constraint`; any other failure as is.
    fn or_taken<E: From<Error>>(self, constraint: Constraint, taken: impl FnOnce() -> E) -> std::result::Result<T, E>;
}

impl<T> OrTaken<T> for Result<T> {
    fn or_taken<E: From<Error>>(self, constraint: Constraint, taken: impl FnOnce() -> E) -> std::result::Result<T, E> {
        self.map_err(|err| match err {
            Error::Unique(broken) if broken == constraint => taken(),
            other => other.into(),
        })
    }
}

/// What each constraint is called: PostgreSQL's index name and the
/// columns SQLite's message names.
const NAMES: &[(Constraint, &str, &str)] = &[
    (Constraint::UserLogin, "users_login_live", "users_login_live"),
    (
        Constraint::ExtensionNumber,
        "extensions_domain_extn_live",
        "extensions.domain, extensions.extn",
    ),
    (
        Constraint::PhoneLine,
        "device_provision_lines_mac_extension",
        "device_provision_lines.mac, device_provision_lines.extension_id",
    ),
    (Constraint::SettingKey, "dicts_realm_k_live", "dicts.realm, dicts.k"),
    (Constraint::QueueName, "queues_name_live", "queues.name"),
    (
        Constraint::KeyTemplateName,
        "key_templates_live_name",
        "key_templates.name",
    ),
    (
        Constraint::QueueAgent,
        "queue_agents_live",
        "queue_agents.queue_id, queue_agents.agent_id",
    ),
    (
        Constraint::QueueParam,
        "queue_params_live",
        "queue_params.ref_id, queue_params.k",
    ),
    (
        Constraint::SensorDevice,
        "extn_alarm_devices_live",
        "extn_alarm_devices.extn_alarms_id, extn_alarm_devices.device_id",
    ),
];

fn named(name: Option<&str>, message: &str) -> Constraint {
    NAMES
        .iter()
        .find(|(_, pg, sqlite)| name == Some(*pg) || message.contains(sqlite))
        .map_or(Constraint::Other, |(c, _, _)| *c)
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Error {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Error::Unique(named(db.constraint(), db.message()))
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => Error::ForeignKey(Constraint::Reference),
            _ => Error::Other(err),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(err: sqlx::migrate::MigrateError) -> Error {
        Error::Other(sqlx::Error::Migrate(Box::new(err)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_are_named_on_both_backends() {
        assert_eq!(
            named(Some("extensions_domain_extn_live"), ""),
            Constraint::ExtensionNumber
        );
        assert_eq!(
            named(None, "UNIQUE constraint failed: extensions.domain, extensions.extn"),
            Constraint::ExtensionNumber
        );
        assert_eq!(
            named(None, "UNIQUE constraint failed: index 'users_login_live'"),
            Constraint::UserLogin
        );
        assert_eq!(
            named(None, "UNIQUE constraint failed: sessions.token_hash"),
            Constraint::Other
        );
    }
}
