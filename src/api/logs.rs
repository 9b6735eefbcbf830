//! `GET /api/logs`: the operation log, newest first.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{Filter, ListParams, ListSpec, PageBody, list_query};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::logs::{COLUMNS, LogEntry};
use crate::store::{Arg, Db, ListSql};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

const LIST: ListSpec = ListSpec {
    columns: COLUMNS,
    from: "logs",
    always: &[],
    filters: &[
        Filter::Custom("operator", operator_filter, None),
        Filter::EqualsIgnoreCase("resource", "resource"),
        Filter::EqualsIgnoreCase("action", "action"),
        Filter::From("startDate", "created_at"),
        Filter::Until("endDate", "created_at"),
    ],
    sortable: &[
        ("id", "id"),
        ("created_at", "created_at"),
        ("user_name", "user_name"),
        ("resource", "resource"),
        ("action", "action"),
    ],
    default_order: "id DESC",
};
list_query!(LogQuery, LIST);

/// The operator as a user's login or display name, ignoring case.
fn operator_filter(value: &str, sql: &mut ListSql) -> Result<(), ApiError> {
    sql.push(
        |p| {
            format!(
                "(lower(user_name) = lower({p}) OR user_id IN (SELECT id FROM users WHERE lower(login) = lower({p})))"
            )
        },
        Arg::Text(value.to_string()),
    );
    Ok(())
}

#[utoipa::path(get, path = "/api/logs", tag = "logs",
    params(LogQuery),
    responses((status = 200, body = PageBody<LogEntry>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(db): State<Db>, params: ListParams) -> Result<Json<PageBody<LogEntry>>, ApiError> {
    Ok(Json(LIST.fetch(&db, &params).await?))
}
