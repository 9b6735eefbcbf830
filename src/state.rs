//! What the whole server shares: the database, the key, the settings, the
//! phone side's [`Provisioner`], and the API's own pools and gates.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::FromRef;

use crate::admin::Admin;
use crate::config::{DATABASE_FILE, Settings};
use crate::domain::timestamp;
use crate::jobs::{Retention, Supervisor};
use crate::packs::PackShelf;
use crate::passwords::LoginGate;
use crate::provision::{Provisioner, PublicUrl};
use crate::push::Pusher;
use crate::secrets::{self, SecretBox};
use crate::store::Db;
use crate::tts::Synthesizer;
use crate::workers::{Priority, WorkerPool};

pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: Db,
    pub secrets: SecretBox,
    pub settings: Arc<Settings>,
    /// The vendor packs, built-in and from the data dir.
    pub packs: Arc<PackShelf>,
    /// The phone side: what a fetch needs, and nothing of the API's.
    pub provisioner: Arc<Provisioner>,
    pub jobs: Arc<Supervisor>,
    pub tts: Arc<Synthesizer>,
    /// Password hashing and checks, a few at a time.
    pub passwords: Arc<WorkerPool>,
    /// Logins under way and started, per source network.
    pub login_gate: Arc<LoginGate>,
    /// One permit per media upload being received.
    pub upload_slots: Arc<tokio::sync::Semaphore>,
    /// Tells phones to re-check, as pushes fall due; runs while serving.
    pub pusher: Arc<Pusher>,
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
        let passwords = Arc::new(crate::passwords::password_pool());
        let generated = bootstrap_admin(&db, &settings, &passwords).await?;
        // An upload cut off by a crash leaves no file behind once it is old
        // enough that no live upload can still own it.
        crate::jobs::remove_orphans(&db, &settings.data_dir, settings.request_deadline)
            .await
            .context("removing files interrupted uploads left behind")?;
        // A broken pack or a shadowed file route stops the server here,
        // not at a customer site.
        let packs = Arc::new(open_packs(&settings.data_dir).await?);
        packs.watch();
        let public = settings
            .prov_public_url
            .as_deref()
            .or(settings.public_url.as_deref())
            .and_then(|url| PublicUrl::parse(url).ok());
        let provisioner = Provisioner::open(
            db.clone(),
            secrets.clone(),
            packs.clone(),
            settings.data_dir.clone(),
            settings.render_cache_bytes,
            public,
        )
        .await
        .context("reading the phones")?;
        let upload_slots = Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent_uploads));
        provisioner.watch_changes(settings.change_check_interval);
        provisioner.spawn_prerender();
        let login_gate = Arc::new(LoginGate::default());
        let admin = Admin {
            db: db.clone(),
            secrets: secrets.clone(),
            packs: packs.clone(),
            passwords: passwords.clone(),
            login_gate: login_gate.clone(),
            token_lifetime: settings.token_lifetime,
        };
        let pusher = Arc::new(Pusher::new(admin, provisioner.metrics.clone()));
        let jobs = Arc::new(Supervisor::default());
        jobs.start(
            db.clone(),
            settings.data_dir.clone(),
            Retention {
                media: Duration::from_secs(settings.media_retention_days * 86_400),
                log: Duration::from_secs(settings.log_retention_days * 86_400),
                log_rows: settings.log_max_rows,
            },
        );
        Ok((
            AppState {
                db,
                secrets,
                settings: Arc::new(settings),
                packs,
                provisioner,
                jobs,
                tts: Arc::new(Synthesizer::default()),
                passwords,
                login_gate,
                upload_slots,
                pusher,
            },
            generated,
        ))
    }
}

/// The admin core for a command that runs without the server: the
/// database (migrated), the key, the packs and a password pool of its own.
pub async fn command_admin(settings: &Settings) -> anyhow::Result<Admin> {
    make_data_dir(settings)?;
    let secrets = SecretBox::load_or_create(settings.secret_key.as_deref(), &settings.data_dir)?;
    let db = Db::connect(&settings.database_url()).await?;
    db.migrate().await.context("applying migrations")?;
    Ok(Admin {
        db,
        secrets,
        packs: Arc::new(open_packs(&settings.data_dir).await?),
        passwords: Arc::new(crate::passwords::password_pool()),
        login_gate: Arc::new(LoginGate::default()),
        token_lifetime: settings.token_lifetime,
    })
}

/// The packs, built-in and in the data dir; a broken pack or a shadowed
/// file route stops here, not at a customer site.
pub async fn open_packs(data_dir: &Path) -> anyhow::Result<PackShelf> {
    PackShelf::open(data_dir).await.map_err(|problems| {
        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "the vendor packs have problems (sipprov check-templates lists them):\n{}",
            listed.join("\n")
        )
    })
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
async fn bootstrap_admin(db: &Db, settings: &Settings, passwords: &WorkerPool) -> anyhow::Result<Option<String>> {
    if db.admin_has_password().await? {
        return Ok(None);
    }
    let (password, generated) = match settings.admin_password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => (p.to_string(), false),
        None => (secrets::random_password(20), true),
    };
    // On the password pool, whose threads keep argon2's memory for reuse.
    let hash = {
        let password = password.clone();
        passwords
            .run(Priority::First, move || secrets::hash_password(&password))
            .await?
    };
    let log = crate::admin::Actor::system().entry(
        "users",
        crate::admin::log::Action::Update,
        crate::store::logs::Summary::Text("the first admin password set".into()),
        "{\"login\":\"admin\"}".into(),
    );
    db.set_password("admin", &hash, timestamp::now(), &log).await?;
    if !generated {
        return Ok(None);
    }
    secrets::write_private_file(&settings.data_dir.join(INITIAL_PASSWORD_FILE), &password)?;
    Ok(Some(password))
}

impl FromRef<AppState> for Admin {
    fn from_ref(state: &AppState) -> Admin {
        Admin {
            db: state.db.clone(),
            secrets: state.secrets.clone(),
            packs: state.packs.clone(),
            passwords: state.passwords.clone(),
            login_gate: state.login_gate.clone(),
            token_lifetime: state.settings.token_lifetime,
        }
    }
}
