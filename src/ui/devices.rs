//! Devices: the list with each phone's provisioning status, create, edit,
//! delete, preview and CSV export.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Admin, Console, Fields, PAGE_SIZE, Routes, Submission, flash, pager};
use crate::admin::Error;
use crate::admin::devices::{DeviceChange, DeviceStatus};
use crate::admin::export::{self, Headers};
use crate::admin::rows::RawRow;
use crate::domain::{Mac, parse_extn_field, timestamp};
use crate::store::ListParams;
use crate::store::resync::Pick;

pub fn routes() -> Routes {
    Routes::default()
        .route("/ui/devices", get(list))
        .route("/ui/devices/export.csv", get(export))
        .route("/ui/devices/new", get(new_form).post(create))
        .route("/ui/devices/{id}", get(edit_form).post(update))
        .route("/ui/devices/{id}/delete", post(delete))
        .route("/ui/devices/{id}/preview", get(preview))
        .route("/ui/devices/push", post(push))
        .route("/ui/devices/{id}/push", post(push_one))
        .route("/ui/pushes/{job}", get(push_report))
}

/// Pushes the config now to the phones ticked in the list, or with
/// `older`, to every phone with an older config.
async fn push(State(console): State<Console>, Submission { admin, fields }: Submission) -> Response {
    let pick = if fields.get("older") == "1" {
        Pick::Older
    } else {
        let ids: Result<Vec<i64>, _> = fields.all("id").into_iter().map(str::parse).collect();
        match ids {
            Ok(ids) => Pick::Ids(ids),
            Err(_) => return console.refused(&admin, Error::field("ids", "are not record ids")),
        }
    };
    pushed(&console, &admin, pick).await
}

async fn push_one(
    State(console): State<Console>,
    Path(id): Path<i64>,
    Submission { admin, .. }: Submission,
) -> Response {
    if let Err(err) = console.core.device(id).await {
        return console.refused(&admin, err);
    }
    pushed(&console, &admin, Pick::Ids(vec![id])).await
}

/// Starts the push and shows its page.
async fn pushed(console: &Console, admin: &Admin, pick: Pick) -> Response {
    match console.core.push(&admin.actor(), pick).await {
        Ok(started) => Redirect::to(&format!("/ui/pushes/{}", started.job)).into_response(),
        Err(err) => console.refused(admin, err),
    }
}

/// A push's progress: counts per state and each phone's outcome; the page
/// reloads itself while phones are still to be told.
async fn push_report(State(console): State<Console>, admin: Admin, Path(job): Path<i64>) -> Response {
    let report = match console.core.push_report(job).await {
        Ok(report) => report,
        Err(err) => return console.refused(&admin, err),
    };
    let under_way = report.waiting > 0;
    let phones: Vec<Value> = report
        .phones
        .iter()
        .map(|p| json!({"id": p.id, "mac_shown": shown_mac(&p.mac), "state": p.state, "detail": p.detail}))
        .collect();
    console.page(
        &admin,
        "push.html",
        json!({
            "nav": "devices",
            "job": report.job,
            "created_at": timestamp::format(&report.created_at),
            "actor": report.actor,
            "counts": report.counts,
            "phones": phones,
            "under_way": under_way,
        }),
    )
}

/// The list filters the search box offers.
const SEARCH_FIELDS: [&str; 4] = ["mac", "name", "extn", "vendor"];

/// The form fields of a device, as the API names them.
const FIELDS: [&str; 5] = ["name", "mac", "vendor", "type", "extn"];

/// What the device list shows: a search in one field, and a config state;
/// the list and its export take the same.
struct Shown<'q> {
    field: &'q str,
    q: &'q str,
    status: &'q str,
    /// As list filters.
    asked: HashMap<String, String>,
}

impl<'q> Shown<'q> {
    fn of(query: &'q HashMap<String, String>) -> Shown<'q> {
        let field = query
            .get("field")
            .map(String::as_str)
            .filter(|f| SEARCH_FIELDS.contains(f))
            .unwrap_or("mac");
        let q = query.get("q").map_or("", |q| q.trim());
        // The fleet counters link here with a state; the list keeps it as it pages.
        let status = query.get("status").map_or("", |s| s.trim());
        let mut asked = HashMap::new();
        if !q.is_empty() {
            asked.insert(field.to_string(), q.to_string());
        }
        if !status.is_empty() {
            asked.insert("status".to_string(), status.to_string());
        }
        Shown {
            field,
            q,
            status,
            asked,
        }
    }
}

async fn list(State(console): State<Console>, admin: Admin, Query(query): Query<HashMap<String, String>>) -> Response {
    let Shown {
        field,
        q,
        status,
        mut asked,
    } = Shown::of(&query);
    let page = query.get("page").cloned().unwrap_or_else(|| "1".into());
    asked.insert("page".to_string(), page);
    asked.insert("perPage".to_string(), PAGE_SIZE.to_string());
    let listed = match ListParams::from_map(asked) {
        Ok(params) => console.core.list_devices(params).await,
        Err(err) => Err(err.into()),
    };
    let (page, error) = match listed {
        Ok(page) => (page, None),
        // A search the list cannot take (`mac=xyz`) is shown beside the box.
        Err(err @ Error::Field { .. }) => (crate::store::Page::empty(), Some(err.to_string())),
        Err(err) => return console.refused(&admin, err),
    };
    let filters = [("field", field), ("q", q), ("status", status)];
    let pager = pager(&page, &filters);
    let view = super::view_query(&filters);
    let rows = match console.core.device_statuses(page.rows).await {
        Ok(rows) => {
            let packs = console.app.packs.current();
            rows.into_iter().map(|row| table_row(row, &packs)).collect::<Vec<_>>()
        }
        Err(err) => return console.refused(&admin, err),
    };
    let fleet = match console.core.fleet_summary().await {
        Ok(fleet) => fleet,
        Err(err) => return console.refused(&admin, err),
    };
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
            // Only a state the page has words for; another is the error beside the box.
            "status": if error.is_none() { status } else { "" },
            "error": error,
            "pager": pager,
            "view": view,
        }),
    )
}

/// A device as the table shows it, with its lines and its config state.
fn table_row(
    DeviceStatus {
        device: d,
        lines,
        state,
    }: DeviceStatus,
    packs: &crate::packs::Packs,
) -> Value {
    let shown_lines = if lines.is_empty() {
        shown_extn(&d.extn)
    } else {
        lines.join(", ")
    };
    json!({
        "id": d.id,
        "mac_shown": shown_mac(&d.mac),
        "mac": d.mac,
        "name": d.name,
        // One spelling per family, whatever name the record was written with.
        "vendor": packs.vendor(&d.vendor).map_or(d.vendor.as_str(), |v| v.code()),
        "type": d.kind,
        "lines": shown_lines,
        "last_provisioned_at": d.last_provisioned_at.map(|t| timestamp::format(&t)),
        "last_ip": d.last_ip,
        "firmware": d.firmware,
        "status": state,
    })
}

/// A MAC as people write it: `00:15:65:AA:BB:CC`.
pub fn shown_mac(mac: &str) -> String {
    mac.parse::<Mac>().map_or_else(|_| mac.to_string(), |m| m.colon_upper())
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
    let numbers: Vec<String> = extension_numbers(console).await;
    // The page works without it: a timeline that cannot be read is left out.
    let timeline = match id {
        Some(id) => console.core.device_timeline(id).await.ok().map(|t| {
            t.events
                .iter()
                .map(|event| {
                    let mut shown = json!(event);
                    if let Some(reason) = shown["reason"].as_str() {
                        shown["reason"] = json!(super::i18n::reason(admin.lang, reason));
                    }
                    shown
                })
                .collect::<Vec<Value>>()
        }),
        None => None,
    };
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
            "timeline": timeline,
        }),
    )
}

/// Numbers to suggest for the lines field; none when they cannot be read.
async fn extension_numbers(console: &Console) -> Vec<String> {
    super::offered_extensions(console, &[])
        .await
        .into_iter()
        .map(|e| e.fields.extn)
        .collect()
}

async fn new_form(State(console): State<Console>, admin: Admin) -> Response {
    let form = json!({"name": "", "mac": "", "vendor": "", "type": "", "extn": ""});
    form_page(&console, &admin, None, form, json!({})).await
}

/// The form as the core takes a record: blank fields left out, the lines
/// always given (blank clears them).
fn device_change(fields: &Fields) -> DeviceChange {
    DeviceChange {
        name: fields.given("name"),
        extn: Some(lines_field(fields.get("extn"))),
        vendor: fields.given("vendor"),
        mac: fields.given("mac"),
        kind: fields.given("type"),
    }
}

async fn create(State(console): State<Console>, Submission { admin, fields }: Submission) -> Response {
    let DeviceChange {
        name,
        extn,
        vendor,
        mac,
        kind,
    } = device_change(&fields);
    let row = RawRow {
        row: 1,
        name,
        extn,
        vendor,
        mac,
        kind,
    };
    match console.core.create_device(&admin.actor(), row).await {
        Ok(_) => Redirect::to("/ui/devices?done=created").into_response(),
        Err(err) => form_page(&console, &admin, None, fields.refill(&FIELDS), super::by_field(&err)).await,
    }
}

async fn edit_form(State(console): State<Console>, admin: Admin, Path(id): Path<i64>) -> Response {
    match console.core.device(id).await {
        Ok(device) => {
            let form = json!({
                "name": device.name,
                "mac": shown_mac(&device.mac),
                "vendor": console.app.packs.current().vendor(&device.vendor).map_or("", |v| v.code()),
                "type": device.kind,
                "extn": shown_extn(&device.extn),
            });
            form_page(&console, &admin, Some(id), form, json!({})).await
        }
        Err(err) => console.refused(&admin, err),
    }
}

async fn update(
    State(console): State<Console>,
    Path(id): Path<i64>,
    Submission { admin, fields }: Submission,
) -> Response {
    match console
        .core
        .update_device(&admin.actor(), id, device_change(&fields))
        .await
    {
        Ok(()) => Redirect::to("/ui/devices?done=updated").into_response(),
        Err(err) => {
            form_page(
                &console,
                &admin,
                Some(id),
                fields.refill(&FIELDS),
                super::by_field(&err),
            )
            .await
        }
    }
}

async fn delete(State(console): State<Console>, Path(id): Path<i64>, Submission { admin, .. }: Submission) -> Response {
    match console.core.delete_device(&admin.actor(), id).await {
        Ok(()) => Redirect::to("/ui/devices?done=deleted").into_response(),
        Err(err) => console.refused(&admin, err),
    }
}

async fn preview(State(console): State<Console>, admin: Admin, Path(id): Path<i64>) -> Response {
    let preview = match console
        .core
        .preview_device(&console.app.provisioner, id, &admin.host)
        .await
    {
        Ok(preview) => preview,
        Err(err) => return console.refused(&admin, err),
    };
    let base = format!("http://{}", admin.host);
    let urls: Vec<Value> = std::iter::once(json!({"vendor": "any", "url": preview.provisioning_url}))
        .chain(
            console
                .app
                .packs
                .current()
                .vendors()
                .map(|v| json!({"vendor": v.code(), "url": format!("{base}/api/provision/{}/", v.code())})),
        )
        .collect();
    let mac_shown = shown_mac(&preview.mac);
    console.page(
        &admin,
        "preview.html",
        json!({"nav": "devices", "preview": preview, "urls": urls, "mac_shown": mac_shown}),
    )
}

/// The list as shown (its search and state, every page) as CSV: the
/// import's columns, then each phone's status, last fetch, address and
/// firmware.
async fn export(
    State(console): State<Console>,
    admin: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let exported = match ListParams::from_map(Shown::of(&query).asked) {
        Ok(params) => console.core.export_devices_with_status(&params).await,
        Err(err) => Err(err.into()),
    };
    let table = match exported {
        Ok(statuses) => export::table_with_status(statuses, Headers::English),
        Err(err) => return console.refused(&admin, err),
    };
    match export::csv_bytes(&table) {
        Ok(csv) => crate::api::device_provisions::csv_attachment(csv),
        Err(err) => console.refused(&admin, Error::Other(err)),
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
