//! Rendered phone files and provisioning settings kept in memory, valid for
//! one generation: the database's `cache_generation` (bumped in the same
//! transaction as any change to devices, lines, extensions or dicts, on any
//! node) together with the print of the vendor packs in use. Every phone fetch reads the generation first,
//! so once a change is committed no node serves what it replaced.

use lru::LruCache;
use std::sync::Mutex;

use super::render::Rendered;
use crate::domain::Vendor;
use crate::packs::agents::PhoneAgent;
use crate::store::Db;

/// What a phone file's bytes depend on besides the generation: the name,
/// the host and scheme the phone came by (validated, or the listener's
/// public URL), and of its User-Agent only what templates read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub name: String,
    pub vendor_hint: Option<Vendor>,
    pub host: String,
    pub scheme: String,
    pub agent: Option<PhoneAgent>,
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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    File(FileKey),
    Settings(String),
}

enum Entry {
    File(CachedFile),
    Settings(Vec<(String, String, String)>),
}

/// About what an entry takes in memory: its strings, and a fixed part for
/// the list node, the key and entry structs, the map's slot and the
/// allocator's rounding of five or six allocations (estimated from the
/// structs' sizes: about 450 bytes beyond the strings).
fn weight(key: &Key, entry: &Entry) -> usize {
    const OVERHEAD: usize = 448;
    let key = match key {
        Key::File(k) => {
            k.name.len()
                + k.host.len()
                + k.scheme.len()
                + k.agent.as_ref().map_or(0, |a| a.model.len() + a.firmware.len())
        }
        Key::Settings(realm) => realm.len(),
    };
    let entry = match entry {
        Entry::File(f) => f.rendered.body.len() + f.rendered.content_type.len(),
        Entry::Settings(rows) => rows.iter().map(|(a, b, c)| a.len() + b.len() + c.len() + 72).sum(),
    };
    OVERHEAD + key + entry
}

/// Files and settings of one generation, least recently used first out
/// once they take more than `max_bytes`.
struct Inner {
    generation: Generation,
    entries: LruCache<Key, Entry>,
    bytes: usize,
    max_bytes: usize,
}

impl Inner {
    fn get(&mut self, generation: Generation, key: &Key) -> Option<&Entry> {
        if self.generation != generation {
            return None;
        }
        self.entries.get(key)
    }

    /// Keeps an entry made under `generation`, unless a newer one has begun
    /// meanwhile (what was read may then be out of date).
    fn keep(&mut self, generation: Generation, key: Key, entry: Entry) {
        let size = weight(&key, &entry);
        if self.generation != generation || size > self.max_bytes {
            return;
        }
        if let Some(old) = self.entries.peek(&key) {
            self.bytes -= weight(&key, old);
        }
        self.entries.put(key, entry);
        self.bytes += size;
        while self.bytes > self.max_bytes {
            let Some((key, entry)) = self.entries.pop_lru() else {
                break;
            };
            self.bytes -= weight(&key, &entry);
        }
    }
}

impl RenderCache {
    /// A cache holding at most about `max_bytes`.
    pub fn new(max_bytes: usize) -> RenderCache {
        RenderCache {
            inner: Mutex::new(Inner {
                generation: (0, 0),
                entries: LruCache::unbounded(),
                bytes: 0,
                max_bytes,
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

    /// Reads the current generation, under the packs with print
    /// `templates`, and drops everything older.
    pub async fn refresh(&self, db: &Db, templates: u64) -> sqlx::Result<Generation> {
        let database = self.database_generation(db).await?;
        let generation = (database, templates);
        let mut inner = self.inner.lock().expect("cache lock");
        if inner.generation != generation {
            inner.generation = generation;
            inner.entries.clear();
            inner.bytes = 0;
        }
        Ok(generation)
    }

    pub fn file(&self, generation: Generation, key: &FileKey) -> Option<CachedFile> {
        let mut inner = self.inner.lock().expect("cache lock");
        match inner.get(generation, &Key::File(key.clone())) {
            Some(Entry::File(file)) => Some(file.clone()),
            _ => None,
        }
    }

    pub fn keep_file(&self, generation: Generation, key: FileKey, file: CachedFile) {
        let mut inner = self.inner.lock().expect("cache lock");
        inner.keep(generation, Key::File(key), Entry::File(file));
    }

    pub fn settings(&self, generation: Generation, realm: &str) -> Option<Vec<(String, String, String)>> {
        let mut inner = self.inner.lock().expect("cache lock");
        match inner.get(generation, &Key::Settings(realm.to_string())) {
            Some(Entry::Settings(rows)) => Some(rows.clone()),
            _ => None,
        }
    }

    pub fn keep_settings(&self, generation: Generation, realm: &str, rows: Vec<(String, String, String)>) {
        let mut inner = self.inner.lock().expect("cache lock");
        inner.keep(generation, Key::Settings(realm.to_string()), Entry::Settings(rows));
    }

    /// What the cache holds now, in bytes, as it counts them.
    pub fn bytes(&self) -> usize {
        self.inner.lock().expect("cache lock").bytes
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

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::Duration;

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
        let (_dir, db) = database().await;
        let cache = Arc::new(RenderCache::new(1 << 20));
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
        let (_dir, db) = database().await;
        let cache = RenderCache::new(1 << 20);
        // Dropped at its first await, while its read is under way.
        let _ = tokio::time::timeout(Duration::ZERO, cache.database_generation(&db)).await;
        let next = tokio::time::timeout(Duration::from_secs(5), cache.database_generation(&db)).await;
        assert!(next.expect("not stuck behind the dropped read").is_ok());
    }

    fn file_key(n: usize) -> FileKey {
        FileKey {
            name: format!("file{n}.cfg"),
            vendor_hint: None,
            host: "pbx.example.com:8081".into(),
            scheme: "http".into(),
            agent: None,
        }
    }

    fn file(bytes: usize) -> CachedFile {
        CachedFile {
            rendered: Rendered {
                body: "x".repeat(bytes),
                content_type: "text/plain".into(),
            },
            vendor: Vendor::intern("acme"),
        }
    }

    #[test]
    fn the_cache_stays_within_its_bytes_and_drops_the_least_recently_used() {
        let cache = RenderCache::new(64 * 1024);
        let generation = (0, 0);
        for n in 0..1000 {
            cache.keep_file(generation, file_key(n), file(1000));
            // The first file is read again and again: it stays.
            assert!(cache.file(generation, &file_key(0)).is_some(), "after {n}");
            assert!(cache.bytes() <= 64 * 1024, "{} bytes", cache.bytes());
        }
        assert!(
            cache.file(generation, &file_key(1)).is_none(),
            "the least recently used went"
        );
        assert!(cache.file(generation, &file_key(999)).is_some());
        cache.keep_file(generation, file_key(5000), file(100 * 1024));
        assert!(
            cache.file(generation, &file_key(5000)).is_none(),
            "an entry larger than the cache is not kept"
        );
        assert!(cache.file(generation, &file_key(999)).is_some());
    }
}
