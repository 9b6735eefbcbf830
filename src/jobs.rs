//! Named background jobs under one supervisor, which `/api/check/:name`
//! reports on. A job whose loop ends or panics is started again.
//!
//! - `heartbeat` records the time every few seconds; `/healthz` shows it.
//! - `clean-file` deletes RECORD and TTS media older than the retention.
//!   On PostgreSQL a transaction-scoped advisory lock lets one node sweep at
//!   a time.

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
    pub fn start(self: &Arc<Self>, db: Db, data_dir: PathBuf, retention: Duration) {
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
                }
            })
        });
    }
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
