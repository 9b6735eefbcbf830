//! `/api/users`: people who log in. Call-centre agents are users of type
//! `AGENT`, whose mod_callcenter settings live in `agent_info` and show
//! merged into the row, as seed 002 shows them. Only an administrator
//! manages users; a user may read itself, set its own agent status and
//! change its own password (the guards are in `api/mod.rs`).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extensions::ExtensionDetail;
use super::extract::{ApiActor, ApiPath, Input};
use super::paging::{ListParams, Page, PageBody, list_query};
use super::{Done, done};
use crate::admin::Admin;
pub use crate::admin::users::{PasswordChange, UserInput};
use crate::error::{ApiError, ErrorBody};
use crate::secrets::password_aad;
use crate::state::AppState;
use crate::store::Db;
use crate::store::agents::{LIST, User};

/// What only an administrator may do: list, create and delete users.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(delete))
}

/// A user's own record, by its id: reading it, its extensions and queues,
/// and setting its agent status.
pub fn own_record_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_one, update))
        .routes(routes!(extensions))
        .routes(routes!(queue_names))
}

/// Any user's own password.
pub fn password_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(change_password))
}

list_query!(UserQuery, LIST);

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    #[schema(example = "32")]
    pub id: String,
    #[schema(example = "32")]
    pub extn_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueName {
    pub name: String,
}

#[utoipa::path(get, path = "/api/users", tag = "users",
    params(UserQuery),
    responses((status = 200, body = PageBody<Object>, description = "rows with agent_info merged in"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, params: ListParams) -> Result<Json<PageBody<Value>>, ApiError> {
    let page: Page<User> = state.db.list(&LIST, &params, None).await?;
    Ok(Json(page.map(shown).into()))
}

#[utoipa::path(get, path = "/api/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = Object, description = "the row with agent_info merged in; never a password"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> Result<Json<Value>, ApiError> {
    Ok(Json(shown(find(&state.db, id).await?)))
}

#[utoipa::path(post, path = "/api/users", tag = "users", request_body = UserInput,
    responses((status = 200, body = Done<CreatedUser>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    Input(input): Input<UserInput>,
) -> Result<Json<Done<CreatedUser>>, ApiError> {
    let created = admin.create_user(&actor, input).await?;
    Ok(done(CreatedUser {
        id: created.id.to_string(),
        extn_id: created.extn_id.to_string(),
    }))
}

#[utoipa::path(put, path = "/api/users/{id}", tag = "users", params(("id" = i64, Path)), request_body = UserInput,
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<UserInput>,
) -> Result<Json<Done<String>>, ApiError> {
    admin.update_user(&actor, id, input).await?;
    Ok(done(id.to_string()))
}

#[utoipa::path(delete, path = "/api/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = Done<String>, description = "its queue memberships go too; its extensions stay, unowned"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Done<String>>, ApiError> {
    admin.delete_user(&actor, id).await?;
    Ok(done(id.to_string()))
}

#[utoipa::path(put, path = "/api/users/change_password", tag = "users", request_body = PasswordChange,
    responses((status = 200, body = Done<String>, description = "data is \"{}\"; the user is signed out everywhere"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody, description = "wrong old password, or another user's and not an administrator"), (status = 404, body = ErrorBody)))]
pub async fn change_password(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    Input(input): Input<PasswordChange>,
) -> Result<Json<Done<String>>, ApiError> {
    admin.change_password(&actor, input).await?;
    Ok(done("{}".to_string()))
}

#[utoipa::path(get, path = "/api/users/{id}/extensions", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ExtensionDetail>, description = "a bare array, with each SIP password, so an agent can register"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn extensions(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<ExtensionDetail>>, ApiError> {
    find(&state.db, id).await?;
    let mut out = Vec::new();
    for extension in state.db.user_extensions(id).await? {
        let password = state.secrets.decrypt(
            &extension.fields.password_enc,
            &password_aad(&extension.fields.extn, &extension.fields.domain),
        )?;
        out.push(ExtensionDetail { extension, password });
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/api/users/{id}/queue/name", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<QueueName>, description = "[] when the agent is in no queue"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn queue_names(State(db): State<Db>, ApiPath(id): ApiPath<i64>) -> Result<Json<Vec<QueueName>>, ApiError> {
    find(&db, id).await?;
    let names = db.agent_queue_names(id).await?;
    Ok(Json(names.into_iter().map(|name| QueueName { name }).collect()))
}

async fn find(db: &Db, id: i64) -> Result<User, ApiError> {
    db.user(id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("user {id} not found"))
}

/// The flat shape of seed 002: the row with its agent settings merged in.
/// The voicemail PIN shows only as set (`********`) or not (`""`).
fn shown(user: User) -> Value {
    let vm_password = if user.fields.vm_password_enc.is_empty() {
        ""
    } else {
        crate::provision::MASK
    };
    let agent_info = serde_json::from_str::<Map<String, Value>>(&user.fields.agent_info).unwrap_or_default();
    let mut row = match serde_json::to_value(&user) {
        Ok(Value::Object(row)) => row,
        _ => Map::new(),
    };
    row.insert("vm_password".into(), Value::String(vm_password.into()));
    for (k, v) in agent_info {
        row.entry(k).or_insert(v);
    }
    Value::Object(row)
}
