//! The session layer: every `/api` route but login passes through it.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;

use crate::domain::timestamp;
use crate::error::ApiError;
use crate::secrets::token_hash;
use crate::store::Db;

pub const TOKEN_HEADER: &str = "x-xtra-auth-id";
pub const SESSION_COOKIE: &str = "freeswitch_xtra_session_id";

/// The stored hash of the token this request came with, for logout.
#[derive(Debug, Clone)]
pub struct SessionToken(pub String);

/// The token from `X-XTRA-AUTH-ID`, `Authorization: Bearer`, or the session
/// cookie, in that order.
pub fn presented_token(headers: &HeaderMap) -> Option<String> {
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
        .or_else(cookie)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

pub async fn require_session(State(db): State<Db>, mut req: Request, next: Next) -> Response {
    let Some(token) = presented_token(req.headers()) else {
        return ApiError::Forbidden("Not Authorized: send a token in X-XTRA-AUTH-ID, Authorization: Bearer, or the freeswitch_xtra_session_id cookie".into()).into_response();
    };
    // Tokens are looked up by their hash, so no secret is ever compared byte by byte.
    let hash = token_hash(&token);
    let user = match db.session_user(&hash, timestamp::now()).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            return ApiError::Forbidden("Not Authorized: the token is unknown or expired; log in again".into())
                .into_response();
        }
        Err(err) => return ApiError::from(err).into_response(),
    };
    req.extensions_mut().insert(user.clone());
    req.extensions_mut().insert(SessionToken(hash));
    let mut response = next.run(req).await;
    // The audit layer, outside this one, learns who acted from the response.
    response.extensions_mut().insert(user);
    response
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
}
