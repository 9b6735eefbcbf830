//! Extensions: the list, creating one or a range (`muti_add`), editing, and
//! resetting a SIP password.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Admin, Blank, Console, Fields, Routes, Submission, by_field, flash, list_params, merge, pager};
use crate::admin::extensions::{ExtensionInput, RangeInput};
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

/// The create forms' fields, for refilling them.
const CREATED: [&str; 4] = ["extn", "name", "extns_start", "extns_end"];

/// The list page; `extra` adds a refilled form, errors or a new password.
async fn list_page(
    console: &Console,
    admin: &Admin,
    query: &HashMap<String, String>,
    extra: Value,
    status: StatusCode,
) -> Response {
    let q = query.get("extn").map_or("", |q| q.trim());
    let listed = match list_params(query, &[("extn", q)]) {
        Ok(params) => console.core.list_extensions(params).await,
        Err(err) => Err(err),
    };
    let listed = match listed {
        Ok(listed) => listed,
        Err(err) => return console.refused(admin, err),
    };
    let mut data = json!({
        "nav": "extensions",
        "done": flash(admin.lang, query),
        "pager": pager(&listed, &[("extn", q)]),
        "extensions": listed.rows,
        "q": q,
        "form": {"extn": "", "name": "", "extns_start": "", "extns_end": ""},
        "errors": {},
        "shown_password": null,
    });
    merge(&mut data, extra);
    console.page_with_status(admin, status, "extensions.html", data)
}

async fn list(State(console): State<Console>, admin: Admin, Query(query): Query<HashMap<String, String>>) -> Response {
    list_page(&console, &admin, &query, json!({}), StatusCode::OK).await
}

/// The list again, its create form `form` refilled with the refusal above it.
async fn create_refused(
    console: &Console,
    admin: &Admin,
    fields: &Fields,
    form: &str,
    err: crate::admin::Error,
) -> Response {
    let extra = json!({"form": fields.refill(&CREATED), "errors": {form: err.to_string()}});
    list_page(console, admin, &HashMap::new(), extra, StatusCode::BAD_REQUEST).await
}

async fn create(State(console): State<Console>, Submission { admin, fields }: Submission) -> Response {
    let created = match fields.input::<ExtensionInput>(&["extn", "name", "password"], Blank::Omitted) {
        Ok(input) => console.core.create_extension(&admin.actor(), input).await.map(drop),
        Err(err) => Err(err),
    };
    match created {
        Ok(()) => Redirect::to("/ui/extensions?done=created").into_response(),
        Err(err) => create_refused(&console, &admin, &fields, "one", err).await,
    }
}

async fn create_range(State(console): State<Console>, Submission { admin, fields }: Submission) -> Response {
    let created = match fields.input::<RangeInput>(&["extns_start", "extns_end", "password"], Blank::Omitted) {
        Ok(input) => console
            .core
            .create_extension_range(&admin.actor(), input)
            .await
            .map(drop),
        Err(err) => Err(err),
    };
    match created {
        Ok(()) => Redirect::to("/ui/extensions?done=created").into_response(),
        Err(err) => create_refused(&console, &admin, &fields, "range", err).await,
    }
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
    match console.core.extension(id).await {
        Ok(extension) => {
            // The form shows no password; resetting is its own action.
            let mut form = json!(extension);
            form["disabled"] = json!(extension.fields.disabled.to_string());
            form_page(&console, &admin, id, form, json!({}), StatusCode::OK).await
        }
        Err(err) => console.refused(&admin, err),
    }
}

async fn update(
    State(console): State<Console>,
    Path(id): Path<i64>,
    Submission { admin, fields }: Submission,
) -> Response {
    // Cleared fields are sent empty, so a name can be removed.
    let updated = match fields.input::<ExtensionInput>(&EDITABLE, Blank::Cleared) {
        Ok(input) => console.core.update_extension(&admin.actor(), id, input).await,
        Err(err) => Err(err),
    };
    match updated {
        Ok(()) => Redirect::to("/ui/extensions?done=updated").into_response(),
        Err(err) => {
            let errors = by_field(&err);
            form_page(
                &console,
                &admin,
                id,
                fields.refill(&EDITABLE),
                errors,
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
    let input = ExtensionInput {
        password: Some(password.clone()),
        ..ExtensionInput::default()
    };
    match console.core.update_extension(&admin.actor(), id, input).await {
        Ok(()) => {
            let extra = json!({"shown_password": password});
            list_page(&console, &admin, &HashMap::new(), extra, StatusCode::OK).await
        }
        Err(err) => console.refused(&admin, err),
    }
}
