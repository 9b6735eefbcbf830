//! Pending phones: unknown phones that asked for a configuration, and
//! claiming one by giving it a device record with its extensions.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::devices::{lines_field, shown_mac};
use super::i18n::Lang;
use super::{Admin, Console, PAGE_SIZE, Routes, Submission, by_field, pager};
use crate::admin::rows::RawRow;
use crate::domain::Mac;
use crate::store::fetches::PendingPhone;
use crate::store::{ListParams, Page};

pub fn routes() -> Routes {
    Routes::default()
        .route("/ui/pending", get(list))
        .route("/ui/pending/{mac}", get(claim_form).post(claim))
}

/// The claim form's fields besides the extensions.
const CLAIMED: [&str; 3] = ["name", "vendor", "type"];

/// A pending phone as the pages show it.
fn shown(phone: &PendingPhone, lang: Lang) -> Value {
    let mut shown = json!(phone);
    shown["mac_shown"] = json!(shown_mac(&phone.mac));
    shown["reason"] = json!(super::i18n::reason(lang, &phone.reason));
    shown
}

/// A page of pending phones, `asked` adding to the list's parameters.
async fn pending(console: &Console, asked: &[(&str, String)]) -> crate::admin::Result<Page<PendingPhone>> {
    let asked = asked.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect();
    console.core.list_pending(ListParams::from_map(asked)?).await
}

async fn list(State(console): State<Console>, admin: Admin, Query(query): Query<HashMap<String, String>>) -> Response {
    let page: i64 = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    match pending(
        &console,
        &[("page", page.to_string()), ("perPage", PAGE_SIZE.to_string())],
    )
    .await
    {
        Ok(listed) => {
            let phones: Vec<Value> = listed.rows.iter().map(|p| shown(p, admin.lang)).collect();
            console.page(
                &admin,
                "pending.html",
                json!({"nav": "pending", "phones": phones, "pager": pager(&listed, &[]),
                    "unknown_files": console.app.provisioner.fetches.unknown_files()}),
            )
        }
        Err(err) => console.refused(&admin, err),
    }
}

/// The pending phone with this MAC.
async fn pending_phone(console: &Console, mac: Mac, lang: Lang) -> Option<Value> {
    let listed = pending(console, &[("mac", mac.lower()), ("perPage", "10".into())])
        .await
        .ok()?;
    listed
        .rows
        .iter()
        .find(|p| p.mac == mac.lower())
        .map(|p| shown(p, lang))
}

/// The extensions the claim form offers: those whose number holds
/// `search.extn`, and only those on no phone when `search.free` is set.
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
struct ExtensionSearch {
    #[serde(default)]
    extn: String,
    #[serde(default)]
    free: String,
}

async fn form_page(
    console: &Console,
    admin: &Admin,
    phone: Value,
    form: Value,
    (chosen, search): (Vec<String>, ExtensionSearch),
    errors: Value,
) -> Response {
    let free = if search.free.is_empty() { "" } else { "1" };
    let extensions = super::offered_extensions(console, &[("extn", search.extn.trim()), ("free", free)]).await;
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
            "search": search,
            "vendors": console.app.packs.current().vendors().map(|v| v.code()).collect::<Vec<_>>(),
        }),
    )
}

fn not_a_mac(console: &Console, admin: &Admin, mac: &str) -> Response {
    super::problem(
        console,
        admin.lang,
        StatusCode::BAD_REQUEST,
        &format!("mac: '{mac}' is not a MAC address"),
    )
}

async fn claim_form(
    State(console): State<Console>,
    admin: Admin,
    Path(mac): Path<String>,
    Query(search): Query<ExtensionSearch>,
) -> Response {
    let Ok(parsed) = mac.parse::<Mac>() else {
        return not_a_mac(&console, &admin, &mac);
    };
    let Some(phone) = pending_phone(&console, parsed, admin.lang).await else {
        return super::problem(
            &console,
            admin.lang,
            StatusCode::NOT_FOUND,
            &format!("{mac} is not a pending phone"),
        );
    };
    let packs = console.app.packs.current();
    let vendor = phone["vendor"].as_str().and_then(|v| packs.vendor(v).ok());
    // A model its pack does not list would be refused: the form leaves it
    // for the family's defaults, and the phone's page still names it.
    let model = phone["model"].as_str().unwrap_or_default();
    let model = match vendor {
        Some(v) if packs.knows_model(v, model) == Some(false) => "",
        _ => model,
    };
    let form = json!({"name": "", "vendor": vendor.map_or("", |v| v.code()), "type": model});
    form_page(&console, &admin, phone, form, (Vec::new(), search), json!({})).await
}

async fn claim(
    State(console): State<Console>,
    Path(mac): Path<String>,
    Submission { admin, fields }: Submission,
) -> Response {
    let Ok(parsed) = mac.parse::<Mac>() else {
        return not_a_mac(&console, &admin, &mac);
    };
    let chosen = fields.all("extn");
    let row = RawRow {
        row: 1,
        name: fields.given("name"),
        extn: Some(lines_field(&chosen.join(","))),
        vendor: fields.given("vendor"),
        mac: Some(parsed.lower()),
        kind: fields.given("type"),
    };
    match console.core.create_device(&admin.actor(), row).await {
        Ok(_) => Redirect::to(&format!("/ui/devices?done=claimed&field=mac&q={}", parsed.lower())).into_response(),
        Err(err) => {
            let phone = pending_phone(&console, parsed, admin.lang)
                .await
                .unwrap_or_else(|| json!({"mac": parsed.lower(), "mac_shown": parsed.colon_upper(), "user_agent": "", "ip": "", "last_seen": ""}));
            let chosen = chosen.iter().map(|c| c.to_string()).collect();
            let offered = (chosen, ExtensionSearch::default());
            form_page(
                &console,
                &admin,
                phone,
                fields.refill(&CLAIMED),
                offered,
                by_field(&err),
            )
            .await
        }
    }
}
