//! `/api/extensions`: the SIP accounts phones register with. Passwords are
//! kept encrypted; ha1/ha1b are recomputed on every change.

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiActor, ApiPath, ApiQuery, ImportOptions, Input, Upload};
use super::paging::{ListParams, PageBody, list_query};
use super::{Done, done, dry_run};
use crate::admin::Admin;
pub use crate::admin::extensions::{ExtensionInput, RangeInput};
use crate::admin::extensions::{ImportedExtensions, extension_password};
use crate::admin::rows::{IMPORT_BODY_LIMIT, rows_from_sheet};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::extensions::{Extension, LIST};

pub fn router() -> OpenApiRouter<AppState> {
    let bulk = OpenApiRouter::new()
        .routes(routes!(import_rows))
        .layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT));
    OpenApiRouter::new()
        .merge(bulk)
        .routes(routes!(list, create))
        .routes(routes!(create_range))
        .routes(routes!(get_one, update, delete))
}

list_query!(ExtensionQuery, LIST);

/// One extension with its SIP password, as the detail view shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtensionDetail {
    #[serde(flatten)]
    pub extension: Extension,
    pub password: String,
}

#[utoipa::path(get, path = "/api/extensions", tag = "extensions",
    params(ExtensionQuery),
    responses((status = 200, body = PageBody<Extension>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(admin): State<Admin>, params: ListParams) -> Result<Json<PageBody<Extension>>, ApiError> {
    Ok(Json(admin.list_extensions(params).await?.into()))
}

#[utoipa::path(get, path = "/api/extensions/{id}", tag = "extensions", params(("id" = i64, Path)),
    responses((status = 200, body = ExtensionDetail), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(State(admin): State<Admin>, ApiPath(id): ApiPath<i64>) -> Result<Json<ExtensionDetail>, ApiError> {
    let extension = admin.extension(id).await?;
    let password = extension_password(&admin.secrets, &extension)?;
    Ok(Json(ExtensionDetail { extension, password }))
}

#[utoipa::path(post, path = "/api/extensions", tag = "extensions", request_body = ExtensionInput,
    responses((status = 200, body = Done<String>, description = "data is the new id"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    Input(input): Input<ExtensionInput>,
) -> Result<Json<Done<String>>, ApiError> {
    let created = admin.create_extension(&actor, input).await?;
    Ok(done(created.id.to_string()))
}

#[utoipa::path(post, path = "/api/extensions/muti_add", tag = "extensions", request_body = RangeInput,
    responses((status = 200, body = Done<Vec<Extension>>, description = "the created extensions"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_range(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    Input(input): Input<RangeInput>,
) -> Result<Json<Done<Vec<Extension>>>, ApiError> {
    Ok(done(admin.create_extension_range(&actor, input).await?))
}

/// An extension an import would create: its number, name and domain. No
/// other field, which tells it apart from a created extension.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedExtension {
    pub extn: String,
    pub name: String,
    pub domain: String,
}

/// What an import created, or in a dry run would create.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ImportedExtensionRows {
    Created(Vec<Extension>),
    Planned(Vec<PlannedExtension>),
}

/// All or nothing, from a CSV body (`text/csv`), an XLSX workbook, or a
/// multipart `file` holding either. Columns: `extn` (or `number`, 分机号),
/// `name` (名称), `password` (密码, generated when blank).
#[utoipa::path(post, path = "/api/extensions/import", tag = "extensions", params(ImportOptions),
    request_body(content((String = "text/csv", example = "extn,name,password\n2001,Sam Smith,\n2002,Ana Lima,Ana-pass-9"))),
    responses(
        (status = 200, body = Done<ImportedExtensionRows>, description = "the created extensions (a dry run: those that would be)"),
        (status = 400, body = ErrorBody, description = "every bad row is listed in errors; nothing was written"),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
    ))]
pub async fn import_rows(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiQuery(options): ApiQuery<ImportOptions>,
    upload: Upload,
) -> Result<Json<Done<ImportedExtensionRows>>, ApiError> {
    let rows = rows_from_sheet(&upload.bytes)?;
    Ok(Json(imported_extensions(
        admin.import_extensions(&actor, rows, options.dry_run()).await?,
    )))
}

/// An extension import's report, as the API and `sipprov import` print it.
pub fn imported_extensions(imported: ImportedExtensions) -> Done<ImportedExtensionRows> {
    match imported {
        ImportedExtensions::Created(created) => done(ImportedExtensionRows::Created(created)).0,
        ImportedExtensions::Planned(planned) => dry_run(
            planned.len(),
            "extension",
            ImportedExtensionRows::Planned(
                planned
                    .into_iter()
                    .map(|f| PlannedExtension {
                        extn: f.extn,
                        name: f.name,
                        domain: f.domain,
                    })
                    .collect(),
            ),
        ),
    }
}

#[utoipa::path(put, path = "/api/extensions/{id}", tag = "extensions", params(("id" = i64, Path)), request_body = ExtensionInput,
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<ExtensionInput>,
) -> Result<Json<Done<String>>, ApiError> {
    admin.update_extension(&actor, id, input).await?;
    Ok(done(id.to_string()))
}

#[utoipa::path(delete, path = "/api/extensions/{id}", tag = "extensions", params(("id" = i64, Path)),
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "still a line of a device")))]
pub async fn delete(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Done<String>>, ApiError> {
    admin.delete_extension(&actor, id).await?;
    Ok(done(id.to_string()))
}
