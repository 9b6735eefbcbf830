//! `/api/dicts`: XSwitch's realm/key/value tables, for administrators.
//! Rows of the provisioning realms
//! (`PROVISION`, `PROVISION:<mac>`) are checked key by key, and secret
//! values are kept encrypted and shown as `********`.

use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::SecretFields;
use super::extract::{ApiPath, ApiQuery, Input, lenient};
use super::{Done, done};
use crate::domain::timestamp;
use crate::error::{ApiError, ErrorBody};
use crate::provision::{MASK, settings};
use crate::state::AppState;
use crate::store::dicts::{Dict, DictFields};
use crate::store::{Constraint, Db, OrTaken};

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

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DictInput {
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::required_text::<64>, required = true, example = "PROVISION")]
    pub realm: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::required_text::<128>, required = true, example = "ntp_server")]
    pub k: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema, example = "ntp.example.com")]
    pub v: Option<String>,
    /// Description.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub d: Option<String>,
    /// Order within the realm.
    #[serde(default, deserialize_with = "lenient::int")]
    #[schema(schema_with = lenient::int_schema)]
    pub o: Option<i64>,
}

/// A row as clients see it: secret values masked.
fn shown(mut dict: Dict) -> Dict {
    if settings::is_secret_setting(&dict.realm, &dict.k) {
        dict.v = MASK.into();
    }
    dict
}

#[utoipa::path(get, path = "/api/dicts", tag = "dicts", params(RealmQuery),
    responses((status = 200, body = Vec<Dict>, description = "a bare array, as XSwitch answers"), (status = 403, body = ErrorBody)))]
pub async fn list(State(db): State<Db>, ApiQuery(q): ApiQuery<RealmQuery>) -> Result<Json<Vec<Dict>>, ApiError> {
    let rows = db
        .dicts(q.realm.as_deref().map(str::trim).filter(|r| !r.is_empty()))
        .await?;
    Ok(Json(rows.into_iter().map(shown).collect()))
}

#[utoipa::path(get, path = "/api/dicts/realm/{realm}", tag = "dicts", params(("realm" = String, Path)),
    responses((status = 200, body = Vec<Dict>), (status = 403, body = ErrorBody)))]
pub async fn by_realm(State(db): State<Db>, ApiPath(realm): ApiPath<String>) -> Result<Json<Vec<Dict>>, ApiError> {
    Ok(Json(db.dicts(Some(&realm)).await?.into_iter().map(shown).collect()))
}

#[utoipa::path(get, path = "/api/dicts/{id}", tag = "dicts", params(("id" = i64, Path)),
    responses((status = 200, body = Dict), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(State(db): State<Db>, ApiPath(id): ApiPath<i64>) -> Result<Json<Dict>, ApiError> {
    Ok(Json(shown(find(&db, id).await?)))
}

#[utoipa::path(post, path = "/api/dicts", tag = "dicts", request_body = DictInput,
    responses((status = 200, body = Done<String>, description = "data is the new id"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Input(input): Input<DictInput>,
) -> Result<(Extension<SecretFields>, Json<Done<String>>), ApiError> {
    let fields = checked(&state, input, None)?;
    let conflict = format!("k: '{}' already exists in realm {}", fields.k, fields.realm);
    let id = state
        .db
        .insert_dict(&fields, timestamp::now())
        .await
        .or_taken(Constraint::SettingKey, || ApiError::Conflict(conflict))?;
    Ok((secret_fields(&fields), done(id.to_string())))
}

#[utoipa::path(put, path = "/api/dicts/{id}", tag = "dicts", params(("id" = i64, Path)), request_body = DictInput,
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<DictInput>,
) -> Result<(Extension<SecretFields>, Json<Done<String>>), ApiError> {
    let current = find(&state.db, id).await?;
    let fields = checked(&state, input, Some(current))?;
    let conflict = format!("k: '{}' already exists in realm {}", fields.k, fields.realm);
    if !state
        .db
        .update_dict(id, &fields, timestamp::now())
        .await
        .or_taken(Constraint::SettingKey, || ApiError::Conflict(conflict))?
    {
        return Err(not_found(id));
    }
    Ok((secret_fields(&fields), done(id.to_string())))
}

/// Tells the operation log that `v` held a secret setting's value.
fn secret_fields(fields: &DictFields) -> Extension<SecretFields> {
    let secret = settings::is_secret_setting(&fields.realm, &fields.k);
    Extension(SecretFields(if secret { &["v"] } else { &[] }))
}

#[utoipa::path(delete, path = "/api/dicts/{id}", tag = "dicts", params(("id" = i64, Path)),
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(State(db): State<Db>, ApiPath(id): ApiPath<i64>) -> Result<Json<Done<String>>, ApiError> {
    if !db.delete_dict(id, timestamp::now()).await? {
        return Err(not_found(id));
    }
    Ok(done(id.to_string()))
}

async fn find(db: &Db, id: i64) -> Result<Dict, ApiError> {
    db.dict(id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("dict {id} not found"))
}

/// Merges an input over the current row, checks it, and seals a secret.
fn checked(state: &AppState, input: DictInput, current: Option<Dict>) -> Result<DictFields, ApiError> {
    let keep = |given: Option<String>, old: Option<&String>| {
        given
            .or_else(|| old.cloned())
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let realm = keep(input.realm, current.as_ref().map(|c| &c.realm));
    let k = keep(input.k, current.as_ref().map(|c| &c.k));
    if realm.is_empty() || realm.chars().count() > 64 {
        return Err(ApiError::field("realm", "required, at most 64 characters"));
    }
    if k.is_empty() || k.chars().count() > 128 {
        return Err(ApiError::field("k", "required, at most 128 characters"));
    }
    if settings::is_settings_realm(&realm) && !settings::KEYS.iter().any(|(known, _)| *known == k) {
        let keys: Vec<&str> = settings::KEYS.iter().map(|(k, _)| *k).collect();
        return Err(ApiError::field(
            "k",
            format!("'{k}' is not a provisioning setting; use one of {}", keys.join(", ")),
        ));
    }
    let secret = settings::is_secret_setting(&realm, &k);
    let v = match (input.v, &current) {
        (Some(v), _) => {
            if settings::is_settings_realm(&realm) {
                settings::validate(&k, &v).map_err(|reason| ApiError::field("v", format!("{k}: {reason}")))?;
            }
            if secret {
                state.secrets.encrypt(v.trim(), &crate::secrets::secret_aad(&realm, &k))
            } else {
                v.trim().to_string()
            }
        }
        (None, Some(c)) if c.realm == realm && c.k == k => c.v.clone(),
        (None, _) => {
            if settings::is_settings_realm(&realm) {
                return Err(ApiError::field("v", "required"));
            }
            String::new()
        }
    };
    if realm.starts_with("PROVISION") && !settings::is_settings_realm(&realm) {
        return Err(ApiError::field(
            "realm",
            format!("'{realm}' is not PROVISION or PROVISION:<mac> (12 lower-case hex digits)"),
        ));
    }
    Ok(DictFields {
        realm,
        k,
        v,
        d: input
            .d
            .or_else(|| current.as_ref().map(|c| c.d.clone()))
            .unwrap_or_default(),
        o: input.o.or(current.map(|c| c.o)).unwrap_or(0),
    })
}
