//! `/api/dicts`: XSwitch's realm/key/value tables, for administrators.
//! Rows of the provisioning realms
//! (`PROVISION`, `PROVISION:<mac>`) are checked key by key, and secret
//! values are kept encrypted and shown as `********`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiActor, ApiPath, ApiQuery, Input};
use super::{Done, done};
use crate::admin::Admin;
pub use crate::admin::settings::SettingInput as DictInput;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::dicts::Dict;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(by_realm))
        .routes(routes!(get_one, update, delete))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RealmQuery {
    /// Only this realm; all realms when absent.
    pub realm: Option<String>,
}

#[utoipa::path(get, path = "/api/dicts", tag = "dicts", params(RealmQuery),
    responses((status = 200, body = Vec<Dict>, description = "a bare array, as XSwitch answers"), (status = 403, body = ErrorBody)))]
pub async fn list(State(admin): State<Admin>, ApiQuery(q): ApiQuery<RealmQuery>) -> Result<Json<Vec<Dict>>, ApiError> {
    let realm = q.realm.as_deref().map(str::trim).filter(|r| !r.is_empty());
    Ok(Json(admin.settings(realm).await?))
}

#[utoipa::path(get, path = "/api/dicts/realm/{realm}", tag = "dicts", params(("realm" = String, Path)),
    responses((status = 200, body = Vec<Dict>), (status = 403, body = ErrorBody)))]
pub async fn by_realm(
    State(admin): State<Admin>,
    ApiPath(realm): ApiPath<String>,
) -> Result<Json<Vec<Dict>>, ApiError> {
    Ok(Json(admin.settings(Some(&realm)).await?))
}

#[utoipa::path(get, path = "/api/dicts/{id}", tag = "dicts", params(("id" = i64, Path)),
    responses((status = 200, body = Dict), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(State(admin): State<Admin>, ApiPath(id): ApiPath<i64>) -> Result<Json<Dict>, ApiError> {
    Ok(Json(admin.shown_setting(id).await?))
}

#[utoipa::path(post, path = "/api/dicts", tag = "dicts", request_body = DictInput,
    responses((status = 200, body = Done<String>, description = "data is the new id"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    Input(input): Input<DictInput>,
) -> Result<Json<Done<String>>, ApiError> {
    let id = admin.create_setting(&actor, input).await?;
    Ok(done(id.to_string()))
}

#[utoipa::path(put, path = "/api/dicts/{id}", tag = "dicts", params(("id" = i64, Path)), request_body = DictInput,
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<DictInput>,
) -> Result<Json<Done<String>>, ApiError> {
    admin.update_setting(&actor, id, input).await?;
    Ok(done(id.to_string()))
}

#[utoipa::path(delete, path = "/api/dicts/{id}", tag = "dicts", params(("id" = i64, Path)),
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Done<String>>, ApiError> {
    admin.delete_setting(&actor, id).await?;
    Ok(done(id.to_string()))
}
