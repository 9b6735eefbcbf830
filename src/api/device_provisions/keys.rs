//! `/api/device_provisions/{id}/keys`: a device's programmable keys.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::Admin;
use crate::admin::keys::{DeviceKeys, DeviceKeysInput};
use crate::api::extract::{ApiActor, ApiPath, Input};
use crate::api::{Done, done};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_keys, put_keys))
}

/// The device's own keys, its key template, and what its phone gets.
#[utoipa::path(get, path = "/api/device_provisions/{id}/keys", tag = "device_provisions", params(("id" = i64, Path)),
    responses((status = 200, body = DeviceKeys), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_keys(State(admin): State<Admin>, ApiPath(id): ApiPath<i64>) -> Result<Json<DeviceKeys>, ApiError> {
    Ok(Json(admin.device_keys(id).await?))
}

/// Replaces the device's own keys and sets its key template. A slot past
/// the model's keys, or a type its family cannot do, is a 400 naming the
/// slot and why; nothing is written then.
#[utoipa::path(put, path = "/api/device_provisions/{id}/keys", tag = "device_provisions", params(("id" = i64, Path)),
    request_body = DeviceKeysInput,
    responses((status = 200, body = Done<DeviceKeys>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn put_keys(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<DeviceKeysInput>,
) -> Result<Json<Done<DeviceKeys>>, ApiError> {
    Ok(done(admin.set_device_keys(&actor, id, input).await?))
}
