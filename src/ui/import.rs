//! Importing a MAC list: the file is checked by the core's dry run first,
//! the report shows every bad row, and only a confirmed, clean file is
//! written, all or nothing.

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{Admin, Console, Fields, Routes, Submission};
use crate::admin::Error;
use crate::admin::devices::Imported;
use crate::admin::rows::{IMPORT_BODY_LIMIT, rows_from_bytes};

pub fn routes() -> Routes {
    Routes::default()
        .route(
            "/ui/import",
            get(form).post(check).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
        .route(
            "/ui/import/confirm",
            post(confirm).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
}

/// Rows of a clean report listed on the page; the rest are counted.
const ROWS_SHOWN: usize = 200;

async fn form(State(console): State<Console>, admin: Admin) -> Response {
    console.page(
        &admin,
        "import.html",
        json!({"nav": "import", "report": null, "error": null}),
    )
}

/// The uploaded file and the form's token.
struct Upload {
    csrf: String,
    name: String,
    bytes: Vec<u8>,
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, String> {
    let mut upload = Upload {
        csrf: String::new(),
        name: String::new(),
        bytes: Vec::new(),
    };
    while let Some(field) = multipart.next_field().await.map_err(|e| e.body_text())? {
        match field.name() {
            Some("csrf") => upload.csrf = field.text().await.map_err(|e| e.body_text())?,
            Some("file") => {
                upload.name = field.file_name().unwrap_or("").to_string();
                upload.bytes = field.bytes().await.map_err(|e| e.body_text())?.to_vec();
            }
            _ => {}
        }
    }
    Ok(upload)
}

async fn check(State(console): State<Console>, admin: Admin, multipart: Multipart) -> Response {
    let upload = match read_upload(multipart).await {
        Ok(upload) => upload,
        Err(message) => return page(&console, &admin, Value::Null, Some(message), StatusCode::BAD_REQUEST),
    };
    let token = Fields(vec![("csrf".into(), upload.csrf.clone())]);
    if let Some(refused) = admin.forged(&token, &console) {
        return refused;
    }
    if upload.bytes.is_empty() {
        let message = "file: choose a CSV or XLSX file".to_string();
        return page(&console, &admin, Value::Null, Some(message), StatusCode::BAD_REQUEST);
    }
    match import(&console, &admin, &upload.bytes, true).await {
        Ok(imported) => {
            let rows = report_rows(imported);
            let report = json!({
                "file": upload.name,
                "count": rows.len(),
                "more": rows.len().saturating_sub(ROWS_SHOWN),
                "rows": rows.iter().take(ROWS_SHOWN).collect::<Vec<_>>(),
                "errors": null,
                "data": STANDARD.encode(&upload.bytes),
            });
            page(&console, &admin, report, None, StatusCode::OK)
        }
        Err(err) => refused(&console, &admin, &upload.name, err),
    }
}

async fn confirm(State(console): State<Console>, Submission { admin, fields }: Submission) -> Response {
    let Ok(bytes) = STANDARD.decode(fields.get("data")) else {
        let message = "data: the checked file did not come back intact; upload it again".to_string();
        return page(&console, &admin, Value::Null, Some(message), StatusCode::BAD_REQUEST);
    };
    match import(&console, &admin, &bytes, false).await {
        Ok(_) => Redirect::to("/ui/devices?done=imported").into_response(),
        // Rows can turn bad between the check and the confirmation (a MAC
        // created meanwhile): the report shows them and nothing was written.
        Err(err) => refused(&console, &admin, fields.get("file_name"), err),
    }
}

/// The core's import of the file (CSV or XLSX), or its dry run.
async fn import(console: &Console, admin: &Admin, bytes: &[u8], dry_run: bool) -> crate::admin::Result<Imported> {
    let rows = rows_from_bytes(bytes, true)?;
    console
        .core
        .import_devices(&admin.actor(), rows, dry_run, &|_| {})
        .await
}

/// The records of a report, as its table shows them.
fn report_rows(imported: Imported) -> Vec<Value> {
    let row = |mac: &str, name: &str, vendor: &str, extn: &str| json!({"mac": mac, "name": name, "vendor": vendor, "extn": extn});
    match imported {
        Imported::Planned(planned) => planned
            .iter()
            .map(|d| row(&d.mac, &d.name, &d.vendor, &d.extn))
            .collect(),
        Imported::Created(created) => created
            .iter()
            .map(|d| row(&d.mac, &d.name, &d.vendor, &d.extn))
            .collect(),
    }
}

/// A refused file: its bad rows, or why the whole file was refused.
fn refused(console: &Console, admin: &Admin, file: &str, err: Error) -> Response {
    match err {
        Error::Rows { message, rows } => {
            let report = json!({"file": file, "message": message, "errors": rows, "rows": null});
            page(console, admin, report, None, StatusCode::BAD_REQUEST)
        }
        err @ (Error::Field { .. } | Error::Conflict { .. } | Error::Refused(_)) => page(
            console,
            admin,
            Value::Null,
            Some(err.to_string()),
            super::status_of(&err),
        ),
        err => console.refused(admin, err),
    }
}

fn page(console: &Console, admin: &Admin, report: Value, error: Option<String>, status: StatusCode) -> Response {
    console.page_with_status(
        admin,
        status,
        "import.html",
        json!({"nav": "import", "report": report, "error": error}),
    )
}
