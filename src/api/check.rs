//! `/api/check/:name`: whether a named background job is running, with the
//! codes of seed 000 (0 running, 200 not running).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::ApiPath;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobStatus {
    /// 0 when the job runs, 200 when it does not.
    #[schema(example = 0)]
    pub code: u16,
    #[schema(example = "Already Running")]
    pub msg: &'static str,
}

#[utoipa::path(get, path = "/api/check/{name}", tag = "jobs", params(("name" = String, Path, description = "clean-file, heartbeat, conference-manager, conference-manager-cdr or sip-trace")),
    responses((status = 200, body = JobStatus), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn check(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> Result<Json<JobStatus>, ApiError> {
    match state.jobs.status(&name) {
        Some(true) => Ok(Json(JobStatus {
            code: 0,
            msg: "Already Running",
        })),
        Some(false) => Ok(Json(JobStatus {
            code: 200,
            msg: "Not Running",
        })),
        None => Err(ApiError::not_found(format!("no background job named '{name}'"))),
    }
}
