//! The one error type of the management API. Every failure leaves as
//! XSwitch's JSON shape: `{code, message}` with the HTTP status as `code`.
//! `text` repeats the message because XSwitch's session endpoints (and the
//! clients written for them) read that key.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// A bulk input with bad rows: every one is listed, nothing was written.
    #[error("{message}")]
    BadRows { message: String, errors: Vec<RowError> },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request took longer than request_deadline (408).
    #[error("{0}")]
    TimedOut(String),
    /// A file of a kind that is refused (415).
    #[error("{0}")]
    Unsupported(String),
    /// A service sipprov relies on refused or failed (502).
    #[error("{0}")]
    BadGateway(String),
    /// Too many attempts from one source (429).
    #[error("{0}")]
    TooMany(String),
    /// A feature that is not configured (503).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub use crate::admin::RowError;

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    #[schema(example = 400)]
    pub code: u16,
    #[schema(example = "mac: '00a859f6c74i' is not a MAC address")]
    pub message: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<RowError>>,
}

impl ApiError {
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }

    /// `field: reason`, the shape of every single-field validation error.
    pub fn field(field: &str, reason: impl std::fmt::Display) -> Self {
        ApiError::BadRequest(format!("{field}: {reason}"))
    }

    /// Renames the field a validation error names, for input that reaches
    /// a shared check under another name (`password` → `extn_password`).
    pub fn renamed_field(self, from: &str, to: &str) -> Self {
        match self {
            ApiError::BadRequest(m) if m.starts_with(&format!("{from}: ")) => {
                ApiError::BadRequest(format!("{to}{}", &m[from.len()..]))
            }
            other => other,
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::NotFound(what.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::BadRows { .. } => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::Internal(err.into())
    }
}

/// A store failure the caller did not expect: an internal error. What a
/// caller expects (a taken value) it matches before this.
impl From<crate::store::Error> for ApiError {
    fn from(err: crate::store::Error) -> Self {
        match err {
            crate::store::Error::Field(field) => field.into(),
            other => ApiError::Internal(other.into()),
        }
    }
}

/// The admin core's refusals, as XSwitch answers them: `field: reason`.
impl From<crate::admin::Error> for ApiError {
    fn from(err: crate::admin::Error) -> Self {
        use crate::admin::Error;
        match err {
            Error::Field { .. } | Error::Invalid(_) => ApiError::BadRequest(err.to_string()),
            Error::Rows { message, rows } => ApiError::BadRows { message, errors: rows },
            Error::Conflict { .. } | Error::Refused(_) => ApiError::Conflict(err.to_string()),
            Error::NotFound(what) => ApiError::NotFound(what),
            Error::Forbidden(why) => ApiError::Forbidden(why),
            Error::Busy(why) => ApiError::TooMany(why),
            Error::Denied { .. } => ApiError::Forbidden(err.to_string()),
            Error::Store(store) => store.into(),
            Error::Other(other) => ApiError::Internal(other),
        }
    }
}

/// A list parameter that cannot be read: 400 naming it.
impl From<crate::store::FieldError> for ApiError {
    fn from(err: crate::store::FieldError) -> Self {
        ApiError::BadRequest(err.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(format!("path: {}", rejection.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, errors) = match self {
            ApiError::Internal(err) => {
                // The cause goes to the log; the client learns nothing about internals.
                tracing::error!(error = format!("{err:#}"), "internal error");
                ("internal error; see the server log".to_string(), None)
            }
            ApiError::BadRows { message, errors } => (message, Some(errors)),
            other => (other.to_string(), None),
        };
        let body = ErrorBody {
            code: status.as_u16(),
            text: message.clone(),
            message,
            errors,
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let response = ApiError::Internal(anyhow::anyhow!("password=hunter2 table missing")).into_response();
        assert_eq!(response.status(), 500);
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("\"code\":500"));
    }

    #[tokio::test]
    async fn bad_rows_list_every_row() {
        let err = ApiError::BadRows {
            message: "2 bad rows".into(),
            errors: vec![RowError {
                row: 1,
                column: "mac".into(),
                value: "x".into(),
                reason: "bad".into(),
            }],
        };
        let response = err.into_response();
        assert_eq!(response.status(), 400);
        let body: serde_json::Value =
            serde_json::from_slice(&axum::body::to_bytes(response.into_body(), 4096).await.unwrap()).unwrap();
        assert_eq!(body["errors"][0]["column"], "mac");
        assert_eq!(body["message"], body["text"]);
    }
}
