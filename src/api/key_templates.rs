//! `/api/key_templates`: named sets of programmable keys many devices share.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiActor, ApiPath, Input};
use super::paging::{ListParams, PageBody, list_query};
use super::{Done, done};
use crate::admin::Admin;
use crate::admin::keys::{KeyTemplate, KeyTemplateInput};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::key_templates::LIST;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
}

list_query!(KeyTemplateQuery, LIST);

#[utoipa::path(get, path = "/api/key_templates", tag = "key_templates", params(KeyTemplateQuery),
    responses((status = 200, body = PageBody<KeyTemplate>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(admin): State<Admin>, params: ListParams) -> Result<Json<PageBody<KeyTemplate>>, ApiError> {
    Ok(Json(admin.list_key_templates(params).await?.into()))
}

#[utoipa::path(get, path = "/api/key_templates/{id}", tag = "key_templates", params(("id" = i64, Path)),
    responses((status = 200, body = KeyTemplate), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(State(admin): State<Admin>, ApiPath(id): ApiPath<i64>) -> Result<Json<KeyTemplate>, ApiError> {
    Ok(Json(admin.key_template(id).await?))
}

/// At most 1,000 templates per site; past that, a 400 naming the bound.
#[utoipa::path(post, path = "/api/key_templates", tag = "key_templates", request_body = KeyTemplateInput,
    responses((status = 200, body = Done<String>, description = "data is the new id"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    Input(input): Input<KeyTemplateInput>,
) -> Result<Json<Done<String>>, ApiError> {
    Ok(done(admin.create_key_template(&actor, input).await?.to_string()))
}

/// New keys must fit every device that has the template (with its own keys
/// over them); a 400 names the first that does not, and its slot.
#[utoipa::path(put, path = "/api/key_templates/{id}", tag = "key_templates", params(("id" = i64, Path)), request_body = KeyTemplateInput,
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<KeyTemplateInput>,
) -> Result<Json<Done<String>>, ApiError> {
    admin.update_key_template(&actor, id, input).await?;
    Ok(done(id.to_string()))
}

/// The devices that had it keep their own keys only.
#[utoipa::path(delete, path = "/api/key_templates/{id}", tag = "key_templates", params(("id" = i64, Path)),
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Done<String>>, ApiError> {
    admin.delete_key_template(&actor, id).await?;
    Ok(done(id.to_string()))
}
