//! `/api/extensions`: the SIP accounts phones register with. Passwords are
//! kept encrypted; ha1/ha1b are recomputed on every change.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use utoipa::openapi::schema::Schema;

use super::extract::lenient::MAX_SAFE_INTEGER;
use super::extract::{ApiPath, Input, lenient};
use super::paging::{Filter, ListParams, ListSpec, PageBody, list_query};
use super::{Done, done};
use crate::domain::timestamp;
use crate::error::{ApiError, ErrorBody};
use crate::secrets::{self, SecretBox, password_aad};
use crate::state::AppState;
use crate::store::extensions::{COLUMNS, Extension, ExtensionFields};
use crate::store::{Constraint, Db, OrTaken};

pub const DEFAULT_DOMAIN: &str = "xswitch.cn";
pub const DEFAULT_CONTEXT: &str = "default";
const TYPES: &[&str] = &["SIP", "VERTO", "WEBRTC", "TDM"];
const MIN_PASSWORD: usize = 6;
/// The largest range `muti_add` creates at once.
pub const MAX_RANGE: i64 = 10_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(create_range))
        .routes(routes!(get_one, update, delete))
}

const LIST: ListSpec = ListSpec {
    columns: COLUMNS,
    from: "extensions",
    always: &["deleted_at IS NULL"],
    filters: &[
        Filter::Contains("extn", "extn"),
        Filter::Contains("name", "name"),
        Filter::Equals("domain", "domain"),
        Filter::Equals("context", "context"),
    ],
    sortable: &[
        ("id", "id"),
        ("extn", "extn"),
        ("name", "name"),
        ("domain", "domain"),
        ("created_at", "created_at"),
        ("updated_at", "updated_at"),
    ],
    default_order: "id",
};
list_query!(ExtensionQuery, LIST);

/// Fields of an extension as clients send them; every one is optional on
/// update, and numbers may arrive as strings.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ExtensionInput {
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = extn_schema, required = true, example = "1001")]
    pub extn: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub name: Option<String>,
    /// Plaintext; stored encrypted. Generated when absent on create.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = sip_password_schema)]
    pub password: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = domain_schema, example = "xswitch.cn")]
    pub domain: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema, example = "default")]
    pub context: Option<String>,
    /// SIP, VERTO, WEBRTC or TDM.
    #[serde(default, rename = "type", deserialize_with = "lenient::text")]
    #[schema(schema_with = extension_type, example = "SIP")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub cid_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub cid_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    #[schema(schema_with = lenient::int_schema)]
    pub user_id: Option<i64>,
    /// 0 or 1.
    #[serde(default, deserialize_with = "lenient::flag")]
    #[schema(schema_with = lenient::flag_schema)]
    pub disabled: Option<i64>,
}

/// The rules a SIP password must meet, each named when broken.
pub(crate) fn check_sip_password(password: &str, extn: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(ApiError::field(
            "password",
            format!("too short: at least {MIN_PASSWORD} characters"),
        ));
    }
    if password == extn {
        return Err(ApiError::field("password", "must not equal the extension number"));
    }
    if password.chars().any(char::is_control) || password.chars().count() > 128 {
        return Err(ApiError::field(
            "password",
            "must be printable and at most 128 characters",
        ));
    }
    Ok(())
}

/// An extension number: letters, digits and `-_.+*#!$@`, at most 32.
fn extn_schema() -> Schema {
    lenient::patterned(
        r"^\s*[A-Za-z0-9_.+*#!$@-]{1,32}\s*$",
        -MAX_SAFE_INTEGER,
        MAX_SAFE_INTEGER,
        false,
    )
}

/// The same where blank or null means "none" (a user's own extension).
pub(crate) fn extn_or_none_schema() -> Schema {
    lenient::patterned(
        r"^\s*([A-Za-z0-9_.+*#!$@-]{1,32})?\s*$",
        -MAX_SAFE_INTEGER,
        MAX_SAFE_INTEGER,
        true,
    )
}

/// A host name or address; blank means the default domain.
fn domain_schema() -> Schema {
    lenient::patterned(
        r"^\s*[A-Za-z0-9.-]{0,253}\s*$",
        -MAX_SAFE_INTEGER,
        MAX_SAFE_INTEGER,
        true,
    )
}

/// One end of a range: digits, leading zeros kept.
fn range_end_schema() -> Schema {
    lenient::patterned(r"^\s*[0-9]{1,15}\s*$", 0, MAX_SAFE_INTEGER, false)
}

pub(crate) fn sip_password_schema() -> Schema {
    lenient::password_schema::<MIN_PASSWORD>(true)
}

/// SIP, VERTO, WEBRTC or TDM; blank is SIP.
fn extension_type() -> Schema {
    lenient::choice_schema(TYPES)
}

/// A range of extensions sharing one password (XSwitch spells it `muti_add`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RangeInput {
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = range_end_schema, required = true, example = "1000")]
    pub extns_start: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = range_end_schema, required = true, example = "1019")]
    pub extns_end: Option<String>,
    /// Shared by the whole range; when absent each extension gets its own random one.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = sip_password_schema)]
    pub password: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub context: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub domain: Option<String>,
}

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
pub async fn list(State(db): State<Db>, params: ListParams) -> Result<Json<PageBody<Extension>>, ApiError> {
    Ok(Json(LIST.fetch(&db, &params).await?))
}

#[utoipa::path(get, path = "/api/extensions/{id}", tag = "extensions", params(("id" = i64, Path)),
    responses((status = 200, body = ExtensionDetail), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ExtensionDetail>, ApiError> {
    let extension = find(&state.db, id).await?;
    let password = open_password(&state.secrets, &extension)?;
    Ok(Json(ExtensionDetail { extension, password }))
}

#[utoipa::path(post, path = "/api/extensions", tag = "extensions", request_body = ExtensionInput,
    responses((status = 200, body = Done<String>, description = "data is the new id"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Input(input): Input<ExtensionInput>,
) -> Result<Json<Done<String>>, ApiError> {
    let fields = new_fields(&state, input).await?;
    let created = insert(&state.db, vec![fields]).await?;
    Ok(done(created[0].id.to_string()))
}

#[utoipa::path(post, path = "/api/extensions/muti_add", tag = "extensions", request_body = RangeInput,
    responses((status = 200, body = Done<Vec<Extension>>, description = "the created extensions"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_range(
    State(state): State<AppState>,
    Input(input): Input<RangeInput>,
) -> Result<Json<Done<Vec<Extension>>>, ApiError> {
    let numbers = range_numbers(input.extns_start.as_deref(), input.extns_end.as_deref())?;
    let domain = input
        .domain
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_DOMAIN.into());
    let taken = state.db.existing_extns(domain.trim(), &numbers).await?;
    if !taken.is_empty() {
        let shown: Vec<&str> = taken.iter().take(20).map(String::as_str).collect();
        return Err(ApiError::Conflict(format!(
            "extns_start: {} of the range already exist in domain {domain}: {}",
            taken.len(),
            shown.join(", ")
        )));
    }
    let mut rows = Vec::with_capacity(numbers.len());
    for extn in numbers {
        let input = ExtensionInput {
            extn: Some(extn),
            password: input.password.clone(),
            context: input.context.clone(),
            domain: Some(domain.clone()),
            ..Default::default()
        };
        rows.push(new_fields(&state, input).await?);
    }
    Ok(done(insert(&state.db, rows).await?))
}

#[utoipa::path(put, path = "/api/extensions/{id}", tag = "extensions", params(("id" = i64, Path)), request_body = ExtensionInput,
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    Input(input): Input<ExtensionInput>,
) -> Result<Json<Done<String>>, ApiError> {
    let current = find(&state.db, id).await?;
    let password = match input.password.as_deref() {
        Some(p) => p.to_string(),
        None => open_password(&state.secrets, &current)?,
    };
    let renamed = input.extn.as_deref().is_some_and(|e| e.trim() != current.fields.extn)
        || input
            .domain
            .as_deref()
            .is_some_and(|d| d.trim() != current.fields.domain);
    if renamed {
        let users = state.db.extension_users(id).await?;
        if let Some(first) = users.first() {
            return Err(ApiError::Conflict(format!(
                "extn: extension {} is a line of device {} (MAC {}); remove it there before renumbering it",
                current.fields.extn, first.device_id, first.mac
            )));
        }
    }
    let merged = ExtensionInput {
        extn: input.extn.or(Some(current.fields.extn)),
        name: input.name.or(Some(current.fields.name)),
        password: Some(password),
        domain: input.domain.or(Some(current.fields.domain)),
        context: input.context.or(Some(current.fields.context)),
        kind: input.kind.or(Some(current.fields.kind)),
        cid_name: input.cid_name.or(Some(current.fields.cid_name)),
        cid_number: input.cid_number.or(Some(current.fields.cid_number)),
        description: input.description.or(Some(current.fields.description)),
        user_id: input.user_id.or(Some(current.fields.user_id)),
        disabled: input.disabled.or(Some(current.fields.disabled)),
    };
    let fields = new_fields(&state, merged).await?;
    let conflict = conflict_message(&fields);
    if !state
        .db
        .update_extension(id, &fields, timestamp::now())
        .await
        .or_taken(Constraint::ExtensionNumber, || ApiError::Conflict(conflict))?
    {
        return Err(not_found(id));
    }
    Ok(done(id.to_string()))
}

#[utoipa::path(delete, path = "/api/extensions/{id}", tag = "extensions", params(("id" = i64, Path)),
    responses((status = 200, body = Done<String>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "still a line of a device")))]
pub async fn delete(State(db): State<Db>, ApiPath(id): ApiPath<i64>) -> Result<Json<Done<String>>, ApiError> {
    let current = find(&db, id).await?;
    let users = db.extension_users(id).await?;
    if !users.is_empty() {
        let devices: Vec<String> = users
            .iter()
            .map(|u| format!("{} (MAC {})", u.device_id, u.mac))
            .collect();
        return Err(ApiError::Conflict(format!(
            "extension {} is a line of device {}; remove it there first",
            current.fields.extn,
            devices.join(", ")
        )));
    }
    if !db.delete_extension(id, timestamp::now()).await? {
        return Err(not_found(id));
    }
    Ok(done(id.to_string()))
}

async fn find(db: &Db, id: i64) -> Result<Extension, ApiError> {
    db.extension(id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("extension {id} not found"))
}

fn open_password(secrets: &SecretBox, e: &Extension) -> Result<String, ApiError> {
    Ok(secrets.decrypt(&e.fields.password_enc, &password_aad(&e.fields.extn, &e.fields.domain))?)
}

async fn insert(db: &Db, rows: Vec<ExtensionFields>) -> Result<Vec<Extension>, ApiError> {
    let conflict = rows.first().map(conflict_message).unwrap_or_default();
    db.insert_extensions(rows, timestamp::now())
        .await
        .or_taken(Constraint::ExtensionNumber, || ApiError::Conflict(conflict))
}

fn conflict_message(f: &ExtensionFields) -> String {
    format!("extn: {} already exists in domain {}", f.extn, f.domain)
}

/// Validates an input, fills the defaults, encrypts the password and
/// computes ha1/ha1b.
pub(crate) async fn new_fields(state: &AppState, input: ExtensionInput) -> Result<ExtensionFields, ApiError> {
    let extn = input
        .extn
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ApiError::field("extn", "required"))?;
    if extn.len() > 32
        || !extn
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+*#!$@".contains(c))
    {
        return Err(ApiError::field(
            "extn",
            format!("'{extn}' may hold only letters, digits and - _ . + * # ! $ @ (at most 32)"),
        ));
    }
    let domain = text_or(input.domain, DEFAULT_DOMAIN);
    if domain.len() > 253
        || !domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(ApiError::field(
            "domain",
            format!("'{domain}' is not a host name or IP address"),
        ));
    }
    let context = text_or(input.context, DEFAULT_CONTEXT);
    let kind = text_or(input.kind, "SIP").to_uppercase();
    if !TYPES.contains(&kind.as_str()) {
        return Err(ApiError::field(
            "type",
            format!("'{kind}' is not one of {}", TYPES.join(", ")),
        ));
    }
    let password = match input.password {
        None => secrets::random_password(16),
        Some(p) => {
            check_sip_password(&p, &extn)?;
            p
        }
    };
    // Unowned extensions belong to user 0, which always exists.
    let user_id = input.user_id.unwrap_or(0);
    if input.user_id.is_some() && !state.db.user_exists(user_id).await? {
        return Err(ApiError::field("user_id", format!("no user has id {user_id}")));
    }
    let name = text_or(input.name, &extn);
    Ok(ExtensionFields {
        cid_name: text_or(input.cid_name, &name),
        cid_number: text_or(input.cid_number, &extn),
        password_enc: state.secrets.encrypt(&password, &password_aad(&extn, &domain)),
        ha1: secrets::ha1(&extn, &domain, &password),
        ha1b: secrets::ha1b(&extn, &domain, &password),
        user_id,
        disabled: input.disabled.unwrap_or(0),
        description: input.description.unwrap_or_default(),
        name,
        extn,
        domain,
        context,
        kind,
    })
}

pub(crate) fn text_or(value: Option<String>, default: &str) -> String {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// The numbers from `start` to `end`, keeping leading zeros (`0100`…`0199`).
fn range_numbers(start: Option<&str>, end: Option<&str>) -> Result<Vec<String>, ApiError> {
    let parse = |name: &str, v: Option<&str>| -> Result<(i64, usize), ApiError> {
        let v = v
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::field(name, "required"))?;
        let n = v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0 && v.chars().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| ApiError::field(name, format!("'{v}' is not an extension number")))?;
        Ok((n, v.len()))
    };
    let (first, width) = parse("extns_start", start)?;
    let (last, _) = parse("extns_end", end)?;
    if last < first {
        return Err(ApiError::field("extns_end", "must not be below extns_start"));
    }
    if last - first + 1 > MAX_RANGE {
        return Err(ApiError::field(
            "extns_end",
            format!("a range holds at most {MAX_RANGE} extensions"),
        ));
    }
    Ok((first..=last).map(|n| format!("{n:0width$}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_keep_leading_zeros_and_check_bounds() {
        assert_eq!(
            range_numbers(Some("0098"), Some("0101")).unwrap(),
            vec!["0098", "0099", "0100", "0101"]
        );
        assert_eq!(range_numbers(Some("1000"), Some("1000")).unwrap(), vec!["1000"]);
        assert!(
            range_numbers(Some("1001"), Some("1000"))
                .unwrap_err()
                .to_string()
                .starts_with("extns_end:")
        );
        assert!(
            range_numbers(None, Some("1000"))
                .unwrap_err()
                .to_string()
                .starts_with("extns_start:")
        );
        assert!(
            range_numbers(Some("1a"), Some("1000"))
                .unwrap_err()
                .to_string()
                .starts_with("extns_start:")
        );
        assert!(range_numbers(Some("1"), Some("20000")).is_err());
    }
}
