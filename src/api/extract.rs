//! Extractors that turn bad input into `ApiError`s naming the field, instead
//! of axum's plain-text rejections.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use crate::admin::{Actor, Door};
use crate::error::ApiError;
use crate::store::users::SessionUser;

/// A request body read as JSON, or as a form when the client says so:
/// XSwitch accepts both. Unknown fields are ignored.
pub struct Input<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Input<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_body(&bytes, is_form).map(Input)
    }
}

/// The body as bytes; one too large is a 413 with a JSON body.
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(body_rejection)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
/// The options of every import route.
pub struct ImportOptions {
    /// 1 to validate and report without writing.
    #[serde(default)]
    pub dry_run: Option<String>,
}

impl ImportOptions {
    pub fn dry_run(&self) -> bool {
        matches!(self.dry_run.as_deref().map(str::trim), Some("1" | "true" | "yes"))
    }
}

/// An uploaded spreadsheet or rows: a multipart part named `file`, or the
/// body itself; `declared_csv` when the client said `text/csv`.
pub struct Upload {
    pub bytes: axum::body::Bytes,
    pub declared_csv: bool,
}

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_lowercase();
        if !content_type.starts_with("multipart/form-data") {
            let RawBody(bytes) = RawBody::from_request(req, state).await?;
            let declared_csv = content_type.starts_with("text/csv") || content_type.starts_with("application/csv");
            return Ok(Upload { bytes, declared_csv });
        }
        let unreadable = |e: axum::extract::multipart::MultipartError| ApiError::field("file", e.body_text());
        let mut multipart = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(|e| ApiError::field("file", e.body_text()))?;
        while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
            if field.name() == Some("file") {
                let bytes = field.bytes().await.map_err(unreadable)?;
                return Ok(Upload {
                    bytes,
                    declared_csv: false,
                });
            }
        }
        Err(ApiError::field("file", "required: a multipart part named file"))
    }
}

/// A body that could not be read: too large (413), or broken off (400).
fn body_rejection(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    let message = format!("request body: {}", rejection.body_text());
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(message)
    } else {
        ApiError::BadRequest(message)
    }
}

/// JSON unless the client declared a form and the body is not a JSON object
/// (curl `-d` without `-H` sends JSON under a form content type).
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8], is_form: bool) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ApiError::bad("request body: not UTF-8"))?;
    let looks_like_json = text.trim_start().starts_with(['{', '[']);
    if is_form && !looks_like_json {
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
        return serde_path_to_error::deserialize(de).map_err(|e| field_error(e.path().to_string(), e.inner()));
    }
    if !text.trim_start().starts_with('{') {
        return Err(ApiError::bad("request body: send a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad(format!("request body: not valid JSON ({inner})"))
        } else {
            field_error(e.path().to_string(), inner)
        }
    })
}

fn field_error(path: String, inner: impl std::fmt::Display) -> ApiError {
    // serde's own wording ends with a position that means nothing to a client.
    let reason = inner.to_string();
    let reason = reason.split(" at line ").next().unwrap_or(&reason).to_string();
    if path == "." || path.is_empty() {
        ApiError::bad(format!("request body: {reason}"))
    } else {
        ApiError::field(&path, reason)
    }
}

/// A path parameter; a malformed one is a 400 naming the path.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query parameters; malformed ones are a 400 naming the parameter.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// The logged-in user, put in place by the session layer that guards every
/// `/api` route but login.
#[derive(Debug, Clone)]
pub struct AuthUser(pub SessionUser);

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<SessionUser>()
            .cloned()
            .map(AuthUser)
            .ok_or_else(|| ApiError::Forbidden("not logged in".into()))
    }
}

/// Who calls the API, as the admin core records a change: the session's
/// user, through the API, from the client's address.
#[derive(Debug, Clone)]
pub struct ApiActor(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        let source = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ApiActor(Actor::signed_in(&user, Door::Api, source)))
    }
}

pub use crate::admin::lenient;

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(default, deserialize_with = "lenient::int")]
        user_id: Option<i64>,
        #[serde(default, deserialize_with = "lenient::flag")]
        disabled: Option<i64>,
        #[serde(default, deserialize_with = "lenient::text")]
        extn: Option<String>,
    }

    #[test]
    fn loose_values_are_accepted() {
        let s: Sample = parse_body(br#"{"user_id":"7","disabled":true,"extn":1001,"unknown":1}"#, false).unwrap();
        assert_eq!(
            (s.user_id, s.disabled, s.extn.as_deref()),
            (Some(7), Some(1), Some("1001"))
        );
        let s: Sample = parse_body(b"user_id=3&disabled=0&extn=1002", true).unwrap();
        assert_eq!(
            (s.user_id, s.disabled, s.extn.as_deref()),
            (Some(3), Some(0), Some("1002"))
        );
        // JSON sent under a form content type, as curl -d does.
        let s: Sample = parse_body(br#"{"user_id":1}"#, true).unwrap();
        assert_eq!(s.user_id, Some(1));
    }

    /// Numbers stand for text only when whole and exact in JSON, as the
    /// document's `integer` branches say.
    #[test]
    fn numbers_for_text_are_whole_and_within_the_safe_range() {
        let s: Sample = parse_body(br#"{"extn":1001.0,"user_id":9007199254740991,"disabled":1.0}"#, false).unwrap();
        assert_eq!(
            (s.extn.as_deref(), s.user_id, s.disabled),
            (Some("1001"), Some(9007199254740991), Some(1))
        );
        for body in [
            &br#"{"extn":1.5}"#[..],
            br#"{"extn":9007199254740992}"#,
            br#"{"user_id":-9007199254740992}"#,
            br#"{"user_id":"99999999999999999"}"#,
        ] {
            let err = parse_body::<Sample>(body, false).unwrap_err().to_string();
            assert!(err.starts_with("extn: ") || err.starts_with("user_id: "), "{err}");
        }
        let big = serde_json::Number::from(u64::MAX);
        assert_eq!(lenient::number_as_text(&big), None);
        assert_eq!(
            lenient::number_as_text(&serde_json::Number::from(-42)).as_deref(),
            Some("-42")
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse_body::<Sample>(br#"{"disabled":"yes"}"#, false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("disabled: ") && err.contains("'yes'"), "{err}");
        let err = parse_body::<Sample>(br#"{"user_id":"x1"}"#, false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("user_id: "), "{err}");
        let err = parse_body::<Sample>(b"{not json", false).unwrap_err().to_string();
        assert!(err.contains("not valid JSON"), "{err}");
        for not_an_object in [&b""[..], br#"["1001"]"#] {
            let err = parse_body::<Sample>(not_an_object, false).unwrap_err().to_string();
            assert!(err.contains("send a JSON object"), "{err}");
        }
    }
}
