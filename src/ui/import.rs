//! Importing a MAC list or a list of extensions: the file is checked by
//! the core's dry run first, the report shows every bad row, and only a
//! confirmed, clean file is written, all or nothing.

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{Admin, Console, Fields, Routes, Submission, i18n};
use crate::admin::Error;
use crate::admin::devices::Imported;
use crate::admin::extensions::ImportedExtensions;
use crate::admin::rows::{IMPORT_BODY_LIMIT, rows_from_bytes, rows_from_sheet};

pub fn routes() -> Routes {
    let mut routes = Routes::default();
    for kind in [Kind::Devices, Kind::Extensions] {
        let limit = DefaultBodyLimit::max(IMPORT_BODY_LIMIT);
        routes = routes
            .route(
                kind.path(),
                get(move |console, admin| form(kind, console, admin))
                    .post((move |console, admin, multipart| check(kind, console, admin, multipart)).layer(limit)),
            )
            .route(
                kind.confirm_path(),
                post((move |console, submission| confirm(kind, console, submission)).layer(limit)),
            );
    }
    routes
}

/// What a file holds: phones by MAC, or extensions.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Devices,
    Extensions,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Devices => "/ui/import",
            Kind::Extensions => "/ui/extensions/import",
        }
    }

    fn confirm_path(self) -> &'static str {
        match self {
            Kind::Devices => "/ui/import/confirm",
            Kind::Extensions => "/ui/extensions/import/confirm",
        }
    }

    /// The page's strings and its report's columns, as i18n keys.
    fn page(self) -> Value {
        match self {
            Kind::Devices => json!({
                "nav": "import", "action": self.path(), "confirm": self.confirm_path(),
                "title": "import", "hint": "import_hint", "will_be_created": "rows_will_be_created",
                "to_create": "rows_to_create", "columns": ["mac", "name", "vendor", "extn", "import_action", "warnings"],
            }),
            Kind::Extensions => json!({
                "nav": "extensions", "action": self.path(), "confirm": self.confirm_path(),
                "title": "import_extensions", "hint": "import_extensions_hint",
                "will_be_created": "extensions_will_be_created", "to_create": "extensions_to_create",
                "columns": ["number", "name", "domain"],
            }),
        }
    }

    fn done(self) -> &'static str {
        match self {
            Kind::Devices => "/ui/devices?done=imported",
            Kind::Extensions => "/ui/extensions?done=imported",
        }
    }

    /// The core's import of the file (CSV or XLSX), or its dry run: the
    /// cells of each record, in the page's columns.
    async fn import(
        self,
        console: &Console,
        admin: &Admin,
        bytes: &[u8],
        dry_run: bool,
    ) -> crate::admin::Result<Vec<Vec<String>>> {
        let actor = admin.actor();
        Ok(match self {
            Kind::Devices => {
                let rows = rows_from_bytes(bytes, true)?;
                let cells = |mac: &str, name: &str, vendor: &str, extn: &str, action: &str, warnings: &[String]| {
                    let action = if action.is_empty() {
                        ""
                    } else {
                        i18n::text(admin.lang, action)
                    };
                    [mac, name, vendor, extn, action, &warnings.join("; ")]
                        .map(str::to_string)
                        .to_vec()
                };
                match console.core.import_devices(&actor, rows, dry_run, &|_| {}).await? {
                    Imported::Planned(planned) => planned
                        .iter()
                        .map(|p| {
                            let d = &p.fields;
                            cells(&d.mac, &d.name, &d.vendor, &d.extn, p.action.code(), &p.warnings)
                        })
                        .collect(),
                    Imported::Created(created) => created
                        .iter()
                        .map(|d| cells(&d.mac, &d.name, &d.vendor, &d.extn, "", &[]))
                        .collect(),
                }
            }
            Kind::Extensions => {
                let rows = rows_from_sheet(bytes)?;
                let fields = match console.core.import_extensions(&actor, rows, dry_run).await? {
                    ImportedExtensions::Planned(planned) => planned,
                    ImportedExtensions::Created(created) => created.into_iter().map(|e| e.fields).collect(),
                };
                fields.into_iter().map(|f| vec![f.extn, f.name, f.domain]).collect()
            }
        })
    }
}

/// Rows of a clean report listed on the page; the rest are counted.
const ROWS_SHOWN: usize = 200;

async fn form(kind: Kind, State(console): State<Console>, admin: Admin) -> Response {
    page(kind, &console, &admin, Value::Null, None, StatusCode::OK)
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

async fn check(kind: Kind, State(console): State<Console>, admin: Admin, multipart: Multipart) -> Response {
    let bad = |message: String| bad_file(kind, &console, &admin, message);
    let upload = match read_upload(multipart).await {
        Ok(upload) => upload,
        Err(message) => return bad(message),
    };
    let token = Fields(vec![("csrf".into(), upload.csrf.clone())]);
    if let Some(refused) = admin.forged(&token, &console) {
        return refused;
    }
    if upload.bytes.is_empty() {
        return bad("file: choose a CSV or XLSX file".to_string());
    }
    match kind.import(&console, &admin, &upload.bytes, true).await {
        Ok(rows) => {
            let report = json!({
                "file": upload.name,
                "count": rows.len(),
                "more": rows.len().saturating_sub(ROWS_SHOWN),
                "rows": rows.iter().take(ROWS_SHOWN).collect::<Vec<_>>(),
                "errors": null,
                "data": STANDARD.encode(&upload.bytes),
            });
            page(kind, &console, &admin, report, None, StatusCode::OK)
        }
        Err(err) => refused(kind, &console, &admin, &upload.name, err),
    }
}

async fn confirm(kind: Kind, State(console): State<Console>, Submission { admin, fields }: Submission) -> Response {
    let Ok(bytes) = STANDARD.decode(fields.get("data")) else {
        let message = "data: the checked file did not come back intact; upload it again".to_string();
        return bad_file(kind, &console, &admin, message);
    };
    match kind.import(&console, &admin, &bytes, false).await {
        Ok(_) => Redirect::to(kind.done()).into_response(),
        // Rows can turn bad between the check and the confirmation (a MAC
        // created meanwhile): the report shows them and nothing was written.
        Err(err) => refused(kind, &console, &admin, fields.get("file_name"), err),
    }
}

/// A refused file: its bad rows, or why the whole file was refused.
fn refused(kind: Kind, console: &Console, admin: &Admin, file: &str, err: Error) -> Response {
    match err {
        Error::Rows { message, rows } => {
            let report = json!({"file": file, "message": message, "errors": rows, "rows": null});
            page(kind, console, admin, report, None, StatusCode::BAD_REQUEST)
        }
        err @ (Error::Field { .. } | Error::Conflict { .. } | Error::Refused(_)) => page(
            kind,
            console,
            admin,
            Value::Null,
            Some(err.to_string()),
            super::status_of(&err),
        ),
        err => console.refused(admin, err),
    }
}

/// The page again, saying why the upload was refused as a whole.
fn bad_file(kind: Kind, console: &Console, admin: &Admin, message: String) -> Response {
    page(
        kind,
        console,
        admin,
        Value::Null,
        Some(message),
        StatusCode::BAD_REQUEST,
    )
}

fn page(
    kind: Kind,
    console: &Console,
    admin: &Admin,
    report: Value,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let mut context = kind.page();
    context["report"] = report;
    context["error"] = json!(error);
    console.page_with_status(admin, status, "import.html", context)
}
