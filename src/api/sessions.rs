//! Login and logout (`/api/sessions`), per XSwitch.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{SESSION_COOKIE, SessionToken};
use super::extract::Input;
use crate::domain::{source_network, timestamp};
use crate::error::{ApiError, ErrorBody};
use crate::passwords::Entry;
use crate::provision::OverTls;
use crate::secrets;
use crate::state::AppState;
use crate::store::Db;
use crate::store::users::{LoginAttempt, SessionUser};
use crate::workers::Priority;

/// How long a login stays locked after too many wrong passwords.
const LOCKOUT: time::Duration = time::Duration::hours(2);
const WRONG_CREDENTIALS: &str = "Wrong username or password";

pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(logout))
}

/// A login: `login` (or `username`) with `password` or `dev_key`, as JSON or a form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[serde(default)]
    pub login: Option<String>,
    /// Accepted in place of `login`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// A user's developer key, accepted in place of the password.
    #[serde(default)]
    pub dev_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    #[schema(example = 200)]
    pub code: u16,
    /// Send it back as `X-XTRA-AUTH-ID`, `Authorization: Bearer`, or the cookie.
    pub token: String,
    pub user_id: i64,
    /// When the token expires, in Unix seconds.
    pub expires: i64,
    pub name: String,
    /// The user's first extension, or "".
    pub extn: String,
    pub super_admin: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutResponse {
    #[schema(example = 200)]
    pub code: u16,
    #[schema(example = "OK")]
    pub text: String,
}

#[utoipa::path(
    post, path = "/api/sessions", tag = "sessions",
    request_body(content((LoginRequest = "application/json"), (LoginRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, body = LoginResponse, description = "Logged in; also sets the session cookie"),
        (status = 400, body = ErrorBody, description = "login or password missing"),
        (status = 403, body = ErrorBody, description = "wrong credentials, or the login is locked"),
        (status = 429, body = ErrorBody, description = "too many logins at once, or in a short time, from one network"),
    ),
    security(())
)]
pub async fn login(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    tls: Option<Extension<OverTls>>,
    Input(req): Input<LoginRequest>,
) -> Result<Response, ApiError> {
    let login = req
        .login
        .or(req.username)
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .ok_or_else(|| ApiError::field("login", "required"))?;
    let secret = match (
        req.password.filter(|p| !p.is_empty()),
        req.dev_key.filter(|k| !k.is_empty()),
    ) {
        (Some(p), _) => Secret::Password(p),
        (None, Some(k)) => Secret::DevKey(k),
        (None, None) => return Err(ApiError::field("password", "required (or dev_key)")),
    };
    let db = &state.db;
    let now = timestamp::now();
    let lock_until = now + LOCKOUT;
    // Locks go by the name as typed, whether or not a user has it, and by
    // the network it came from: nobody elsewhere can lock a user out, and
    // an unknown name answers exactly as a known one.
    let source = peer.map(|Extension(ConnectInfo(peer))| source_network(peer.ip()));
    let network = source.map_or_else(|| "unknown".into(), |n| n.to_string());
    // Each network gets a few password checks at once and a few a second.
    let entry = match source.map(|n| state.login_gate.enter(n)) {
        Some(Err(wait)) => {
            return Err(ApiError::TooMany(format!(
                "too many logins from your network; try again in {} s",
                wait.as_secs().max(1)
            )));
        }
        entered => entered,
    };
    let clean = match db.begin_login_attempt(&login, &network, now).await? {
        LoginAttempt::Locked(until) => return Err(locked(until)),
        LoginAttempt::NetworkFull => return Err(network_full()),
        LoginAttempt::Check { clean } => clean,
    };
    // Networks with no counted failure (nor their wide network, lately, on
    // this node) are checked before the others.
    let priority = match entry.as_ref().map(|entry| entry.as_ref().map(Entry::priority)) {
        Some(Ok(Priority::First)) | None if clean => Priority::First,
        _ => Priority::Normal,
    };
    let user = db.login_user(&login).await?.filter(|u| u.disabled == 0);
    let stored = user.as_ref().and_then(|u| match secret {
        Secret::Password(_) => u.password_hash.clone(),
        Secret::DevKey(_) => u.dev_key_hash.clone(),
    });
    let matches = state
        .passwords
        .run_or_refuse(priority, move || match secret {
            // A missing user or hash is still checked against a dummy, so the
            // answer takes as long either way.
            Secret::Password(p) => secrets::verify_password(&p, stored.as_deref()),
            Secret::DevKey(k) => {
                let presented = secrets::token_hash(&k);
                let expected = stored.unwrap_or_default();
                presented.len() == expected.len() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
            }
        })
        .await
        .map_err(|_| {
            ApiError::TooMany("too many logins are waiting for their check; try again in a few seconds".into())
        })?;

    let user = match user {
        Some(user) if matches => user,
        _ => {
            if let Some(source) = source {
                state.login_gate.failed(source);
            }
            return Err(
                match db.count_wrong_password(&login, &network, now, lock_until).await? {
                    Some(until) => {
                        tracing::warn!(network = %network, "a login name locked after repeated wrong passwords");
                        locked(until)
                    }
                    None => ApiError::Forbidden(WRONG_CREDENTIALS.into()),
                },
            );
        }
    };
    db.clear_login_attempts(&login, &network).await?;

    let (token, hash) = secrets::new_token();
    let expires = now + state.settings.token_lifetime;
    db.open_session(user.id, &hash, now, expires).await?;
    let extn = db.user_extn(user.id).await?.unwrap_or_default();
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        state.settings.token_lifetime.as_secs(),
        if tls.is_some() { "; Secure" } else { "" }
    );
    let body = LoginResponse {
        code: 200,
        token,
        user_id: user.id,
        expires: expires.unix_timestamp(),
        name: user.name.clone(),
        extn,
        super_admin: user.is_super,
    };
    let mut response = (AppendHeaders([(SET_COOKIE, cookie)]), Json(body)).into_response();
    response.extensions_mut().insert(SessionUser {
        id: user.id,
        login: user.login,
        name: user.name,
        is_super: user.is_super,
    });
    Ok(response)
}

enum Secret {
    Password(String),
    DevKey(String),
}

/// A network that has had too many names counted may try no new one.
fn network_full() -> ApiError {
    ApiError::TooMany(format!(
        "too many failed logins from your network ({} names); try again after {} without one",
        crate::store::users::MAX_NAMES_PER_NETWORK,
        humantime::format_duration(std::time::Duration::from_secs(LOCKOUT.whole_seconds().unsigned_abs()))
    ))
}

fn locked(until: time::OffsetDateTime) -> ApiError {
    ApiError::Forbidden(format!(
        "login locked after {} wrong passwords; try again after {} UTC",
        crate::store::users::MAX_LOGIN_ATTEMPTS,
        timestamp::format(&until)
    ))
}

#[utoipa::path(
    delete, path = "/api/sessions", tag = "sessions",
    responses(
        (status = 200, body = LogoutResponse, description = "The token no longer works"),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn logout(State(db): State<Db>, Extension(token): Extension<SessionToken>) -> Result<Response, ApiError> {
    db.close_session(&token.0).await?;
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((
        AppendHeaders([(SET_COOKIE, clear)]),
        Json(LogoutResponse {
            code: 200,
            text: "OK".into(),
        }),
    )
        .into_response())
}
