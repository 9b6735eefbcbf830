//! Activity: the operation log, newest first, filtered by operator,
//! resource, action and date, read through the log API so its checks and
//! messages are the API's own.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::{Admin, Console, PAGE_SIZE, Refusal, Routes, page_query, pager};
use crate::api::audit::{ACTIONS, resources};

pub fn routes() -> Routes {
    Routes::default().route("/ui/activity", get(list))
}

/// The filters, named as the log API names them, so its messages name the
/// form's fields.
const FILTERS: [&str; 5] = ["operator", "resource", "action", "startDate", "endDate"];

/// The resources the API logs; the documented paths do not change while it runs.
static RESOURCES: LazyLock<Vec<String>> = LazyLock::new(resources);

async fn list(State(console): State<Console>, admin: Admin, Query(query): Query<HashMap<String, String>>) -> Response {
    let filters: Vec<(&str, &str)> = FILTERS
        .iter()
        .map(|name| (*name, query.get(*name).map_or("", |v| v.trim())))
        .collect();
    let page = query.get("page").map_or("1", |p| p.trim());
    let listed = match unknown_choice(&filters) {
        Some(refusal) => Err(refusal),
        None => {
            let per_page = PAGE_SIZE.to_string();
            let mut asked = filters.clone();
            asked.push(("perPage", &per_page));
            let uri = format!("/api/logs?{}", page_query(&asked, page));
            console.json(&admin, Method::GET, &uri, None).await
        }
    };
    let (envelope, errors) = match listed {
        Ok(envelope) => (envelope, json!({})),
        // A filter the log cannot take is shown beside its field.
        Err(refusal) if refusal.status == StatusCode::BAD_REQUEST => (
            json!({"page": 1, "pageCount": 0, "rowCount": 0, "data": []}),
            refusal.by_field(),
        ),
        Err(refusal) => return console.refused(&admin, refusal),
    };
    let form: serde_json::Map<String, Value> = filters.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect();
    console.page_with_status(
        &admin,
        super::form_status(&errors),
        "activity.html",
        json!({
            "nav": "activity",
            "entries": envelope["data"],
            "form": form,
            "errors": errors,
            "resources": *RESOURCES,
            "actions": ACTIONS,
            "pager": pager(&envelope, &filters),
        }),
    )
}

/// The refusal for a resource or action the log never names: the API
/// would only find nothing, which hides a typo in a link.
fn unknown_choice(filters: &[(&str, &str)]) -> Option<Refusal> {
    let resources: Vec<&str> = RESOURCES.iter().map(String::as_str).collect();
    let choices: [(&str, &[&str]); 2] = [("resource", &resources), ("action", &ACTIONS)];
    choices.into_iter().find_map(|(field, known)| {
        let given = filters.iter().find(|(name, _)| *name == field).map_or("", |(_, v)| *v);
        let is_known = given.is_empty() || known.iter().any(|k| k.eq_ignore_ascii_case(given));
        (!is_known).then(|| Refusal {
            status: StatusCode::BAD_REQUEST,
            message: format!("{field}: '{given}' is not one of {}", known.join(", ")),
            errors: Value::Null,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_resources_and_actions_are_taken_in_any_case() {
        let with = |resource, action| vec![("operator", "anyone"), ("resource", resource), ("action", action)];
        assert!(unknown_choice(&with("", "")).is_none());
        assert!(unknown_choice(&with("device_provisions", "update")).is_none());
        let refusal = unknown_choice(&with("", "ERASE")).unwrap();
        assert!(
            refusal
                .message
                .starts_with("action: 'ERASE' is not one of CREATE, UPDATE"),
            "{}",
            refusal.message
        );
        assert_eq!(refusal.field(), Some("action"));
        let refusal = unknown_choice(&with("phones", "CREATE")).unwrap();
        assert!(
            refusal.message.starts_with("resource: 'phones' is not one of "),
            "{}",
            refusal.message
        );
    }
}
