//! What an operator watches during a boot storm, in the Prometheus text
//! format, on a listener of its own (`--metrics-listen`, off by default) so
//! it can be bound to an internal address.
//!
//! Series are labelled by vendor, file kind, outcome, route template and
//! method, never by MAC, user, address or path: a hostile network cannot
//! make a new series, so the registry stays the size the code gives it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::store::Db;

/// One phone fetch: its family's code (or `unknown`), the kind of file
/// (`common`, `index`, `config`, `written_back`, or `unknown` for a name no
/// pack serves) and how it ended (`served`, `304`, `401`, `403`, `404`,
/// `429`, `503`, `stored`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FetchLabels {
    pub vendor: &'static str,
    pub kind: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub route: String,
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PushLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TftpLabels {
    /// `sent`, `not_found`, `forbidden`, `refused` (throttled or busy) or
    /// `failed` (the phone stopped answering mid-transfer).
    pub outcome: &'static str,
}

/// A phone's config state: `current`, `older` or `never` fetched.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FleetLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

type Timings<L> = Family<L, Histogram, fn() -> Histogram>;

/// The series that code counts as things happen; the rest are read when
/// Prometheus scrapes. Cheap to clone: every clone counts into the same
/// series.
#[derive(Clone, Debug)]
pub struct Metrics {
    pub phone_fetches: Family<FetchLabels, Counter>,
    pub render_seconds: Histogram,
    pub api_requests: Family<ApiLabels, Counter>,
    pub api_seconds: Timings<RouteLabels>,
    pub tftp_transfers: Family<TftpLabels, Counter>,
    pub pushes: Family<PushLabels, Counter>,
    pending_phones: Gauge,
    fleet_phones: Family<FleetLabels, Gauge>,
    db_connections: Family<PoolLabels, Gauge>,
}

/// From 100 µs to about 6.5 s, doubling.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            phone_fetches: Family::default(),
            render_seconds: seconds(),
            api_requests: Family::default(),
            api_seconds: Family::new_with_constructor(seconds),
            tftp_transfers: Family::default(),
            pushes: Family::default(),
            pending_phones: Gauge::default(),
            fleet_phones: Family::default(),
            db_connections: Family::default(),
        }
    }
}

impl Metrics {
    /// Counts a phone fetch.
    pub fn fetch(&self, vendor: Option<&'static str>, kind: &'static str, outcome: &'static str) {
        let vendor = vendor.unwrap_or("unknown");
        self.phone_fetches
            .get_or_create(&FetchLabels { vendor, kind, outcome })
            .inc();
    }

    pub fn rendered_in(&self, took: Duration) {
        self.render_seconds.observe(took.as_secs_f64());
    }

    pub fn tftp(&self, outcome: &'static str) {
        self.tftp_transfers.get_or_create(&TftpLabels { outcome }).inc();
    }

    /// Counts `n` pushed phones that reached `outcome`: `sent` as a NOTIFY
    /// goes out, then its answer or failure, and `confirmed` as they fetch.
    pub fn pushed(&self, outcome: &'static str, n: u64) {
        if n > 0 {
            self.pushes.get_or_create(&PushLabels { outcome }).inc_by(n);
        }
    }

    /// Every series, under `sipprov_`, with the phone side's own read at
    /// scrape time from `phones`.
    pub fn registry(&self, phones: impl Fn() -> PhoneSide + Send + Sync + 'static) -> Registry {
        let mut registry = Registry::with_prefix("sipprov");
        registry.register(
            "phone_fetches",
            "Phone file requests by vendor, file kind and outcome",
            self.phone_fetches.clone(),
        );
        registry.register(
            "render_seconds",
            "Time to render one phone file (cache misses only)",
            self.render_seconds.clone(),
        );
        registry.register(
            "api_requests",
            "API and console requests by route template, method and status",
            self.api_requests.clone(),
        );
        registry.register(
            "api_request_seconds",
            "API and console request time by route template",
            self.api_seconds.clone(),
        );
        registry.register(
            "tftp_transfers",
            "TFTP read requests by outcome",
            self.tftp_transfers.clone(),
        );
        registry.register(
            "push_notifies",
            "Pushed phones by outcome: sent, answered, rejected, no_answer, failed, unsupported, confirmed",
            self.pushes.clone(),
        );
        registry.register(
            "pending_phones",
            "Unknown phones that asked for a configuration and no record claims",
            self.pending_phones.clone(),
        );
        registry.register(
            "fleet_phones",
            "Phones with a record by config state: current (fetched since every change to their files), older, never fetched",
            self.fleet_phones.clone(),
        );
        registry.register(
            "db_connections",
            "Database pool connections by state (idle, in_use, max)",
            self.db_connections.clone(),
        );
        registry.register_collector(Box::new(ReadAtScrape(Box::new(phones))));
        registry
    }

    /// What the database says now: pending phones, the fleet's config
    /// states and the pool's use.
    async fn read_database(&self, db: &Db) {
        match db.pending_phone_count().await {
            Ok(count) => {
                self.pending_phones.set(count);
            }
            Err(err) => tracing::warn!(error = %err, "metrics: pending phones not counted"),
        }
        match db.config_state_counts().await {
            Ok(counts) => {
                for state in ["current", "older", "never"] {
                    let phones = counts.iter().find(|c| c.state == state).map_or(0, |c| c.phones);
                    self.fleet_phones.get_or_create(&FleetLabels { state }).set(phones);
                }
            }
            Err(err) => tracing::warn!(error = %err, "metrics: the fleet's states not counted"),
        }
        let pool = db.pool_use();
        for (state, value) in [("idle", pool.idle), ("in_use", pool.in_use), ("max", pool.max)] {
            self.db_connections.get_or_create(&PoolLabels { state }).set(value);
        }
    }
}

/// What the phone side counts itself, read on each scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct PhoneSide {
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_evictions: u64,
    pub cache_bytes: usize,
    pub throttled_networks: usize,
}

/// The series kept by the phone side itself, read on each scrape.
struct ReadAtScrape(Box<dyn Fn() -> PhoneSide + Send + Sync>);

impl std::fmt::Debug for ReadAtScrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadAtScrape")
    }
}

impl Collector for ReadAtScrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let phones = (self.0)();
        let counters = [
            (
                "render_cache_hits",
                "Phone files served from the render cache",
                phones.cache_hits,
            ),
            (
                "render_cache_misses",
                "Phone files not in the render cache",
                phones.cache_misses,
            ),
            (
                "render_cache_evictions",
                "Files dropped from the render cache to stay within render_cache_bytes",
                phones.cache_evictions,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        let gauges = [
            (
                "render_cache_bytes",
                "Bytes the render cache holds, as it counts them",
                to_i64(phones.cache_bytes),
            ),
            (
                "throttled_networks",
                "Networks told to wait (429) for too many unknown MACs or wrong credentials",
                to_i64(phones.throttled_networks),
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What the metrics listener serves: `GET /metrics`.
pub fn router(registry: Arc<Registry>, metrics: Metrics, db: Db) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((registry, metrics, db))
}

async fn scrape(State((registry, metrics, db)): State<(Arc<Registry>, Metrics, Db)>) -> Response {
    metrics.read_database(&db).await;
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => (
            [(
                CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "metrics: encoding failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Counts each API and console request by its route template; a request
/// that matched no route counts as `unmatched`.
pub async fn count_requests(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    // Any token is a valid method; only the ones routes serve get a series.
    let method = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    metrics
        .api_seconds
        .get_or_create(&RouteLabels { route: route.clone() })
        .observe(started.elapsed().as_secs_f64());
    let status = response.status().as_u16();
    metrics
        .api_requests
        .get_or_create(&ApiLabels { route, method, status })
        .inc();
    response
}
