//! Rendered phone files and provisioning settings kept in memory, valid for
//! one generation: the database's `cache_generation` (bumped in the same
//! transaction as any change to devices, lines, extensions or dicts, on any
//! node) together with a fingerprint of the template overrides on disk
//! (looked at once a second). Every phone fetch reads the generation first,
//! so once a change is committed no node serves what it replaced.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use super::render::Rendered;
use crate::domain::Vendor;
use crate::store::Db;

/// Entries kept at once; past this the cache starts again empty.
const MAX_FILES: usize = 100_000;
/// How often the template overrides are looked at.
const TEMPLATE_CHECK: Duration = Duration::from_secs(1);

/// What a phone file's bytes depend on besides the generation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub name: String,
    pub vendor_hint: Option<Vendor>,
    pub host: String,
    pub scheme: String,
    pub user_agent: String,
}

#[derive(Debug, Clone)]
pub struct CachedFile {
    pub rendered: Rendered,
    /// The vendor that answered; `None` for a common file.
    pub vendor: Vendor,
}

/// The generation a request works under: (database, templates).
pub type Generation = (i64, u64);

pub struct RenderCache {
    overrides: PathBuf,
    inner: Mutex<Inner>,
    reads: Mutex<Reads>,
    read_done: tokio::sync::Notify,
}

/// Database reads of the generation, shared by the fetches that arrive
/// while one is under way: a fetch waits for the next read that *starts*
/// after it arrived, so it still sees every change committed before it.
#[derive(Debug, Default)]
struct Reads {
    started: u64,
    in_flight: bool,
    finished: u64,
    value: i64,
}

struct Inner {
    generation: Generation,
    templates: u64,
    templates_checked: Option<Instant>,
    files: HashMap<FileKey, CachedFile>,
    settings: HashMap<String, Vec<(String, String, String)>>,
}

impl RenderCache {
    pub fn new(data_dir: &Path) -> RenderCache {
        RenderCache {
            overrides: data_dir.join("templates"),
            inner: Mutex::new(Inner {
                generation: (0, 0),
                templates: 0,
                templates_checked: None,
                files: HashMap::new(),
                settings: HashMap::new(),
            }),
            reads: Mutex::default(),
            read_done: tokio::sync::Notify::new(),
        }
    }

    /// The database generation, as of a read that began after this call.
    /// Under load one read answers every fetch that was waiting for it.
    async fn database_generation(&self, db: &Db) -> sqlx::Result<i64> {
        let wanted = self.reads.lock().expect("reads lock").started + 1;
        loop {
            let notified = self.read_done.notified();
            tokio::pin!(notified);
            let mine = {
                let mut reads = self.reads.lock().expect("reads lock");
                if reads.finished >= wanted {
                    return Ok(reads.value);
                }
                // Registered before the lock is let go, so no wake-up is missed.
                notified.as_mut().enable();
                if reads.in_flight {
                    None
                } else {
                    reads.in_flight = true;
                    reads.started += 1;
                    Some(reads.started)
                }
            };
            let Some(epoch) = mine else {
                notified.await;
                continue;
            };
            // Ends the read however this fetch ends, even if it is dropped
            // mid-read (a phone hanging up), so the others never wait on it.
            let mut guard = ReadGuard {
                cache: self,
                finished: None,
            };
            let read = db.cache_generation().await;
            if let Ok(value) = read {
                guard.finished = Some((epoch, value));
            }
            drop(guard);
            return read;
        }
    }

    /// Reads the current generation and drops everything older.
    pub async fn refresh(&self, db: &Db) -> sqlx::Result<Generation> {
        let database = self.database_generation(db).await?;
        let due = {
            let inner = self.inner.lock().expect("cache lock");
            inner.templates_checked.is_none_or(|t| t.elapsed() >= TEMPLATE_CHECK)
        };
        let templates = if due {
            let dir = self.overrides.clone();
            let print = tokio::task::spawn_blocking(move || fingerprint(&dir))
                .await
                .unwrap_or(0);
            let mut inner = self.inner.lock().expect("cache lock");
            inner.templates = print;
            inner.templates_checked = Some(Instant::now());
            print
        } else {
            self.inner.lock().expect("cache lock").templates
        };
        let generation = (database, templates);
        let mut inner = self.inner.lock().expect("cache lock");
        if inner.generation != generation {
            inner.generation = generation;
            inner.files.clear();
            inner.settings.clear();
        }
        Ok(generation)
    }

    pub fn file(&self, generation: Generation, key: &FileKey) -> Option<CachedFile> {
        let inner = self.inner.lock().expect("cache lock");
        (inner.generation == generation)
            .then(|| inner.files.get(key).cloned())
            .flatten()
    }

    /// Keeps a file rendered under `generation`, unless a newer one has
    /// begun meanwhile (what was read may then be out of date).
    pub fn keep_file(&self, generation: Generation, key: FileKey, file: CachedFile) {
        let mut inner = self.inner.lock().expect("cache lock");
        if inner.generation != generation {
            return;
        }
        if inner.files.len() >= MAX_FILES {
            inner.files.clear();
        }
        inner.files.insert(key, file);
    }

    pub fn settings(&self, generation: Generation, realm: &str) -> Option<Vec<(String, String, String)>> {
        let inner = self.inner.lock().expect("cache lock");
        (inner.generation == generation)
            .then(|| inner.settings.get(realm).cloned())
            .flatten()
    }

    pub fn keep_settings(&self, generation: Generation, realm: &str, rows: Vec<(String, String, String)>) {
        let mut inner = self.inner.lock().expect("cache lock");
        if inner.generation != generation {
            return;
        }
        if inner.settings.len() >= MAX_FILES {
            inner.settings.clear();
        }
        inner.settings.insert(realm.to_string(), rows);
    }
}

/// Marks the read done (or abandoned) and wakes the fetches waiting on it.
struct ReadGuard<'a> {
    cache: &'a RenderCache,
    finished: Option<(u64, i64)>,
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        {
            let mut reads = self.cache.reads.lock().expect("reads lock");
            reads.in_flight = false;
            if let Some((epoch, value)) = self.finished {
                reads.finished = epoch;
                reads.value = value;
            }
        }
        self.cache.read_done.notify_waiters();
    }
}

/// A number that changes when any override file is added, removed or
/// written: the files' names, sizes and modification times, hashed.
fn fingerprint(dir: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let Ok(vendors) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut entries = Vec::new();
    for vendor in vendors.flatten() {
        let Ok(files) = std::fs::read_dir(vendor.path()) else {
            continue;
        };
        for file in files.flatten() {
            if let Ok(meta) = file.metadata() {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .unwrap_or_default();
                entries.push((file.path(), meta.len(), modified));
            }
        }
    }
    entries.sort();
    entries.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    async fn database() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        (dir, db)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_shared_read_never_predates_the_fetch_that_uses_it() {
        let (dir, db) = database().await;
        let cache = Arc::new(RenderCache::new(dir.path()));
        let committed = Arc::new(AtomicI64::new(db.cache_generation().await.unwrap()));
        for _ in 0..30 {
            let mut readers = Vec::new();
            for _ in 0..16 {
                let (cache, db, committed) = (cache.clone(), db.clone(), committed.clone());
                readers.push(tokio::spawn(async move {
                    let before = committed.load(Ordering::SeqCst);
                    let seen = cache.database_generation(&db).await.unwrap();
                    assert!(
                        seen >= before,
                        "saw {seen}, but {before} was committed before the fetch"
                    );
                }));
            }
            if let Db::Sqlite(pool) = &db {
                let now: i64 = sqlx::query_scalar(
                    "UPDATE cache_generation SET generation = generation + 1 WHERE id = 1 RETURNING generation",
                )
                .fetch_one(pool)
                .await
                .unwrap();
                committed.store(now, Ordering::SeqCst);
            }
            for reader in readers {
                reader.await.unwrap();
            }
        }
    }

    #[tokio::test]
    async fn a_fetch_dropped_mid_read_does_not_hold_up_the_others() {
        let (dir, db) = database().await;
        let cache = RenderCache::new(dir.path());
        // Dropped at its first await, while its read is under way.
        let _ = tokio::time::timeout(Duration::ZERO, cache.database_generation(&db)).await;
        let next = tokio::time::timeout(Duration::from_secs(5), cache.database_generation(&db)).await;
        assert!(next.expect("not stuck behind the dropped read").is_ok());
    }

    #[test]
    fn the_fingerprint_follows_the_override_files() {
        let dir = tempfile::tempdir().unwrap();
        let empty = fingerprint(dir.path());
        std::fs::create_dir_all(dir.path().join("yealink")).unwrap();
        std::fs::write(dir.path().join("yealink/mac.cfg"), "a").unwrap();
        let one = fingerprint(dir.path());
        assert_ne!(empty, one);
        std::fs::write(dir.path().join("yealink/mac.cfg"), "ab").unwrap();
        assert_ne!(one, fingerprint(dir.path()), "a rewrite changes it");
        assert_eq!(fingerprint(dir.path()), fingerprint(dir.path()));
    }
}
