//! The operation-log rows the core writes: who (the [`Actor`]), through
//! which door, what (resource and action) and the change itself as JSON,
//! with every secret replaced by `***` however deep it sits.

use serde_json::Value;

use super::Actor;
use crate::store::logs::{self, LogEntry, NewLogEntry, Summary};

/// Create, update, delete and import, as log rows name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
    Import,
    Login,
    Logout,
    /// Phones told to re-check now.
    Resync,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "CREATE",
            Action::Update => "UPDATE",
            Action::Delete => "DELETE",
            Action::Import => "IMPORT",
            Action::Login => "LOGIN",
            Action::Logout => "LOGOUT",
            Action::Resync => "RESYNC",
        }
    }
}

/// Every action a log row names.
pub const ACTIONS: [&str; 6] = ["CREATE", "UPDATE", "DELETE", "IMPORT", "LOGIN", "LOGOUT"];

/// The longest message kept.
const MAX_MESSAGE: usize = 4000;

/// Keys whose values are secrets, wherever they appear.
const SECRET_KEYS: &[&str] = &["password", "passwd", "dev_key", "token", "secret", "ha1", "key"];

fn is_secret_key(key: &str) -> bool {
    let key = key.to_lowercase();
    SECRET_KEYS.iter().any(|s| key.contains(s))
}

/// Replaces every value whose key names a secret, or is one of
/// `also_secret`, at any depth.
pub fn redact(value: &mut Value, also_secret: &[&str]) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) || also_secret.contains(&k.as_str()) {
                    *v = Value::String("***".into());
                } else {
                    redact(v, also_secret);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact(item, also_secret)),
        _ => {}
    }
}

/// What a change's row says: the change as JSON (secrets removed, and the
/// values named in `also_secret`), cut to a bounded length.
pub fn message(change: &impl serde::Serialize, also_secret: &[&str]) -> String {
    let mut value = serde_json::to_value(change).unwrap_or(Value::Null);
    redact(&mut value, also_secret);
    let mut text = value.to_string();
    if text.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

impl super::Admin {
    /// A page of the operation log, newest first.
    pub async fn list_logs(&self, params: crate::store::ListParams) -> super::Result<crate::store::Page<LogEntry>> {
        Ok(self.db.list(&logs::LIST, &params, None).await?)
    }
}

impl Actor {
    /// The log row of a change this actor makes.
    pub fn entry(&self, resource: &str, action: Action, summary: Summary, message: String) -> NewLogEntry {
        NewLogEntry {
            user_id: self.user_id,
            user_name: self.name.clone(),
            source_ip: self.source.clone(),
            resource: resource.to_string(),
            action: action.name(),
            summary,
            message: with_door(message, self),
        }
    }
}

/// The message with the door it came through (`"via": "console"`), unless
/// it came through the API or from sipprov itself, as XSwitch's rows do.
fn with_door(message: String, actor: &Actor) -> String {
    if matches!(actor.door, super::Door::Api | super::Door::System) {
        return message;
    }
    match serde_json::from_str::<Value>(&message) {
        Ok(Value::Object(mut map)) => {
            map.insert("via".into(), serde_json::to_value(actor.door).unwrap_or(Value::Null));
            Value::Object(map).to_string()
        }
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_removed_at_any_depth() {
        let change = serde_json::json!({"login": "admin", "password": "hunter22", "rows": [{"extn_password": "p1", "name": "n"}], "dev_key": "k"});
        let msg = message(&change, &[]);
        assert!(
            !msg.contains("hunter22") && !msg.contains("p1") && !msg.contains("\"k\""),
            "{msg}"
        );
        assert!(msg.contains("admin") && msg.contains("\"n\""));
        let setting = message(
            &serde_json::json!({"realm": "PROVISION", "k": "auth_password", "v": "fetch-secret"}),
            &["v"],
        );
        assert!(
            !setting.contains("fetch-secret") && setting.contains("auth_password"),
            "{setting}"
        );
    }

    #[test]
    fn rows_name_the_door_but_the_apis() {
        let mut actor = Actor::command_line();
        let entry = actor.entry(
            "device_provisions",
            Action::Import,
            Summary::Rows,
            "{\"file\":\"a.csv\"}".into(),
        );
        assert_eq!(entry.message, r#"{"file":"a.csv","via":"cli"}"#);
        assert_eq!(
            (entry.user_id, entry.source_ip.as_str(), entry.action),
            (0, "cli", "IMPORT")
        );
        actor.door = super::super::Door::Api;
        assert_eq!(actor.entry("x", Action::Create, Summary::Id, "{}".into()).message, "{}");
    }
}
