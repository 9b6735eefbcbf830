//! What each layer the API's stack has costs one phone fetch, measured on a
//! handler that answers 2 KB at once, through the same tower-http layers
//! and the server's own log subscriber (at its default level, writing to
//! stderr; run with `2>/dev/null`). bench/layers.sh runs it.
//!
//! Prints, per stack, the nanoseconds one request takes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, Request, header};
use axum::routing::get;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

const REQUESTS: u32 = 200_000;

fn handler_only() -> Router {
    let body = "x".repeat(2048);
    Router::new().route("/prov/{*file}", get(move || async move { body.clone() }))
}

type Stack = (&'static str, Router);

fn stacks() -> Vec<Stack> {
    let deadline = || TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30));
    let sensitive: Arc<[HeaderName]> = Arc::from([header::AUTHORIZATION, header::COOKIE]);
    let span_info = || {
        TraceLayer::new_for_http()
            .make_span_with(|req: &Request<_>| tracing::info_span!("request", path = %req.uri().path()))
            .on_response(DefaultOnResponse::new().level(Level::DEBUG))
    };
    let span_and_log_info = || {
        TraceLayer::new_for_http()
            .make_span_with(|req: &Request<_>| tracing::info_span!("request", path = %req.uri().path()))
            .on_response(DefaultOnResponse::new().level(Level::INFO))
    };
    let span_debug = || {
        TraceLayer::new_for_http()
            .make_span_with(|req: &Request<_>| tracing::debug_span!("request", path = %req.uri().path()))
            .on_response(DefaultOnResponse::new().level(Level::DEBUG))
    };
    vec![
        ("handler only", handler_only()),
        ("deadline", handler_only().layer(deadline())),
        ("catch panic", handler_only().layer(CatchPanicLayer::new())),
        ("request id (set and propagate)", {
            handler_only()
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        }),
        (
            "sensitive headers",
            handler_only().layer(SetSensitiveRequestHeadersLayer::from_shared(sensitive.clone())),
        ),
        ("span at info", handler_only().layer(span_info())),
        (
            "span and response log at info",
            handler_only().layer(span_and_log_info()),
        ),
        ("span at debug (off)", handler_only().layer(span_debug())),
        ("the API's whole stack", {
            handler_only()
                .layer(deadline())
                .layer(CatchPanicLayer::new())
                .layer(span_and_log_info())
                .layer(SetSensitiveRequestHeadersLayer::from_shared(sensitive))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        }),
        (
            "the phone stack (deadline, catch panic)",
            handler_only().layer(deadline()).layer(CatchPanicLayer::new()),
        ),
    ]
}

fn main() {
    sipprov::telemetry::init(sipprov::config::LogFormat::Text);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| stack | ns per request |\n|---|---|");
    let mut base = 0.0;
    for (name, router) in stacks() {
        let per_request = runtime.block_on(async {
            let one = || {
                let req = Request::get("/prov/001565aabbcc.cfg")
                    .header("user-agent", "Yealink SIP-T46G 28.83.0.50 00:15:65:aa:bb:cc")
                    .body(Body::empty())
                    .unwrap();
                router.clone().oneshot(req)
            };
            for _ in 0..10_000 {
                one().await.unwrap();
            }
            let start = Instant::now();
            for _ in 0..REQUESTS {
                let response = one().await.unwrap();
                axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            }
            start.elapsed().as_nanos() as f64 / f64::from(REQUESTS)
        });
        if base == 0.0 {
            base = per_request;
        }
        println!("| {name} | {per_request:.0} (+{:.0}) |", per_request - base);
    }
}
