//! Fetch tracking, coalesced: a boot storm of thousands of fetches becomes
//! one write per phone per flush, not a write per request.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hash, RandomState};
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

/// A phone's fetch as the request has it, borrowed.
pub struct LatestFetch<'a> {
    pub at: time::OffsetDateTime,
    pub ip: std::net::IpAddr,
    pub user_agent: &'a str,
    pub firmware: &'a str,
    pub file: &'a str,
}

/// `text` cut to at most `chars` characters.
pub fn cut(text: &str, chars: usize) -> &str {
    text.char_indices().nth(chars).map_or(text, |(end, _)| &text[..end])
}

/// Sets a kept string to `value`, in its own buffer.
fn overwrite(kept: &mut String, value: &str) {
    if kept != value {
        kept.clear();
        kept.push_str(value);
    }
}

#[derive(Debug, Default)]
pub struct FetchRecorder {
    batch: Mutex<Batch>,
    /// The latest fetches of names no pack knows, newest last.
    unknown_files: Mutex<VecDeque<UnknownFile>>,
    /// Files served to known phones since the last summary.
    served: AtomicU64,
    /// Hashes what makes two served fetches the same.
    sameness: RandomState,
}

#[derive(Debug, Default)]
struct Batch {
    fetched: HashMap<Mac, Fetched>,
    /// Known phones only, so bounded by the fleet and `EVENTS_PER_FLUSH`.
    events: HashMap<Mac, Vec<FetchEvent>>,
    /// What each phone's served events in `events` were, hashed.
    served: HashMap<Mac, Vec<u64>>,
    pending: HashMap<Mac, PendingPhone>,
}

impl FetchRecorder {
    /// A known phone fetched a file; only its latest fetch is kept. A phone
    /// seen since the last flush has its record written over in place, so a
    /// storm of fetches allocates nothing here.
    pub fn fetched(&self, mac: Mac, fetch: &LatestFetch<'_>) {
        self.served.fetch_add(1, Ordering::Relaxed);
        let mut batch = self.batch.lock().expect("recorder lock");
        let kept = batch.fetched.entry(mac).or_insert_with(|| Fetched {
            mac: mac.lower(),
            at: fetch.at,
            ip: String::new(),
            user_agent: String::new(),
            firmware: String::new(),
            file: String::new(),
        });
        kept.at = fetch.at;
        kept.ip.clear();
        let _ = write!(kept.ip, "{}", fetch.ip);
        overwrite(&mut kept.user_agent, cut(fetch.user_agent, 255));
        overwrite(&mut kept.firmware, fetch.firmware);
        overwrite(&mut kept.file, fetch.file);
    }

    /// A known phone's fetch, whatever its answer, for its timeline; `build`
    /// is called only when the event is kept (`reason` is its refusal's,
    /// empty when served). A served fetch the same as one already in this
    /// flush (`same`: file, address, outcome, version) is not kept again:
    /// a phone fetching in a loop writes one row a second, not one a fetch.
    pub fn event(&self, mac: Mac, reason: &str, same: impl Hash, build: impl FnOnce() -> FetchEvent) {
        let mut batch = self.batch.lock().expect("recorder lock");
        if reason.is_empty() {
            let served = self.sameness.hash_one(same);
            let seen = batch.served.entry(mac).or_default();
            if seen.len() < EVENTS_PER_FLUSH && !seen.contains(&served) {
                seen.push(served);
                batch.events.entry(mac).or_default().push(build());
            }
            return;
        }
        let phone = batch.events.entry(mac).or_default();
        let event = build();
        let mut refusals = phone.iter().filter(|e| !e.reason.is_empty());
        let room = refusals.clone().count() < REFUSALS_PER_FLUSH
            && !refusals.any(|e| {
                (&e.ip, &e.file, &e.outcome, &e.reason) == (&event.ip, &event.file, &event.outcome, &event.reason)
            });
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

    fn keep(recorder: &FetchRecorder, mac: Mac, event: FetchEvent) {
        let same = (event.file.clone(), event.ip.clone(), event.version.clone());
        recorder.event(mac, &event.reason.clone(), same, || event);
    }

    #[test]
    fn a_phones_latest_fetch_is_written_over_in_place() {
        let recorder = FetchRecorder::default();
        let phone: Mac = "001565000001".parse().unwrap();
        let long = "Yealink SIP-T46U ".repeat(30);
        for (file, ip) in [("a.cfg", "192.0.2.1"), ("001565000001.cfg", "192.0.2.20")] {
            let fetch = LatestFetch {
                at: timestamp::now(),
                ip: ip.parse().unwrap(),
                user_agent: &long,
                firmware: "108.86.0.20",
                file,
            };
            recorder.fetched(phone, &fetch);
        }
        let batch = recorder.batch.lock().unwrap();
        let kept = &batch.fetched[&phone];
        assert_eq!(
            (
                kept.mac.as_str(),
                kept.ip.as_str(),
                kept.file.as_str(),
                kept.firmware.as_str()
            ),
            ("001565000001", "192.0.2.20", "001565000001.cfg", "108.86.0.20")
        );
        assert_eq!(kept.user_agent.chars().count(), 255, "cut to its column");
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
            keep(&recorder, phone, refused("198.51.100.7"));
        }
        keep(&recorder, phone, refused("198.51.100.8"));
        keep(&recorder, phone, refused("198.51.100.9"));
        keep(&recorder, phone, event("001565000001.cfg"));
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
            keep(&recorder, hammered, event(&format!("{n}.cfg")));
        }
        keep(&recorder, other, event("other.cfg"));
        for _ in 0..50 {
            keep(&recorder, other, event("other.cfg"));
        }
        keep(
            &recorder,
            other,
            FetchEvent {
                version: "v2".into(),
                ..event("other.cfg")
            },
        );
        let batch = recorder.batch.lock().unwrap();
        assert_eq!(batch.events[&hammered].len(), EVENTS_PER_FLUSH);
        assert_eq!(batch.events[&hammered][0].file, "0.cfg", "the first ones are kept");
        let versions: Vec<&str> = batch.events[&other].iter().map(|e| e.version.as_str()).collect();
        assert_eq!(versions, ["", "v2"], "the same fetch once, and each new version");
    }
}
