//! Pre-rendering: at start, and in the background after each change, the
//! files of every known phone are rendered before they are asked for, for
//! the address phones reach sipprov by and each phone's last User-Agent.
//! It stops once the render cache is 90% full: past that it would only
//! push out files phones are asking for.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

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

impl Provisioner {
    /// Pre-renders now and after every change, for as long as the server runs.
    pub fn spawn_prerender(self: &Arc<Self>) {
        let provisioner = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                if let Some((host, scheme)) = provisioner.prerender.address.get().cloned() {
                    let rendered = provisioner.prerender_pass(&host, &scheme).await;
                    tracing::debug!(files = rendered, "pre-rendered phone files");
                }
                provisioner.prerender.done_once.store(true, Ordering::SeqCst);
                provisioner.prerender.wake.notified().await;
                // Each change that comes meanwhile starts the wait again.
                while tokio::time::timeout(SETTLE, provisioner.prerender.wake.notified())
                    .await
                    .is_ok()
                {}
            }
        });
    }

    /// Renders every known phone's files that are not in the cache; returns
    /// how many it rendered. A change meanwhile ends the pass: what it
    /// would render is out of date, and the next pass follows the change.
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
                if !self.cache.has_room() || self.cache.stamp(packs.print()) != begun {
                    break;
                }
                // Phones' own fetches come first.
                tokio::task::yield_now().await;
            }
            let Ok(vendor) = packs.vendor(phone.vendor_code()) else {
                continue;
            };
            let agent = packs.parse_user_agent(phone.user_agent());
            for name in packs.common_files(vendor) {
                commons.insert((name, agent.clone(), phone.user_agent().to_string()));
            }
            for (name, kind) in packs.phone_files(vendor, *mac) {
                if kind == FileKind::WrittenBack {
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
            peer: Ipv4Addr::LOCALHOST.into(),
            path: &key.name,
            vendor_hint: None,
            user_agent,
            host: &key.host,
            scheme: &key.scheme,
            from_phone: true,
            mask_secrets: false,
            method: "GET",
            target: "",
            authorization: None,
            if_none_match: None,
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
