//! `If-Range` (RFC 9110, 13.1.5) for routes that serve files in parts:
//! a client resuming a download sends the validator of what it already has,
//! and gets the rest only if the file is still that one; otherwise the
//! whole file, so no download is spliced from two versions. tower-http's
//! file services honour `Range` but not `If-Range`; this layer wraps them.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::header::{ETAG, IF_RANGE, LAST_MODIFIED, RANGE};
use axum::http::{HeaderMap, Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt};

/// Wraps a file service so a part is sent only while `If-Range` matches.
#[derive(Debug, Clone, Copy, Default)]
pub struct IfRangeLayer;

impl<S> Layer<S> for IfRangeLayer {
    type Service = IfRange<S>;

    fn layer(&self, inner: S) -> IfRange<S> {
        IfRange { inner }
    }
}

#[derive(Debug, Clone)]
pub struct IfRange<S> {
    inner: S,
}

impl<S, B> Service<Request<Body>> for IfRange<S>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The service that was polled ready answers; a clone answers again.
        let again = self.inner.clone();
        let mut first = std::mem::replace(&mut self.inner, again.clone());
        let validator = req
            .headers()
            .get(IF_RANGE)
            .filter(|_| req.headers().contains_key(RANGE))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let Some(validator) = validator else {
            return Box::pin(first.call(req));
        };
        // A request without a body (GET, HEAD) can be sent again whole.
        let mut whole = Request::builder()
            .method(req.method().clone())
            .uri(req.uri().clone())
            .version(req.version())
            .body(Body::empty())
            .expect("a request copied from a valid one");
        *whole.headers_mut() = req.headers().clone();
        whole.headers_mut().remove(RANGE);
        whole.headers_mut().remove(IF_RANGE);
        Box::pin(async move {
            let part = first.call(req).await?;
            if part.status() != StatusCode::PARTIAL_CONTENT || still_matches(&validator, part.headers()) {
                return Ok(part);
            }
            again.oneshot(whole).await
        })
    }
}

/// Whether the part just made is of the representation `validator` names:
/// an entity tag compared strongly (a weak one never matches), or a date
/// equal to `Last-Modified` that is itself strong (a second or more old).
fn still_matches(validator: &str, headers: &HeaderMap) -> bool {
    let validator = validator.trim();
    if validator.starts_with("W/") {
        return false;
    }
    if validator.starts_with('"') {
        return headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|etag| !etag.starts_with("W/") && etag == validator);
    }
    let (Ok(asked), Some(Ok(modified))) = (
        httpdate::parse_http_date(validator),
        headers
            .get(LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .map(httpdate::parse_http_date),
    ) else {
        return false;
    };
    let strong = SystemTime::now()
        .duration_since(modified)
        .is_ok_and(|age| age >= Duration::from_secs(1));
    asked == modified && strong
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(etag: &str, modified: SystemTime) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ETAG, HeaderValue::from_str(etag).unwrap());
        h.insert(
            LAST_MODIFIED,
            HeaderValue::from_str(&httpdate::fmt_http_date(modified)).unwrap(),
        );
        h
    }

    #[test]
    fn validators_compare_as_rfc_9110_says() {
        let old = SystemTime::now() - Duration::from_secs(60);
        let h = headers("\"abc-1\"", old);
        assert!(still_matches("\"abc-1\"", &h));
        assert!(!still_matches("\"abc-2\"", &h), "another version");
        assert!(!still_matches("W/\"abc-1\"", &h), "a weak tag never matches");
        assert!(still_matches(&httpdate::fmt_http_date(old), &h));
        assert!(!still_matches(
            &httpdate::fmt_http_date(old - Duration::from_secs(5)),
            &h
        ));
        assert!(!still_matches("not a date", &h));
        let fresh = headers("\"abc-1\"", SystemTime::now());
        assert!(
            !still_matches(&httpdate::fmt_http_date(SystemTime::now()), &fresh),
            "a date within the second is weak"
        );
    }
}
