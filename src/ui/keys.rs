//! Programmable keys: a device's own keys and its template, and the key
//! templates, each edited as a table of rows (slot, type, value, label).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Admin, Console, Fields, Routes, Submission, flash, list_params, merge, pager};
use crate::admin::keys::{DeviceKeysInput, KeyInput, KeyTemplateInput};
use crate::domain::keys::{KeyType, PhoneKey};
use crate::store::ListParams;

pub fn routes() -> Routes {
    Routes::default()
        .route("/ui/devices/{id}/keys", get(device_form).post(device_save))
        .route("/ui/key_templates", get(template_list).post(template_create))
        .route("/ui/key_templates/{id}", get(template_form).post(template_save))
        .route("/ui/key_templates/{id}/delete", post(template_delete))
}

/// Blank rows under the stored ones, for adding keys.
const BLANK_ROWS: usize = 4;

/// The rows of a keys table: the keys, then blank ones.
fn rows(keys: &[PhoneKey]) -> Value {
    let mut rows: Vec<Value> = keys
        .iter()
        .map(|k| json!({"slot": k.slot.to_string(), "type": k.kind.name(), "value": k.value, "label": k.label}))
        .collect();
    rows.extend((0..BLANK_ROWS).map(|_| json!({"slot": "", "type": "", "value": "", "label": ""})));
    Value::Array(rows)
}

/// The rows as sent, for refilling the table after a refusal.
fn sent_rows(fields: &Fields) -> Value {
    let columns = ["slot", "type", "value", "label"].map(|c| fields.column(c));
    let rows = (0..columns[0].len())
        .map(|i| {
            let cell = |c: usize| columns[c].get(i).copied().unwrap_or_default();
            json!({"slot": cell(0), "type": cell(1), "value": cell(2), "label": cell(3)})
        })
        .collect();
    Value::Array(rows)
}

/// The keys a form's rows give: each row with a type, in order. A slot
/// that is not a whole number goes to the core as none, which names it.
fn sent_keys(fields: &Fields) -> Vec<KeyInput> {
    let [slots, types, values, labels] = ["slot", "type", "value", "label"].map(|c| fields.column(c));
    types
        .iter()
        .enumerate()
        .filter(|(_, kind)| !kind.is_empty())
        .map(|(i, kind)| KeyInput {
            slot: slots.get(i).and_then(|s| s.parse::<u64>().ok()).map(Into::into),
            kind: Some((*kind).to_string()),
            value: values.get(i).map(|v| (*v).to_string()),
            label: labels.get(i).map(|l| (*l).to_string()),
        })
        .collect()
}

fn key_types() -> Vec<&'static str> {
    KeyType::ALL.iter().map(|t| t.name()).collect()
}

async fn device_page(console: &Console, admin: &Admin, id: i64, extra: Value, status: StatusCode) -> Response {
    let keys = match console.core.device_keys(id).await {
        Ok(keys) => keys,
        Err(err) => return console.refused(admin, err),
    };
    let device = match console.core.device(id).await {
        Ok(device) => device,
        Err(err) => return console.refused(admin, err),
    };
    let templates = match ListParams::from_map(HashMap::from([("perPage".to_string(), "1000".to_string())])) {
        Ok(params) => console.core.list_key_templates(params).await,
        Err(err) => Err(err.into()),
    };
    let templates = match templates {
        Ok(page) => page.rows,
        Err(err) => return console.refused(admin, err),
    };
    let data = json!({
        "nav": "devices",
        "action": format!("/ui/devices/{id}/keys"),
        "heading": format!("{} {}", device.name, device.kind),
        "mac": device.mac,
        "rows": rows(&keys.keys),
        "types": key_types(),
        "templates": templates.iter().map(|t| json!({"id": t.id, "name": t.name})).collect::<Vec<_>>(),
        "template_id": keys.template_id,
        "effective": keys.effective,
    });
    keys_page(console, admin, data, extra, status)
}

async fn device_form(
    State(console): State<Console>,
    admin: Admin,
    Path(id): Path<i64>,
    query: Query<HashMap<String, String>>,
) -> Response {
    let done = done_of(&admin, query);
    device_page(&console, &admin, id, done, StatusCode::OK).await
}

/// The keys table, for a device or a template: `data` with `extra` over it.
fn keys_page(console: &Console, admin: &Admin, mut data: Value, extra: Value, status: StatusCode) -> Response {
    merge(&mut data, json!({"error": null, "done": null}));
    merge(&mut data, extra);
    console.page_with_status(admin, status, "keys.html", data)
}

/// What a page reached after a save says: `?done=updated`.
fn done_of(admin: &Admin, Query(query): Query<HashMap<String, String>>) -> Value {
    json!({"done": flash(admin.lang, &query)})
}

async fn device_save(
    State(console): State<Console>,
    Path(id): Path<i64>,
    Submission { admin, fields }: Submission,
) -> Response {
    let template_id = fields.get("template_id").parse().ok();
    let input = DeviceKeysInput {
        keys: sent_keys(&fields),
        template_id,
    };
    match console.core.set_device_keys(&admin.actor(), id, input).await {
        Ok(_) => Redirect::to(&format!("/ui/devices/{id}/keys?done=updated")).into_response(),
        Err(err) => {
            let extra = json!({"rows": sent_rows(&fields), "template_id": template_id, "error": err.to_string()});
            device_page(&console, &admin, id, extra, StatusCode::BAD_REQUEST).await
        }
    }
}

async fn list_page(
    console: &Console,
    admin: &Admin,
    query: &HashMap<String, String>,
    extra: Value,
    status: StatusCode,
) -> Response {
    let listed = match list_params(query, &[]) {
        Ok(params) => console.core.list_key_templates(params).await,
        Err(err) => Err(err),
    };
    let listed = match listed {
        Ok(listed) => listed,
        Err(err) => return console.refused(admin, err),
    };
    let mut data = json!({
        "nav": "key_templates",
        "done": flash(admin.lang, query),
        "pager": pager(&listed, &[]),
        "templates": listed.rows.iter().map(|t| json!({"id": t.id, "name": t.name, "keys": t.keys.len()})).collect::<Vec<_>>(),
        "name": "",
        "error": null,
    });
    merge(&mut data, extra);
    console.page_with_status(admin, status, "key_templates.html", data)
}

async fn template_list(
    State(console): State<Console>,
    admin: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    list_page(&console, &admin, &query, json!({}), StatusCode::OK).await
}

async fn template_create(State(console): State<Console>, Submission { admin, fields }: Submission) -> Response {
    let input = KeyTemplateInput {
        name: fields.given("name"),
        keys: None,
    };
    match console.core.create_key_template(&admin.actor(), input).await {
        Ok(id) => Redirect::to(&format!("/ui/key_templates/{id}")).into_response(),
        Err(err) => {
            let extra = json!({"name": fields.get("name"), "error": err.to_string()});
            list_page(&console, &admin, &HashMap::new(), extra, StatusCode::BAD_REQUEST).await
        }
    }
}

async fn template_page(console: &Console, admin: &Admin, id: i64, extra: Value, status: StatusCode) -> Response {
    let template = match console.core.key_template(id).await {
        Ok(template) => template,
        Err(err) => return console.refused(admin, err),
    };
    let data = json!({
        "nav": "key_templates",
        "action": format!("/ui/key_templates/{id}"),
        "template": {"id": id, "name": template.name},
        "heading": template.name,
        "rows": rows(&template.keys),
        "types": key_types(),
    });
    keys_page(console, admin, data, extra, status)
}

async fn template_form(
    State(console): State<Console>,
    admin: Admin,
    Path(id): Path<i64>,
    query: Query<HashMap<String, String>>,
) -> Response {
    let done = done_of(&admin, query);
    template_page(&console, &admin, id, done, StatusCode::OK).await
}

async fn template_save(
    State(console): State<Console>,
    Path(id): Path<i64>,
    Submission { admin, fields }: Submission,
) -> Response {
    let input = KeyTemplateInput {
        name: fields.given("name"),
        keys: Some(sent_keys(&fields)),
    };
    match console.core.update_key_template(&admin.actor(), id, input).await {
        Ok(()) => Redirect::to(&format!("/ui/key_templates/{id}?done=updated")).into_response(),
        Err(err) => {
            let extra = json!({"rows": sent_rows(&fields), "error": err.to_string()});
            template_page(&console, &admin, id, extra, StatusCode::BAD_REQUEST).await
        }
    }
}

async fn template_delete(
    State(console): State<Console>,
    Path(id): Path<i64>,
    Submission { admin, .. }: Submission,
) -> Response {
    match console.core.delete_key_template(&admin.actor(), id).await {
        Ok(()) => Redirect::to("/ui/key_templates?done=deleted").into_response(),
        Err(err) => console.refused(&admin, err),
    }
}
