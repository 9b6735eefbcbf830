//! Fetch tracking, coalesced: a boot storm of thousands of fetches becomes
//! one write per phone per flush, not a write per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::Mac;
use crate::store::Db;
use crate::store::fetches::{Fetched, PendingPhone};

/// How often collected fetches are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// How often the files served are counted in the log.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct FetchRecorder {
    batch: Mutex<Batch>,
    /// Files served to known phones since the last summary.
    served: AtomicU64,
}

#[derive(Debug, Default)]
struct Batch {
    fetched: HashMap<Mac, Fetched>,
    pending: HashMap<Mac, PendingPhone>,
}

impl FetchRecorder {
    /// A known phone fetched a file; only its latest fetch is kept.
    pub fn fetched(&self, mac: Mac, fetch: Fetched) {
        self.served.fetch_add(1, Ordering::Relaxed);
        self.batch.lock().expect("recorder lock").fetched.insert(mac, fetch);
    }

    /// An unknown phone asked for its configuration.
    pub fn unknown(&self, mac: Mac, seen: PendingPhone) {
        let mut batch = self.batch.lock().expect("recorder lock");
        batch
            .pending
            .entry(mac)
            .and_modify(|p| {
                p.count += 1;
                p.last_seen = seen.last_seen;
                p.ip.clone_from(&seen.ip);
                p.user_agent.clone_from(&seen.user_agent);
            })
            .or_insert(seen);
    }

    /// Writes what was collected. A failed write is logged and dropped:
    /// tracking must never hold up a phone.
    pub async fn flush(&self, db: &Db) {
        let batch = std::mem::take(&mut *self.batch.lock().expect("recorder lock"));
        if batch.fetched.is_empty() && batch.pending.is_empty() {
            return;
        }
        let fetched: Vec<Fetched> = batch.fetched.into_values().collect();
        let pending: Vec<PendingPhone> = batch.pending.into_values().collect();
        if let Err(err) = db.record_fetches(&fetched, &pending).await {
            tracing::error!(error = %err, phones = fetched.len() + pending.len(), "could not record phone fetches");
        }
    }

    /// Flushes every `FLUSH_INTERVAL` for as long as the runtime lives.
    pub fn spawn_flusher(self: &Arc<Self>, db: Db) {
        let recorder = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_INTERVAL);
            let mut summarised = Instant::now();
            loop {
                tick.tick().await;
                recorder.flush(&db).await;
                if summarised.elapsed() >= SUMMARY_INTERVAL {
                    summarised = Instant::now();
                    let served = recorder.served.swap(0, Ordering::Relaxed);
                    if served > 0 {
                        tracing::info!(files = served, "served phones their files in the last minute");
                    }
                }
            }
        });
    }
}
