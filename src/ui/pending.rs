//! Pending phones: unknown phones that asked for a configuration, and
//! claiming one by giving it a device record with its extensions.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::devices::lines_field;
use super::{Admin, Console, PAGE_SIZE, Routes, Submission, pager};
use crate::domain::Mac;

pub fn routes() -> Routes {
    Routes::default()
        .route("/ui/pending", get(list))
        .route("/ui/pending/{mac}", get(claim_form).post(claim))
}

/// The claim form's fields besides the extensions.
const CLAIMED: [&str; 3] = ["name", "vendor", "type"];

/// The most extensions offered as checkboxes on the claim form.
const EXTENSIONS_OFFERED: i64 = 500;

fn shown(mut phone: Value) -> Value {
    let mac = phone["mac"].as_str().and_then(|m| m.parse::<Mac>().ok());
    phone["mac_shown"] = mac.map_or(phone["mac"].clone(), |m| json!(m.colon_upper()));
    phone
}

async fn list(State(console): State<Console>, admin: Admin, Query(query): Query<HashMap<String, String>>) -> Response {
    let page: i64 = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let uri = format!("/api/device_provisions/pending?page={page}&perPage={PAGE_SIZE}");
    match console.json(&admin, Method::GET, &uri, None).await {
        Ok(envelope) => {
            let phones: Vec<Value> = envelope["data"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(shown)
                .collect();
            console.page(
                &admin,
                "pending.html",
                json!({"nav": "pending", "phones": phones, "pager": pager(&envelope, &[])}),
            )
        }
        Err(refusal) => console.refused(&admin, refusal),
    }
}

/// The pending phone with this MAC, as the API lists it.
async fn pending_phone(console: &Console, admin: &Admin, mac: Mac) -> Option<Value> {
    let uri = format!("/api/device_provisions/pending?mac={}&perPage=10", mac.lower());
    let envelope = console.json(admin, Method::GET, &uri, None).await.ok()?;
    envelope["data"]
        .as_array()?
        .iter()
        .find(|p| p["mac"].as_str() == Some(mac.lower().as_str()))
        .cloned()
        .map(shown)
}

async fn form_page(
    console: &Console,
    admin: &Admin,
    phone: Value,
    form: Value,
    chosen: Vec<String>,
    errors: Value,
) -> Response {
    let uri = format!("/api/extensions?perPage={EXTENSIONS_OFFERED}&sort_field=extn");
    let extensions = console
        .json(admin, Method::GET, &uri, None)
        .await
        .map(|page| page["data"].clone())
        .unwrap_or(Value::Array(Vec::new()));
    let status = super::form_status(&errors);
    console.page_with_status(
        admin,
        status,
        "claim.html",
        json!({
            "nav": "pending",
            "mac_shown": phone["mac_shown"],
            "phone": phone,
            "form": form,
            "chosen": chosen,
            "errors": errors,
            "extensions": extensions,
            "vendors": console.app.packs.current().vendors().map(|v| v.code()).collect::<Vec<_>>(),
        }),
    )
}

async fn claim_form(State(console): State<Console>, admin: Admin, Path(mac): Path<String>) -> Response {
    let Some(phone) = parse(&mac) else {
        return super::problem(
            &console,
            admin.lang,
            StatusCode::BAD_REQUEST,
            &format!("mac: '{mac}' is not a MAC address"),
        );
    };
    let Some(phone) = pending_phone(&console, &admin, phone).await else {
        return super::problem(
            &console,
            admin.lang,
            StatusCode::NOT_FOUND,
            &format!("{mac} is not a pending phone"),
        );
    };
    let vendor = phone["vendor"]
        .as_str()
        .and_then(|v| console.app.packs.current().vendor(v).ok())
        .map_or("", |v| v.code());
    let form = json!({"name": "", "vendor": vendor, "type": phone["model"]});
    form_page(&console, &admin, phone, form, Vec::new(), json!({})).await
}

async fn claim(
    State(console): State<Console>,
    Path(mac): Path<String>,
    Submission { admin, fields }: Submission,
) -> Response {
    let Some(parsed) = parse(&mac) else {
        return super::problem(
            &console,
            admin.lang,
            StatusCode::BAD_REQUEST,
            &format!("mac: '{mac}' is not a MAC address"),
        );
    };
    let chosen = fields.all("extn");
    let mut body = fields.json(&CLAIMED);
    body["mac"] = json!(parsed.lower());
    body["extn"] = json!(lines_field(&chosen.join(",")));
    match console
        .json(&admin, Method::POST, "/api/device_provisions", Some(body))
        .await
    {
        Ok(_) => Redirect::to(&format!("/ui/devices?done=claimed&field=mac&q={}", parsed.lower())).into_response(),
        Err(refusal) => {
            let phone = pending_phone(&console, &admin, parsed)
                .await
                .unwrap_or_else(|| shown(json!({"mac": parsed.lower(), "user_agent": "", "ip": "", "last_seen": ""})));
            let chosen = chosen.iter().map(|c| c.to_string()).collect();
            form_page(
                &console,
                &admin,
                phone,
                fields.refill(&CLAIMED),
                chosen,
                refusal.by_field(),
            )
            .await
        }
    }
}

fn parse(mac: &str) -> Option<Mac> {
    mac.parse().ok()
}
