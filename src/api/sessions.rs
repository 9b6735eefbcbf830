//! Login and logout (`/api/sessions`), per XSwitch.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{SESSION_COOKIE, SessionToken};
use super::extract::{ApiActor, Input};
use crate::admin::sessions::{Credentials, Secret};
use crate::admin::{Admin, Door};
use crate::error::{ApiError, ErrorBody};
use crate::provision::OverTls;
use crate::state::AppState;

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
    #[schema(pattern = r"\S")]
    pub login: Option<String>,
    /// Accepted in place of `login`.
    #[serde(default)]
    #[schema(pattern = r"\S")]
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
    State(admin): State<Admin>,
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
    let session = admin
        .log_in(Credentials {
            login,
            secret,
            from: peer.map(|Extension(ConnectInfo(peer))| peer.ip()),
            door: Door::Api,
        })
        .await?;
    let cookie = session_cookie(&session.token, admin.token_lifetime, tls.is_some());
    let body = LoginResponse {
        code: 200,
        token: session.token,
        user_id: session.user.id,
        expires: session.expires.unix_timestamp(),
        name: session.user.name,
        extn: session.extn,
        super_admin: session.user.is_super,
    };
    Ok((AppendHeaders([(SET_COOKIE, cookie)]), Json(body)).into_response())
}

/// The session cookie a browser keeps: HTTP only, same site, secure over HTTPS.
pub fn session_cookie(token: &str, lifetime: std::time::Duration, over_tls: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        lifetime.as_secs(),
        if over_tls { "; Secure" } else { "" }
    )
}

#[utoipa::path(
    delete, path = "/api/sessions", tag = "sessions",
    responses(
        (status = 200, body = LogoutResponse, description = "The token no longer works"),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn logout(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    Extension(token): Extension<SessionToken>,
) -> Result<Response, ApiError> {
    admin.log_out(&actor, &token.0).await?;
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
