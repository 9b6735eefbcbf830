//! Extensions: the list, creating one or a range (`muti_add`), editing, and
//! resetting a SIP password.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Admin, Console, Fields, PAGE_SIZE, Routes, Submission, flash, pager};
use crate::secrets;

pub fn routes() -> Routes {
    Routes::default()
        .route("/ui/extensions", get(list).post(create))
        .route("/ui/extensions/range", post(create_range))
        .route("/ui/extensions/{id}", get(edit_form).post(update))
        .route("/ui/extensions/{id}/reset", post(reset_password))
}

/// What the edit form changes.
const EDITABLE: [&str; 6] = ["extn", "name", "domain", "cid_name", "cid_number", "disabled"];

/// The list page; `extra` adds a refilled form, errors or a new password.
async fn list_page(
    console: &Console,
    admin: &Admin,
    query: &HashMap<String, String>,
    extra: Value,
    status: StatusCode,
) -> Response {
    let q = query.get("extn").map_or("", |q| q.trim());
    let page: i64 = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let uri = {
        let mut uri = form_urlencoded::Serializer::new(String::from("/api/extensions?"));
        uri.append_pair("page", &page.to_string())
            .append_pair("perPage", &PAGE_SIZE.to_string());
        if !q.is_empty() {
            uri.append_pair("extn", q);
        }
        uri.finish()
    };
    let envelope = match console.json(admin, Method::GET, &uri, None).await {
        Ok(envelope) => envelope,
        Err(refusal) => return console.refused(admin, refusal),
    };
    let mut data = json!({
        "nav": "extensions",
        "done": flash(admin.lang, query),
        "extensions": envelope["data"],
        "pager": pager(&envelope, &[("extn", q)]),
        "q": q,
        "form": {"extn": "", "name": "", "extns_start": "", "extns_end": ""},
        "errors": {},
        "shown_password": null,
    });
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    console.page_with_status(admin, status, "extensions.html", data)
}

async fn list(State(console): State<Console>, admin: Admin, Query(query): Query<HashMap<String, String>>) -> Response {
    list_page(&console, &admin, &query, json!({}), StatusCode::OK).await
}

/// Sends a create form to the API; a refusal is shown above that form.
async fn create_with(
    console: Console,
    admin: Admin,
    fields: Fields,
    uri: &str,
    names: &[&str],
    form: &str,
) -> Response {
    match console.json(&admin, Method::POST, uri, Some(fields.json(names))).await {
        Ok(_) => Redirect::to("/ui/extensions?done=created").into_response(),
        Err(refusal) => {
            let refill = fields.refill(&["extn", "name", "extns_start", "extns_end"]);
            let extra = json!({"form": refill, "errors": {form: refusal.message}});
            list_page(&console, &admin, &HashMap::new(), extra, StatusCode::BAD_REQUEST).await
        }
    }
}

async fn create(State(console): State<Console>, Submission { admin, fields }: Submission) -> Response {
    create_with(
        console,
        admin,
        fields,
        "/api/extensions",
        &["extn", "name", "password"],
        "one",
    )
    .await
}

async fn create_range(State(console): State<Console>, Submission { admin, fields }: Submission) -> Response {
    let names = ["extns_start", "extns_end", "password"];
    create_with(console, admin, fields, "/api/extensions/muti_add", &names, "range").await
}

async fn form_page(
    console: &Console,
    admin: &Admin,
    id: i64,
    form: Value,
    errors: Value,
    status: StatusCode,
) -> Response {
    console.page_with_status(
        admin,
        status,
        "extension_form.html",
        json!({"nav": "extensions", "id": id, "form": form, "errors": errors}),
    )
}

async fn edit_form(State(console): State<Console>, admin: Admin, Path(id): Path<i64>) -> Response {
    match console
        .json(&admin, Method::GET, &format!("/api/extensions/{id}"), None)
        .await
    {
        Ok(mut extension) => {
            // The form shows no password; resetting is its own action.
            if let Some(fields) = extension.as_object_mut() {
                fields.remove("password");
            }
            extension["disabled"] = json!(extension["disabled"].to_string());
            form_page(&console, &admin, id, extension, json!({}), StatusCode::OK).await
        }
        Err(refusal) => console.refused(&admin, refusal),
    }
}

async fn update(
    State(console): State<Console>,
    Path(id): Path<i64>,
    Submission { admin, fields }: Submission,
) -> Response {
    // Cleared fields are sent empty, so a name can be removed.
    let body: serde_json::Map<String, Value> = EDITABLE
        .iter()
        .map(|k| ((*k).to_string(), json!(fields.get(k))))
        .collect();
    match console
        .json(
            &admin,
            Method::PUT,
            &format!("/api/extensions/{id}"),
            Some(Value::Object(body)),
        )
        .await
    {
        Ok(_) => Redirect::to("/ui/extensions?done=updated").into_response(),
        Err(refusal) => {
            form_page(
                &console,
                &admin,
                id,
                fields.refill(&EDITABLE),
                refusal.by_field(),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

async fn reset_password(
    State(console): State<Console>,
    Path(id): Path<i64>,
    Submission { admin, .. }: Submission,
) -> Response {
    let password = secrets::random_password(16);
    match console
        .json(
            &admin,
            Method::PUT,
            &format!("/api/extensions/{id}"),
            Some(json!({"password": password})),
        )
        .await
    {
        Ok(_) => {
            list_page(
                &console,
                &admin,
                &HashMap::new(),
                json!({"shown_password": password}),
                StatusCode::OK,
            )
            .await
        }
        Err(refusal) => console.refused(&admin, refusal),
    }
}
