//! Settings, layered: built-in defaults < TOML file < environment
//! (`SIPPROV_*`, and `DATABASE_URL`) < command-line flags.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

pub const DEFAULT_CONFIG_FILE: &str = "sipprov.toml";
/// The SQLite database in the data dir, when no `database_url` is set.
pub const DATABASE_FILE: &str = "sipprov.db";

#[derive(Clone, Deserialize)]
pub struct Settings {
    /// Address of the management API (and, until a separate one is set, of phones).
    pub listen: SocketAddr,
    /// An optional second address that serves phones only (e.g. port 80).
    #[serde(default)]
    pub prov_listen: Option<SocketAddr>,
    /// Certificate chain and key (PEM) that make `listen` HTTPS.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Certificate chain and key (PEM) that make `prov_listen` HTTPS.
    #[serde(default)]
    pub prov_tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub prov_tls_key: Option<PathBuf>,
    /// An optional read-only TFTP server for phones, e.g. 0.0.0.0:69.
    #[serde(default)]
    pub tftp_listen: Option<SocketAddr>,
    /// Where Prometheus scrapes `/metrics`, e.g. 10.0.0.5:9108; off when
    /// unset. No token guards it, so bind it to an internal address.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Whether TFTP may hand out files that carry SIP passwords. TFTP has no
    /// authentication and no encryption, so by default it serves only the
    /// common files, which send phones on to HTTP.
    #[serde(default)]
    pub tftp_serve_secrets: bool,
    /// Holds the SQLite file, the secret key and, later, media and firmware.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means a SQLite file in the data dir.
    #[serde(default)]
    pub database_url: Option<String>,
    /// Absolute lifetime of an API token.
    #[serde(deserialize_with = "deserialize_duration")]
    pub token_lifetime: Duration,
    /// Password given to user `admin` when the database is new.
    #[serde(default)]
    pub admin_password: Option<String>,
    /// AES-256 key for SIP passwords at rest (base64 or hex); else `<data-dir>/secret.key`.
    #[serde(default)]
    pub secret_key: Option<String>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// The largest file `POST /api/upload` takes, in bytes.
    pub upload_max_size: u64,
    /// The most one `POST /api/upload` request takes, all parts together.
    pub upload_max_request_size: u64,
    /// The most parts one `POST /api/upload` request may have.
    pub upload_max_parts: usize,
    /// Days RECORD and TTS media are kept; 0 keeps them for ever.
    pub media_retention_days: u64,
    /// Days operation-log rows are kept; 0 keeps them for ever.
    pub log_retention_days: u64,
    /// The most operation-log rows kept; the oldest go first.
    pub log_max_rows: u64,
    /// The longest a request may take, body included, before it gets 408;
    /// media uploads instead get 408 when their body stalls this long.
    #[serde(deserialize_with = "deserialize_duration")]
    pub request_deadline: Duration,
    /// Media uploads received at once; more get 503.
    pub max_concurrent_uploads: usize,
    /// How long a client may take to send a request's headers.
    #[serde(deserialize_with = "deserialize_duration")]
    pub header_read_timeout: Duration,
    /// How long a connection may sit with nothing sent or read.
    #[serde(deserialize_with = "deserialize_duration")]
    pub idle_timeout: Duration,
    /// Open connections per listener; past it, a new one is closed at once.
    pub max_connections: usize,
    /// The most a request's headers may take, in bytes (431 past it).
    pub max_header_bytes: usize,
    /// The most rendered files kept in memory, in bytes.
    pub render_cache_bytes: usize,
    /// How often a node asks the database whether another node, the
    /// command line or an administrator's SQL changed the phones' data
    /// (besides PostgreSQL's notifications and SQLite's file watch).
    #[serde(deserialize_with = "deserialize_duration")]
    pub change_check_interval: Duration,
    /// The URL phones reach the API listener by (`https://pbx.example.com:8081`);
    /// when set, files name it whatever Host a request carries.
    #[serde(default)]
    pub public_url: Option<String>,
    /// The same for the phone listener (`prov_listen`).
    #[serde(default)]
    pub prov_public_url: Option<String>,
    /// Text-to-speech engines: TOML table `[tts]`, env `SIPPROV_TTS__<KEY>`.
    #[serde(default)]
    pub tts: TtsSettings,
}

/// Credentials and endpoints of the TTS engines. An engine without its
/// credentials answers 503; `fallback = "local"` uses espeak-ng instead.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct TtsSettings {
    /// `local` to synthesise offline when a cloud engine is not configured.
    pub fallback: String,
    /// The command of the `local` engine (espeak-ng, or a compatible one).
    pub local_command: String,
    pub baidu_api_key: String,
    pub baidu_secret_key: String,
    pub baidu_voice: String,
    pub baidu_token_url: String,
    pub baidu_url: String,
    pub ali_access_key_id: String,
    pub ali_access_key_secret: String,
    pub ali_appkey: String,
    pub ali_voice: String,
    pub ali_token_url: String,
    pub ali_url: String,
    pub huawei_username: String,
    pub huawei_password: String,
    pub huawei_domain: String,
    pub huawei_project_id: String,
    pub huawei_region: String,
    pub huawei_voice: String,
    pub huawei_iam_url: String,
    /// `{project_id}` is replaced.
    pub huawei_url: String,
}

impl Default for TtsSettings {
    fn default() -> Self {
        TtsSettings {
            fallback: String::new(),
            local_command: "espeak-ng".into(),
            baidu_api_key: String::new(),
            baidu_secret_key: String::new(),
            baidu_voice: "0".into(),
            baidu_token_url: "https://aip.baidubce.com/oauth/2.0/token".into(),
            baidu_url: "https://tsn.baidu.com/text2audio".into(),
            ali_access_key_id: String::new(),
            ali_access_key_secret: String::new(),
            ali_appkey: String::new(),
            ali_voice: "xiaoyun".into(),
            ali_token_url: "https://nls-meta.cn-shanghai.aliyuncs.com/".into(),
            ali_url: "https://nls-gateway-cn-shanghai.aliyuncs.com/stream/v1/tts".into(),
            huawei_username: String::new(),
            huawei_password: String::new(),
            huawei_domain: String::new(),
            huawei_project_id: String::new(),
            huawei_region: "cn-north-4".into(),
            huawei_voice: "chinese_xiaoyan_common".into(),
            huawei_iam_url: "https://iam.cn-north-4.myhuaweicloud.com/v3/auth/tokens".into(),
            huawei_url: "https://sis-ext.cn-north-4.myhuaweicloud.com/v1/{project_id}/tts".into(),
        }
    }
}

impl std::fmt::Debug for TtsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &str| !v.is_empty();
        f.debug_struct("TtsSettings")
            .field("fallback", &self.fallback)
            .field("baidu", &set(&self.baidu_api_key))
            .field("ali", &set(&self.ali_access_key_id))
            .field("huawei", &set(&self.huawei_username))
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Values given as command-line flags; they beat every other layer.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub serve: ServeFlags,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub log_format: Option<LogFormat>,
}

/// The flags of `sipprov serve`.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeFlags {
    /// Address for the API and phones [default: 0.0.0.0:8081].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// A second address that serves phones only, e.g. 0.0.0.0:80.
    #[arg(long, value_name = "ADDR")]
    pub prov_listen: Option<SocketAddr>,
    /// Serve phones over TFTP too (read-only), e.g. 0.0.0.0:69.
    #[arg(long, value_name = "ADDR")]
    pub tftp_listen: Option<SocketAddr>,
    /// Serve Prometheus metrics at /metrics on this address (off by default;
    /// no token guards it, so bind it to an internal address).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Lifetime of an API token: seconds or e.g. 24h [default: 24h].
    #[arg(long, value_name = "DURATION")]
    pub token_lifetime: Option<String>,
    /// PEM certificate chain: serve --listen over HTTPS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM certificate chain: serve --prov-listen over HTTPS (with --prov-tls-key).
    #[arg(long, value_name = "FILE", requires = "prov_tls_key")]
    pub prov_tls_cert: Option<PathBuf>,
    /// PEM private key for --prov-tls-cert.
    #[arg(long, value_name = "FILE", requires = "prov_tls_cert")]
    pub prov_tls_key: Option<PathBuf>,
}

impl Settings {
    /// `config_file` names a file that must exist; without it, `sipprov.toml`
    /// in `cwd` is read when present.
    pub fn load(
        config_file: Option<&Path>,
        cwd: &Path,
        env: &HashMap<String, String>,
        flags: &Overrides,
    ) -> anyhow::Result<Self> {
        let mut builder = Config::builder()
            .set_default("listen", "0.0.0.0:8081")?
            .set_default("data_dir", "./data")?
            .set_default("token_lifetime", "24h")?
            .set_default("log_format", "text")?
            .set_default("upload_max_size", 100 * 1024 * 1024)?
            .set_default("upload_max_request_size", 200 * 1024 * 1024)?
            .set_default("upload_max_parts", 20)?
            .set_default("media_retention_days", 30)?
            .set_default("log_retention_days", 365)?
            .set_default("log_max_rows", 1_000_000)?
            .set_default("request_deadline", "30s")?
            .set_default("max_concurrent_uploads", 4)?
            .set_default("header_read_timeout", "10s")?
            .set_default("idle_timeout", "60s")?
            .set_default("max_connections", 10_000)?
            .set_default("max_header_bytes", 16 * 1024)?
            .set_default("render_cache_bytes", 64 * 1024 * 1024)?
            .set_default("change_check_interval", "1s")?;
        builder = match config_file {
            Some(path) => builder.add_source(File::from(path).format(FileFormat::Toml).required(true)),
            None => builder.add_source(
                File::from(cwd.join(DEFAULT_CONFIG_FILE))
                    .format(FileFormat::Toml)
                    .required(false),
            ),
        };
        let plain_database_url: HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| *k == "DATABASE_URL")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder
            .add_source(Environment::default().source(Some(plain_database_url.into_iter().collect())))
            .add_source(
                Environment::with_prefix("SIPPROV")
                    .prefix_separator("_")
                    .separator("__")
                    .source(Some(env.clone().into_iter().collect())),
            );
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let serve = &flags.serve;
        builder = builder
            .set_override_option("listen", serve.listen.map(|a| a.to_string()))?
            .set_override_option("prov_listen", serve.prov_listen.map(|a| a.to_string()))?
            .set_override_option("tftp_listen", serve.tftp_listen.map(|a| a.to_string()))?
            .set_override_option("metrics_listen", serve.metrics_listen.map(|a| a.to_string()))?
            .set_override_option("tls_cert", path(&serve.tls_cert))?
            .set_override_option("tls_key", path(&serve.tls_key))?
            .set_override_option("prov_tls_cert", path(&serve.prov_tls_cert))?
            .set_override_option("prov_tls_key", path(&serve.prov_tls_key))?
            .set_override_option("data_dir", path(&flags.data_dir))?
            .set_override_option("database_url", flags.database_url.clone())?
            .set_override_option("token_lifetime", serve.token_lifetime.clone())?
            .set_override_option("log_format", flags.log_format.map(|f| format!("{f:?}").to_lowercase()))?;
        let mut settings: Settings = builder.build()?.try_deserialize().context("invalid configuration")?;
        if settings.database_url.as_deref().is_some_and(|u| u.trim().is_empty()) {
            settings.database_url = None;
        }
        if settings.token_lifetime.is_zero() {
            anyhow::bail!("token_lifetime must be longer than zero");
        }
        if settings.request_deadline.is_zero() {
            anyhow::bail!("request_deadline must be longer than zero");
        }
        if settings.log_max_rows == 0 || i64::try_from(settings.log_max_rows).is_err() {
            anyhow::bail!("log_max_rows must be between 1 and {}", i64::MAX);
        }
        if settings.max_concurrent_uploads == 0 {
            anyhow::bail!("max_concurrent_uploads must be 1 or more");
        }
        if settings.header_read_timeout.is_zero() || settings.idle_timeout.is_zero() {
            anyhow::bail!("header_read_timeout and idle_timeout must be longer than zero");
        }
        if settings.change_check_interval.is_zero() {
            anyhow::bail!("change_check_interval must be longer than zero");
        }
        if settings.max_connections == 0 {
            anyhow::bail!("max_connections must be 1 or more");
        }
        for (url, what) in [
            (&settings.public_url, "public_url"),
            (&settings.prov_public_url, "prov_public_url"),
        ] {
            if let Some(url) = url {
                crate::provision::PublicUrl::parse(url).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
            }
        }
        // hyper reads headers into a buffer of at least 8 KiB.
        if settings.max_header_bytes < 8192 {
            anyhow::bail!("max_header_bytes must be 8192 or more");
        }
        for (cert, key, what) in [
            (&settings.tls_cert, &settings.tls_key, "tls"),
            (&settings.prov_tls_cert, &settings.prov_tls_key, "prov_tls"),
        ] {
            if cert.is_some() != key.is_some() {
                anyhow::bail!("{what}_cert and {what}_key must be given together");
            }
        }
        if settings.prov_tls_cert.is_some() && settings.prov_listen.is_none() {
            anyhow::bail!("prov_tls_cert is set but prov_listen is not");
        }
        Ok(settings)
    }

    /// The database: `database_url`, else SQLite in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join(DATABASE_FILE).display()),
        }
    }
}

/// Accepts seconds (`86400`) or a human duration (`24h`, `30m`).
fn deserialize_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Seconds(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => match t.trim().parse::<u64>() {
            Ok(s) => Ok(Duration::from_secs(s)),
            Err(_) => humantime::parse_duration(t.trim())
                .map_err(|e| serde::de::Error::custom(format!("'{t}' is not a duration: {e}"))),
        },
    }
}

/// Hides the password of a database URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |o: &Option<String>| o.as_ref().map(|_| "***");
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("prov_listen", &self.prov_listen)
            .field("tftp_listen", &self.tftp_listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("tftp_serve_secrets", &self.tftp_serve_secrets)
            .field("tls_cert", &self.tls_cert)
            .field("prov_tls_cert", &self.prov_tls_cert)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url()))
            .field(
                "token_lifetime",
                &humantime::format_duration(self.token_lifetime).to_string(),
            )
            .field("admin_password", &hidden(&self.admin_password))
            .field("secret_key", &hidden(&self.secret_key))
            .field("log_format", &self.log_format)
            .field("upload_max_size", &self.upload_max_size)
            .field("upload_max_request_size", &self.upload_max_request_size)
            .field("upload_max_parts", &self.upload_max_parts)
            .field("media_retention_days", &self.media_retention_days)
            .field("log_retention_days", &self.log_retention_days)
            .field("log_max_rows", &self.log_max_rows)
            .field(
                "request_deadline",
                &humantime::format_duration(self.request_deadline).to_string(),
            )
            .field("max_concurrent_uploads", &self.max_concurrent_uploads)
            .field(
                "header_read_timeout",
                &humantime::format_duration(self.header_read_timeout).to_string(),
            )
            .field(
                "idle_timeout",
                &humantime::format_duration(self.idle_timeout).to_string(),
            )
            .field("max_connections", &self.max_connections)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("render_cache_bytes", &self.render_cache_bytes)
            .field(
                "change_check_interval",
                &humantime::format_duration(self.change_check_interval).to_string(),
            )
            .field("public_url", &self.public_url)
            .field("prov_public_url", &self.prov_public_url)
            .field("tts", &self.tts)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_work_with_nothing_given() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(None, dir.path(), &env(&[]), &Overrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:8081");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.token_lifetime, Duration::from_secs(86400));
        assert_eq!(s.database_url(), "sqlite://./data/sipprov.db");
    }

    #[test]
    fn each_layer_beats_the_one_below() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(DEFAULT_CONFIG_FILE),
            "listen = \"127.0.0.1:1000\"\ndata_dir = \"/from/file\"\ntoken_lifetime = 60\ndatabase_url = \"sqlite:///file.db\"\n",
        )
        .unwrap();
        let none = Overrides::default();
        let s = Settings::load(None, dir.path(), &env(&[]), &none).unwrap();
        assert_eq!(
            (
                s.listen.port(),
                s.data_dir.to_str().unwrap(),
                s.token_lifetime.as_secs()
            ),
            (1000, "/from/file", 60)
        );

        let e = env(&[
            ("SIPPROV_LISTEN", "127.0.0.1:2000"),
            ("SIPPROV_TOKEN_LIFETIME", "2h"),
            ("DATABASE_URL", "postgres://u:pw@h/db"),
        ]);
        let s = Settings::load(None, dir.path(), &e, &none).unwrap();
        assert_eq!(
            (
                s.listen.port(),
                s.data_dir.to_str().unwrap(),
                s.token_lifetime.as_secs()
            ),
            (2000, "/from/file", 7200)
        );
        assert_eq!(s.database_url(), "postgres://u:pw@h/db");

        let e2 = env(&[
            ("DATABASE_URL", "postgres://a/b"),
            ("SIPPROV_DATABASE_URL", "postgres://c/d"),
        ]);
        assert_eq!(
            Settings::load(None, dir.path(), &e2, &none).unwrap().database_url(),
            "postgres://c/d"
        );

        let flags = Overrides {
            serve: ServeFlags {
                listen: Some("127.0.0.1:3000".parse().unwrap()),
                token_lifetime: Some("30m".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let s = Settings::load(None, dir.path(), &e, &flags).unwrap();
        assert_eq!((s.listen.port(), s.token_lifetime.as_secs()), (3000, 1800));
    }

    #[test]
    fn explicit_config_file_must_exist_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Settings::load(
                Some(&dir.path().join("missing.toml")),
                dir.path(),
                &env(&[]),
                &Overrides::default()
            )
            .is_err()
        );
        let err = Settings::load(
            None,
            dir.path(),
            &env(&[("SIPPROV_TOKEN_LIFETIME", "soon")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("token_lifetime"), "{err:#}");
    }

    #[test]
    fn nested_tts_keys_come_from_the_environment_beside_flat_ones() {
        let dir = tempfile::tempdir().unwrap();
        let e = env(&[
            ("SIPPROV_TTS__BAIDU_API_KEY", "k"),
            ("SIPPROV_TTS__FALLBACK", "local"),
            ("SIPPROV_PROV_LISTEN", "127.0.0.1:8080"),
            ("SIPPROV_UPLOAD_MAX_SIZE", "1000"),
        ]);
        let s = Settings::load(None, dir.path(), &e, &Overrides::default()).unwrap();
        assert_eq!((s.tts.baidu_api_key.as_str(), s.tts.fallback.as_str()), ("k", "local"));
        assert_eq!(s.prov_listen, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(s.upload_max_size, 1000);
        assert_eq!(s.tts.baidu_url, "https://tsn.baidu.com/text2audio", "defaults stay");
        assert!(!format!("{s:?}").contains("\"k\""), "the key is not shown");
    }

    #[test]
    fn debug_hides_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let e = env(&[
            ("SIPPROV_ADMIN_PASSWORD", "hunter22"),
            ("SIPPROV_DATABASE_URL", "postgres://u:pw@h/db"),
        ]);
        let s = Settings::load(None, dir.path(), &e, &Overrides::default()).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter22") && !shown.contains(":pw@"), "{shown}");
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }
}
