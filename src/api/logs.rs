//! `GET /api/logs`: the operation log, newest first.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{ListParams, PageBody, list_query};
use crate::admin::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::logs::LIST;
use crate::store::logs::LogEntry;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

list_query!(LogQuery, LIST);

#[utoipa::path(get, path = "/api/logs", tag = "logs",
    params(LogQuery),
    responses((status = 200, body = PageBody<LogEntry>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(admin): State<Admin>, params: ListParams) -> Result<Json<PageBody<LogEntry>>, ApiError> {
    Ok(Json(admin.list_logs(params).await?.into()))
}

/// Every resource a log row can name: those of the documented API paths, sorted.
pub fn resources() -> Vec<String> {
    let mut resources: Vec<String> = super::openapi()
        .paths
        .paths
        .keys()
        .map(|path| path.trim_start_matches('/').split('/').nth(1).unwrap_or("").to_string())
        .collect();
    resources.sort();
    resources.dedup();
    resources
}
