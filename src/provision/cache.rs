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
        }
    }

    /// Reads the current generation and drops everything older.
    pub async fn refresh(&self, db: &Db) -> sqlx::Result<Generation> {
        let database = db.cache_generation().await?;
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
