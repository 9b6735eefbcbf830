//! The site's provisioning settings (dicts realm `PROVISION`), with each
//! field's validation message beside it.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{Admin, Console, Refusal, Routes, Submission, flash};
use crate::provision::settings::{KEYS, SITE_REALM, is_secret, validate};

pub fn routes() -> Routes {
    Routes::default().route("/ui/settings", get(show).post(save))
}

/// The choices of the settings that have a fixed set.
fn choices(key: &str) -> Option<&'static [&'static str]> {
    match key {
        "transport" => Some(&["udp", "tcp", "tls"]),
        "auth_mode" => Some(&["off", "basic", "digest"]),
        _ => None,
    }
}

/// The site's stored rows: key → (id, value).
async fn stored(console: &Console, admin: &Admin) -> Result<HashMap<String, (i64, String)>, Refusal> {
    let rows = console
        .json(admin, Method::GET, &format!("/api/dicts/realm/{SITE_REALM}"), None)
        .await?;
    Ok(rows
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| {
            let key = row["k"].as_str()?.to_string();
            Some((key, (row["id"].as_i64()?, row["v"].as_str().unwrap_or("").to_string())))
        })
        .collect())
}

fn page(
    console: &Console,
    admin: &Admin,
    values: &HashMap<&str, String>,
    set: &HashMap<String, (i64, String)>,
    errors: Value,
    done: Value,
) -> Response {
    let settings: Vec<Value> = KEYS
        .iter()
        .map(|(key, hint)| {
            json!({
                "key": key,
                "hint": hint,
                "value": if is_secret(key) { "" } else { values.get(key).map_or("", String::as_str) },
                "secret": is_secret(key),
                "is_set": set.contains_key(*key),
                "choices": choices(key),
                "wide": *key == "allowed_networks",
            })
        })
        .collect();
    let status = super::form_status(&errors);
    console.page_with_status(
        admin,
        status,
        "settings.html",
        json!({"nav": "settings", "settings": settings, "errors": errors, "done": done}),
    )
}

async fn show(State(console): State<Console>, admin: Admin, Query(query): Query<HashMap<String, String>>) -> Response {
    let set = match stored(&console, &admin).await {
        Ok(set) => set,
        Err(refusal) => return console.refused(&admin, refusal),
    };
    let values = set.iter().map(|(k, (_, v))| (k.as_str(), v.clone())).collect();
    page(&console, &admin, &values, &set, json!({}), flash(admin.lang, &query))
}

/// What saving one field does.
enum Change<'a> {
    Add(&'a str, &'a str),
    Replace(i64, &'a str),
    Remove(i64),
}

async fn save(State(console): State<Console>, Submission { admin, fields }: Submission) -> Response {
    let set = match stored(&console, &admin).await {
        Ok(set) => set,
        Err(refusal) => return console.refused(&admin, refusal),
    };
    // Every field is checked before anything is written.
    let mut errors = serde_json::Map::new();
    let mut changes = Vec::new();
    for (key, _) in KEYS {
        let value = fields.get(key);
        let current = set.get(*key);
        if value.is_empty() {
            // An empty secret keeps the stored one; another empty field goes back to the default.
            if let (false, Some((id, _))) = (is_secret(key), current) {
                changes.push(Change::Remove(*id));
            }
            continue;
        }
        if let Err(reason) = validate(key, value) {
            errors.insert((*key).to_string(), json!(reason));
            continue;
        }
        match current {
            Some((_, v)) if v == value && !is_secret(key) => {}
            Some((id, _)) => changes.push(Change::Replace(*id, value)),
            None => changes.push(Change::Add(key, value)),
        }
    }
    if !errors.is_empty() {
        let values = KEYS.iter().map(|(k, _)| (*k, fields.get(k).to_string())).collect();
        return page(&console, &admin, &values, &set, Value::Object(errors), Value::Null);
    }
    for change in changes {
        let written = match change {
            Change::Add(k, v) => {
                let body = json!({"realm": SITE_REALM, "k": k, "v": v});
                console.json(&admin, Method::POST, "/api/dicts", Some(body)).await
            }
            Change::Replace(id, v) => {
                console
                    .json(&admin, Method::PUT, &format!("/api/dicts/{id}"), Some(json!({"v": v})))
                    .await
            }
            Change::Remove(id) => {
                console
                    .json(&admin, Method::DELETE, &format!("/api/dicts/{id}"), None)
                    .await
            }
        };
        if let Err(refusal) = written {
            return console.refused(&admin, refusal);
        }
    }
    Redirect::to("/ui/settings?done=settings").into_response()
}
