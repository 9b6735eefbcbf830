//! The application: its shared state, the whole router with its layers, and
//! serving it on a bound listener (which is how the tests start it too).

use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Extension;
use axum::extract::{FromRef, State};
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
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
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::{DATABASE_FILE, Settings};
use crate::domain::timestamp;
use crate::error::ApiError;
use crate::jobs::Supervisor;
use crate::listener::ConnectionLimits;
use crate::packs::PackShelf;
use crate::passwords::{LoginGate, PasswordPool};
use crate::provision::cache::RenderCache;
use crate::provision::limit::MissLimiter;
use crate::provision::phone_auth::NonceStore;
use crate::provision::tracking::FetchRecorder;
use crate::provision::{OverTls, PublicUrl};
use crate::secrets::{self, SecretBox};
use crate::store::Db;
use crate::tts::Synthesizer;

pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: Db,
    pub secrets: SecretBox,
    pub settings: Arc<Settings>,
    /// The vendor packs, built-in and from the data dir.
    pub packs: Arc<PackShelf>,
    pub miss_limiter: Arc<MissLimiter>,
    pub fetches: Arc<FetchRecorder>,
    pub nonces: Arc<NonceStore>,
    pub jobs: Arc<Supervisor>,
    pub tts: Arc<Synthesizer>,
    pub cache: Arc<RenderCache>,
    /// Password hashing and checks, a few at a time.
    pub passwords: Arc<PasswordPool>,
    /// Logins under way and started, per source network.
    pub login_gate: Arc<LoginGate>,
    /// One permit per media upload being received.
    pub upload_slots: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// Opens the data dir and database, applies migrations and makes sure
    /// the administrator has a password. Returns the state and, when one was
    /// generated just now, that password.
    pub async fn open(settings: Settings) -> anyhow::Result<(AppState, Option<String>)> {
        make_data_dir(&settings)?;
        let secrets = SecretBox::load_or_create(settings.secret_key.as_deref(), &settings.data_dir)?;
        let db = Db::connect(&settings.database_url()).await?;
        db.migrate().await.context("applying migrations")?;
        let generated = bootstrap_admin(&db, &settings).await?;
        // An upload cut off by a crash leaves no file behind once it is old
        // enough that no live upload can still own it.
        crate::jobs::remove_orphans(&db, &settings.data_dir, settings.request_deadline)
            .await
            .context("removing files interrupted uploads left behind")?;
        // A broken pack or a shadowed file route stops the server here,
        // not at a customer site.
        let packs = PackShelf::open(&settings.data_dir).map_err(|problems| {
            let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::anyhow!(
                "the vendor packs have problems (sipprov check-templates lists them):\n{}",
                listed.join("\n")
            )
        })?;
        let fetches = Arc::new(FetchRecorder::default());
        fetches.spawn_flusher(db.clone());
        let cache = Arc::new(RenderCache::new(settings.render_cache_bytes));
        let upload_slots = Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent_uploads));
        let jobs = Arc::new(Supervisor::default());
        jobs.start(
            db.clone(),
            settings.data_dir.clone(),
            Duration::from_secs(settings.media_retention_days * 86_400),
        );
        Ok((
            AppState {
                db,
                secrets,
                settings: Arc::new(settings),
                packs: Arc::new(packs),
                miss_limiter: Arc::new(MissLimiter::default()),
                fetches,
                nonces: Arc::new(NonceStore::default()),
                jobs,
                tts: Arc::new(Synthesizer::default()),
                cache,
                passwords: Arc::new(PasswordPool::default()),
                login_gate: Arc::new(LoginGate::default()),
                upload_slots,
            },
            generated,
        ))
    }
}

/// Creates the data dir if needed, and keeps it private: it holds the key,
/// the database and the phones' uploads. Every file and folder sipprov
/// creates from here on is its user's alone (umask 077); a data dir or a
/// database made before is closed too.
pub fn make_data_dir(settings: &Settings) -> anyhow::Result<()> {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let dir = &settings.data_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating data dir {}", dir.display()))?;
    let private = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("making {} private", path.display()))
    };
    private(dir, 0o700)?;
    for name in [DATABASE_FILE, "sipprov.db-wal", "sipprov.db-shm"] {
        let path = dir.join(name);
        if path.exists() {
            private(&path, 0o600)?;
        }
    }
    Ok(())
}

/// Gives user `admin` its first password: `SIPPROV_ADMIN_PASSWORD`, or a
/// random one kept in `<data-dir>/initial-admin-password` (mode 0600).
async fn bootstrap_admin(db: &Db, settings: &Settings) -> anyhow::Result<Option<String>> {
    if db.admin_has_password().await? {
        return Ok(None);
    }
    let (password, generated) = match settings.admin_password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => (p.to_string(), false),
        None => (secrets::random_password(20), true),
    };
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || secrets::hash_password(&password)).await?
    };
    db.set_password("admin", &hash, timestamp::now()).await?;
    if !generated {
        return Ok(None);
    }
    secrets::write_private_file(&settings.data_dir.join(INITIAL_PASSWORD_FILE), &password)?;
    Ok(Some(password))
}

/// Every route sipprov serves.
pub fn router(state: AppState) -> Router {
    let deadline = state.settings.request_deadline;
    with_layers(
        Router::new()
            .route("/healthz", get(healthz))
            .with_state(state.clone())
            .merge(crate::provision::router(state.clone()))
            .merge(crate::ui::router(state.clone()))
            .merge(crate::api::router(state)),
        deadline,
    )
}

/// Only what phones fetch, for a listener of their own.
pub fn phone_router(state: AppState) -> Router {
    let deadline = state.settings.request_deadline;
    with_layers(crate::provision::router(state), deadline)
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
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
        }))
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

/// Sets a fixed response header unless the handler set its own.
pub fn header_if_absent(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Liveness, database reachability and the last heartbeat, without a token.
async fn healthz(State(state): State<AppState>) -> Response {
    let db = &state.db;
    let heartbeat = state
        .jobs
        .last_heartbeat()
        .map(|t| timestamp::format(&t))
        .unwrap_or_default();
    match db.ping().await {
        Ok(()) => Json(json!({"status": "ok", "database": db.backend(), "heartbeat": heartbeat})).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": db.backend()})),
            )
                .into_response()
        }
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
    crate::listener::serve(listener, routes, None, limits, shutdown).await
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
