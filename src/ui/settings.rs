//! The site's provisioning settings (dicts realm `PROVISION`), with each
//! field's validation message beside it.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{Admin, Console, Routes, Submission, flash};
use crate::admin::settings::SettingInput;
use crate::provision::settings::{SITE_REALM, is_secret, site_keys, validate};

pub fn routes() -> Routes {
    Routes::default().route("/ui/settings", get(show).post(save))
}

/// The choices of the settings that have a fixed set.
fn choices(key: &str) -> Option<&'static [&'static str]> {
    match key {
        "transport" => Some(&["udp", "tcp", "tls"]),
        "auth_mode" => Some(&["off", "basic", "digest"]),
        "push_on_change" => Some(&["off", "on"]),
        "push_via" => Some(&["direct", "freeswitch"]),
        _ => None,
    }
}

/// The site's stored rows: key → (id, value), secret values masked.
async fn stored(console: &Console) -> crate::admin::Result<HashMap<String, (i64, String)>> {
    let rows = console.core.settings(Some(SITE_REALM)).await?;
    Ok(rows.into_iter().map(|row| (row.k, (row.id, row.v))).collect())
}

fn page(
    console: &Console,
    admin: &Admin,
    values: &HashMap<&str, String>,
    set: &HashMap<String, (i64, String)>,
    errors: Value,
    done: Value,
) -> Response {
    let settings: Vec<Value> = site_keys()
        .map(|(key, hint)| {
            let hint = super::i18n::setting_hint(admin.lang, key, hint);
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
    let set = match stored(&console).await {
        Ok(set) => set,
        Err(err) => return console.refused(&admin, err),
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
    let set = match stored(&console).await {
        Ok(set) => set,
        Err(err) => return console.refused(&admin, err),
    };
    // Every field is checked before anything is written.
    let mut errors = serde_json::Map::new();
    let mut changes = Vec::new();
    for (key, _) in site_keys() {
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
        let values = site_keys().map(|(k, _)| (*k, fields.get(k).to_string())).collect();
        return page(&console, &admin, &values, &set, Value::Object(errors), Value::Null);
    }
    let actor = admin.actor();
    for change in changes {
        let written = match change {
            Change::Add(k, v) => {
                let input = SettingInput {
                    realm: Some(SITE_REALM.into()),
                    k: Some(k.into()),
                    v: Some(v.into()),
                    ..SettingInput::default()
                };
                console.core.create_setting(&actor, input).await.map(drop)
            }
            Change::Replace(id, v) => {
                let input = SettingInput {
                    v: Some(v.into()),
                    ..SettingInput::default()
                };
                console.core.update_setting(&actor, id, input).await
            }
            Change::Remove(id) => console.core.delete_setting(&actor, id).await,
        };
        if let Err(err) = written {
            return console.refused(&admin, err);
        }
    }
    Redirect::to("/ui/settings?done=settings").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::i18n::{Lang, labels};

    /// A key the page shows without a label fails the whole page.
    #[test]
    fn every_site_setting_has_a_label_in_each_language() {
        for lang in [Lang::En, Lang::Zh] {
            let labels = labels(lang);
            for (key, _) in site_keys() {
                assert!(labels.get(format!("setting_{key}")).is_some(), "{key} has no label");
            }
        }
    }
}
