//! Fetch tracking, coalesced: a boot storm of thousands of fetches becomes
//! one write per phone per flush, not a write per request.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::Mac;
use crate::domain::timestamp;
use crate::store::Db;
use crate::store::fetches::{EVENT_DAYS, FetchEvent, Fetched, MAX_EVENTS, PendingPhone};

/// How often collected fetches are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// How often the files served are counted in the log, and old fetches dropped.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// The most fetches of unknown file names kept (per node, in memory): a
/// typo in a phone's provisioning URL shows at once, and a scan of made-up
/// names only pushes older ones out.
pub const UNKNOWN_FILES_KEPT: usize = 100;

/// A fetch of a file name no pack knows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UnknownFile {
    #[serde(serialize_with = "timestamp::serialize")]
    pub at: time::OffsetDateTime,
    pub file: String,
    pub ip: String,
    pub user_agent: String,
}

/// The most fetches of one phone a flush writes to its timeline: a phone
/// boots with a few files a second, so only a phone hammered (by a script,
/// or an attacker with its MAC) loses some, and it cannot crowd out others.
pub const EVENTS_PER_FLUSH: usize = 8;
/// The most refused fetches of one phone a flush writes, the same refusal
/// from the same place once: anyone who knows a MAC can be refused in its
/// name, and must not push the phone's own fetches out.
pub const REFUSALS_PER_FLUSH: usize = 2;

#[derive(Debug, Default)]
pub struct FetchRecorder {
    batch: Mutex<Batch>,
    /// The latest fetches of names no pack knows, newest last.
    unknown_files: Mutex<VecDeque<UnknownFile>>,
    /// Files served to known phones since the last summary.
    served: AtomicU64,
}

#[derive(Debug, Default)]
struct Batch {
    fetched: HashMap<Mac, Fetched>,
    /// Known phones only, so bounded by the fleet and `EVENTS_PER_FLUSH`.
    events: HashMap<Mac, Vec<FetchEvent>>,
    pending: HashMap<Mac, PendingPhone>,
}

impl FetchRecorder {
    /// A known phone fetched a file; only its latest fetch is kept.
    pub fn fetched(&self, mac: Mac, fetch: Fetched) {
        self.served.fetch_add(1, Ordering::Relaxed);
        self.batch.lock().expect("recorder lock").fetched.insert(mac, fetch);
    }

    /// A known phone's fetch, whatever its answer, for its timeline.
    pub fn event(&self, mac: Mac, event: FetchEvent) {
        let mut batch = self.batch.lock().expect("recorder lock");
        let phone = batch.events.entry(mac).or_default();
        let (refusals, served): (Vec<&FetchEvent>, Vec<&FetchEvent>) = phone.iter().partition(|e| !e.reason.is_empty());
        let room = if event.reason.is_empty() {
            served.len() < EVENTS_PER_FLUSH
        } else {
            refusals.len() < REFUSALS_PER_FLUSH
                && !refusals.iter().any(|e| {
                    (&e.ip, &e.file, &e.outcome, &e.reason) == (&event.ip, &event.file, &event.outcome, &event.reason)
                })
        };
        if room {
            phone.push(event);
        }
    }

    /// A phone asked for a file name no pack knows.
    pub fn unknown_file(&self, file: UnknownFile) {
        let mut kept = self.unknown_files.lock().expect("recorder lock");
        if kept.len() == UNKNOWN_FILES_KEPT {
            kept.pop_front();
        }
        kept.push_back(file);
    }

    /// The fetches of unknown file names this node saw lately, newest first.
    pub fn unknown_files(&self) -> Vec<UnknownFile> {
        self.unknown_files
            .lock()
            .expect("recorder lock")
            .iter()
            .rev()
            .cloned()
            .collect()
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
                p.reason.clone_from(&seen.reason);
            })
            .or_insert(seen);
    }

    /// Writes what was collected. A failed write is logged and dropped:
    /// tracking must never hold up a phone.
    pub async fn flush(&self, db: &Db) {
        let batch = std::mem::take(&mut *self.batch.lock().expect("recorder lock"));
        if batch.fetched.is_empty() && batch.events.is_empty() && batch.pending.is_empty() {
            return;
        }
        let fetched: Vec<Fetched> = batch.fetched.into_values().collect();
        let events: Vec<FetchEvent> = batch.events.into_values().flatten().collect();
        let pending: Vec<PendingPhone> = batch.pending.into_values().collect();
        if let Err(err) = db.record_fetches(&fetched, &events, &pending).await {
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
                    let before = timestamp::now() - time::Duration::days(EVENT_DAYS);
                    if let Err(err) = db.trim_fetch_events(before, MAX_EVENTS).await {
                        tracing::error!(error = %err, "could not drop old phone fetches");
                    }
                    let served = recorder.served.swap(0, Ordering::Relaxed);
                    if served > 0 {
                        tracing::info!(files = served, "served phones their files in the last minute");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(file: &str) -> FetchEvent {
        FetchEvent {
            mac: "001565000001".into(),
            at: timestamp::now(),
            file: file.into(),
            ip: "192.0.2.1".into(),
            user_agent: String::new(),
            firmware: String::new(),
            outcome: "served".into(),
            reason: String::new(),
            version: String::new(),
        }
    }

    #[test]
    fn unknown_file_names_keep_only_the_newest() {
        let recorder = FetchRecorder::default();
        for n in 0..UNKNOWN_FILES_KEPT + 20 {
            recorder.unknown_file(UnknownFile {
                at: timestamp::now(),
                file: format!("{n}.cfg"),
                ip: "192.0.2.1".into(),
                user_agent: String::new(),
            });
        }
        let kept = recorder.unknown_files();
        assert_eq!(kept.len(), UNKNOWN_FILES_KEPT);
        assert_eq!(kept[0].file, format!("{}.cfg", UNKNOWN_FILES_KEPT + 19), "newest first");
    }

    #[test]
    fn refusals_in_a_phones_name_never_crowd_out_its_own_fetches() {
        let recorder = FetchRecorder::default();
        let phone: Mac = "001565000001".parse().unwrap();
        let refused = |ip: &str| FetchEvent {
            ip: ip.into(),
            outcome: "403".into(),
            reason: "its address is outside the allowed networks".into(),
            ..event("001565000001.cfg")
        };
        for _ in 0..50 {
            recorder.event(phone, refused("198.51.100.7"));
        }
        recorder.event(phone, refused("198.51.100.8"));
        recorder.event(phone, refused("198.51.100.9"));
        recorder.event(phone, event("001565000001.cfg"));
        let batch = recorder.batch.lock().unwrap();
        let kept: Vec<&str> = batch.events[&phone].iter().map(|e| e.ip.as_str()).collect();
        assert_eq!(
            kept,
            ["198.51.100.7", "198.51.100.8", "192.0.2.1"],
            "the same refusal once, two a flush, and the phone's fetch"
        );
    }

    #[test]
    fn a_hammered_phone_fills_only_its_own_share_of_a_flush() {
        let recorder = FetchRecorder::default();
        let hammered: Mac = "001565000001".parse().unwrap();
        let other: Mac = "001565000002".parse().unwrap();
        for n in 0..50 {
            recorder.event(hammered, event(&format!("{n}.cfg")));
        }
        recorder.event(other, event("other.cfg"));
        let batch = recorder.batch.lock().unwrap();
        assert_eq!(batch.events[&hammered].len(), EVENTS_PER_FLUSH);
        assert_eq!(batch.events[&hammered][0].file, "0.cfg", "the first ones are kept");
        assert_eq!(batch.events[&other].len(), 1);
    }
}
