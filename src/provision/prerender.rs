//! Pre-rendering: at start, and in the background after each change, the
//! files of every known phone are rendered before they are asked for, for
//! the address phones reach sipprov by and each phone's last User-Agent.
//! It stops once the render cache is 90% full: past that it would only
//! push out files phones are asking for.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::answer::Wanted;
use super::cache::FileKey;
use super::fleet::KnownPhone;
use super::{Answer, PhoneRequest, Provisioner, PublicUrl};
use crate::domain::Mac;
use crate::packs::routes::FileKind;
use crate::store::devices::PhoneLine;
use crate::workers::Priority;

/// Phones rendered between two looks at the cache's room, the fetches and
/// the changes.
const BATCH: usize = 100;
/// A pass starts once no change has come for this long, so a flood of
/// changes is pre-rendered once, after it.
const SETTLE: Duration = Duration::from_millis(200);

/// Changes that come in a stream wait for a quiet of twice their spacing,
/// up to this: a script's statements a little slower than `SETTLE`, or
/// another process's changes that a look finds once a second, are
/// pre-rendered after the stream, not between each two.
const MOST_SETTLE: Duration = Duration::from_secs(3);

pub struct Prerender {
    /// The host and scheme phones reach sipprov by: the public URL, else
    /// what the first phone fetch came by.
    address: OnceLock<(String, String)>,
    wake: tokio::sync::Notify,
    /// Set once the first full pass has finished.
    pub done_once: AtomicBool,
}

impl Prerender {
    pub fn new(public: Option<PublicUrl>) -> Prerender {
        let address = OnceLock::new();
        if let Some(url) = public {
            let _ = address.set((url.host, url.scheme));
        }
        Prerender {
            address,
            wake: tokio::sync::Notify::new(),
            done_once: AtomicBool::new(false),
        }
    }

    /// Asks for a pass soon.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Learns the address from a phone's fetch, if it was not known.
    pub fn learn(&self, host: &str, scheme: &str) {
        if self.address.get().is_none() && self.address.set((host.to_string(), scheme.to_string())).is_ok() {
            self.wake();
        }
    }
}

/// How long to wait for quiet after a change that comes now, the one
/// before having come at `last`: `SETTLE`, or twice the spacing of a stream.
fn settle_after(last: &mut Option<Instant>, now: Instant) -> Duration {
    match last.replace(now).map(|before| now - before) {
        Some(gap) if gap < MOST_SETTLE => (gap * 2).clamp(SETTLE, MOST_SETTLE),
        _ => SETTLE,
    }
}

impl Provisioner {
    /// Pre-renders now and after every change, for as long as the server runs.
    pub fn spawn_prerender(self: &Arc<Self>) {
        let provisioner = Arc::clone(self);
        tokio::spawn(async move {
            let mut last_change = None;
            loop {
                if let Some((host, scheme)) = provisioner.prerender.address.get().cloned() {
                    let rendered = provisioner.prerender_pass(&host, &scheme).await;
                    tracing::debug!(files = rendered, "pre-rendered phone files");
                }
                provisioner.prerender.done_once.store(true, Ordering::SeqCst);
                provisioner.prerender.wake.notified().await;
                // Each change that comes meanwhile starts the wait again.
                let mut settle = settle_after(&mut last_change, Instant::now());
                while tokio::time::timeout(settle, provisioner.prerender.wake.notified())
                    .await
                    .is_ok()
                {
                    settle = settle_after(&mut last_change, Instant::now());
                }
            }
        });
    }

    /// Renders every known phone's files that are not in the cache. A
    /// change meanwhile ends the pass: what it would render is out of date,
    /// and the next pass follows the change.
    async fn prerender_pass(&self, host: &str, scheme: &str) -> usize {
        let packs = self.packs.current();
        let begun = self.cache.stamp(packs.print());
        let phones: Vec<(Mac, KnownPhone)> = {
            let fleet = self.fleet.read().expect("fleet lock");
            fleet.phones.iter().map(|(mac, p)| (*mac, p.clone())).collect()
        };
        let mut rendered = 0;
        let mut commons = HashSet::new();
        for (n, (mac, phone)) in phones.iter().enumerate() {
            if n % BATCH == 0 {
                if self.cache.stamp(packs.print()) != begun {
                    return rendered;
                }
                if !self.cache.has_room() {
                    break;
                }
                // Phones' own fetches come first.
                tokio::task::yield_now().await;
            }
            let Ok(vendor) = packs.vendor(phone.vendor_code()) else {
                continue;
            };
            let agent = packs.parse_user_agent(phone.user_agent());
            for name in packs.prerendered_common_files(vendor) {
                commons.insert((name, agent.clone(), phone.user_agent().to_string()));
            }
            for (name, kind) in packs.phone_files(vendor, *mac) {
                // Written back: changed by the phone; the directory: as
                // large as the site, rendered when the phone asks.
                if matches!(kind, FileKind::WrittenBack | FileKind::Directory) {
                    continue;
                }
                let key = FileKey {
                    name,
                    vendor_hint: None,
                    host: host.to_string(),
                    scheme: scheme.to_string(),
                    agent: agent.clone(),
                };
                if self
                    .prerender_one(&packs, key, Some((*mac, &phone.lines)), phone.user_agent())
                    .await
                {
                    rendered += 1;
                }
            }
        }
        for (name, agent, user_agent) in commons {
            let key = FileKey {
                name,
                vendor_hint: None,
                host: host.to_string(),
                scheme: scheme.to_string(),
                agent,
            };
            if self.prerender_one(&packs, key, None, &user_agent).await {
                rendered += 1;
            }
        }
        rendered
    }

    /// Renders one file as a phone's fetch of it would, and keeps it.
    async fn prerender_one(
        &self,
        packs: &Arc<crate::packs::Packs>,
        key: FileKey,
        phone: Option<(Mac, &[PhoneLine])>,
        user_agent: &str,
    ) -> bool {
        if self.cache.holds(packs.print(), &key) {
            return false;
        }
        let Some(matched) = packs.resolve(&key.name) else {
            return false;
        };
        let mac = phone.map(|(mac, _)| mac);
        let wanted = Wanted {
            name: &key.name,
            settings: self.settings_for(mac),
            agent: key.agent.clone(),
            matched,
            priority: Priority::Normal,
        };
        let req = PhoneRequest {
            user_agent,
            ..PhoneRequest::get(Ipv4Addr::LOCALHOST.into(), &key.name, &key.host, &key.scheme)
        };
        // Through the same in-flight renders as fetches: a phone that asks
        // meanwhile waits for this render instead of making its own.
        let lines = phone.map(|(_, lines)| lines);
        let rendering = self
            .in_flight
            .share(&key, || self.render_kept(packs, &req, &wanted, &key, lines))
            .await;
        matches!(rendering.0, Answer::File(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_of_changes_waits_for_twice_its_spacing_a_lone_change_does_not() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut last = None;
        assert_eq!(settle_after(&mut last, at(0)), SETTLE, "the first change");
        assert_eq!(
            settle_after(&mut last, at(50)),
            SETTLE,
            "a fast stream: SETTLE already covers it"
        );
        assert_eq!(
            settle_after(&mut last, at(1050)),
            Duration::from_secs(2),
            "a look once a second"
        );
        assert_eq!(
            settle_after(&mut last, at(3000)),
            MOST_SETTLE,
            "never longer than MOST_SETTLE"
        );
        assert_eq!(
            settle_after(&mut last, at(60_000)),
            SETTLE,
            "a lone change after a quiet minute"
        );
    }
}
