//! `/api/device_provisions/{id}/timeline`: what happened to a device's phone.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::Admin;
use crate::admin::timeline::Timeline;
use crate::api::extract::ApiPath;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(timeline))
}

/// The phone's fetches (each with its outcome, and why it was refused),
/// the changes made to the record and the pushes sent to it, newest first,
/// at most 100. A phone's last 100 fetches of the last 30 days are kept.
#[utoipa::path(get, path = "/api/device_provisions/{id}/timeline", tag = "device_provisions", params(("id" = i64, Path)),
    responses((status = 200, body = Timeline), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn timeline(State(admin): State<Admin>, ApiPath(id): ApiPath<i64>) -> Result<Json<Timeline>, ApiError> {
    Ok(Json(admin.device_timeline(id).await?))
}
