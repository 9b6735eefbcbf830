//! Named background jobs under one supervisor, which `/api/check/:name`
//! reports on. A job whose loop ends or panics is started again.
//!
//! - `heartbeat` records the time every few seconds; `/healthz` shows it.
//! - `clean-file` deletes RECORD and TTS media older than the retention.
//!   On PostgreSQL a transaction-scoped advisory lock lets one node sweep at
//!   a time.
//! - `clean-log` deletes operation-log rows older than their retention, and
//!   the oldest past the most rows kept.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::timestamp;
use crate::store::Db;

/// Jobs of XSwitch's table that sipprov does not run; they report "Not Running".
pub const FOREIGN_JOBS: &[&str] = &["conference-manager", "conference-manager-cdr", "sip-trace"];
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
const CLEAN_EVERY: Duration = Duration::from_secs(3600);
/// The longest wait before a dead job starts again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

type JobFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What each job's loop reports.
#[derive(Debug, Default)]
struct JobState {
    alive: AtomicBool,
}

#[derive(Debug, Default)]
pub struct Supervisor {
    jobs: std::sync::Mutex<HashMap<&'static str, Arc<JobState>>>,
    /// Unix seconds of the last heartbeat; 0 before the first.
    heartbeat: AtomicI64,
}

/// Marks a job dead when its loop ends, however it ends.
struct AliveGuard(Arc<JobState>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::SeqCst);
    }
}

impl Supervisor {
    /// Runs `make()`'s loop as job `name`, starting it again whenever it
    /// ends or panics.
    pub fn supervise(&self, name: &'static str, make: impl Fn() -> JobFuture + Send + Sync + 'static) {
        let state = Arc::new(JobState::default());
        self.jobs.lock().expect("jobs lock").insert(name, state.clone());
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                state.alive.store(true, Ordering::SeqCst);
                let guard = AliveGuard(state.clone());
                // A task of its own, so a panic ends the run, not the supervisor.
                let outcome = tokio::spawn(make()).await;
                drop(guard);
                match outcome {
                    Ok(()) => tracing::warn!(job = name, "a background job stopped; starting it again"),
                    Err(err) => tracing::error!(job = name, error = %err, "a background job died; starting it again"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
    }

    /// `Some(running)` for a job sipprov knows, `None` for an unknown name.
    pub fn status(&self, name: &str) -> Option<bool> {
        if let Some(state) = self.jobs.lock().expect("jobs lock").get(name) {
            return Some(state.alive.load(Ordering::SeqCst));
        }
        FOREIGN_JOBS.contains(&name).then_some(false)
    }

    pub fn last_heartbeat(&self) -> Option<OffsetDateTime> {
        match self.heartbeat.load(Ordering::SeqCst) {
            0 => None,
            t => OffsetDateTime::from_unix_timestamp(t).ok(),
        }
    }

    /// Starts sipprov's own jobs.
    pub fn start(self: &Arc<Self>, db: Db, data_dir: PathBuf, retention: Retention) {
        let beat = Arc::clone(self);
        self.supervise("heartbeat", move || {
            let beat = Arc::clone(&beat);
            Box::pin(async move {
                let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
                loop {
                    tick.tick().await;
                    beat.heartbeat
                        .store(timestamp::now().unix_timestamp(), Ordering::SeqCst);
                }
            })
        });
        let log_db = db.clone();
        self.supervise("clean-log", move || {
            let db = log_db.clone();
            Box::pin(async move {
                let mut tick = tokio::time::interval(CLEAN_EVERY);
                loop {
                    tick.tick().await;
                    match prune_log(&db, retention, timestamp::now()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(rows = n, "clean-log removed old operation-log rows"),
                        Err(err) => tracing::warn!(error = %err, "clean-log could not prune the operation log"),
                    }
                }
            })
        });
        let retention = retention.media;
        self.supervise("clean-file", move || {
            let (db, data_dir) = (db.clone(), data_dir.clone());
            Box::pin(async move {
                let mut tick = tokio::time::interval(CLEAN_EVERY);
                loop {
                    tick.tick().await;
                    match clean_files(&db, &data_dir, retention, timestamp::now()).await {
                        Ok(Swept::Removed(0)) | Ok(Swept::OtherNode) => {}
                        Ok(Swept::Removed(n)) => tracing::info!(files = n, "clean-file removed old media"),
                        Err(err) => tracing::warn!(error = %err, "clean-file could not sweep"),
                    }
                    if let Err(err) = remove_orphans(&db, &data_dir, ORPHAN_AGE).await {
                        tracing::warn!(error = %err, "clean-file could not look for orphan files");
                    }
                }
            })
        });
    }
}

/// How long what the jobs clean up is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// RECORD and TTS media; zero keeps them.
    pub media: Duration,
    /// Operation-log rows; zero keeps them.
    pub log: Duration,
    /// The most operation-log rows kept.
    pub log_rows: u64,
}

/// Deletes operation-log rows past their retention; returns how many went.
pub async fn prune_log(db: &Db, retention: Retention, now: OffsetDateTime) -> crate::store::Result<u64> {
    let before = if retention.log.is_zero() {
        OffsetDateTime::UNIX_EPOCH
    } else {
        now - retention.log
    };
    db.prune_logs(before, i64::try_from(retention.log_rows).unwrap_or(i64::MAX))
        .await
}

/// How old an unreferenced file must be before the hourly sweep removes
/// it: far longer than any upload between writing its file and its row.
const ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// Removes what an interrupted upload can leave behind: `.partial` files,
/// and media files no live row names. Only files older than `older_than`
/// go, so an upload in flight on this or another node keeps its file.
pub async fn remove_orphans(db: &Db, data_dir: &std::path::Path, older_than: Duration) -> anyhow::Result<usize> {
    // By file name, which is unique (it holds a UUID), so a data dir spelled
    // differently since the row was written still matches.
    let referenced: std::collections::HashSet<std::ffi::OsString> = db
        .media_paths()
        .await?
        .iter()
        .filter_map(|p| std::path::Path::new(p).file_name().map(|n| n.to_os_string()))
        .collect();
    let now = std::time::SystemTime::now();
    let mut removed = 0;
    // The folders sipprov itself writes media to, and the phones' uploads.
    let mut folders: Vec<(PathBuf, bool)> = ["UPLOAD", "TTS"]
        .iter()
        .map(|kind| (crate::media::media_dir(data_dir, kind), false))
        .collect();
    if let Ok(mut phones) = tokio::fs::read_dir(data_dir.join("uploads")).await {
        while let Some(phone) = phones.next_entry().await? {
            folders.push((phone.path(), true));
        }
    }
    for (folder, only_partial) in folders {
        let Ok(mut files) = tokio::fs::read_dir(&folder).await else {
            continue;
        };
        while let Some(file) = files.next_entry().await? {
            let path = file.path();
            let partial = path.extension().is_some_and(|e| e == "partial");
            let meta = file.metadata().await?;
            let old = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age >= older_than);
            let orphan = partial || (!only_partial && !referenced.contains(&file.file_name()));
            if meta.is_file() && old && orphan {
                tokio::fs::remove_file(&path).await?;
                tracing::info!(file = %path.display(), "removed a file an interrupted upload left behind");
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// What one sweep did.
#[derive(Debug, PartialEq, Eq)]
pub enum Swept {
    Removed(usize),
    /// Another node holds the sweep lock.
    OtherNode,
}

/// Deletes RECORD and TTS media created before `now - retention`, rows and
/// files. A zero retention keeps everything.
pub async fn clean_files(
    db: &Db,
    data_dir: &std::path::Path,
    retention: Duration,
    now: OffsetDateTime,
) -> anyhow::Result<Swept> {
    if retention.is_zero() {
        return Ok(Swept::Removed(0));
    }
    let before = now - retention;
    let Some(paths) = db.sweep_old_media(&["RECORD", "TTS"], before, now).await? else {
        return Ok(Swept::OtherNode);
    };
    let media = data_dir.join("media");
    for path in &paths {
        // Only files sipprov keeps; a row pointing elsewhere loses its row only.
        let path = PathBuf::from(path);
        if path.starts_with(&media)
            && let Err(err) = tokio::fs::remove_file(&path).await
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %err, file = %path.display(), "clean-file could not remove a file");
        }
    }
    Ok(Swept::Removed(paths.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn a_job_that_dies_is_started_again() {
        let supervisor = Supervisor::default();
        let starts = Arc::new(AtomicUsize::new(0));
        let counted = starts.clone();
        supervisor.supervise("flaky", move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n == 0 {
                    panic!("the first run dies");
                }
                std::future::pending::<()>().await;
            })
        });
        for _ in 0..50 {
            if starts.load(Ordering::SeqCst) >= 2 && supervisor.status("flaky") == Some(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(starts.load(Ordering::SeqCst), 2, "started again after its panic");
        assert_eq!(supervisor.status("flaky"), Some(true));
        assert_eq!(supervisor.status("sip-trace"), Some(false));
        assert_eq!(supervisor.status("nonsense"), None);
    }
}
