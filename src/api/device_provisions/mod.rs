//! `/api/device_provisions`: phones by MAC, per XSwitch's 话机自动配置 API.

pub mod export;
pub mod import;

use axum::Json;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HOST};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::export::{Headers, Model};
use self::import::{JsonBody, RawRow, insert, parse_json, plan, rows_from_bytes, write_rows};
use super::audit::NothingChanged;
use super::extract::{ApiPath, ApiQuery, RawBody, lenient};
use super::paging::{Filter, ListParams, ListSpec, PageBody, like_pattern, list_query};
use super::{Done, done};
use crate::domain::{Mac, timestamp};
use crate::error::{ApiError, ErrorBody, RowError};
use crate::packs::{PackShelf, Packs};
use crate::provision::{Answer, PhoneRequest};
use crate::state::AppState;
use crate::store::devices::{COLUMNS, Device};
use crate::store::fetches::{PENDING_COLUMNS, PendingPhone, UNCLAIMED};
use crate::store::{Arg, Db, ListSql};

/// Imports carry whole MAC lists: 100,000 rows are about 10 MiB of JSON.
pub const IMPORT_BODY_LIMIT: usize = 64 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    let bulk = OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(import_rows))
        .layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT));
    OpenApiRouter::new()
        .merge(bulk)
        .routes(routes!(download))
        .routes(routes!(pending))
        .routes(routes!(preview))
        .routes(routes!(get_one, update, delete))
}

pub const LIST: ListSpec = ListSpec {
    columns: COLUMNS,
    from: "device_provisions",
    always: &["deleted_at IS NULL"],
    filters: &[
        Filter::Contains("name", "name"),
        Filter::Contains("type", "type"),
        // Any name of the family finds all its records (`gs` finds `潮流`):
        // `vendor_named` turns the name into the code first.
        Filter::Vendor("vendor", "vendor_code"),
        Filter::Custom("mac", mac_filter, Some(MAC_PART)),
        Filter::Custom("extn", extn_filter, None),
    ],
    sortable: &[
        ("id", "id"),
        ("name", "name"),
        ("vendor", "vendor_code"),
        ("mac", "mac"),
        ("type", "type"),
        ("created_at", "created_at"),
        ("updated_at", "updated_at"),
    ],
    default_order: "id",
};
list_query!(DeviceQuery, LIST);

/// Unknown phones that asked for a configuration, newest first; a MAC
/// leaves the list once a record claims it.
pub const PENDING: ListSpec = ListSpec {
    columns: PENDING_COLUMNS,
    from: "pending_phones",
    always: &[UNCLAIMED],
    filters: &[
        Filter::Custom("mac", mac_filter, Some(MAC_PART)),
        Filter::Vendor("vendor", "vendor"),
    ],
    sortable: &[
        ("mac", "mac"),
        ("vendor", "vendor"),
        ("first_seen", "first_seen"),
        ("last_seen", "last_seen"),
        ("count", "count"),
    ],
    default_order: "last_seen DESC, mac",
};
list_query!(PendingQuery, PENDING);

/// Turns a `vendor` filter, any name of a family, into the family's code;
/// a blank one is no filter.
pub fn vendor_named(packs: &Packs, params: &mut ListParams) -> Result<(), ApiError> {
    if let Some(name) = params.filters.get_mut("vendor").filter(|name| !name.trim().is_empty()) {
        *name = packs
            .vendor(name)
            .map_err(|e| ApiError::field("vendor", e))?
            .code()
            .to_string();
    }
    Ok(())
}

/// What `mac_filter` takes: some hex digits among `:-. `, or blank.
const MAC_PART: &str = r"^\s*([0-9A-Fa-f:.\- ]*[0-9A-Fa-f][0-9A-Fa-f:.\- ]*)?\s*$";

/// Part of a MAC, in any of its spellings.
fn mac_filter(value: &str, sql: &mut ListSql) -> Result<(), ApiError> {
    let digits: String = value.chars().filter(|c| !":-. ".contains(*c)).collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::field(
            "mac",
            format!("'{value}' is not (part of) a MAC address"),
        ));
    }
    sql.push(
        |p| format!("mac LIKE {p} ESCAPE '\\'"),
        Arg::Text(like_pattern(&digits)),
    );
    Ok(())
}

/// Records with a line whose extension number contains the value.
fn extn_filter(value: &str, sql: &mut ListSql) -> Result<(), ApiError> {
    sql.push(
        |p| format!("id IN (SELECT l.device_id FROM device_provision_lines l JOIN extensions e ON e.id = l.extension_id WHERE lower(e.extn) LIKE {p} ESCAPE '\\')"),
        Arg::Text(like_pattern(value)),
    );
    Ok(())
}

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
fn vendor_schema() -> utoipa::openapi::schema::Schema {
    let names: Vec<&str> = crate::packs::builtin_vendor_names()
        .iter()
        .map(String::as_str)
        .collect();
    lenient::required_choice_schema(&names)
}

/// A MAC in one of the spellings `Mac` reads, or its 12 digits as a number.
fn mac_schema() -> utoipa::openapi::schema::Schema {
    const MAC: &str = r"^\s*([0-9A-Fa-f]{12}|[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})\s*$";
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
pub struct ImportOptions {
    /// 1 to validate and report without writing.
    #[serde(default)]
    pub dry_run: Option<String>,
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
pub async fn list(
    State(db): State<Db>,
    State(packs): State<Arc<PackShelf>>,
    mut params: ListParams,
) -> Result<Json<PageBody<Device>>, ApiError> {
    vendor_named(&packs.current(), &mut params)?;
    Ok(Json(LIST.fetch(&db, &params).await?))
}

#[utoipa::path(get, path = "/api/device_provisions/{id}", tag = "device_provisions", params(("id" = i64, Path)),
    responses((status = 200, body = Device), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(State(db): State<Db>, ApiPath(id): ApiPath<i64>) -> Result<Json<Device>, ApiError> {
    Ok(Json(find(&db, id).await?))
}

/// One record (`data` is its id), or with a `devices`/`data` array many, as an import.
#[utoipa::path(post, path = "/api/device_provisions", tag = "device_provisions", request_body = DeviceInput,
    responses(
        (status = 200, body = Done<String>, description = "data is the new id; for an array of rows, the created rows"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn create(
    State(db): State<Db>,
    State(packs): State<Arc<PackShelf>>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    match parse_json(&body)? {
        JsonBody::Rows(rows) => Ok(import_answer(
            write_rows(&db, &packs.current(), rows, false, &|_| {}).await?,
        )),
        JsonBody::Single(row) => {
            let planned = plan(&db, &packs.current(), vec![row], None).await.map_err(single_row)?;
            let created = insert(&db, planned, &|_| {}).await?;
            Ok(done(created[0].id.to_string()).into_response())
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
    State(db): State<Db>,
    State(packs): State<Arc<PackShelf>>,
    ApiQuery(options): ApiQuery<ImportOptions>,
    req: Request,
) -> Result<Response, ApiError> {
    let dry_run = matches!(options.dry_run.as_deref().map(str::trim), Some("1" | "true" | "yes"));
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_lowercase();
    let rows = if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::field("file", e.body_text()))?;
        let mut file = None;
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| ApiError::field("file", e.body_text()))?
        {
            if field.name() == Some("file") {
                file = Some(
                    field
                        .bytes()
                        .await
                        .map_err(|e| ApiError::field("file", e.body_text()))?,
                );
            }
        }
        let bytes = file.ok_or_else(|| ApiError::field("file", "required: a multipart part named file"))?;
        rows_from_bytes(&bytes, false)?
    } else {
        let RawBody(bytes) = RawBody::from_request(req, &()).await?;
        rows_from_bytes(
            &bytes,
            content_type.starts_with("text/csv") || content_type.starts_with("application/csv"),
        )?
    };
    Ok(import_answer(
        write_rows(&db, &packs.current(), rows, dry_run, &|_| {}).await?,
    ))
}

/// The API's answer to an import: its report; a dry run is not logged as a change.
fn import_answer(report: Done<ImportedRows>) -> Response {
    let dry_run = matches!(report.data, ImportedRows::Planned(_));
    let mut response = Json(report).into_response();
    if dry_run {
        response.extensions_mut().insert(NothingChanged);
    }
    response
}

#[utoipa::path(put, path = "/api/device_provisions/{id}", tag = "device_provisions", params(("id" = i64, Path)), request_body = DeviceInput,
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(db): State<Db>,
    State(packs): State<Arc<PackShelf>>,
    ApiPath(id): ApiPath<i64>,
    RawBody(body): RawBody,
) -> Result<Json<Done<String>>, ApiError> {
    let current = find(&db, id).await?;
    let given = match parse_json(&body)? {
        JsonBody::Single(row) => row.map_err(|e| single_row_error(vec![e]))?,
        JsonBody::Rows(_) => return Err(ApiError::bad("request body: send one record's fields, not rows")),
    };
    // Only the fields given change; an `id` in the body is ignored.
    let merged = RawRow {
        row: 1,
        name: given.name.or(Some(current.name)),
        extn: given.extn.or(Some(current.extn)),
        vendor: given.vendor.or(Some(current.vendor)),
        mac: given.mac.or(Some(current.mac)),
        kind: given.kind.or(Some(current.kind)),
    };
    let planned = plan(&db, &packs.current(), vec![Ok(merged)], Some(id))
        .await
        .map_err(single_row)?;
    if !db.update_device(id, &planned[0], timestamp::now()).await? {
        return Err(not_found(id));
    }
    Ok(done(id.to_string()))
}

#[utoipa::path(delete, path = "/api/device_provisions/{id}", tag = "device_provisions", params(("id" = i64, Path)),
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(State(db): State<Db>, ApiPath(id): ApiPath<i64>) -> Result<Json<Done<String>>, ApiError> {
    if !db.delete_device(id, timestamp::now()).await? {
        return Err(not_found(id));
    }
    Ok(done(id.to_string()))
}

/// Every record matching the list filters, header row first: XSwitch's
/// array of rows, or CSV that imports back unchanged.
#[utoipa::path(get, path = "/api/device_provisions/download", tag = "device_provisions", params(DownloadOptions, DeviceQuery),
    responses(
        (status = 200, description = "[[\"name\",\"extn\",\"vendor\",\"mac\"], [...], ...], or with format=csv the same as CSV",
            content((Vec<Vec<String>> = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn download(
    State(db): State<Db>,
    State(packs): State<Arc<PackShelf>>,
    ApiQuery(options): ApiQuery<DownloadOptions>,
    mut params: ListParams,
) -> Result<Response, ApiError> {
    vendor_named(&packs.current(), &mut params)?;
    let devices = export::records(&db, &params).await?;
    let headers = Headers::for_language(options.language.as_deref());
    let table = export::table(devices, headers, Model::Left);
    match options.format.as_deref().filter(|f| !f.is_empty()).unwrap_or("json") {
        "json" => Ok(Json(table).into_response()),
        "csv" => Ok((
            [
                (CONTENT_TYPE, "text/csv; charset=utf-8"),
                (CONTENT_DISPOSITION, "attachment; filename=\"device_provisions.csv\""),
            ],
            export::csv_bytes(&table)?,
        )
            .into_response()),
        other => Err(ApiError::field("format", format!("'{other}' is not json or csv"))),
    }
}

#[utoipa::path(get, path = "/api/device_provisions/pending", tag = "device_provisions", params(PendingQuery),
    responses((status = 200, body = PageBody<PendingPhone>, description = "claim one by creating its record"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn pending(
    State(db): State<Db>,
    State(packs): State<Arc<PackShelf>>,
    mut params: ListParams,
) -> Result<Json<PageBody<PendingPhone>>, ApiError> {
    vendor_named(&packs.current(), &mut params)?;
    Ok(Json(PENDING.fetch(&db, &params).await?))
}

/// One file of a preview.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewFile {
    pub name: String,
    /// Where the phone fetches it.
    pub url: String,
    pub content_type: String,
    /// As the phone gets it, with every password shown as `********`.
    pub body: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub id: i64,
    pub mac: String,
    pub vendor: String,
    /// The URL to give phones (DHCP option 66).
    pub provisioning_url: String,
    pub files: Vec<PreviewFile>,
}

/// The files this phone would get, rendered, passwords masked.
#[utoipa::path(get, path = "/api/device_provisions/{id}/preview", tag = "device_provisions", params(("id" = i64, Path)),
    responses((status = 200, body = Preview), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> Result<Json<Preview>, ApiError> {
    let device = find(&state.db, id).await?;
    let packs = state.packs.current();
    let vendor = packs.vendor(&device.vendor).map_err(|e| ApiError::field("vendor", e))?;
    let mac: Mac = device
        .mac
        .parse()
        .map_err(|e: crate::domain::InvalidMac| ApiError::field("mac", e))?;
    let host = headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    let mut files = Vec::new();
    for (name, _) in packs.phone_files(vendor, mac) {
        let request = PhoneRequest {
            peer: std::net::Ipv4Addr::LOCALHOST.into(),
            path: &name,
            vendor_hint: Some(vendor),
            user_agent: "",
            host,
            scheme: "http",
            from_phone: false,
            mask_secrets: true,
            method: "GET",
            target: "",
            authorization: None,
            if_none_match: None,
        };
        if let Answer::File(rendered) = state.provisioner.answer(&request).await {
            files.push(PreviewFile {
                url: format!("http://{host}/prov/{name}"),
                content_type: rendered.content_type.to_string(),
                body: rendered.body.to_string(),
                name,
            });
        }
    }
    Ok(Json(Preview {
        id,
        mac: device.mac,
        vendor: vendor.code().into(),
        provisioning_url: format!("http://{host}/prov/"),
        files,
    }))
}

async fn find(db: &Db, id: i64) -> Result<Device, ApiError> {
    db.device(id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("device_provision {id} not found"))
}

/// For a single record, the row errors read better as one message.
fn single_row(err: ApiError) -> ApiError {
    match err {
        ApiError::BadRows { errors, .. } => single_row_error(errors),
        other => other,
    }
}

fn single_row_error(errors: Vec<RowError>) -> ApiError {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            if e.column.is_empty() {
                e.reason.clone()
            } else {
                format!("{}: {}", e.column, e.reason)
            }
        })
        .collect();
    ApiError::BadRequest(parts.join("; "))
}
