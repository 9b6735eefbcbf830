//! Rendered phone files kept in memory. A file is valid until a change
//! touches its phone (its record, its lines, an extension on one of them,
//! its own settings) or every phone (a site setting, the packs): the node
//! learns of changes from the database's change log, never on a fetch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use super::render::Rendered;
use crate::domain::{Mac, Vendor};
use crate::packs::agents::PhoneAgent;

/// What a phone file's bytes depend on besides the phone's data: the name,
/// the host and scheme the phone came by (validated, or the listener's
/// public URL), and of its User-Agent only what templates read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub name: String,
    pub vendor_hint: Option<Vendor>,
    pub host: String,
    pub scheme: String,
    pub agent: Option<Arc<PhoneAgent>>,
}

#[derive(Debug, Clone)]
pub struct CachedFile {
    pub rendered: Rendered,
    /// The vendor that answered.
    pub vendor: Vendor,
}

/// What a render began under: a file is kept only if nothing changed
/// between the start of its database read and its keeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    packs: u64,
    epoch: u64,
}

pub struct RenderCache {
    inner: Mutex<Inner>,
}

struct Entry {
    file: CachedFile,
    /// The phone the file belongs to; `None` for a common file, which only
    /// a change to every phone touches.
    mac: Option<Mac>,
}

/// About what an entry takes in memory: its strings, and a fixed part for
/// the list node, the key and entry structs, the map's slot, the phone
/// index and the allocator's rounding (estimated from the structs' sizes).
fn weight(key: &FileKey, entry: &Entry) -> usize {
    const OVERHEAD: usize = 480;
    OVERHEAD
        + key.name.len()
        + key.host.len()
        + key.scheme.len()
        + key.agent.as_ref().map_or(0, |a| a.model.len() + a.firmware.len())
        + entry.file.rendered.body.len()
        + entry.file.rendered.content_type.len()
}

/// Files least recently used first out once they take more than
/// `max_bytes`, with each phone's files indexed so a change to one phone
/// drops only its own.
struct Inner {
    packs: u64,
    /// Bumped by every change; see [`Stamp`].
    epoch: u64,
    entries: LruCache<FileKey, Entry>,
    by_phone: HashMap<Mac, Vec<FileKey>>,
    bytes: usize,
    max_bytes: usize,
    stats: CacheStats,
}

/// What the cache has done since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Fetches answered from memory.
    pub hits: u64,
    /// Fetches that found no file.
    pub misses: u64,
    /// Files pushed out to stay within the byte bound.
    pub evictions: u64,
    /// Files dropped because a change touched them.
    pub dropped: u64,
    /// Files kept (rendered by a fetch or pre-rendered).
    pub kept: u64,
}

impl Inner {
    /// Everything goes when the packs change.
    fn align(&mut self, packs: u64) {
        if self.packs != packs {
            self.packs = packs;
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.epoch += 1;
        self.stats.dropped += self.entries.len() as u64;
        self.entries.clear();
        self.by_phone.clear();
        self.bytes = 0;
    }

    fn unindex(&mut self, key: &FileKey, mac: Option<Mac>) {
        if let Some(mac) = mac
            && let Some(keys) = self.by_phone.get_mut(&mac)
        {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                self.by_phone.remove(&mac);
            }
        }
    }
}

impl RenderCache {
    /// A cache holding at most about `max_bytes`.
    pub fn new(max_bytes: usize) -> RenderCache {
        RenderCache {
            inner: Mutex::new(Inner {
                packs: 0,
                epoch: 0,
                entries: LruCache::unbounded(),
                by_phone: HashMap::new(),
                bytes: 0,
                max_bytes,
                stats: CacheStats::default(),
            }),
        }
    }

    /// The file rendered for `key` under the packs with print `packs`.
    pub fn file(&self, packs: u64, key: &FileKey) -> Option<CachedFile> {
        let mut inner = self.inner.lock().expect("cache lock");
        inner.align(packs);
        let found = inner.entries.get(key).map(|e| e.file.clone());
        match found {
            Some(_) => inner.stats.hits += 1,
            None => inner.stats.misses += 1,
        }
        found
    }

    /// Whether a file is kept, without counting a fetch or refreshing it.
    pub fn holds(&self, packs: u64, key: &FileKey) -> bool {
        let mut inner = self.inner.lock().expect("cache lock");
        inner.align(packs);
        inner.entries.contains(key)
    }

    /// Taken before a render reads the database.
    pub fn stamp(&self, packs: u64) -> Stamp {
        let mut inner = self.inner.lock().expect("cache lock");
        inner.align(packs);
        Stamp {
            packs,
            epoch: inner.epoch,
        }
    }

    /// Keeps a file rendered under `stamp`, unless something changed since
    /// (what was read may then be out of date). Returns whether it was kept.
    pub fn keep(&self, stamp: Stamp, key: FileKey, mac: Option<Mac>, file: CachedFile) -> bool {
        let entry = Entry { file, mac };
        let size = weight(&key, &entry);
        let mut inner = self.inner.lock().expect("cache lock");
        if (Stamp {
            packs: inner.packs,
            epoch: inner.epoch,
        }) != stamp
            || size > inner.max_bytes
        {
            return false;
        }
        if let Some(old) = inner.entries.peek(&key) {
            let (old_size, old_mac) = (weight(&key, old), old.mac);
            inner.bytes -= old_size;
            inner.unindex(&key, old_mac);
        }
        // The file pre-rendered before the phone ever said what it is
        // (no User-Agent) is not fetched again once it has: one copy each.
        if key.agent.is_some() {
            let guess = FileKey {
                agent: None,
                ..key.clone()
            };
            if let Some(old) = inner.entries.pop(&guess) {
                inner.bytes -= weight(&guess, &old);
                inner.unindex(&guess, old.mac);
            }
        }
        if let Some(mac) = mac {
            inner.by_phone.entry(mac).or_default().push(key.clone());
        }
        inner.entries.put(key, entry);
        inner.bytes += size;
        inner.stats.kept += 1;
        while inner.bytes > inner.max_bytes {
            let Some((key, entry)) = inner.entries.pop_lru() else {
                break;
            };
            inner.bytes -= weight(&key, &entry);
            inner.unindex(&key, entry.mac);
            inner.stats.evictions += 1;
        }
        true
    }

    /// Drops these phones' files.
    pub fn forget_phones(&self, macs: &[Mac]) {
        let mut inner = self.inner.lock().expect("cache lock");
        inner.epoch += 1;
        for mac in macs {
            for key in inner.by_phone.remove(mac).unwrap_or_default() {
                if let Some(entry) = inner.entries.pop(&key) {
                    inner.bytes -= weight(&key, &entry);
                    inner.stats.dropped += 1;
                }
            }
        }
    }

    /// Drops every file.
    pub fn forget_all(&self) {
        self.inner.lock().expect("cache lock").clear();
    }

    /// What the cache holds now, in bytes, as it counts them.
    pub fn bytes(&self) -> usize {
        self.inner.lock().expect("cache lock").bytes
    }

    pub fn stats(&self) -> CacheStats {
        self.inner.lock().expect("cache lock").stats
    }

    /// Whether the cache has room left for more pre-rendered files.
    pub fn has_room(&self) -> bool {
        let inner = self.inner.lock().expect("cache lock");
        inner.bytes < inner.max_bytes / 10 * 9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            rendered: Rendered::new("x".repeat(bytes), "text/plain".into()),
            vendor: Vendor::intern("acme"),
        }
    }

    fn mac(n: u64) -> Mac {
        format!("02{n:010x}").parse().unwrap()
    }

    #[test]
    fn the_cache_stays_within_its_bytes_and_drops_the_least_recently_used() {
        let cache = RenderCache::new(64 * 1024);
        let stamp = cache.stamp(1);
        for n in 0..1000 {
            assert!(cache.keep(stamp, file_key(n), Some(mac(n as u64)), file(1000)));
            // The first file is read again and again: it stays.
            assert!(cache.file(1, &file_key(0)).is_some(), "after {n}");
            assert!(cache.bytes() <= 64 * 1024, "{} bytes", cache.bytes());
        }
        assert!(cache.file(1, &file_key(1)).is_none(), "the least recently used went");
        assert!(cache.file(1, &file_key(999)).is_some());
        assert!(
            !cache.keep(stamp, file_key(5000), None, file(100 * 1024)),
            "an entry larger than the cache is not kept"
        );
        assert!(cache.file(1, &file_key(999)).is_some());
        // Evicted files left the phone index too: it holds no more keys
        // than the cache holds files.
        let inner = cache.inner.lock().unwrap();
        let indexed: usize = inner.by_phone.values().map(Vec::len).sum();
        assert_eq!(indexed, inner.entries.len());
    }

    #[test]
    fn a_phones_own_fetch_replaces_the_file_rendered_before_it_said_what_it_is() {
        let cache = RenderCache::new(1 << 20);
        let stamp = cache.stamp(1);
        cache.keep(stamp, file_key(1), Some(mac(1)), file(1000));
        cache.keep(stamp, file_key(2), Some(mac(2)), file(1000));
        let told = FileKey {
            agent: Some(Arc::new(PhoneAgent {
                vendor: Vendor::intern("acme"),
                model: "A1".into(),
                firmware: "1.0".into(),
                mac: Some(mac(1)),
            })),
            ..file_key(1)
        };
        let before = cache.bytes();
        cache.keep(stamp, told.clone(), Some(mac(1)), file(1000));
        assert!(cache.file(1, &told).is_some());
        assert!(cache.file(1, &file_key(1)).is_none(), "one copy of the phone's file");
        assert!(cache.file(1, &file_key(2)).is_some(), "another phone's stays");
        assert!(cache.bytes() < before + 1000, "{} bytes", cache.bytes());
        let inner = cache.inner.lock().unwrap();
        assert_eq!(inner.by_phone[&mac(1)], [told]);
    }

    #[test]
    fn a_change_drops_only_the_phones_it_touched() {
        let cache = RenderCache::new(1 << 20);
        let stamp = cache.stamp(1);
        cache.keep(stamp, file_key(1), Some(mac(1)), file(10));
        cache.keep(stamp, file_key(2), Some(mac(2)), file(10));
        cache.keep(stamp, file_key(3), None, file(10));
        cache.forget_phones(&[mac(1)]);
        assert!(cache.file(1, &file_key(1)).is_none());
        assert!(cache.file(1, &file_key(2)).is_some(), "another phone's file stays");
        assert!(cache.file(1, &file_key(3)).is_some(), "a common file stays");
        cache.forget_all();
        assert!(cache.file(1, &file_key(2)).is_none() && cache.file(1, &file_key(3)).is_none());
    }

    #[test]
    fn a_render_that_straddles_a_change_is_not_kept() {
        let cache = RenderCache::new(1 << 20);
        let before = cache.stamp(1);
        cache.forget_phones(&[mac(9)]);
        assert!(!cache.keep(before, file_key(1), Some(mac(1)), file(10)));
        assert!(cache.file(1, &file_key(1)).is_none());
        // New packs drop everything and void renders begun under the old.
        let stamp = cache.stamp(1);
        assert!(cache.keep(stamp, file_key(1), Some(mac(1)), file(10)));
        assert!(cache.file(2, &file_key(1)).is_none());
        assert!(!cache.keep(stamp, file_key(1), Some(mac(1)), file(10)));
    }
}
