//! `/api/upload` and `/api/media_files`: media files, whose bytes live under
//! `<data-dir>/media/<type>/` with generated names. Uploads stream to disk,
//! are typed by their bytes, and are all or nothing.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Request, State};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tower::Layer;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::if_range::IfRangeLayer;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiActor, ApiPath, Input, lenient};
use super::paging::{ListParams, PageBody, list_query};
use super::{Done, done};
use crate::admin::Admin;
use crate::admin::log::Action;
use crate::domain::timestamp;
use crate::error::{ApiError, ErrorBody};
use crate::media::media_dir;
use crate::media::{self, SNIFF_BYTES};
use crate::state::AppState;
use crate::store::Db;
use crate::store::media::LIST;
use crate::store::media::{MediaFields, MediaFile};

pub const TYPES: &[&str] = &[
    "SYSTEM",
    "UPLOAD",
    "RECORD",
    "SCRIPT",
    "DATABASE",
    "ASR",
    "VOICEMAIL",
    "TTS",
    "PDF",
    "FAX",
];

pub const UPLOAD_PATH: &str = "/api/upload";

/// Media uploads: bounded by upload_max_size while they stream, so without
/// the usual body limit, and by a stall timeout rather than a deadline.
pub fn upload_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(DefaultBodyLimit::disable())
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_max_size))
        .routes(routes!(list))
        .routes(routes!(by_uuid))
        .routes(routes!(get_one, update, delete))
}

list_query!(MediaQuery, LIST);

#[derive(Debug, Serialize, ToSchema)]
pub struct MaxSize {
    /// Bytes.
    pub upload_max_size: u64,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct MediaInput {
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::nonblank_or_null::<255>)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub description: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient::text")]
    #[schema(schema_with = media_type_schema, example = "UPLOAD")]
    pub kind: Option<String>,
}

fn media_type_schema() -> utoipa::openapi::schema::Schema {
    lenient::with_null(lenient::required_choice_schema(TYPES))
}

/// A new file name: `<prefix>-<UTC time>-<uuid>.<ext>`.
pub fn generated_name(prefix: &str, ext: &str) -> String {
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day][hour][minute][second]"
        ))
        .expect("formatting a valid date");
    format!("{prefix}-{stamp}-{}.{ext}", uuid::Uuid::new_v4())
}

/// Fills in what a stored file's bytes say about it (size, audio properties).
pub async fn describe_file(fields: &mut MediaFields, path: &Path) {
    let size = tokio::fs::metadata(path).await.map(|m| m.len()).unwrap_or(0);
    fields.file_size = i64::try_from(size).unwrap_or(i64::MAX);
    if fields.mime.starts_with("audio/") {
        let (path, ext) = (path.to_path_buf(), fields.ext.clone());
        let info = tokio::task::spawn_blocking(move || media::audio_info(&path, &ext, size))
            .await
            .ok()
            .flatten();
        if let Some(info) = info {
            fields.duration = info.duration_seconds;
            fields.sample_rate = info.sample_rate;
            fields.channels = info.channels;
            fields.bit_rate = info.bit_rate;
        }
    }
}

/// The upload form, as the API document states it: a part named `file`
/// (more such parts upload more files); other parts are read and dropped.
struct UploadForm;

impl utoipa::PartialSchema for UploadForm {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .property(
                "file",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
            )
            .required("file")
            .into()
    }
}

impl ToSchema for UploadForm {}

#[utoipa::path(post, path = "/api/upload", tag = "media", request_body(content = UploadForm, content_type = "multipart/form-data", description = "one or more parts named file"),
    responses((status = 200, body = Vec<MediaFile>, description = "the created rows, type UPLOAD"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody, description = "a file is larger than upload_max_size, or the request than upload_max_request_size, or has more than upload_max_parts parts"), (status = 415, body = ErrorBody, description = "HTML, JavaScript or an executable"),
        (status = 503, body = ErrorBody, description = "max_concurrent_uploads are being received")))]
pub async fn upload(
    State(state): State<AppState>,
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Vec<MediaFile>>, ApiError> {
    let multipart = multipart.map_err(|e| ApiError::field("file", e.body_text()))?;
    // Checked before the body is read: a full house answers at once.
    let _slot = state
        .upload_slots
        .try_acquire()
        .map_err(|_| ApiError::Unavailable("too many uploads at once; try again shortly".into()))?;
    let dir = media_dir(&state.settings.data_dir, "UPLOAD");
    tokio::fs::create_dir_all(&dir).await.map_err(anyhow::Error::from)?;
    let mut written: Vec<(PathBuf, MediaFields)> = Vec::new();
    let outcome = receive_files(&state, actor.user_id, &dir, multipart, &mut written).await;
    let rows = match outcome {
        Ok(()) if written.is_empty() => Err(ApiError::field("file", "required: one or more parts named file")),
        Ok(()) => {
            let fields: Vec<MediaFields> = written.iter().map(|(_, f)| f.clone()).collect();
            state
                .db
                .insert_media_files(&fields, timestamp::now())
                .await
                .map_err(ApiError::from)
        }
        Err(err) => Err(err),
    };
    if rows.is_err() {
        // All or nothing: no file stays behind a refused upload.
        for (path, _) in &written {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
    let rows = rows?;
    let names: Vec<&str> = rows.iter().map(|r| r.fields.name.as_str()).collect();
    admin
        .record(
            &actor,
            "upload",
            Action::Create,
            rows.first().map(|r| r.id),
            &serde_json::json!({"files": names}),
        )
        .await;
    Ok(Json(rows))
}

/// Streams every `file` part to disk, checking size and type as it goes.
async fn receive_files(
    state: &AppState,
    user_id: i64,
    dir: &Path,
    mut multipart: Multipart,
    written: &mut Vec<(PathBuf, MediaFields)>,
) -> Result<(), ApiError> {
    let limit = state.settings.upload_max_size;
    let mut request = RequestBudget::of(&state.settings);
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        request.part()?;
        if field.name() != Some("file") {
            // Read, not kept, and counted like any other part.
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                request.bytes(chunk.len())?;
            }
            continue;
        }
        let original = field
            .file_name()
            .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_string())
            .unwrap_or_default();
        let partial = dir.join(format!(".{}.partial", uuid::Uuid::new_v4()));
        let mut file = tokio::fs::File::create(&partial).await.map_err(anyhow::Error::from)?;
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
        let mut size: u64 = 0;
        let streamed: Result<(), ApiError> = async {
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                request.bytes(chunk.len())?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "file: '{original}' is larger than upload_max_size ({limit} bytes)"
                    )));
                }
                if head.len() < SNIFF_BYTES {
                    let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                    head.extend_from_slice(&chunk[..take]);
                }
                file.write_all(&chunk).await.map_err(anyhow::Error::from)?;
            }
            file.flush().await.map_err(anyhow::Error::from)?;
            Ok(())
        }
        .await;
        let sniffed = streamed.and_then(|()| media::sniff(&head, &original).map_err(|r| ApiError::Unsupported(r.0)));
        let sniffed = match sniffed {
            Ok(s) => s,
            Err(err) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(err);
            }
        };
        let rel_path = generated_name("upload", &sniffed.ext);
        let path = dir.join(&rel_path);
        tokio::fs::rename(&partial, &path).await.map_err(anyhow::Error::from)?;
        let mut fields = MediaFields {
            kind: "UPLOAD".into(),
            name: if original.is_empty() {
                rel_path.clone()
            } else {
                original.clone()
            },
            description: "UPLOAD".into(),
            ext: sniffed.ext,
            mime: sniffed.mime,
            original_file_name: original,
            dir_path: dir.display().to_string(),
            abs_path: path.display().to_string(),
            rel_path,
            user_id,
            ..Default::default()
        };
        describe_file(&mut fields, &path).await;
        written.push((path, fields));
    }
    Ok(())
}

/// What one upload request may hold in all: parts and bytes.
struct RequestBudget {
    parts: usize,
    bytes: u64,
    max_parts: usize,
    max_bytes: u64,
}

impl RequestBudget {
    fn of(settings: &crate::config::Settings) -> RequestBudget {
        RequestBudget {
            parts: 0,
            bytes: 0,
            max_parts: settings.upload_max_parts,
            max_bytes: settings.upload_max_request_size,
        }
    }

    fn part(&mut self) -> Result<(), ApiError> {
        self.parts += 1;
        if self.parts > self.max_parts {
            return Err(ApiError::PayloadTooLarge(format!(
                "file: more than upload_max_parts ({}) parts in one upload",
                self.max_parts
            )));
        }
        Ok(())
    }

    fn bytes(&mut self, more: usize) -> Result<(), ApiError> {
        self.bytes += more as u64;
        if self.bytes > self.max_bytes {
            return Err(ApiError::PayloadTooLarge(format!(
                "file: the upload is larger than upload_max_request_size ({} bytes)",
                self.max_bytes
            )));
        }
        Ok(())
    }
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> ApiError {
    if err.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(err.body_text())
    } else {
        ApiError::bad(format!("file: {}", err.body_text()))
    }
}

#[utoipa::path(get, path = "/api/upload/upload_max_size", tag = "media",
    responses((status = 200, body = MaxSize), (status = 403, body = ErrorBody)))]
pub async fn upload_max_size(State(state): State<AppState>) -> Json<MaxSize> {
    Json(MaxSize {
        upload_max_size: state.settings.upload_max_size,
    })
}

#[utoipa::path(get, path = "/api/media_files", tag = "media",
    params(MediaQuery),
    responses((status = 200, body = PageBody<MediaFile>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(db): State<Db>, params: ListParams) -> Result<Json<PageBody<MediaFile>>, ApiError> {
    Ok(Json(db.list(&LIST, &params, None).await?.into()))
}

#[utoipa::path(get, path = "/api/media_files/uuid/{uuid}", tag = "media", params(("uuid" = String, Path)),
    responses((status = 200, body = MediaFile), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn by_uuid(State(db): State<Db>, ApiPath(uuid): ApiPath<String>) -> Result<Json<MediaFile>, ApiError> {
    db.media_file_by_uuid(&uuid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no media file for call {uuid}")))
}

/// `/api/media_files/:id` (the row) or `/api/media_files/:id.:ext` (its bytes).
#[utoipa::path(get, path = "/api/media_files/{id}", tag = "media", params(("id" = String, Path, pattern = r"^-?[0-9]{1,18}(\.[\s\S]*)?$", description = "an id, or id.ext for the file's bytes (with Range and ETag)")),
    responses((status = 200, body = MediaFile), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let db = &state.db;
    let (id, ext) = match id.split_once('.') {
        Some((id, ext)) => (id, Some(ext)),
        None => (id.as_str(), None),
    };
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::field("id", format!("'{id}' is not a media file id")))?;
    let file = find(db, id).await?;
    let Some(ext) = ext else {
        return Ok(Json(file).into_response());
    };
    let media_root = state.settings.data_dir.join("media");
    let path = crate::confined::within(&media_root, Path::new(&file.fields.abs_path)).await;
    let Some(path) = path.filter(|_| !file.fields.abs_path.is_empty()) else {
        return Err(ApiError::not_found(format!(
            "media file {id} ({}) has no file to download",
            file.fields.mime
        )));
    };
    if !ext.eq_ignore_ascii_case(&file.fields.ext) && !file.fields.ext.is_empty() {
        return Err(ApiError::not_found(format!(
            "media file {id} is a .{} file, not .{ext}",
            file.fields.ext
        )));
    }
    // ServeFile brings Range, ETag and conditional requests, our layer
    // If-Range; the type is
    // the one the bytes showed at upload, not a guess from the name.
    let mut served = IfRangeLayer
        .layer(ServeFile::new(path))
        .oneshot(request)
        .await
        .map_err(anyhow::Error::from)?;
    if let Ok(mime) = HeaderValue::from_str(&file.fields.mime) {
        served.headers_mut().insert(CONTENT_TYPE, mime);
    }
    Ok(served.map(Body::new).into_response())
}

#[utoipa::path(put, path = "/api/media_files/{id}", tag = "media", params(("id" = i64, Path)), request_body = MediaInput,
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<MediaInput>,
) -> Result<Json<Done<String>>, ApiError> {
    let input_logged = serde_json::to_value(&input).unwrap_or_default();
    let current = find(&db, id).await?;
    let name = input.name.map(|n| n.trim().to_string()).unwrap_or(current.fields.name);
    if name.is_empty() || name.chars().count() > 255 {
        return Err(ApiError::field("name", "required, at most 255 characters"));
    }
    let kind = match input.kind.map(|k| k.trim().to_uppercase()) {
        Some(k) if !TYPES.contains(&k.as_str()) => {
            return Err(ApiError::field(
                "type",
                format!("'{k}' is not one of {}", TYPES.join(", ")),
            ));
        }
        Some(k) => k,
        None => current.fields.kind,
    };
    let description = input.description.unwrap_or(current.fields.description);
    if !db
        .update_media_file(id, &name, &description, &kind, timestamp::now())
        .await?
    {
        return Err(not_found(id));
    }
    admin
        .record(&actor, "media_files", Action::Update, Some(id), &input_logged)
        .await;
    Ok(done(id.to_string()))
}

#[utoipa::path(delete, path = "/api/media_files/{id}", tag = "media", params(("id" = i64, Path)),
    responses((status = 200, body = Done<String>, description = "the row and its file are gone"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "a queue or sensor still plays it")))]
pub async fn delete(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Done<String>>, ApiError> {
    let file = find(&db, id).await?;
    let users = db.media_users(id).await?;
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "media file {id} is still played by {}; change those first",
            users.join(", ")
        )));
    }
    if !db.delete_media_file(id, timestamp::now()).await? {
        return Err(not_found(id));
    }
    remove_stored_file(&file).await;
    admin.record_deleted(&actor, "media_files", id).await;
    Ok(done(id.to_string()))
}

/// Removes a media row's file when it is one sipprov keeps.
pub async fn remove_stored_file(file: &MediaFile) {
    if !file.fields.abs_path.is_empty()
        && let Err(err) = tokio::fs::remove_file(&file.fields.abs_path).await
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %err, id = file.id, "could not remove a media file's bytes");
    }
}

async fn find(db: &Db, id: i64) -> Result<MediaFile, ApiError> {
    db.media_file(id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("media file {id} not found"))
}
