//! Activity: the operation log, newest first, filtered by operator,
//! resource, action and date, read through the admin core as the log API
//! reads it, so its checks and messages are the same.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::{Admin, Console, PAGE_SIZE, Routes, by_field, pager};
use crate::admin::Error;
use crate::admin::log::ACTIONS;
use crate::api::logs::resources;
use crate::store::{ListParams, Page};

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
            let mut asked: HashMap<String, String> = filters
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect();
            asked.insert("page".into(), page.to_string());
            asked.insert("perPage".into(), PAGE_SIZE.to_string());
            match ListParams::from_map(asked) {
                Ok(params) => console.core.list_logs(params).await,
                Err(err) => Err(err.into()),
            }
        }
    };
    let (listed, errors) = match listed {
        Ok(listed) => (listed, json!({})),
        // A filter the log cannot take is shown beside its field.
        Err(err @ Error::Field { .. }) => (Page::empty(), by_field(&err)),
        Err(err) => return console.refused(&admin, err),
    };
    let form: serde_json::Map<String, Value> = filters.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect();
    console.page_with_status(
        &admin,
        super::form_status(&errors),
        "activity.html",
        json!({
            "nav": "activity",
            "entries": listed.rows,
            "form": form,
            "errors": errors,
            "resources": *RESOURCES,
            "actions": ACTIONS,
            "pager": pager(&listed, &filters),
        }),
    )
}

/// The refusal for a resource or action the log never names: the list
/// would only find nothing, which hides a typo in a link.
fn unknown_choice(filters: &[(&str, &str)]) -> Option<Error> {
    let resources: Vec<&str> = RESOURCES.iter().map(String::as_str).collect();
    let choices: [(&str, &[&str]); 2] = [("resource", &resources), ("action", &ACTIONS)];
    choices.into_iter().find_map(|(field, known)| {
        let given = filters.iter().find(|(name, _)| *name == field).map_or("", |(_, v)| *v);
        let is_known = given.is_empty() || known.iter().any(|k| k.eq_ignore_ascii_case(given));
        (!is_known).then(|| Error::field(field, format!("'{given}' is not one of {}", known.join(", "))))
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
                .to_string()
                .starts_with("action: 'ERASE' is not one of CREATE, UPDATE"),
            "{refusal}"
        );
        assert_eq!(refusal.field_name(), Some("action"));
        let refusal = unknown_choice(&with("phones", "CREATE")).unwrap();
        assert!(
            refusal.to_string().starts_with("resource: 'phones' is not one of "),
            "{refusal}"
        );
    }
}
