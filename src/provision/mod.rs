//! The phone-facing side: phones fetch their vendor's files by name, with no
//! token, over HTTP (`/prov/<file>`, the URL an admin puts in DHCP option
//! 66, or XSwitch's `/api/provision/<vendor>/<file>`) or TFTP.
//!
//! [`Provisioner`] is the core every way in shares (HTTP, TFTP, the
//! console's preview, `sipprov render`): it holds the phones it knows and
//! their rendered files in memory, so a fetch touches no database, and
//! follows the database's change log to keep both current.

pub mod answer;
pub mod cache;
pub mod changes;
pub mod explain;
pub mod fleet;
pub mod http;
pub mod in_flight;
pub mod limit;
pub mod phone_auth;
pub mod prerender;
pub mod reason;
pub mod render;
pub mod settings;
pub mod tftp;
pub mod tracking;
pub mod uploads;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub use self::answer::{Answer, MASK, PhoneRequest, PreviewFile};
pub use self::http::{OverTls, PublicUrl, router, valid_host};

use self::cache::RenderCache;
use self::fleet::Fleet;
use self::limit::MissLimiter;
use self::phone_auth::NonceStore;
use self::tracking::FetchRecorder;
use crate::domain::{Mac, Vendor, timestamp};
use crate::metrics::Metrics;
use crate::packs::PackShelf;
use crate::secrets::SecretBox;
use crate::store::Db;
use crate::workers::WorkerPool;

/// Changes read in one catch-up; past this, every phone is read again.
const CATCH_UP_BATCH: i64 = 5_000;
/// A node that has not caught up for this long (a database outage, a
/// paused machine) may have missed pruned changes: it reads everything again.
const STALE_AFTER: Duration = Duration::from_secs(30 * 60);

/// Just what a phone fetch needs.
pub struct Provisioner {
    pub db: Db,
    secrets: SecretBox,
    pub packs: Arc<PackShelf>,
    /// Where phones' uploads are kept.
    data_dir: PathBuf,
    pub cache: RenderCache,
    fleet: RwLock<Fleet>,
    pub miss_limiter: MissLimiter,
    pub fetches: Arc<FetchRecorder>,
    nonces: NonceStore,
    /// Renders under way, shared by concurrent fetches of the same file.
    in_flight: answer::Renders,
    feed: tokio::sync::Mutex<Feed>,
    prerender: prerender::Prerender,
    /// Counted as phones fetch; see `crate::metrics`.
    pub metrics: Metrics,
    /// Renders run here, off the runtime's threads.
    renders: WorkerPool,
    /// Templates whose render ran past its patience, by packs print: refused
    /// until the packs change.
    refused_renders: Mutex<HashSet<(u64, Vendor, String)>>,
    /// The packs print whose families' prints are on record.
    noted_packs: AtomicU64,
}

/// How far this node has read the change log.
struct Feed {
    seen: i64,
    caught_up_at: Instant,
}

impl Provisioner {
    /// What the phone side counts itself, for a metrics scrape.
    pub fn counted(&self) -> crate::metrics::PhoneSide {
        let stats = self.cache.stats();
        crate::metrics::PhoneSide {
            cache_hits: stats.hits,
            cache_misses: stats.misses,
            cache_evictions: stats.evictions,
            cache_bytes: self.cache.bytes(),
            throttled_networks: self.miss_limiter.throttled_networks(),
        }
    }
}

impl Provisioner {
    /// Reads the phones and settings; `public` is the address phones reach
    /// sipprov by, if known, which pre-rendering renders for.
    pub async fn open(
        db: Db,
        secrets: SecretBox,
        packs: Arc<PackShelf>,
        data_dir: PathBuf,
        cache_bytes: usize,
        public: Option<PublicUrl>,
    ) -> anyhow::Result<Arc<Provisioner>> {
        // Read before the phones, so a change made meanwhile is read again.
        let seen = db.latest_change().await?;
        let fleet = Fleet::load(&db, &secrets).await?;
        let fetches = Arc::new(FetchRecorder::default());
        fetches.spawn_flusher(db.clone());
        // On record before any phone is served, so no fetch predates it.
        let current = packs.current();
        db.note_pack_prints(&current.family_prints(), timestamp::now()).await?;
        Ok(Arc::new(Provisioner {
            db,
            secrets,
            packs,
            data_dir,
            cache: RenderCache::new(cache_bytes),
            fleet: RwLock::new(fleet),
            miss_limiter: MissLimiter::default(),
            fetches,
            nonces: NonceStore::default(),
            in_flight: answer::Renders::new(),
            feed: tokio::sync::Mutex::new(Feed {
                seen,
                caught_up_at: Instant::now(),
            }),
            prerender: prerender::Prerender::new(public),
            metrics: Metrics::default(),
            renders: WorkerPool::new("renders", std::thread::available_parallelism().map_or(2, usize::from)),
            refused_renders: Mutex::new(HashSet::new()),
            noted_packs: AtomicU64::new(current.print()),
        }))
    }

    /// Puts the families' prints on record when the packs changed since
    /// the last time: a family whose files changed makes its phones older.
    pub async fn note_packs(&self) -> crate::store::Result<()> {
        let packs = self.packs.current();
        if self.noted_packs.load(Ordering::Relaxed) == packs.print() {
            return Ok(());
        }
        self.db
            .note_pack_prints(&packs.family_prints(), timestamp::now())
            .await?;
        self.noted_packs.store(packs.print(), Ordering::Relaxed);
        Ok(())
    }

    /// Reads the changes recorded since the last look and drops what they
    /// made out of date: the files of the phones they touched, or every
    /// file. Returns whether there were any.
    pub async fn catch_up(&self) -> crate::store::Result<bool> {
        let mut feed = self.feed.lock().await;
        let stale = feed.caught_up_at.elapsed() > STALE_AFTER;
        let changes = self.db.changes_after(feed.seen, CATCH_UP_BATCH + 1).await?;
        if changes.is_empty() && !stale {
            feed.caught_up_at = Instant::now();
            return Ok(false);
        }
        if stale || changes.len() as i64 > CATCH_UP_BATCH {
            let latest = self.db.latest_change().await?;
            let fleet = Fleet::load(&self.db, &self.secrets).await?;
            let known: Vec<Mac> = fleet.phones.keys().copied().collect();
            *self.fleet.write().expect("fleet lock") = fleet;
            self.cache.forget_all();
            self.miss_limiter.forgive(known);
            feed.seen = latest;
        } else {
            // A site setting or the directory (no MAC) changes every
            // phone's files but no phone: only they are read again.
            if changes.iter().any(|c| c.mac.is_none()) {
                let settings = self.db.all_provision_settings().await?;
                let directory = fleet::read_directory(&self.db).await?;
                let mut fleet = self.fleet.write().expect("fleet lock");
                fleet.reset_settings(&self.secrets, settings);
                fleet.directory = directory;
                drop(fleet);
                self.cache.forget_all();
            }
            let mut macs: Vec<Mac> = changes.iter().filter_map(|c| c.mac.as_deref()?.parse().ok()).collect();
            macs.sort_unstable();
            macs.dedup();
            if !macs.is_empty() {
                let patch = fleet::Patch::read(&self.db, macs.clone()).await?;
                let known = self.fleet.write().expect("fleet lock").apply(&self.secrets, patch);
                self.cache.forget_phones(&macs);
                // Phones that asked before their record existed are not
                // throttled for it, whichever node made the record.
                self.miss_limiter.forgive(known);
            }
            feed.seen = changes.last().map_or(feed.seen, |c| c.seq);
        }
        feed.caught_up_at = Instant::now();
        self.prerender.wake();
        Ok(true)
    }

    /// After this node committed a change: reads it before the change's
    /// request is answered, and tells the other nodes.
    pub async fn changed_here(&self) {
        match self.catch_up().await {
            Ok(true) => {
                if let Err(err) = self.db.announce_changes().await {
                    tracing::warn!(error = %err, "could not tell the other nodes of a change");
                }
            }
            Ok(false) => {}
            Err(err) => tracing::error!(error = %err, "could not read the change log"),
        }
    }

    /// Whether the pre-render after start has finished.
    pub fn prerendered(&self) -> bool {
        self.prerender.done_once.load(std::sync::atomic::Ordering::SeqCst)
    }
}
