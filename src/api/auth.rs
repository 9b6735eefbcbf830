//! The guards of the API's areas: the session layer, which every `/api`
//! route but login passes through, and the two that narrow who may call
//! what (`api/mod.rs` places each over its area).

use axum::extract::{RawPathParams, Request, State};
use axum::http::header::{AUTHORIZATION, HOST, ORIGIN};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;

use crate::admin::Admin;
use crate::error::ApiError;
use crate::secrets::token_hash;
use crate::store::users::SessionUser;

pub const TOKEN_HEADER: &str = "x-xtra-auth-id";
pub const SESSION_COOKIE: &str = "freeswitch_xtra_session_id";

/// The stored hash of the token this request came with, for logout.
#[derive(Debug, Clone)]
pub struct SessionToken(pub String);

/// The token from `X-XTRA-AUTH-ID`, `Authorization: Bearer`, or the session
/// cookie, in that order.
pub fn presented_token(headers: &HeaderMap) -> Option<String> {
    presented(headers).map(|(token, _)| token)
}

/// Where a request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenSource {
    Header,
    Cookie,
}

fn presented(headers: &HeaderMap) -> Option<(String, TokenSource)> {
    let header = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bearer = || {
        headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::to_string)
    };
    let cookie = || {
        CookieJar::from_headers(headers)
            .get(SESSION_COOKIE)
            .map(|c| c.value().to_string())
    };
    header
        .or_else(bearer)
        .map(|t| (t, TokenSource::Header))
        .or_else(|| cookie().map(|t| (t, TokenSource::Cookie)))
        .map(|(t, source)| (t.trim().to_string(), source))
        .filter(|(t, _)| !t.is_empty())
}

/// Whether a request shows it was sent by a page of this server: the
/// browser's `Sec-Fetch-Site`, else an `Origin` naming this host. A browser
/// sends the session cookie with another site's form or `fetch`, but sends
/// neither of these as same-origin for it.
fn same_origin(headers: &HeaderMap) -> bool {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
    };
    if let Some(site) = header("sec-fetch-site") {
        return site == "same-origin";
    }
    let (Some(origin), Some(host)) = (header(ORIGIN.as_str()), header(HOST.as_str())) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

const NEEDS_ADMIN: &str = "this needs an administrator";

pub async fn require_session(State(admin): State<Admin>, mut req: Request, next: Next) -> Response {
    let Some((token, source)) = presented(req.headers()) else {
        return ApiError::Forbidden("Not Authorized: send a token in X-XTRA-AUTH-ID, Authorization: Bearer, or the freeswitch_xtra_session_id cookie".into()).into_response();
    };
    // A browser attaches the cookie to another site's requests too: a change
    // made with the cookie alone must come from a page of this server.
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes && source == TokenSource::Cookie && !same_origin(req.headers()) {
        return ApiError::Forbidden(
            "Not Authorized: a change authenticated by the session cookie alone must come from this server's own pages (Origin or Sec-Fetch-Site); send the token in X-XTRA-AUTH-ID instead".into(),
        )
        .into_response();
    }
    // Tokens are looked up by their hash, so no secret is ever compared byte by byte.
    let hash = token_hash(&token);
    let user = match admin.session_user(&hash).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            return ApiError::Forbidden("Not Authorized: the token is unknown or expired; log in again".into())
                .into_response();
        }
        Err(err) => return ApiError::from(err).into_response(),
    };
    req.extensions_mut().insert(user);
    req.extensions_mut().insert(SessionToken(hash));
    next.run(req).await
}

/// Administrators only: the guard over everything but a user's own record,
/// its password, logout and script checks.
pub async fn admin_only(req: Request, next: Next) -> Response {
    match req.extensions().get::<SessionUser>() {
        Some(user) if user.is_admin() => next.run(req).await,
        _ => ApiError::Forbidden(NEEDS_ADMIN.into()).into_response(),
    }
}

/// A user's own record: the route's `{id}` must be the caller's, unless the
/// caller is an administrator.
pub async fn own_record(params: RawPathParams, req: Request, next: Next) -> Response {
    let id = params
        .iter()
        .find(|(name, _)| *name == "id")
        .and_then(|(_, value)| value.parse::<i64>().ok());
    match req.extensions().get::<SessionUser>() {
        Some(user) if user.is_admin() || Some(user.id) == id => next.run(req).await,
        _ => ApiError::Forbidden(format!("{NEEDS_ADMIN}: a user may see only its own record")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_sources_in_order() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_token(&h), None);
        h.insert("cookie", "a=b; freeswitch_xtra_session_id=fromcookie".parse().unwrap());
        assert_eq!(presented_token(&h).as_deref(), Some("fromcookie"));
        h.insert("authorization", "Bearer frombearer".parse().unwrap());
        assert_eq!(presented_token(&h).as_deref(), Some("frombearer"));
        h.insert("x-xtra-auth-id", "fromheader".parse().unwrap());
        assert_eq!(presented_token(&h).as_deref(), Some("fromheader"));
    }

    #[test]
    fn same_origin_from_fetch_metadata_or_origin() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "http://pbx:8081"),
            ("host", "pbx:8081")
        ])));
        assert!(same_origin(&headers(&[
            ("origin", "http://pbx:8081"),
            ("host", "pbx:8081")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "pbx:8081")
        ])));
        assert!(!same_origin(&headers(&[("origin", "null"), ("host", "pbx:8081")])));
        assert!(!same_origin(&headers(&[("host", "pbx:8081")])), "no proof at all");
    }
}
