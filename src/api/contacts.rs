//! `/api/contacts`: names and numbers the company directory lists besides
//! the extensions.

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiActor, ApiPath, ApiQuery, ImportOptions, Input, Upload};
use super::paging::{ListParams, PageBody, list_query};
use super::{Done, done, dry_run};
use crate::admin::Admin;
pub use crate::admin::contacts::ContactInput;
use crate::admin::rows::{IMPORT_BODY_LIMIT, rows_from_sheet};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::contacts::{Contact, ContactFields, LIST};

pub fn router() -> OpenApiRouter<AppState> {
    let bulk = OpenApiRouter::new()
        .routes(routes!(import_rows))
        .layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT));
    OpenApiRouter::new()
        .merge(bulk)
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
}

list_query!(ContactQuery, LIST);

#[utoipa::path(get, path = "/api/contacts", tag = "contacts", params(ContactQuery),
    responses((status = 200, body = PageBody<Contact>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(admin): State<Admin>, params: ListParams) -> Result<Json<PageBody<Contact>>, ApiError> {
    Ok(Json(admin.list_contacts(params).await?.into()))
}

#[utoipa::path(get, path = "/api/contacts/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, body = Contact), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(State(admin): State<Admin>, ApiPath(id): ApiPath<i64>) -> Result<Json<Contact>, ApiError> {
    Ok(Json(admin.contact(id).await?))
}

/// At most 10,000 contacts per site; past that, a 400 naming the bound.
#[utoipa::path(post, path = "/api/contacts", tag = "contacts", request_body = ContactInput,
    responses((status = 200, body = Done<String>, description = "data is the new id"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    Input(input): Input<ContactInput>,
) -> Result<Json<Done<String>>, ApiError> {
    Ok(done(admin.create_contact(&actor, input).await?.id.to_string()))
}

#[utoipa::path(put, path = "/api/contacts/{id}", tag = "contacts", params(("id" = i64, Path)), request_body = ContactInput,
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<ContactInput>,
) -> Result<Json<Done<String>>, ApiError> {
    admin.update_contact(&actor, id, input).await?;
    Ok(done(id.to_string()))
}

#[utoipa::path(delete, path = "/api/contacts/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Done<String>>, ApiError> {
    admin.delete_contact(&actor, id).await?;
    Ok(done(id.to_string()))
}

/// All or nothing, from a CSV body (`text/csv`), an XLSX workbook, or a
/// multipart `file` holding either: columns `name` (名称) and `number`
/// (号码, 电话).
#[utoipa::path(post, path = "/api/contacts/import", tag = "contacts", params(ImportOptions),
    request_body(content((String = "text/csv", example = "name,number\nFront desk,+493012345"))),
    responses(
        (status = 200, body = Done<Vec<ContactFields>>, description = "the contacts created (a dry run: those that would be)"),
        (status = 400, body = ErrorBody, description = "every bad row is listed in errors; nothing was written"),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
    ))]
pub async fn import_rows(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiQuery(options): ApiQuery<ImportOptions>,
    upload: Upload,
) -> Result<Json<Done<Vec<ContactFields>>>, ApiError> {
    let rows = rows_from_sheet(&upload.bytes)?;
    let imported = admin.import_contacts(&actor, rows, options.dry_run()).await?;
    if !options.dry_run() {
        return Ok(done(imported));
    }
    Ok(Json(dry_run(imported.len(), "contact", imported)))
}
