//! The application: the whole router with its layers, and serving it on a
//! bound listener (which is how the tests start it too).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderName, Method, Request, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::sensitive_headers::{SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::domain::timestamp;
use crate::error::ApiError;
use crate::listener::{ConnectionLimits, header_if_absent};
use crate::provision::{OverTls, Provisioner, PublicUrl};
use crate::state::AppState;

/// Every route sipprov serves.
pub fn router(state: AppState) -> Router {
    let deadline = state.settings.request_deadline;
    let managed = crate::ui::router(state.clone())
        .merge(crate::api::router(state.clone()))
        .layer(middleware::from_fn_with_state(
            state.provisioner.clone(),
            changes_read_before_answering,
        ))
        .layer(middleware::from_fn_with_state(
            state.provisioner.metrics.clone(),
            crate::metrics::count_requests,
        ));
    phone_router(state.clone()).merge(with_layers(
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(state)
            .merge(managed),
        deadline,
    ))
}

/// Only what phones fetch, for a listener of their own, with only the
/// layers a fetch needs: a deadline, and a panic caught. Request ids, spans
/// and a log line per request cost a fetch about 4 µs together
/// (benches/phone_layers.rs), as much as the fetch itself; served files
/// are logged at debug and counted at info once a minute instead.
pub fn phone_router(state: AppState) -> Router {
    crate::provision::router(state.provisioner)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.settings.request_deadline,
        ))
        .layer(CatchPanicLayer::custom(panicked))
}

/// A handler that panicked gets a 500 in XSwitch's shape, and the
/// connection lives on.
fn panicked(_: Box<dyn std::any::Any + Send>) -> Response {
    ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
}

/// After a request that may have changed the phones' data, this node reads
/// the change before answering, so the next fetch it serves has it, and
/// tells the other nodes.
async fn changes_read_before_answering(
    State(provisioner): State<Arc<Provisioner>>,
    req: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let response = next.run(req).await;
    if writes {
        provisioner.changed_here().await;
    }
    response
}

/// The whole-request deadline: a client that trickles its request is cut
/// off with 408 instead of holding a connection and a task. Media uploads
/// are exempt; they are cut off when their body stalls that long.
async fn within_deadline(State(deadline): State<Duration>, req: Request<axum::body::Body>, next: Next) -> Response {
    if req.uri().path() == crate::api::media::UPLOAD_PATH {
        return next.run(req).await;
    }
    match tokio::time::timeout(deadline, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::TimedOut(format!(
            "the request took longer than request_deadline ({})",
            humantime::format_duration(deadline)
        ))
        .into_response(),
    }
}

/// The layers every listener shares: the deadline, request ids, tracing,
/// panics caught, secrets kept out of logs.
fn with_layers(routes: Router, deadline: Duration) -> Router {
    let sensitive: Arc<[HeaderName]> = Arc::from([
        header::AUTHORIZATION,
        header::COOKIE,
        HeaderName::from_static(crate::api::auth::TOKEN_HEADER),
    ]);
    routes
        .layer(middleware::from_fn_with_state(deadline, within_deadline))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or("");
                    // The path only: query strings are not logged.
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetSensitiveResponseHeadersLayer::from_shared(Arc::from([
            header::SET_COOKIE,
        ])))
        .layer(SetSensitiveRequestHeadersLayer::from_shared(sensitive))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Liveness: the version, whether the database answers (503 if not) and
/// the last heartbeat, without a token.
async fn healthz(State(state): State<AppState>) -> Response {
    let db = &state.db;
    let heartbeat = state
        .jobs
        .last_heartbeat()
        .map(|t| timestamp::format(&t))
        .unwrap_or_default();
    match db.ping().await {
        Ok(()) => Json(json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "database": db.backend(),
            "heartbeat": heartbeat,
        }))
        .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "version": env!("CARGO_PKG_VERSION"), "database": db.backend()})),
            )
                .into_response()
        }
    }
}

/// Readiness: 200 once the database is migrated (it is before any listener
/// opens) and the phones' files are pre-rendered; 503 until then, so a
/// load balancer sends a boot storm only to a node that can take it.
async fn readyz(State(state): State<AppState>) -> Response {
    if state.provisioner.prerendered() {
        Json(json!({"status": "ready", "version": env!("CARGO_PKG_VERSION")})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "starting", "version": env!("CARGO_PKG_VERSION")})),
        )
            .into_response()
    }
}

/// Serves until `shutdown` resolves, then finishes requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = ConnectionLimits::of(&state.settings);
    let routes = with_public_url(router(state.clone()), state.settings.public_url.as_deref());
    let pushing = state.pusher.clone().spawn();
    let served = crate::listener::serve(listener, routes, None, limits, shutdown).await;
    pushing.abort();
    served
}

/// Tells a listener's phone routes the URL phones reach it by, if set.
pub fn with_public_url(routes: Router, url: Option<&str>) -> Router {
    match url.and_then(|u| PublicUrl::parse(u).ok()) {
        Some(url) => routes.layer(Extension(url)),
        None => routes,
    }
}

/// The routes of an HTTPS listener: phones keep polling the URL they came
/// by, so they must learn it was https; browsers are told to come back over
/// HTTPS only.
pub fn over_tls(routes: Router) -> Router {
    routes
        .layer(Extension(OverTls))
        .layer(header_if_absent(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"))
}

/// Loads a PEM certificate chain and its private key for an HTTPS listener.
pub fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificate {}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("no certificate in {}", cert.display());
    }
    let key_der =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading the private key {}", key.display()))?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .with_context(|| format!("{} does not match {}", key.display(), cert.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Phones reconnect for every poll and after every reboot: stateless
    // tickets let each resume its session (TLS 1.2 and 1.3) without a full
    // handshake, and cost the server no memory per phone. One ticket is
    // all a phone that reconnects once uses.
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().context("TLS session tickets")?;
    config.send_tls13_tickets = 1;
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
