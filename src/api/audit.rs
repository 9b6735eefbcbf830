//! The operation log, written by one layer around the whole API: every
//! successful POST/PUT/DELETE and every login attempt and logout becomes a
//! row, with the request body (secrets removed) as its message.

use std::fmt;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::domain::{source_network, timestamp};
use crate::error::ApiError;
use crate::store::Db;
use crate::store::logs::{FailedLogin, NewLogEntry};
use crate::store::users::SessionUser;

/// Bodies larger than this are not copied into the log.
const MAX_RECORDED_BODY: usize = 64 * 1024;
/// The longest message kept.
const MAX_MESSAGE: usize = 4000;
/// The most of an attempted login name kept.
const MAX_LOGIN_SHOWN: usize = 64;
/// Responses are read back for their summary up to this size.
const MAX_SUMMARY_RESPONSE: usize = 64 * 1024 * 1024;

/// A handler that succeeded without changing anything (a dry run) says so,
/// and no row is written.
#[derive(Debug, Clone, Copy)]
pub struct NothingChanged;

/// Body fields that held a secret although their name does not say so,
/// named by the handler that knows: the value (`v`) of a secret setting.
#[derive(Debug, Clone, Copy)]
pub struct SecretFields(pub &'static [&'static str]);

pub async fn record(State(db): State<Db>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    if !matches!(method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    let source_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let is_multipart = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    let declared_len = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());

    // Small bodies are read here to be recorded, then handed on unchanged;
    // uploads and large imports stream past untouched.
    let (req, body) = if is_multipart || declared_len.is_none_or(|n| n > MAX_RECORDED_BODY) {
        (req, None)
    } else {
        let (parts, body) = req.into_parts();
        match axum::body::to_bytes(body, MAX_RECORDED_BODY).await {
            Ok(bytes) => (Request::from_parts(parts, Body::from(bytes.clone())), Some(bytes)),
            Err(_) => {
                return ApiError::PayloadTooLarge("request body is larger than its declared length".into())
                    .into_response();
            }
        }
    };

    let action = action_of(&method, &path);
    let response = next.run(req).await;
    let status = response.status();
    let is_login = action == "LOGIN";
    if !(status.is_success() || is_login && status == StatusCode::FORBIDDEN)
        || response.extensions().get::<NothingChanged>().is_some()
    {
        return response;
    }

    let also_secret = response.extensions().get::<SecretFields>().map_or(&[][..], |f| f.0);
    let message = match &body {
        Some(bytes) => redacted_message(bytes, is_form, also_secret),
        None => format!(
            "{{\"note\":\"body not recorded ({} bytes)\"}}",
            declared_len.map_or("unknown".into(), |n| n.to_string())
        ),
    };
    let (response, outcome) = read_outcome(response).await;
    let Some(actor) = response.extensions().get::<SessionUser>().cloned() else {
        // A failed login: counted on its row for the hour, name and network.
        let login = attempted_login(&body, is_form).unwrap_or_default();
        let network = source_ip
            .parse()
            .map_or_else(|_| "unknown".to_string(), |ip| source_network(ip).to_string());
        let reason = if outcome.message.contains("locked") {
            "locked"
        } else {
            "wrong credentials"
        };
        let failed = FailedLogin {
            login: &login,
            network: &network,
            reason,
        };
        if let Err(err) = db.count_failed_login(&failed, timestamp::now()).await {
            tracing::error!(error = %err, "could not count a failed login in the operation log");
        }
        return response;
    };
    let (user_id, user_name, summary) = (actor.id, actor.name.clone(), outcome.summary(&actor));
    let entry = NewLogEntry {
        user_id,
        user_name,
        source_ip,
        resource: resource_of(&path).to_string(),
        action,
        summary,
        message,
    };
    if let Err(err) = db.append_log(&entry, timestamp::now()).await {
        // The change itself is done; a lost log row must not turn it into an error.
        tracing::error!(error = %err, "could not write the operation log");
    }
    response
}

/// Every action a log row names.
pub const ACTIONS: [&str; 6] = ["CREATE", "UPDATE", "DELETE", "IMPORT", "LOGIN", "LOGOUT"];

/// Every resource a log row can name: those of the documented API paths, sorted.
pub fn resources() -> Vec<String> {
    let mut resources: Vec<String> = super::openapi()
        .paths
        .paths
        .keys()
        .map(|path| resource_of(path).to_string())
        .collect();
    resources.sort();
    resources.dedup();
    resources
}

/// `device_provisions` in `/api/device_provisions/12`.
fn resource_of(path: &str) -> &str {
    path.trim_start_matches('/').split('/').nth(1).unwrap_or("")
}

fn action_of(method: &Method, path: &str) -> &'static str {
    match (method, resource_of(path)) {
        (&Method::POST, "sessions") => "LOGIN",
        (&Method::DELETE, "sessions") => "LOGOUT",
        (&Method::POST, _) if path.ends_with("/import") => "IMPORT",
        (&Method::POST, _) => "CREATE",
        (&Method::DELETE, _) => "DELETE",
        _ => "UPDATE",
    }
}

const SECRET_KEYS: &[&str] = &["password", "passwd", "dev_key", "token", "secret", "ha1", "key"];

fn is_secret_key(key: &str) -> bool {
    let key = key.to_lowercase();
    SECRET_KEYS.iter().any(|s| key.contains(s))
}

/// Replaces every value whose key names a secret, or is one of
/// `also_secret`, at any depth.
fn redact(value: &mut Value, also_secret: &[&str]) {
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

fn parse_request(bytes: &[u8], is_form: bool) -> Option<Value> {
    serde_json::from_slice::<Value>(bytes).ok().or_else(|| {
        is_form.then(|| {
            Value::Object(
                form_urlencoded::parse(bytes)
                    .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                    .collect(),
            )
        })
    })
}

fn redacted_message(bytes: &[u8], is_form: bool, also_secret: &[&str]) -> String {
    if bytes.is_empty() {
        return "{}".into();
    }
    let mut message = match parse_request(bytes, is_form) {
        Some(mut value) => {
            redact(&mut value, also_secret);
            value.to_string()
        }
        None => format!("{{\"note\":\"{} bytes, not JSON\"}}", bytes.len()),
    };
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}

fn attempted_login(body: &Option<Bytes>, is_form: bool) -> Option<String> {
    let value = parse_request(body.as_ref()?, is_form)?;
    ["login", "username"].iter().find_map(|k| {
        value
            .get(k)?
            .as_str()
            .map(|login| login.chars().take(MAX_LOGIN_SHOWN).collect())
    })
}

/// What a response says about the change: XSwitch's `data` (an id or rows)
/// and its `message`.
#[derive(Default)]
struct Outcome {
    data: Data,
    message: String,
}

#[derive(Default)]
enum Data {
    Id(String),
    Rows(usize),
    #[default]
    Other,
}

impl Outcome {
    fn summary(&self, actor: &SessionUser) -> String {
        match &self.data {
            Data::Id(id) => format!("id {id}"),
            Data::Rows(n) => format!("{n} rows"),
            Data::Other if !self.message.is_empty() && self.message != "success" => self.message.clone(),
            Data::Other => actor.login.clone(),
        }
    }
}

async fn read_outcome(response: Response) -> (Response, Outcome) {
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, MAX_SUMMARY_RESPONSE).await {
        Ok(bytes) => {
            let outcome = serde_json::from_slice::<OutcomeWire>(&bytes)
                .map(|w| w.0)
                .unwrap_or_default();
            (Response::from_parts(parts, Body::from(bytes)), outcome)
        }
        Err(err) => {
            tracing::error!(error = %err, "could not read a response for the operation log");
            (Response::from_parts(parts, Body::empty()), Outcome::default())
        }
    }
}

/// Reads `data` and `message` without building the rows: an import's answer
/// can hold a hundred thousand of them.
struct OutcomeWire(Outcome);

impl<'de> de::Deserialize<'de> for OutcomeWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TopVisitor;
        impl<'de> Visitor<'de> for TopVisitor {
            type Value = OutcomeWire;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut outcome = Outcome::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "data" => outcome.data = map.next_value::<DataWire>()?.0,
                        "message" | "text" => {
                            outcome.message = map.next_value::<Value>()?.as_str().unwrap_or_default().to_string()
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(OutcomeWire(outcome))
            }
        }
        d.deserialize_map(TopVisitor)
    }
}

struct DataWire(Data);

impl<'de> de::Deserialize<'de> for DataWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DataVisitor;
        impl<'de> Visitor<'de> for DataVisitor {
            type Value = DataWire;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(DataWire(Data::Id(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(DataWire(Data::Id(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(DataWire(Data::Id(v.to_string())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(DataWire(Data::Rows(n)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(DataWire(Data::Other))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(DataWire(Data::Other))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(DataWire(Data::Other))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(DataWire(Data::Other))
            }
        }
        d.deserialize_any(DataVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_removed_at_any_depth() {
        let msg = redacted_message(
            br#"{"login":"admin","password":"hunter22","rows":[{"extn_password":"p1","name":"n"}],"dev_key":"k"}"#,
            false,
            &[],
        );
        assert!(
            !msg.contains("hunter22") && !msg.contains("p1") && !msg.contains("\"k\""),
            "{msg}"
        );
        assert!(msg.contains("admin") && msg.contains("\"n\""));
        let form = redacted_message(b"login=admin&password=hunter22", true, &[]);
        assert!(!form.contains("hunter22") && form.contains("admin"), "{form}");
        let setting = redacted_message(
            br#"{"realm":"PROVISION","k":"auth_password","v":"fetch-secret"}"#,
            false,
            &["v"],
        );
        assert!(
            !setting.contains("fetch-secret") && setting.contains("auth_password"),
            "{setting}"
        );
    }

    #[test]
    fn actions_and_resources() {
        assert_eq!(action_of(&Method::POST, "/api/sessions"), "LOGIN");
        assert_eq!(action_of(&Method::DELETE, "/api/sessions"), "LOGOUT");
        assert_eq!(action_of(&Method::POST, "/api/device_provisions/import"), "IMPORT");
        assert_eq!(action_of(&Method::POST, "/api/extensions/muti_add"), "CREATE");
        assert_eq!(action_of(&Method::PUT, "/api/extensions/3"), "UPDATE");
        assert_eq!(resource_of("/api/device_provisions/12"), "device_provisions");
        for path in ["/api/sessions", "/api/x/import", "/api/x", "/api/x/1"] {
            for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
                assert!(ACTIONS.contains(&action_of(&method, path)), "{method} {path}");
            }
        }
        let resources = resources();
        for logged in ["device_provisions", "extensions", "sessions", "dicts"] {
            assert!(resources.iter().any(|r| r == logged), "{logged} in {resources:?}");
        }
    }

    #[test]
    fn outcome_reads_ids_and_counts_rows() {
        let o = serde_json::from_slice::<OutcomeWire>(br#"{"code":200,"message":"success","data":"12"}"#)
            .unwrap()
            .0;
        assert!(matches!(o.data, Data::Id(ref id) if id == "12"));
        let o = serde_json::from_slice::<OutcomeWire>(br#"{"data":[{"a":1},{"b":[2]}],"code":200}"#)
            .unwrap()
            .0;
        assert!(matches!(o.data, Data::Rows(2)));
        let o = serde_json::from_slice::<OutcomeWire>(br#"{"code":200,"text":"OK"}"#)
            .unwrap()
            .0;
        assert_eq!(o.message, "OK");
    }
}
