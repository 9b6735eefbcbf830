//! `/api/queues`: call-centre queues (mod_callcenter, `type` callcenter)
//! and FIFO queues (mod_fifo), the agents in them (tiers) and their extra
//! parameters, for administrators.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiActor, ApiPath, Input, lenient};
use super::paging::{ListParams, Page, PageBody, list_query};
use super::{Done, done};
use crate::admin::Admin;
use crate::admin::log::Action;
use crate::domain::timestamp;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::queues::{AGENTS, LIST};
use crate::store::queues::{Queue, QueueAgent, QueueFields, QueueParam};
use crate::store::{Constraint, Db, OrTaken};

const TYPES: &[&str] = &["callcenter", "fifo"];
/// mod_callcenter's strategies; FIFO queues also take `ringall`.
const STRATEGIES: &[&str] = &[
    "ring-all",
    "longest-idle-agent",
    "top-down",
    "agent-with-least-talk-time",
    "agent-with-fewest-calls",
    "sequentially-by-agent-order",
    "round-robin",
    "random",
    "ring-progressively",
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(agents, add_agents))
        .routes(routes!(remove_agent))
        .routes(routes!(params, add_param))
        .routes(routes!(update_param, delete_param))
}

list_query!(QueueQuery, LIST);

list_query!(AgentQuery, AGENTS);

/// A queue as clients send it. `moh_sound` and `greeting` take a media id,
/// or a JSON string (or object) `{"media_path": ...}`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct QueueInput {
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::required_text::<64>, required = true, example = "test2")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub description: Option<String>,
    /// callcenter or fifo.
    #[serde(default, rename = "type", deserialize_with = "lenient::text")]
    #[schema(schema_with = queue_type, required = true, example = "callcenter")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = strategy, example = "agent-with-fewest-calls")]
    pub strategy: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub template: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub cti_template: Option<String>,
    #[serde(default)]
    #[schema(schema_with = media_ref_schema, example = 411)]
    pub moh_sound: Option<Value>,
    #[serde(default)]
    #[schema(schema_with = media_ref_schema, example = "{\"media_path\":\"phrase:welcome@xui\"}")]
    pub greeting: Option<Value>,
    #[serde(default, deserialize_with = "lenient::flag")]
    #[schema(schema_with = lenient::flag_schema)]
    pub auto_record: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub load_url: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub load_url_params: Option<String>,
}

fn toggle() -> utoipa::openapi::schema::Schema {
    lenient::choice_schema(&["toggle"])
}

/// CC for a callcenter queue, FIFO for a fifo queue.
fn param_realm_schema() -> utoipa::openapi::schema::Schema {
    lenient::required_choice_schema(&["CC", "FIFO"])
}

/// callcenter or fifo, any case.
fn queue_type() -> utoipa::openapi::schema::Schema {
    lenient::required_choice_schema(TYPES)
}

/// One of `STRATEGIES`; blank keeps the current one (or the type's default).
fn strategy() -> utoipa::openapi::schema::Schema {
    lenient::choice_schema(STRATEGIES)
}

/// What `media_ref` takes: a media id (a number or its digits), an object
/// with `media_id` or `media_path`, that object as JSON text, or blank.
fn media_ref_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    let id = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(lenient::MAX_SAFE_INTEGER));
    let id_text = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^\s*([1-9][0-9]{0,14})?\s*$"));
    let path_text = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r#"^\{"media_path": ?"[a-zA-Z0-9:@._/-]{1,512}"\}$"#));
    let path = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "media_path",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(1024))
                .pattern(Some(lenient::NOT_BLANK)),
        )
        .required("media_path");
    Schema::OneOf(
        OneOfBuilder::new()
            .item(id)
            .item(id_text)
            .item(path_text)
            .item(path)
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build(),
    )
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct AgentsInput {
    #[serde(default)]
    #[schema(min_items = 1, required = true)]
    pub agents: Vec<AgentRef>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct AgentRef {
    #[serde(default, deserialize_with = "lenient::int")]
    #[schema(schema_with = lenient::required_int_schema, required = true, example = 24)]
    pub agent_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema, example = "1022")]
    pub agent_name: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct ParamInput {
    /// CC for a callcenter queue, FIFO for a fifo queue.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = param_realm_schema, required = true, example = "CC")]
    pub realm: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::required_text_schema, required = true, example = "announce-sound")]
    pub k: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema, example = "1")]
    pub v: Option<String>,
    /// `toggle` flips `disabled`.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = toggle, example = "toggle")]
    pub action: Option<String>,
}

#[utoipa::path(get, path = "/api/queues", tag = "queues",
    params(QueueQuery),
    responses((status = 200, body = PageBody<Object>, description = "rows with their enabled extra parameters merged in"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(db): State<Db>, params: ListParams) -> Result<Json<PageBody<Value>>, ApiError> {
    let page: Page<Queue> = db.list(&LIST, &params, None).await?;
    let mut params = Vec::with_capacity(page.rows.len());
    for queue in &page.rows {
        params.push(db.queue_params(queue.id).await?);
    }
    let mut params = params.into_iter();
    Ok(Json(
        page.map(|queue| shown(queue, &params.next().unwrap_or_default()))
            .into(),
    ))
}

#[utoipa::path(get, path = "/api/queues/{id}", tag = "queues", params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(State(db): State<Db>, ApiPath(id): ApiPath<i64>) -> Result<Json<Value>, ApiError> {
    let queue = find(&db, id).await?;
    let params = db.queue_params(id).await?;
    Ok(Json(shown(queue, &params)))
}

#[utoipa::path(post, path = "/api/queues", tag = "queues", request_body = QueueInput,
    responses((status = 200, body = Done<String>, description = "data is the new id"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    Input(input): Input<QueueInput>,
) -> Result<Json<Done<String>>, ApiError> {
    let input_logged = serde_json::to_value(&input).unwrap_or_default();
    let fields = checked(input, None)?;
    let conflict = format!("name: a queue named '{}' already exists", fields.name);
    let id = db
        .insert_queue(&fields, timestamp::now())
        .await
        .or_taken(Constraint::QueueName, || ApiError::Conflict(conflict))?;
    admin
        .record(&actor, "queues", Action::Create, Some(id), &input_logged)
        .await;
    Ok(done(id.to_string()))
}

#[utoipa::path(put, path = "/api/queues/{id}", tag = "queues", params(("id" = i64, Path)), request_body = QueueInput,
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<QueueInput>,
) -> Result<Json<Done<String>>, ApiError> {
    let input_logged = serde_json::to_value(&input).unwrap_or_default();
    let current = find(&db, id).await?;
    let fields = checked(input, Some(current.fields))?;
    let conflict = format!("name: a queue named '{}' already exists", fields.name);
    if !db
        .update_queue(id, &fields, timestamp::now())
        .await
        .or_taken(Constraint::QueueName, || ApiError::Conflict(conflict))?
    {
        return Err(not_found(id));
    }
    admin
        .record(&actor, "queues", Action::Update, Some(id), &input_logged)
        .await;
    Ok(done(id.to_string()))
}

#[utoipa::path(delete, path = "/api/queues/{id}", tag = "queues", params(("id" = i64, Path)),
    responses((status = 200, body = Done<String>, description = "its agents and extra parameters go too"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Done<String>>, ApiError> {
    if !db.delete_queue(id, timestamp::now()).await? {
        return Err(not_found(id));
    }
    admin.record_deleted(&actor, "queues", id).await;
    Ok(done(id.to_string()))
}

#[utoipa::path(get, path = "/api/queues/{id}/agents", tag = "queues", params(("id" = i64, Path), AgentQuery),
    responses((status = 200, body = PageBody<Object>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn agents(
    State(db): State<Db>,
    ApiPath(id): ApiPath<i64>,
    params: ListParams,
) -> Result<Json<PageBody<Value>>, ApiError> {
    find(&db, id).await?;
    let page: Page<QueueAgent> = db.list(&AGENTS, &params, Some(("a.queue_id", id))).await?;
    Ok(Json(page.map(|a| tier(&a)).into()))
}

#[utoipa::path(post, path = "/api/queues/{id}/agents", tag = "queues", params(("id" = i64, Path)), request_body = AgentsInput,
    responses((status = 200, body = Done<Vec<QueueAgent>>, description = "the agents' tiers; an agent already in the queue keeps its tier"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_agents(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<AgentsInput>,
) -> Result<Json<Done<Vec<Value>>>, ApiError> {
    let input_logged = serde_json::to_value(&input).unwrap_or_default();
    find(&db, id).await?;
    if input.agents.is_empty() {
        return Err(ApiError::field("agents", "give at least one {agent_id, agent_name}"));
    }
    let mut wanted: Vec<(i64, String)> = Vec::new();
    for (i, agent) in input.agents.iter().enumerate() {
        let agent_id = agent
            .agent_id
            .ok_or_else(|| ApiError::field(&format!("agents[{i}].agent_id"), "required"))?;
        if !wanted.iter().any(|(a, _)| *a == agent_id) {
            wanted.push((agent_id, agent.agent_name.clone().unwrap_or_default()));
        }
    }
    let ids: Vec<i64> = wanted.iter().map(|(a, _)| *a).collect();
    let live: BTreeSet<i64> = db.live_user_ids(&ids).await?.into_iter().collect();
    if let Some(i) = input
        .agents
        .iter()
        .position(|a| a.agent_id.is_some_and(|id| id <= 0 || !live.contains(&id)))
    {
        return Err(ApiError::field(
            &format!("agents[{i}].agent_id"),
            format!("no agent has id {}", input.agents[i].agent_id.unwrap_or_default()),
        ));
    }
    let tiers = db.add_queue_agents(id, &wanted, timestamp::now()).await?;
    admin
        .record(&actor, "queues", Action::Update, Some(id), &input_logged)
        .await;
    Ok(done(tiers.iter().map(tier).collect()))
}

#[utoipa::path(delete, path = "/api/queues/{id}/agents/{agent_id}", tag = "queues", params(("id" = i64, Path), ("agent_id" = i64, Path)),
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_agent(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    ApiPath((id, agent_id)): ApiPath<(i64, i64)>,
) -> Result<Json<Done<String>>, ApiError> {
    find(&db, id).await?;
    if !db.remove_queue_agent(id, agent_id, timestamp::now()).await? {
        return Err(ApiError::not_found(format!("agent {agent_id} is not in queue {id}")));
    }
    admin
        .record(
            &actor,
            "queues",
            Action::Update,
            Some(id),
            &serde_json::json!({"agent_id": agent_id}),
        )
        .await;
    Ok(done(agent_id.to_string()))
}

#[utoipa::path(get, path = "/api/queues/{id}/extra_params", tag = "queues", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<QueueParam>, description = "a bare array"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn params(State(db): State<Db>, ApiPath(id): ApiPath<i64>) -> Result<Json<Vec<QueueParam>>, ApiError> {
    find(&db, id).await?;
    Ok(Json(db.queue_params(id).await?))
}

#[utoipa::path(post, path = "/api/queues/{id}/extra_params", tag = "queues", params(("id" = i64, Path)), request_body = ParamInput,
    responses((status = 200, body = Done<i64>, description = "data is the new parameter's id"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_param(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<ParamInput>,
) -> Result<Json<Done<i64>>, ApiError> {
    let input_logged = serde_json::to_value(&input).unwrap_or_default();
    let queue = find(&db, id).await?;
    let realm = param_realm(&queue);
    match input.realm.as_deref().map(str::trim) {
        None | Some("") => return Err(ApiError::field("realm", "required: CC or FIFO")),
        Some(given) if given != realm => {
            return Err(ApiError::field(
                "realm",
                format!("'{given}' does not fit a {} queue; use {realm}", queue.fields.kind),
            ));
        }
        Some(_) => {}
    }
    let k = input.k.map(|k| k.trim().to_string()).unwrap_or_default();
    let v = checked_param(&db, realm, &k, input.v).await?;
    let id = db
        .insert_queue_param(id, realm, &k, &v, timestamp::now())
        .await
        .or_taken(Constraint::QueueParam, || {
            ApiError::Conflict(format!("k: queue {id} already has '{k}'; change that one"))
        })?;
    admin
        .record(&actor, "queues", Action::Update, Some(id), &input_logged)
        .await;
    Ok(done(id))
}

#[utoipa::path(put, path = "/api/queues/{id}/extra_params/{param_id}", tag = "queues", params(("id" = i64, Path), ("param_id" = i64, Path)), request_body = ParamInput,
    responses((status = 200, body = Done<String>, description = "data is the queue's id"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_param(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    ApiPath((id, param_id)): ApiPath<(i64, i64)>,
    Input(input): Input<ParamInput>,
) -> Result<Json<Done<String>>, ApiError> {
    let input_logged = serde_json::to_value(&input).unwrap_or_default();
    let queue = find(&db, id).await?;
    let mut param = db
        .queue_param(id, param_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("queue {id} has no extra parameter {param_id}")))?;
    match input.action.as_deref().map(str::trim) {
        Some("toggle") => param.disabled = 1 - param.disabled.clamp(0, 1),
        Some(other) if !other.is_empty() => {
            return Err(ApiError::field("action", format!("'{other}' is not toggle")));
        }
        _ => {
            let realm = param_realm(&queue);
            if let Some(k) = input.k.map(|k| k.trim().to_string()).filter(|k| !k.is_empty()) {
                param.k = k;
            }
            param.v = checked_param(&db, realm, &param.k, input.v.or(Some(param.v.clone()))).await?;
        }
    }
    let k = param.k.clone();
    db.update_queue_param(&param, timestamp::now())
        .await
        .or_taken(Constraint::QueueParam, || {
            ApiError::Conflict(format!("k: queue {id} already has '{k}'"))
        })?;
    admin
        .record(&actor, "queues", Action::Update, Some(id), &input_logged)
        .await;
    Ok(done(id.to_string()))
}

#[utoipa::path(delete, path = "/api/queues/{id}/extra_params/{param_id}", tag = "queues", params(("id" = i64, Path), ("param_id" = i64, Path)),
    responses((status = 200, body = Done<String>, description = "data is the queue's id"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_param(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    State(db): State<Db>,
    ApiPath((id, param_id)): ApiPath<(i64, i64)>,
) -> Result<Json<Done<String>>, ApiError> {
    find(&db, id).await?;
    if !db.delete_queue_param(id, param_id, timestamp::now()).await? {
        return Err(ApiError::not_found(format!(
            "queue {id} has no extra parameter {param_id}"
        )));
    }
    admin
        .record(
            &actor,
            "queues",
            Action::Update,
            Some(id),
            &serde_json::json!({"param_id": param_id}),
        )
        .await;
    Ok(done(id.to_string()))
}

async fn find(db: &Db, id: i64) -> Result<Queue, ApiError> {
    db.queue(id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("queue {id} not found"))
}

/// The parameter realm of a queue's type.
fn param_realm(queue: &Queue) -> &'static str {
    if queue.fields.kind == "fifo" { "FIFO" } else { "CC" }
}

/// Checks a parameter's key against the dicts of its realm, and the value
/// of an action (`*-action`) as the JSON it must be.
async fn checked_param(db: &Db, realm: &str, k: &str, v: Option<String>) -> Result<String, ApiError> {
    let dict_realm = if realm == "FIFO" {
        "QUEUE_FIFO_PARAM"
    } else {
        "QUEUE_CC_PARAM"
    };
    let keys = db.queue_param_keys(dict_realm).await?;
    if k.is_empty() {
        return Err(ApiError::field("k", "required"));
    }
    if !keys.iter().any(|known| known == k) {
        return Err(ApiError::field(
            "k",
            format!("'{k}' is not a {realm} parameter; see /api/dicts/realm/{dict_realm}"),
        ));
    }
    let v = v.map(|v| v.trim().to_string()).unwrap_or_default();
    if k.ends_with("-action") {
        let valid = match serde_json::from_str::<Value>(&v) {
            Ok(Value::Object(o)) => match o.get("action").and_then(Value::as_str) {
                Some("hangup") => o.len() == 1,
                Some("transfer") => o.get("data").is_some_and(|d| !d.is_null() && d != ""),
                _ => false,
            },
            _ => false,
        };
        if !valid {
            return Err(ApiError::field(
                "v",
                format!(r#"{k} takes {{"action":"hangup"}} or {{"action":"transfer","data":"<destination>"}}"#),
            ));
        }
    }
    Ok(v)
}

/// Merges an input over the current queue (or the defaults) and checks it.
fn checked(input: QueueInput, current: Option<QueueFields>) -> Result<QueueFields, ApiError> {
    let creating = current.is_none();
    let mut f = current.unwrap_or(QueueFields {
        name: String::new(),
        description: String::new(),
        kind: String::new(),
        strategy: String::new(),
        template: String::new(),
        cti_template: String::new(),
        moh_sound: String::new(),
        greeting: String::new(),
        auto_record: 0,
        load_url: String::new(),
        load_url_params: "{}".into(),
    });
    let set = |given: Option<String>, old: &mut String| {
        if let Some(v) = given {
            *old = v.trim().to_string();
        }
    };
    set(input.name, &mut f.name);
    set(input.description, &mut f.description);
    set(input.kind.map(|k| k.to_lowercase()), &mut f.kind);
    // A blank strategy keeps the current one, or on create the type's default.
    let strategy = input.strategy.filter(|s| !s.trim().is_empty());
    let strategy_given = strategy.is_some();
    set(strategy, &mut f.strategy);
    set(input.template, &mut f.template);
    set(input.cti_template, &mut f.cti_template);
    set(input.load_url, &mut f.load_url);
    set(input.load_url_params, &mut f.load_url_params);
    if let Some(a) = input.auto_record {
        f.auto_record = a;
    }
    if let Some(m) = input.moh_sound {
        f.moh_sound = media_ref("moh_sound", &m)?;
    }
    if let Some(m) = input.greeting {
        f.greeting = media_ref("greeting", &m)?;
    }
    if f.name.is_empty() || f.name.chars().count() > 64 {
        return Err(ApiError::field("name", "required, at most 64 characters"));
    }
    if !TYPES.contains(&f.kind.as_str()) {
        let given = if f.kind.is_empty() {
            "required".into()
        } else {
            format!("'{}' is not", f.kind)
        };
        return Err(ApiError::field("type", format!("{given} one of callcenter, fifo")));
    }
    let fits =
        |f: &QueueFields| STRATEGIES.contains(&f.strategy.as_str()) || (f.kind == "fifo" && f.strategy == "ringall");
    // A new queue, or one whose new type cannot use the strategy it kept
    // (ringall, after fifo), takes the type's default.
    if (creating && f.strategy.is_empty()) || (!strategy_given && !fits(&f)) {
        f.strategy = if f.kind == "fifo" {
            "ringall"
        } else {
            "longest-idle-agent"
        }
        .into();
    }
    if !fits(&f) {
        let extra = if f.kind == "fifo" { " (or ringall)" } else { "" };
        return Err(ApiError::field(
            "strategy",
            format!("'{}' is not one of {}{extra}", f.strategy, STRATEGIES.join(", ")),
        ));
    }
    if f.load_url_params.is_empty() {
        f.load_url_params = "{}".into();
    }
    Ok(f)
}

/// A media reference as stored: a media id, or a path such as
/// `phrase:welcome@xui`; `""` for none.
fn media_ref(field: &str, given: &Value) -> Result<String, ApiError> {
    let bad = || ApiError::field(field, r#"give a media id or {"media_path": "..."}"#);
    let path_of = |o: &Map<String, Value>| -> Result<String, ApiError> {
        match (o.get("media_id"), o.get("media_path")) {
            (Some(id), _) if id.as_i64().is_some() || id.as_str().is_some_and(|s| s.parse::<i64>().is_ok()) => {
                let id = id
                    .as_i64()
                    .map_or_else(|| id.as_str().unwrap_or_default().to_string(), |n| n.to_string());
                Ok(json!({"media_id": id}).to_string())
            }
            (_, Some(Value::String(p))) if !p.trim().is_empty() && p.len() <= 1024 => {
                Ok(json!({"media_path": p.trim()}).to_string())
            }
            _ => Err(bad()),
        }
    };
    match given {
        Value::Null => Ok(String::new()),
        Value::Number(n) => match lenient::number_as_text(n).filter(|id| !id.starts_with(['-', '0'])) {
            Some(id) => Ok(json!({"media_id": id}).to_string()),
            None => Err(bad()),
        },
        Value::String(s) if s.trim().is_empty() => Ok(String::new()),
        Value::String(s) if s.trim().parse::<i64>().is_ok_and(|n| n > 0) => {
            Ok(json!({"media_id": s.trim()}).to_string())
        }
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => path_of(&o),
            _ => Err(bad()),
        },
        Value::Object(o) => path_of(o),
        _ => Err(bad()),
    }
}

/// A stored media reference as seed 002 shows it.
fn media_shown(stored: &str) -> Value {
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(stored) else {
        return Value::String(String::new());
    };
    let text = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let path = text("media_path");
    let kind = if path.starts_with("phrase:") { "SYSTEM" } else { "" };
    json!({"media_id": text("media_id"), "media_path": path, "media_type": kind})
}

/// A queue row as seed 002 shows it, its enabled extra parameters merged in.
fn shown(queue: Queue, params: &[QueueParam]) -> Value {
    let f = queue.fields;
    let mut row = json!({
        "id": queue.id,
        "name": f.name,
        "description": f.description,
        "type": f.kind,
        "strategy": f.strategy,
        "template": f.template,
        "cti_template": f.cti_template,
        "moh_sound": media_shown(&f.moh_sound),
        "greeting": media_shown(&f.greeting),
        "auto_record": f.auto_record,
        "load_url": f.load_url,
        "load_url_params": f.load_url_params,
        "created_at": timestamp::format(&queue.created_at),
        "updated_at": timestamp::format(&queue.updated_at),
        "deleted_at": queue.deleted_at.as_ref().map(timestamp::format).unwrap_or_default(),
    });
    if let Value::Object(map) = &mut row {
        for p in params.iter().filter(|p| p.disabled == 0) {
            map.entry(p.k.clone()).or_insert_with(|| Value::String(p.v.clone()));
        }
    }
    row
}

/// A tier row as seed 002 shows it, with `agent_name_md5`.
fn tier(agent: &QueueAgent) -> Value {
    use md5::{Digest, Md5};
    let mut row = serde_json::to_value(agent).unwrap_or_default();
    if let Value::Object(map) = &mut row {
        map.insert(
            "agent_name_md5".into(),
            Value::String(hex::encode(Md5::digest(agent.agent_name.as_bytes()))),
        );
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_is_an_id_or_a_path() {
        assert_eq!(media_ref("moh_sound", &json!(411)).unwrap(), r#"{"media_id":"411"}"#);
        assert_eq!(
            media_ref("greeting", &json!(r#"{"media_path":"phrase:welcome@xui"}"#)).unwrap(),
            r#"{"media_path":"phrase:welcome@xui"}"#
        );
        assert_eq!(media_ref("greeting", &json!("")).unwrap(), "");
        for bad in [json!("hello"), json!(-1), json!([1]), json!(r#"{"media_path":""}"#)] {
            assert!(
                media_ref("moh_sound", &bad)
                    .unwrap_err()
                    .to_string()
                    .starts_with("moh_sound: ")
            );
        }
        assert_eq!(
            media_shown(r#"{"media_path":"phrase:welcome@xui"}"#),
            json!({"media_id": "", "media_path": "phrase:welcome@xui", "media_type": "SYSTEM"})
        );
        assert_eq!(media_shown(""), json!(""));
    }

    #[test]
    fn strategies_fit_the_queue_type() {
        let queue = |kind: &str, strategy: &str| QueueInput {
            name: Some("q".into()),
            kind: Some(kind.into()),
            strategy: Some(strategy.into()),
            ..Default::default()
        };
        assert!(checked(queue("fifo", "ringall"), None).is_ok());
        assert!(checked(queue("callcenter", "round-robin"), None).is_ok());
        let err = checked(queue("callcenter", "ringall"), None).unwrap_err().to_string();
        assert!(err.starts_with("strategy: 'ringall' is not one of"), "{err}");
        let err = checked(queue("queue", "random"), None).unwrap_err().to_string();
        assert!(err.starts_with("type: 'queue' is not one of"), "{err}");
    }
}
