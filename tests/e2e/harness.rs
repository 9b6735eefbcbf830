//! Starts sipprov for a test on 127.0.0.1:0, on a real SQLite file and, when
//! `SIPPROV_TEST_DATABASE_URL` names a PostgreSQL server, on a fresh database
//! there as well.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sipprov::app;
use sipprov::config::{LogFormat, Overrides, ServeFlags, Settings};
use sipprov::provision::tftp;
use sipprov::state::AppState;
use sipprov::store::Db;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ADMIN_PASSWORD: &str = "admin-test-password";

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

/// The backends every scenario runs on.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if let Ok(url) = std::env::var("SIPPROV_TEST_DATABASE_URL")
        && !url.trim().is_empty()
    {
        all.push(Backend::Postgres(url));
    }
    all
}

/// Runs `scenario` once per backend, each on a new server and database.
pub async fn on_each_backend<F, Fut>(scenario: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    on_each_backend_with(Duration::from_secs(86400), scenario).await
}

pub async fn on_each_backend_with<F, Fut>(token_lifetime: Duration, scenario: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in backends() {
        eprintln!(
            "-- backend: {}",
            if matches!(backend, Backend::Sqlite) {
                "sqlite"
            } else {
                "postgres"
            }
        );
        let app = TestApp::start(backend, token_lifetime).await;
        scenario(app).await;
    }
}

/// A PostgreSQL database made for one test and dropped after it.
pub struct ScratchPg {
    server_url: String,
    name: String,
}

impl ScratchPg {
    pub async fn create(server_url: &str) -> (ScratchPg, String) {
        let name = format!("sipprov_t_{}", uuid::Uuid::new_v4().simple());
        let admin = Db::connect(server_url)
            .await
            .expect("connect to SIPPROV_TEST_DATABASE_URL");
        let Db::Postgres(pool) = &admin else {
            panic!("SIPPROV_TEST_DATABASE_URL must be a postgres:// URL")
        };
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(pool)
            .await
            .expect("create test database");
        admin.close().await;
        let url = match server_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("SIPPROV_TEST_DATABASE_URL needs a database path"),
        };
        (
            ScratchPg {
                server_url: server_url.to_string(),
                name,
            },
            url,
        )
    }
}

impl Drop for ScratchPg {
    fn drop(&mut self) {
        let (url, name) = (self.server_url.clone(), self.name.clone());
        // Drop runs outside async code: a short-lived runtime does the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(Db::Postgres(pool)) = Db::connect(&url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&pool)
                    .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub token: String,
    pub db: Db,
    pub settings: Settings,
    pub data_dir: Arc<tempfile::TempDir>,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    _pg: Option<Arc<ScratchPg>>,
}

impl TestApp {
    /// The admin core of the server under test, for arranging what a test
    /// needs as the command line would.
    pub fn admin(&self) -> sipprov::admin::Admin {
        axum::extract::FromRef::from_ref(&self.state)
    }

    pub async fn start(backend: Backend, token_lifetime: Duration) -> TestApp {
        let data_dir = Arc::new(tempfile::tempdir().unwrap());
        let (pg, database_url) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres(url) => {
                let (pg, url) = ScratchPg::create(&url).await;
                (Some(Arc::new(pg)), Some(url))
            }
        };
        let flags = Overrides {
            serve: ServeFlags {
                listen: Some("127.0.0.1:0".parse().unwrap()),
                token_lifetime: Some(token_lifetime.as_secs().to_string()),
                ..Default::default()
            },
            data_dir: Some(data_dir.path().to_path_buf()),
            database_url,
            log_format: Some(LogFormat::Text),
        };
        let env = HashMap::from([("SIPPROV_ADMIN_PASSWORD".to_string(), ADMIN_PASSWORD.to_string())]);
        let settings = Settings::load(None, data_dir.path(), &env, &flags).unwrap();
        let mut app = TestApp::launch(settings, data_dir, pg).await;
        app.token = app.login("admin", ADMIN_PASSWORD).await;
        app
    }

    async fn launch(settings: Settings, data_dir: Arc<tempfile::TempDir>, pg: Option<Arc<ScratchPg>>) -> TestApp {
        let (state, _) = AppState::open(settings.clone()).await.expect("open sipprov");
        let db = state.db.clone();
        let served = state.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app::serve(listener, served, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            addr,
            client,
            token: String::new(),
            db,
            settings,
            data_dir,
            state,
            stop: Some(stop),
            server: Some(server),
            _pg: pg,
        }
    }

    /// Stops this server and starts a new one on the same data.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        self.db.close().await;
        let token = self.token.clone();
        let mut next = TestApp::launch(self.settings.clone(), self.data_dir.clone(), self._pg.clone()).await;
        next.token = token;
        next
    }

    /// Starts another node on the same data dir and database, with
    /// `settings` (this node's, changed as a test needs).
    pub async fn node(&self, settings: Settings) -> TestApp {
        let mut node = TestApp::launch(settings, self.data_dir.clone(), self._pg.clone()).await;
        node.token = self.token.clone();
        node
    }

    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
    }

    /// Starts sipprov's TFTP server beside this app, sending phones on to
    /// its HTTP address; `serve_secrets` is `tftp_serve_secrets`.
    pub async fn start_tftp(&self, serve_secrets: bool) -> SocketAddr {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let options = tftp::TftpOptions {
            http_port: self.addr.port(),
            tls: false,
            serve_secrets,
        };
        let phones = self.state.provisioner.clone();
        tokio::spawn(tftp::serve(socket, phones, options, std::future::pending()));
        addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// Reads one text column straight from the database, to check what is
    /// stored; `sql` may bind `$1` to `id`.
    pub async fn stored_text(&self, sql: &'static str, id: i64) -> Vec<Option<String>> {
        match &self.db {
            Db::Sqlite(p) => sqlx::query_scalar(sql).bind(id).fetch_all(p).await.unwrap(),
            Db::Postgres(p) => sqlx::query_scalar(sql).bind(id).fetch_all(p).await.unwrap(),
        }
    }

    /// Logs in and returns the token; panics unless it works.
    pub async fn login(&self, login: &str, password: &str) -> String {
        let (status, body) = self
            .send(
                Method::POST,
                "/api/sessions",
                Some(json!({"login": login, "password": password})),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {login}: {body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// A request with an optional JSON body and token; returns the status and
    /// the body as JSON (Null when it is not JSON).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.header("X-XTRA-AUTH-ID", token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Posts a CSV body to the device import, as the admin.
    pub async fn import_csv(&self, csv: impl Into<reqwest::Body>) -> reqwest::Response {
        self.post_csv("/api/device_provisions/import", csv).await
    }

    /// Posts a CSV body to `path` as the administrator.
    pub async fn post_csv(&self, path: &str, csv: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("X-XTRA-AUTH-ID", &self.token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None, Some(&self.token)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body), Some(&self.token)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PUT, path, Some(body), Some(&self.token)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, path, None, Some(&self.token)).await
    }

    /// The MACs of the device list with these query parameters, sorted.
    pub async fn device_macs(&self, query: &str) -> Vec<String> {
        let (status, page) = self.get(&format!("/api/device_provisions?{query}")).await;
        assert_eq!(status, 200, "{page}");
        let mut macs: Vec<String> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["mac"].as_str().unwrap().to_string())
            .collect();
        macs.sort();
        macs
    }

    /// Creates an extension and returns its id; panics unless it works.
    pub async fn extension(&self, extn: &str, domain: &str, password: &str) -> i64 {
        let (status, body) = self
            .post(
                "/api/extensions",
                json!({"extn": extn, "domain": domain, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "create extension {extn}: {body}");
        body["data"].as_str().unwrap().parse().unwrap()
    }
}

/// Asserts a 4xx with XSwitch's error shape whose message contains `needle`.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: u16, needle: &str) {
    let (s, body) = got;
    assert_eq!(s.as_u16(), status, "{body}");
    assert_eq!(body["code"], json!(status), "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "message {message:?} should contain {needle:?}"
    );
}

/// Asserts XSwitch's success envelope and returns its `data`.
#[track_caller]
pub fn assert_done(got: &(StatusCode, Value)) -> Value {
    let (s, body) = got;
    assert_eq!(*s, StatusCode::OK, "{body}");
    assert_eq!(body["code"], json!(200), "{body}");
    assert_eq!(body["message"], json!("success"), "{body}");
    body["data"].clone()
}
