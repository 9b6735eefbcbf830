//! `/api/extn_alarms`: sensors, which call out from an extension and play a
//! media file, and the devices behind each (seed 000, 传感器管理).

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
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
use crate::state::AppState;
use crate::store::Db;
use crate::store::sensors::{DEVICES, LIST};
use crate::store::sensors::{Sensor, SensorDevice, SensorFields};

const ACTIONS: &[&str] = &["playback"];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(devices))
        .routes(routes!(import))
        .routes(routes!(delete_device))
}

list_query!(SensorQuery, LIST);

list_query!(SensorDeviceQuery, DEVICES);

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct SensorInput {
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::required_text::<128>, required = true, example = "新增传感器数据")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema, example = "1000")]
    pub caller_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = seconds_schema, example = "100")]
    pub call_duration: Option<String>,
    /// The extension that calls.
    #[serde(default, deserialize_with = "lenient::int")]
    #[schema(schema_with = lenient::int_schema, example = 2)]
    pub extn_id: Option<i64>,
    /// playback.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = action_schema, example = "playback")]
    pub action: Option<String>,
    /// The media file to play: its id.
    #[serde(default, deserialize_with = "lenient::int")]
    #[schema(schema_with = lenient::required_int_schema, required = true, example = 209)]
    pub data: Option<i64>,
}

/// A number of seconds (digits), or blank.
fn seconds_schema() -> utoipa::openapi::schema::Schema {
    lenient::patterned(r"^\s*[0-9]*\s*$", 0, lenient::MAX_SAFE_INTEGER, true)
}

fn action_schema() -> utoipa::openapi::schema::Schema {
    lenient::with_null(lenient::required_choice_schema(ACTIONS))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct DevicesInput {
    #[serde(default)]
    #[schema(min_items = 1, required = true)]
    pub data: Vec<DeviceInput>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct DeviceInput {
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::required_text::<64>, required = true, example = "003")]
    pub device_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema, example = "传感器设备003")]
    pub device_name: Option<String>,
}

#[utoipa::path(get, path = "/api/extn_alarms", tag = "sensors",
    params(SensorQuery),
    responses((status = 200, body = PageBody<Sensor>, description = "data as the JSON string it is stored as"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(db): State<Db>, params: ListParams) -> Result<Json<PageBody<Sensor>>, ApiError> {
    Ok(Json(db.list(&LIST, &params, None).await?.into()))
}

#[utoipa::path(get, path = "/api/extn_alarms/{id}", tag = "sensors", params(("id" = i64, Path)),
    responses((status = 200, body = Object, description = "data as an object"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(State(db): State<Db>, ApiPath(id): ApiPath<i64>) -> Result<Json<Value>, ApiError> {
    let sensor = find(&db, id).await?;
    let data: Value = serde_json::from_str(&sensor.fields.data).unwrap_or_else(|_| json!({}));
    let mut row = serde_json::to_value(&sensor).map_err(anyhow::Error::from)?;
    row["data"] = data;
    Ok(Json(row))
}

#[utoipa::path(post, path = "/api/extn_alarms", tag = "sensors", request_body = SensorInput,
    responses((status = 200, body = Done<i64>, description = "data is the new id"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    Input(input): Input<SensorInput>,
) -> Result<Json<Done<i64>>, ApiError> {
    let input_logged = serde_json::to_value(&input).unwrap_or_default();
    let fields = checked(&db, input, None).await?;
    let id = db.insert_sensor(&fields, timestamp::now()).await?;
    admin
        .record(&actor, "extn_alarms", Action::Create, Some(id), &input_logged)
        .await;
    Ok(done(id))
}

#[utoipa::path(put, path = "/api/extn_alarms/{id}", tag = "sensors", params(("id" = i64, Path)), request_body = SensorInput,
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<SensorInput>,
) -> Result<Json<Done<String>>, ApiError> {
    let input_logged = serde_json::to_value(&input).unwrap_or_default();
    let current = find(&db, id).await?;
    let fields = checked(&db, input, Some(current.fields)).await?;
    if !db.update_sensor(id, &fields, timestamp::now()).await? {
        return Err(not_found(id));
    }
    admin
        .record(&actor, "extn_alarms", Action::Update, Some(id), &input_logged)
        .await;
    Ok(done(id.to_string()))
}

#[utoipa::path(delete, path = "/api/extn_alarms/{id}", tag = "sensors", params(("id" = i64, Path)),
    responses((status = 200, body = Done<String>, description = "data is \"{}\"; the sensor's devices go too"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Done<String>>, ApiError> {
    if !db.delete_sensor(id, timestamp::now()).await? {
        return Err(not_found(id));
    }
    admin.record_deleted(&actor, "extn_alarms", id).await;
    Ok(done("{}".to_string()))
}

#[utoipa::path(get, path = "/api/extn_alarms/{id}/alarms", tag = "sensors", params(("id" = i64, Path), SensorDeviceQuery),
    responses((status = 200, body = PageBody<SensorDevice>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn devices(
    State(db): State<Db>,
    ApiPath(id): ApiPath<i64>,
    params: ListParams,
) -> Result<Json<PageBody<SensorDevice>>, ApiError> {
    find(&db, id).await?;
    Ok(Json(
        db.list(&DEVICES, &params, Some(("extn_alarms_id", id))).await?.into(),
    ))
}

#[utoipa::path(post, path = "/api/extn_alarms/{id}/import", tag = "sensors", params(("id" = i64, Path)), request_body = DevicesInput,
    responses((status = 200, body = Done<String>, description = "data is \"{}\"; all devices or none, each with status init"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn import(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<DevicesInput>,
) -> Result<Json<Done<String>>, ApiError> {
    let input_logged = serde_json::to_value(&input).unwrap_or_default();
    find(&db, id).await?;
    if input.data.is_empty() {
        return Err(ApiError::field("data", "give at least one {device_id, device_name}"));
    }
    let mut seen: HashSet<String> = db.sensor_device_ids(id).await?.into_iter().collect();
    let mut devices = Vec::with_capacity(input.data.len());
    for (i, device) in input.data.into_iter().enumerate() {
        let field = format!("data[{i}].device_id");
        let device_id = device
            .device_id
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty())
            .ok_or_else(|| ApiError::field(&field, "required"))?;
        if device_id.chars().count() > 64 {
            return Err(ApiError::field(&field, "at most 64 characters"));
        }
        if !seen.insert(device_id.clone()) {
            return Err(ApiError::field(
                &field,
                format!("'{device_id}' is already a device of sensor {id}"),
            ));
        }
        devices.push((device_id, device.device_name.unwrap_or_default().trim().to_string()));
    }
    db.insert_sensor_devices(id, &devices, timestamp::now()).await?;
    admin
        .record(&actor, "extn_alarms", Action::Import, Some(id), &input_logged)
        .await;
    Ok(done("{}".to_string()))
}

#[utoipa::path(delete, path = "/api/extn_alarms/alarm/{id}", tag = "sensors", params(("id" = i64, Path, description = "the device row's id")),
    responses((status = 200, body = Done<String>, description = "data is \"{}\""), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_device(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Done<String>>, ApiError> {
    if !db.delete_sensor_device(id, timestamp::now()).await? {
        return Err(ApiError::not_found(format!("sensor device {id} not found")));
    }
    admin
        .record(
            &actor,
            "extn_alarms",
            Action::Delete,
            Some(id),
            &serde_json::json!({"device": id}),
        )
        .await;
    Ok(done("{}".to_string()))
}

async fn find(db: &Db, id: i64) -> Result<Sensor, ApiError> {
    db.sensor(id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("sensor {id} not found"))
}

/// Merges an input over the current sensor and checks it; the media file
/// is looked up and kept as the JSON the list shows.
async fn checked(db: &Db, input: SensorInput, current: Option<SensorFields>) -> Result<SensorFields, ApiError> {
    let creating = current.is_none();
    let mut f = current.unwrap_or(SensorFields {
        name: String::new(),
        description: String::new(),
        caller_number: String::new(),
        call_duration: String::new(),
        extn_id: 0,
        action: "playback".into(),
        data: String::new(),
        media_id: 0,
    });
    for (given, old) in [
        (input.name, &mut f.name),
        (input.description, &mut f.description),
        (input.caller_number, &mut f.caller_number),
        (input.call_duration, &mut f.call_duration),
        (input.action, &mut f.action),
    ] {
        if let Some(v) = given {
            *old = v.trim().to_string();
        }
    }
    if f.name.is_empty() || f.name.chars().count() > 128 {
        return Err(ApiError::field("name", "required, at most 128 characters"));
    }
    if !ACTIONS.contains(&f.action.as_str()) {
        return Err(ApiError::field(
            "action",
            format!("'{}' is not one of {}", f.action, ACTIONS.join(", ")),
        ));
    }
    if !f.call_duration.is_empty() && !f.call_duration.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::field(
            "call_duration",
            format!("'{}' is not a number of seconds", f.call_duration),
        ));
    }
    if let Some(extn_id) = input.extn_id {
        if !db.extension_exists(extn_id).await? {
            return Err(ApiError::field("extn_id", format!("no extension has id {extn_id}")));
        }
        f.extn_id = extn_id;
    }
    match input.data {
        Some(media_id) => {
            let media = db
                .media_file(media_id)
                .await?
                .ok_or_else(|| ApiError::field("data", format!("no media file has id {media_id}")))?;
            f.media_id = media_id;
            f.data = json!({
                "media_id": media_id.to_string(),
                "media_path": media.fields.abs_path,
                "media_type": media.fields.kind,
            })
            .to_string();
        }
        None if creating => return Err(ApiError::field("data", "required: the id of the media file to play")),
        None => {}
    }
    Ok(f)
}
