//! Devices: the list with each phone's provisioning status, create, edit,
//! delete, preview and CSV export.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Admin, Console, Fields, PAGE_SIZE, Routes, Submission, flash, pager};
use crate::api::device_provisions::{LIST, PENDING, vendor_named};
use crate::api::paging::{ListParams, PageBody};
use crate::domain::{Mac, parse_extn_field, timestamp};
use crate::error::ApiError;
use crate::store::devices::Device;
use crate::store::fetches::PendingPhone;

pub fn routes() -> Routes {
    Routes::default()
        .route("/ui/devices", get(list))
        .route("/ui/devices/export.csv", get(export))
        .route("/ui/devices/new", get(new_form).post(create))
        .route("/ui/devices/{id}", get(edit_form).post(update))
        .route("/ui/devices/{id}/delete", post(delete))
        .route("/ui/devices/{id}/preview", get(preview))
}

/// The list filters the search box offers.
const SEARCH_FIELDS: [&str; 4] = ["mac", "name", "extn", "vendor"];

/// The form fields of a device, as the API names them.
const FIELDS: [&str; 5] = ["name", "mac", "vendor", "type", "extn"];

async fn list(State(console): State<Console>, admin: Admin, Query(query): Query<HashMap<String, String>>) -> Response {
    let field = query
        .get("field")
        .map(String::as_str)
        .filter(|f| SEARCH_FIELDS.contains(f))
        .unwrap_or("mac");
    let q = query.get("q").map_or("", |q| q.trim());
    let page = query.get("page").cloned().unwrap_or_else(|| "1".into());
    let mut params = HashMap::from([
        ("page".to_string(), page),
        ("perPage".to_string(), PAGE_SIZE.to_string()),
    ]);
    if !q.is_empty() {
        params.insert(field.to_string(), q.to_string());
    }
    let listed = match ListParams::from_map(params) {
        Ok(mut params) => match vendor_named(&console.app.packs.current(), &mut params) {
            Ok(()) => LIST.fetch::<Device>(&console.app.db, &params).await,
            Err(err) => Err(err),
        },
        Err(err) => Err(err),
    };
    let (envelope, error) = match listed {
        Ok(page) => (page, None),
        // A search the list cannot take (`mac=xyz`) is shown beside the box.
        Err(err) if err.status().is_client_error() => (empty_page(), Some(err.to_string())),
        Err(err) => return super::problem(&console, admin.lang, err.status(), &err.to_string()),
    };
    let rows = match table_rows(&console, &envelope.data).await {
        Ok(rows) => rows,
        Err(err) => return super::problem(&console, admin.lang, StatusCode::SERVICE_UNAVAILABLE, &err.to_string()),
    };
    let fleet = match fleet_summary(&console).await {
        Ok(fleet) => fleet,
        Err(err) => return super::problem(&console, admin.lang, err.status(), &err.to_string()),
    };
    let summary = json!({"page": envelope.page, "pageCount": envelope.page_count, "rowCount": envelope.row_count});
    console.page(
        &admin,
        "devices.html",
        json!({
            "nav": "devices",
            "done": flash(admin.lang, &query),
            "devices": rows,
            "fleet": fleet,
            "search_fields": SEARCH_FIELDS,
            "field": field,
            "q": q,
            "error": error,
            "pager": pager(&summary, &[("field", field), ("q", q)]),
        }),
    )
}

/// No rows, for a search the list refused.
fn empty_page() -> PageBody<Device> {
    PageBody {
        page: 1,
        page_count: 0,
        row_count: 0,
        data: Vec::new(),
    }
}

/// Each device as the table shows it, with its lines and its config state.
async fn table_rows(console: &Console, devices: &[Device]) -> crate::store::Result<Vec<Value>> {
    let macs: Vec<String> = devices.iter().map(|d| d.mac.clone()).collect();
    let lines = console.app.db.line_numbers(&macs).await?;
    let states: HashMap<String, String> = console
        .app
        .db
        .config_states(&macs)
        .await?
        .into_iter()
        .map(|s| (s.mac, s.state))
        .collect();
    Ok(devices
        .iter()
        .map(|d| {
            let mine: Vec<&str> = lines
                .iter()
                .filter(|l| l.mac == d.mac)
                .map(|l| l.extn.as_str())
                .collect();
            let shown_lines = if mine.is_empty() {
                shown_extn(&d.extn)
            } else {
                mine.join(", ")
            };
            json!({
                "id": d.id,
                "mac": d.mac,
                "mac_shown": d.mac.parse::<Mac>().map_or_else(|_| d.mac.clone(), |m| m.colon_upper()),
                "name": d.name,
                "vendor": d.vendor,
                "type": d.kind,
                "lines": shown_lines,
                "last_provisioned_at": d.last_provisioned_at.map(|t| timestamp::format(&t)),
                "last_ip": d.last_ip,
                "firmware": d.firmware,
                // The state is read after the row: a fetch recorded in
                // between must not show as current beside "never fetched".
                "status": if d.last_provisioned_at.is_none() { Some("never") } else { states.get(&d.mac).map(String::as_str) },
            })
        })
        .collect())
}

/// The fleet at a glance: how many phones have each config state, and how
/// many unknown phones wait to be claimed (the Pending page's count).
async fn fleet_summary(console: &Console) -> Result<Value, ApiError> {
    let mut summary = json!({"current": 0, "older": 0, "never": 0});
    for count in console.app.db.config_state_counts().await? {
        summary[count.state] = json!(count.phones);
    }
    let one = ListParams::from_map(HashMap::from([("perPage".to_string(), "1".to_string())]))?;
    summary["pending"] = json!(PENDING.fetch::<PendingPhone>(&console.app.db, &one).await?.row_count);
    Ok(summary)
}

/// `1001, 1002` as the API takes lines: one number as is, several as
/// XSwitch's `[{"extn": …}]` array.
pub fn lines_field(text: &str) -> String {
    let numbers: Vec<&str> = text
        .split([',', ';', ' ', '，', '\n'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    match numbers.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        many => Value::Array(many.iter().map(|n| json!({"extn": n})).collect()).to_string(),
    }
}

/// A stored lines field as the form shows it: `1001, 1002`.
fn shown_extn(extn: &str) -> String {
    parse_extn_field(extn).map_or_else(
        |_| extn.to_string(),
        |lines| lines.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
    )
}

/// The device form, filled from `form` with `errors` beside the fields.
async fn form_page(console: &Console, admin: &Admin, id: Option<i64>, form: Value, errors: Value) -> Response {
    let numbers = extension_numbers(console, admin).await;
    let status = super::form_status(&errors);
    console.page_with_status(
        admin,
        status,
        "device_form.html",
        json!({
            "nav": "devices",
            "id": id,
            "form": form,
            "errors": errors,
            "vendors": console.app.packs.current().vendors().map(|v| v.code()).collect::<Vec<_>>(),
            "extension_numbers": numbers,
        }),
    )
}

/// Numbers to suggest for the lines field.
pub async fn extension_numbers(console: &Console, admin: &Admin) -> Vec<Value> {
    console
        .json(admin, Method::GET, "/api/extensions?perPage=500&sort_field=extn", None)
        .await
        .map(|page| page["data"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
        .iter()
        .map(|e| e["extn"].clone())
        .collect()
}

async fn new_form(State(console): State<Console>, admin: Admin) -> Response {
    let form = json!({"name": "", "mac": "", "vendor": "", "type": "", "extn": ""});
    form_page(&console, &admin, None, form, json!({})).await
}

/// The form as the API takes it.
fn device_json(fields: &Fields) -> Value {
    let mut body = fields.json(&FIELDS);
    body["extn"] = Value::String(lines_field(fields.get("extn")));
    body
}

async fn create(State(console): State<Console>, Submission { admin, fields }: Submission) -> Response {
    match console
        .json(
            &admin,
            Method::POST,
            "/api/device_provisions",
            Some(device_json(&fields)),
        )
        .await
    {
        Ok(_) => Redirect::to("/ui/devices?done=created").into_response(),
        Err(refusal) => form_page(&console, &admin, None, fields.refill(&FIELDS), refusal.by_field()).await,
    }
}

async fn edit_form(State(console): State<Console>, admin: Admin, Path(id): Path<i64>) -> Response {
    match console
        .json(&admin, Method::GET, &format!("/api/device_provisions/{id}"), None)
        .await
    {
        Ok(device) => {
            let form = json!({
                "name": device["name"],
                "mac": device["mac"].as_str().and_then(|m| m.parse::<Mac>().ok()).map_or(device["mac"].clone(), |m| json!(m.colon_upper())),
                "vendor": device["vendor"].as_str().and_then(|v| console.app.packs.current().vendor(v).ok()).map_or("", |v| v.code()),
                "type": device["type"],
                "extn": shown_extn(device["extn"].as_str().unwrap_or("")),
            });
            form_page(&console, &admin, Some(id), form, json!({})).await
        }
        Err(refusal) => console.refused(&admin, refusal),
    }
}

async fn update(
    State(console): State<Console>,
    Path(id): Path<i64>,
    Submission { admin, fields }: Submission,
) -> Response {
    match console
        .json(
            &admin,
            Method::PUT,
            &format!("/api/device_provisions/{id}"),
            Some(device_json(&fields)),
        )
        .await
    {
        Ok(_) => Redirect::to("/ui/devices?done=updated").into_response(),
        Err(refusal) => form_page(&console, &admin, Some(id), fields.refill(&FIELDS), refusal.by_field()).await,
    }
}

async fn delete(State(console): State<Console>, Path(id): Path<i64>, Submission { admin, .. }: Submission) -> Response {
    match console
        .json(&admin, Method::DELETE, &format!("/api/device_provisions/{id}"), None)
        .await
    {
        Ok(_) => Redirect::to("/ui/devices?done=deleted").into_response(),
        Err(refusal) => console.refused(&admin, refusal),
    }
}

async fn preview(State(console): State<Console>, admin: Admin, Path(id): Path<i64>) -> Response {
    let preview = match console
        .json(
            &admin,
            Method::GET,
            &format!("/api/device_provisions/{id}/preview"),
            None,
        )
        .await
    {
        Ok(preview) => preview,
        Err(refusal) => return console.refused(&admin, refusal),
    };
    let base = format!("http://{}", admin.host);
    let urls: Vec<Value> = std::iter::once(json!({"vendor": "any", "url": preview["provisioning_url"]}))
        .chain(
            console
                .app
                .packs
                .current()
                .vendors()
                .map(|v| json!({"vendor": v.code(), "url": format!("{base}/api/provision/{}/", v.code())})),
        )
        .collect();
    let mac_shown = preview["mac"]
        .as_str()
        .and_then(|m| m.parse::<Mac>().ok())
        .map(|m| m.colon_upper());
    console.page(
        &admin,
        "preview.html",
        json!({"nav": "devices", "preview": preview, "urls": urls, "mac_shown": mac_shown}),
    )
}

/// The whole list as CSV, in the import's own format.
async fn export(State(console): State<Console>, admin: Admin) -> Response {
    match console
        .call(
            &admin,
            Method::GET,
            "/api/device_provisions/download?format=csv",
            "text/plain",
            "",
        )
        .await
    {
        Ok(csv) => csv,
        Err(refusal) => console.refused(&admin, refusal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_what_the_api_takes() {
        assert_eq!(lines_field(""), "");
        assert_eq!(lines_field(" 1001 "), "1001");
        assert_eq!(
            lines_field("1001, 1002，1003"),
            r#"[{"extn":"1001"},{"extn":"1002"},{"extn":"1003"}]"#
        );
        assert_eq!(
            shown_extn(&lines_field("1001,1002@pbx.example")),
            "1001, 1002@pbx.example"
        );
        assert_eq!(shown_extn("1007|pbx.example"), "1007@pbx.example");
    }
}
