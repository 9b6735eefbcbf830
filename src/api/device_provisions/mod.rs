//! `/api/device_provisions`: phones by MAC, per XSwitch's 话机自动配置 API.

pub mod keys;
pub mod resync;
pub mod timeline;

use axum::Json;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HOST};
use axum::response::{IntoResponse, Response};

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiActor, ApiPath, ApiQuery, ImportOptions, RawBody, Upload, lenient};
use super::paging::{ListParams, PageBody, list_query};
use super::{Done, done, dry_run};
use crate::admin::devices::{DeviceChange, Imported, Preview};
use crate::admin::export::{self, Headers, Model};
use crate::admin::rows::{JsonBody, parse_json, rows_from_bytes};
use crate::admin::{self, Admin};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::devices::Device;
use crate::store::devices::{LIST, PENDING};
use crate::store::fetches::PendingPhone;

use crate::admin::rows::IMPORT_BODY_LIMIT;

pub fn router() -> OpenApiRouter<AppState> {
    let bulk = OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(import_rows))
        .layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT));
    OpenApiRouter::new()
        .merge(bulk)
        .merge(resync::router())
        .merge(keys::router())
        .merge(timeline::router())
        .routes(routes!(download))
        .routes(routes!(pending))
        .routes(routes!(preview))
        .routes(routes!(get_one, update, delete))
}

list_query!(DeviceQuery, LIST);

list_query!(PendingQuery, PENDING);

/// A device record as clients send it. Keys may also be the Chinese column
/// names (名称, 分机号, 供应商, MAC); unknown keys are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeviceInput {
    #[schema(schema_with = lenient::text_up_to::<128>, example = "我在测试")]
    pub name: Option<String>,
    /// yealink (亿联), grandstream (gs, 潮流), fanvil (方位), huawei (华为),
    /// polycom (poly), snom, cisco, htek, flyingvoice, akuvox, gigaset or xyt.
    #[schema(schema_with = vendor_schema, required = true, example = "gs")]
    pub vendor: Option<String>,
    /// 00:0B:74:61:58:2D, 00-0b-74-61-58-2d, 000B7461582D or 000b.7461.582d.
    #[schema(schema_with = mac_schema, required = true, example = "000B7461582D")]
    pub mac: Option<String>,
    /// The lines: `[{"extn":"1001"}]` as a string, `1007|domain`, `1007@domain` or `1001`.
    #[schema(schema_with = lines, example = "[{\"extn\":\"1001\"}]")]
    pub extn: Option<String>,
    /// The phone model: letters, digits, spaces and `._-+/()`, beginning
    /// with a letter or digit (`T46G`, `VVX 400`, `CP-8841-3PCC`).
    #[serde(rename = "type")]
    #[schema(schema_with = model_schema)]
    pub kind: Option<String>,
}

/// What [`import::check_model`] takes, or a whole number that reads as one.
fn model_schema() -> utoipa::openapi::schema::Schema {
    lenient::patterned(
        r"^\s*([A-Za-z0-9][A-Za-z0-9 ._+/()-]{0,63})?\s*$",
        0,
        lenient::MAX_SAFE_INTEGER,
        true,
    )
}

/// Any name of a family, any case.
pub(super) fn vendor_schema() -> utoipa::openapi::schema::Schema {
    let names: Vec<&str> = crate::packs::builtin_vendor_names()
        .iter()
        .map(String::as_str)
        .collect();
    lenient::required_choice_schema(&names)
}

/// A MAC in one of the spellings `Mac` reads, or its 12 digits as a number.
/// A MAC in any spelling `Mac` reads.
pub(super) const MAC: &str = r"^\s*([0-9A-Fa-f]{12}|[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})\s*$";

fn mac_schema() -> utoipa::openapi::schema::Schema {
    lenient::patterned(MAC, 100_000_000_000, 999_999_999_999, false)
}

/// The lines: text (`1001`, `1007|domain`, or XSwitch's JSON array as a
/// string), a number, or the array itself.
fn lines() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
    let line = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("extn", lenient::required_text_schema())
        .required("extn");
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ArrayBuilder::new().items(line))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build(),
    )
}

/// Many records at once: `devices` (or `data`) holds the rows.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeviceRows {
    #[schema(min_items = 1)]
    pub devices: Vec<DeviceInput>,
}

/// A record a dry run would create. Its schema allows no other keys, so a
/// created record (which has an id) never passes for one.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedDevice {
    pub name: String,
    pub vendor: String,
    pub mac: String,
    pub extn: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `new_phone`, or `more_lines`: the MAC has a record already, or an
    /// earlier row, and this row's lines are added to that phone.
    #[schema(example = "new_phone")]
    pub action: String,
    /// What to look at before confirming: the MAC in an earlier row, an
    /// extension already on another phone, a model the pack does not list.
    pub warnings: Vec<String>,
}

/// The created records, or in a dry run those that would be.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ImportedRows {
    Created(Vec<Device>),
    Planned(Vec<PlannedDevice>),
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadOptions {
    /// `zh-CN` for Chinese headers.
    #[serde(default)]
    pub language: Option<String>,
    /// `json` (XSwitch's array of rows, the default; also when blank) or `csv`.
    #[serde(default)]
    #[param(value_type = Option<String>, pattern = "^(|json|csv)$", default = "json")]
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/device_provisions", tag = "device_provisions",
    params(DeviceQuery),
    responses((status = 200, body = PageBody<Device>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(admin): State<Admin>, params: ListParams) -> Result<Json<PageBody<Device>>, ApiError> {
    Ok(Json(admin.list_devices(params).await?.into()))
}

#[utoipa::path(get, path = "/api/device_provisions/{id}", tag = "device_provisions", params(("id" = i64, Path)),
    responses((status = 200, body = Device), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(State(admin): State<Admin>, ApiPath(id): ApiPath<i64>) -> Result<Json<Device>, ApiError> {
    Ok(Json(admin.device(id).await?))
}

/// One record (`data` is its id), or with a `devices`/`data` array many, as an import.
#[utoipa::path(post, path = "/api/device_provisions", tag = "device_provisions", request_body = DeviceInput,
    responses(
        (status = 200, body = Done<String>, description = "data is the new id; for an array of rows, the created rows"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn create(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    match parse_json(&body)? {
        JsonBody::Rows(rows) => import_answer(admin.import_devices(&actor, rows, false, &|_| {}).await?),
        JsonBody::Single(row) => {
            let row = row.map_err(|e| admin::Error::of_one_row(vec![e]))?;
            let created = admin.create_device(&actor, row).await?;
            Ok(done(created.id.to_string()).into_response())
        }
    }
}

/// All or nothing: JSON (`devices` or `data`, Chinese or English keys), a
/// `text/csv` body, an XLSX workbook, or a multipart `file` holding CSV or XLSX.
#[utoipa::path(post, path = "/api/device_provisions/import", tag = "device_provisions", params(ImportOptions),
    request_body(content(
        (DeviceRows = "application/json"),
        (String = "text/csv", example = "name,extn,vendor,mac\nfront desk,1001,yealink,00:15:65:aa:bb:cc"),
    )),
    responses(
        (status = 200, body = Done<ImportedRows>, description = "the created rows (a dry run: those that would be)"),
        (status = 400, body = ErrorBody, description = "every bad row is listed in errors; nothing was written"),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
    ))]
pub async fn import_rows(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiQuery(options): ApiQuery<ImportOptions>,
    upload: Upload,
) -> Result<Response, ApiError> {
    let rows = rows_from_bytes(&upload.bytes, upload.declared_csv)?;
    import_answer(admin.import_devices(&actor, rows, options.dry_run(), &|_| {}).await?)
}

/// The API's answer to an import: XSwitch's envelope around what it did.
fn import_answer(imported: Imported) -> Result<Response, ApiError> {
    Ok(Json(imported_rows(imported)).into_response())
}

/// An import's report, as the API and `sipprov import --dry-run` print it.
pub fn imported_rows(imported: Imported) -> Done<ImportedRows> {
    match imported {
        Imported::Created(created) => done(ImportedRows::Created(created)).0,
        Imported::Planned(planned) => {
            let count = planned.len();
            let rows = planned
                .into_iter()
                .map(|plan| PlannedDevice {
                    name: plan.fields.name,
                    vendor: plan.fields.vendor,
                    mac: plan.fields.mac,
                    extn: plan.fields.extn,
                    kind: plan.fields.kind,
                    action: plan.action.code().to_string(),
                    warnings: plan.warnings,
                })
                .collect();
            dry_run(count, "row", ImportedRows::Planned(rows))
        }
    }
}

#[utoipa::path(put, path = "/api/device_provisions/{id}", tag = "device_provisions", params(("id" = i64, Path)), request_body = DeviceInput,
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    RawBody(body): RawBody,
) -> Result<Json<Done<String>>, ApiError> {
    let given = match parse_json(&body)? {
        JsonBody::Single(row) => row.map_err(|e| admin::Error::of_one_row(vec![e]))?,
        JsonBody::Rows(_) => return Err(ApiError::bad("request body: send one record's fields, not rows")),
    };
    // Only the fields given change; an `id` in the body is ignored.
    let change = DeviceChange {
        name: given.name,
        extn: given.extn,
        vendor: given.vendor,
        mac: given.mac,
        kind: given.kind,
    };
    admin.update_device(&actor, id, change).await?;
    Ok(done(id.to_string()))
}

#[utoipa::path(delete, path = "/api/device_provisions/{id}", tag = "device_provisions", params(("id" = i64, Path)),
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Done<String>>, ApiError> {
    admin.delete_device(&actor, id).await?;
    Ok(done(id.to_string()))
}

#[utoipa::path(get, path = "/api/device_provisions/download", tag = "device_provisions", params(DownloadOptions, DeviceQuery),
    responses(
        (status = 200, description = "[[\"name\",\"extn\",\"vendor\",\"mac\"], [...], ...], or with format=csv the same as CSV",
            content((Vec<Vec<String>> = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn download(
    State(admin): State<Admin>,
    ApiQuery(options): ApiQuery<DownloadOptions>,
    params: ListParams,
) -> Result<Response, ApiError> {
    let devices = admin.export_devices(&params).await?;
    let headers = Headers::for_language(options.language.as_deref());
    let table = export::table(devices, headers, Model::Left);
    match options.format.as_deref().filter(|f| !f.is_empty()).unwrap_or("json") {
        "json" => Ok(Json(table).into_response()),
        "csv" => Ok(csv_attachment(export::csv_bytes(&table)?)),
        other => Err(ApiError::field("format", format!("'{other}' is not json or csv"))),
    }
}

/// The records as a CSV file to save, for the API's download and the console's export.
pub fn csv_attachment(csv: Vec<u8>) -> Response {
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (CONTENT_DISPOSITION, "attachment; filename=\"device_provisions.csv\""),
        ],
        csv,
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/device_provisions/pending", tag = "device_provisions", params(PendingQuery),
    responses((status = 200, body = PageBody<PendingPhone>, description = "claim one by creating its record"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn pending(State(admin): State<Admin>, params: ListParams) -> Result<Json<PageBody<PendingPhone>>, ApiError> {
    Ok(Json(admin.list_pending(params).await?.into()))
}

/// The files this phone would get, rendered, passwords masked.
#[utoipa::path(get, path = "/api/device_provisions/{id}/preview", tag = "device_provisions", params(("id" = i64, Path)),
    responses((status = 200, body = Preview), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> Result<Json<Preview>, ApiError> {
    let host = headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    let preview = Admin::from_ref(&state)
        .preview_device(&state.provisioner, id, host)
        .await?;
    Ok(Json(preview))
}
