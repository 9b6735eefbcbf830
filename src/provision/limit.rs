//! Failure-only rate limiting for phone fetches.
//!
//! What is counted, per network (its IPv4 /24 or IPv6 /64) within a window,
//! is the number of *different unknown MACs* it asks for, and the number of
//! wrong phone credentials it presents. A MAC sweep or a password guesser
//! trips it at once; a whole site behind one NAT rebooting after a power cut
//! never does, because successful fetches do not count and each unregistered
//! phone is one MAC, however often it asks.
//!
//! A sweep spread over many networks, each staying under its threshold, is
//! seen by a global count of distinct unknown MACs: past `GLOBAL_BUDGET` in
//! a window, every network's threshold tightens to `TIGHT_THRESHOLD`. And a
//! MAC that gets a record is forgiven at once: the misses it caused no
//! longer count, so a rollout's phones get their files at their next retry.
//!
//! A network blocked for unknown MACs is refused only what would be a miss:
//! registered phones behind it are still served. One blocked for wrong
//! credentials is refused every credential check, the right password too,
//! or the block would tell a guesser when it had found it.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use lru::LruCache;

use crate::domain::{Mac, source_network};

/// Networks tracked at once; past this, the one that failed least recently
/// is forgotten (a blocked one only when the few least recent all are).
/// Every operation costs the same at any size: the table is an LRU list
/// with an index, and forgiving a MAC looks up the networks that counted it.
pub const MAX_TRACKED: usize = 100_000;
/// Unknown MACs remembered over all networks together (each network
/// remembers at most its threshold); past this, whole networks are
/// forgotten, least recent first.
const MAX_REMEMBERED: usize = 200_000;
/// Entries looked at from the least recent end for one that is not blocked.
const EVICTION_PROBES: usize = 8;
/// Distinct unknown MACs, over all networks, in a window before every
/// network's threshold tightens.
const GLOBAL_BUDGET: usize = 1_000;
/// The per-network threshold once the global budget is spent.
const TIGHT_THRESHOLD: usize = 10;
/// Distinct unknown MACs remembered globally; past it, only the count matters.
const MAX_GLOBAL: usize = 100_000;

#[derive(Debug)]
pub struct MissLimiter {
    // Atomics: the site's settings change them while phones are counted.
    threshold: AtomicUsize,
    credential_threshold: AtomicU32,
    window: Duration,
    cooldown: Duration,
    state: Mutex<Counts>,
}

#[derive(Debug)]
struct Counts {
    networks: LruCache<IpNet, Tracked>,
    /// The networks that counted each unknown MAC.
    counted_by: HashMap<Mac, Vec<IpNet>>,
    /// (network, MAC) pairs remembered, the sum of every `unknown`'s length.
    remembered: usize,
    global_since: Instant,
    global_unknown: HashSet<Mac>,
}

#[derive(Debug)]
struct Tracked {
    since: Instant,
    /// At most the threshold's worth: a blocked network counts no more.
    unknown: Vec<Mac>,
    wrong_credentials: u32,
    blocked_until: Option<Instant>,
    /// Whether wrong credentials set the block.
    for_credentials: bool,
}

impl Tracked {
    fn fresh(now: Instant) -> Tracked {
        Tracked {
            since: now,
            unknown: Vec::new(),
            wrong_credentials: 0,
            blocked_until: None,
            for_credentials: false,
        }
    }

    fn blocked_at(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|until| until > now)
    }
}

impl Counts {
    /// Forgets a network and the MACs it counted.
    fn forget(&mut self, network: &IpNet, tracked: &Tracked) {
        self.remembered -= tracked.unknown.len();
        for mac in &tracked.unknown {
            if let Some(networks) = self.counted_by.get_mut(mac) {
                networks.retain(|n| n != network);
                if networks.is_empty() {
                    self.counted_by.remove(mac);
                }
            }
        }
    }

    /// Makes room for one more network: the least recent that is not
    /// blocked goes, or the least recent of all if the few looked at are.
    fn evict_one(&mut self, now: Instant) {
        for probe in 0..EVICTION_PROBES {
            let Some((network, tracked)) = self.networks.pop_lru() else {
                return;
            };
            if tracked.blocked_at(now) && probe + 1 < EVICTION_PROBES {
                // Kept, as the most recent: blocks outlive quiet counts.
                self.networks.push(network, tracked);
                continue;
            }
            self.forget(&network, &tracked);
            return;
        }
    }

    /// Forgets the counts of a network whose window has passed and which
    /// is not blocked, so it starts again.
    fn renew(&mut self, network: IpNet, now: Instant, window: Duration) {
        let stale = self
            .networks
            .peek(&network)
            .is_some_and(|t| now - t.since >= window && !t.blocked_at(now));
        if stale && let Some(old) = self.networks.pop(&network) {
            self.forget(&network, &old);
        }
    }
}

impl Default for MissLimiter {
    /// 100 unknown MACs, or 20 wrong credentials, in 10 minutes block a
    /// network for 10 minutes.
    fn default() -> Self {
        MissLimiter::new(100, 20, Duration::from_secs(600), Duration::from_secs(600))
    }
}

impl MissLimiter {
    pub fn new(threshold: usize, credential_threshold: u32, window: Duration, cooldown: Duration) -> Self {
        MissLimiter {
            threshold: AtomicUsize::new(threshold),
            credential_threshold: AtomicU32::new(credential_threshold),
            window,
            cooldown,
            state: Mutex::new(Counts {
                networks: LruCache::unbounded(),
                counted_by: HashMap::new(),
                remembered: 0,
                global_since: Instant::now(),
                global_unknown: HashSet::new(),
            }),
        }
    }

    /// Takes the site's thresholds (`throttle_unknown_macs`,
    /// `throttle_wrong_credentials`); `None` keeps the current one.
    pub fn set_thresholds(&self, unknown_macs: Option<usize>, wrong_credentials: Option<u32>) {
        if let Some(n) = unknown_macs {
            self.threshold.store(n, Ordering::Relaxed);
        }
        if let Some(n) = wrong_credentials {
            self.credential_threshold.store(n, Ordering::Relaxed);
        }
    }

    /// How many networks are told to wait now (for the metrics: it walks
    /// the table).
    pub fn throttled_networks(&self) -> usize {
        let now = Instant::now();
        let counts = self.state.lock().expect("limiter lock");
        counts.networks.iter().filter(|(_, t)| t.blocked_at(now)).count()
    }

    /// How many networks are tracked now.
    pub fn tracked_networks(&self) -> usize {
        self.state.lock().expect("limiter lock").networks.len()
    }

    /// How long the address's network must still wait, if it is blocked.
    pub fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let counts = self.state.lock().expect("limiter lock");
        let until = counts.networks.peek(&source_network(ip))?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// How long the address's network must still wait before it may try
    /// credentials again, if wrong ones blocked it.
    pub fn credentials_blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let counts = self.state.lock().expect("limiter lock");
        let tracked = counts.networks.peek(&source_network(ip))?;
        let until = tracked.blocked_until.filter(|_| tracked.for_credentials)?;
        (until > now).then(|| until - now)
    }

    /// Counts a request for a MAC no phone record has.
    pub fn unknown_mac(&self, ip: IpAddr, mac: Mac) {
        self.count(ip, Some(mac));
    }

    /// Forgets the misses of MACs that now have a record; a network blocked
    /// only by them is let through again. Costs one look-up per MAC.
    pub fn forgive(&self, macs: impl IntoIterator<Item = Mac>) {
        let mut counts = self.state.lock().expect("limiter lock");
        let threshold = self.threshold_now(&counts);
        let credential_threshold = self.credential_threshold.load(Ordering::Relaxed);
        for mac in macs {
            counts.global_unknown.remove(&mac);
            let Some(networks) = counts.counted_by.remove(&mac) else {
                continue;
            };
            for network in networks {
                let Some(tracked) = counts.networks.peek_mut(&network) else {
                    continue;
                };
                tracked.unknown.retain(|m| *m != mac);
                if tracked.unknown.len() < threshold && tracked.wrong_credentials < credential_threshold {
                    tracked.blocked_until = None;
                }
                counts.remembered -= 1;
            }
        }
    }

    /// The per-network threshold, tightened once the global budget is spent.
    fn threshold_now(&self, counts: &Counts) -> usize {
        let threshold = self.threshold.load(Ordering::Relaxed);
        if counts.global_unknown.len() >= GLOBAL_BUDGET {
            threshold.min(TIGHT_THRESHOLD)
        } else {
            threshold
        }
    }

    /// Counts a request with wrong phone credentials.
    pub fn wrong_credentials(&self, ip: IpAddr) {
        self.count(ip, None);
    }

    /// Counts a failure: an unknown MAC, or wrong credentials (`None`).
    fn count(&self, ip: IpAddr, unknown: Option<Mac>) {
        let now = Instant::now();
        let network = source_network(ip);
        let mut counts = self.state.lock().expect("limiter lock");
        if now - counts.global_since >= self.window {
            counts.global_since = now;
            counts.global_unknown.clear();
        }
        if let Some(mac) = unknown
            && counts.global_unknown.len() < MAX_GLOBAL
        {
            counts.global_unknown.insert(mac);
        }
        let threshold = self.threshold_now(&counts);
        counts.renew(network, now, self.window);
        if !counts.networks.contains(&network) {
            while counts.networks.len() >= MAX_TRACKED {
                counts.evict_one(now);
            }
            counts.networks.push(network, Tracked::fresh(now));
        }
        // Past the threshold the network is blocked: more MACs change nothing.
        let new_mac = unknown.filter(|mac| {
            let tracked = counts.networks.peek(&network).expect("just tracked");
            tracked.unknown.len() < threshold && !tracked.unknown.contains(mac)
        });
        if let Some(mac) = new_mac {
            while counts.remembered >= MAX_REMEMBERED && counts.networks.len() > 1 {
                counts.evict_one(now);
            }
            counts.remembered += 1;
            counts.counted_by.entry(mac).or_default().push(network);
        }
        let credential_threshold = self.credential_threshold.load(Ordering::Relaxed);
        let cooldown = self.cooldown;
        let Some(tracked) = counts.networks.get_mut(&network) else {
            return;
        };
        match (unknown, new_mac) {
            (None, _) => tracked.wrong_credentials += 1,
            (Some(_), Some(mac)) => tracked.unknown.push(mac),
            (Some(_), None) => {}
        }
        let by_credentials = tracked.wrong_credentials >= credential_threshold;
        let tripped = tracked.unknown.len() >= threshold || by_credentials;
        tracked.for_credentials |= by_credentials;
        if tripped && tracked.blocked_until.is_none() {
            tracked.blocked_until = Some(now + cooldown);
            tracing::warn!(
                unknown_macs = tracked.unknown.len(),
                wrong_credentials = tracked.wrong_credentials,
                "a network failed too often; it is blocked for a while"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u32) -> Mac {
        format!("02{n:010x}").parse().unwrap()
    }

    #[test]
    fn thresholds_set_later_apply_to_the_next_count() {
        let limiter = MissLimiter::default();
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        limiter.set_thresholds(Some(2), None);
        limiter.unknown_mac(ip, mac(1));
        assert_eq!(limiter.blocked_for(ip), None);
        limiter.unknown_mac(ip, mac(2));
        assert!(limiter.blocked_for(ip).is_some());
    }

    #[test]
    fn a_sweep_is_blocked_but_one_phone_asking_often_is_not() {
        let limiter = MissLimiter::new(5, 1000, Duration::from_secs(60), Duration::from_secs(60));
        let phone: IpAddr = "10.0.0.7".parse().unwrap();
        for _ in 0..100 {
            limiter.unknown_mac(phone, mac(1));
        }
        assert_eq!(limiter.blocked_for(phone), None, "one unknown MAC, however often");
        let scanner: IpAddr = "192.0.2.10".parse().unwrap();
        for n in 0..5 {
            limiter.unknown_mac(scanner, mac(n));
        }
        assert!(limiter.blocked_for(scanner).is_some());
        assert!(
            limiter.blocked_for("192.0.2.99".parse().unwrap()).is_some(),
            "the whole /24"
        );
        assert!(limiter.blocked_for("192.0.3.10".parse().unwrap()).is_none());
    }

    #[test]
    fn ipv6_counts_per_64_and_the_block_ends() {
        let limiter = MissLimiter::new(2, 1000, Duration::from_secs(60), Duration::from_millis(20));
        let a: IpAddr = "2001:db8:1:2::10".parse().unwrap();
        limiter.unknown_mac(a, mac(1));
        limiter.unknown_mac("2001:db8:1:2::99".parse().unwrap(), mac(2));
        assert!(limiter.blocked_for(a).is_some());
        assert!(limiter.blocked_for("2001:db8:1:3::10".parse().unwrap()).is_none());
        std::thread::sleep(Duration::from_millis(30));
        assert!(limiter.blocked_for(a).is_none());
    }

    #[test]
    fn guessing_one_phones_password_is_blocked() {
        let limiter = MissLimiter::new(100, 3, Duration::from_secs(60), Duration::from_secs(60));
        let guesser: IpAddr = "198.51.100.7".parse().unwrap();
        limiter.wrong_credentials(guesser);
        limiter.wrong_credentials(guesser);
        assert_eq!(limiter.blocked_for(guesser), None);
        limiter.wrong_credentials(guesser);
        assert!(limiter.blocked_for(guesser).is_some());
    }

    #[test]
    fn a_mac_that_gets_a_record_is_forgiven_and_its_network_let_through() {
        let limiter = MissLimiter::new(5, 1000, Duration::from_secs(60), Duration::from_secs(600));
        let site: IpAddr = "10.1.1.1".parse().unwrap();
        for n in 0..8 {
            limiter.unknown_mac(site, mac(n));
        }
        assert!(limiter.blocked_for(site).is_some());
        // Past the threshold nothing more was counted, so nothing changes.
        limiter.forgive((5..8).map(mac));
        assert!(
            limiter.blocked_for(site).is_some(),
            "the counted misses are still unforgiven"
        );
        limiter.forgive((0..5).map(mac));
        assert_eq!(limiter.blocked_for(site), None, "the rollout's phones were registered");
    }

    #[test]
    fn a_sweep_over_many_networks_tightens_every_threshold() {
        let limiter = MissLimiter::new(100, 1000, Duration::from_secs(60), Duration::from_secs(600));
        let mut misses = 0u32;
        let mut blocked = None;
        'sweep: for network in 0..60u32 {
            let ip: IpAddr = format!("10.{}.{}.1", network / 256, network % 256).parse().unwrap();
            for n in 0..99 {
                limiter.unknown_mac(ip, mac(network * 1000 + n));
                misses += 1;
                if limiter.blocked_for(ip).is_some() {
                    blocked = Some(misses);
                    break 'sweep;
                }
            }
        }
        let blocked = blocked.expect("a spread sweep is never blocked");
        assert!(blocked < 2000, "blocked only after {blocked} misses");
    }

    #[test]
    fn a_blocked_network_remembers_no_more_than_its_threshold() {
        let limiter = MissLimiter::new(5, 1000, Duration::from_secs(60), Duration::from_secs(600));
        let sweeper: IpAddr = "192.0.2.1".parse().unwrap();
        for n in 0..1000 {
            limiter.unknown_mac(sweeper, mac(n));
        }
        let counts = limiter.state.lock().unwrap();
        assert_eq!(counts.networks.peek(&source_network(sweeper)).unwrap().unknown.len(), 5);
        assert_eq!(counts.remembered, 5);
    }

    #[test]
    fn the_table_has_a_hard_bound_and_keeps_blocks_over_quiet_counts() {
        let limiter = MissLimiter::new(2, 1000, Duration::from_secs(600), Duration::from_secs(600));
        let blocked: IpAddr = "2001:db8::1".parse().unwrap();
        limiter.unknown_mac(blocked, mac(1));
        limiter.unknown_mac(blocked, mac(2));
        assert!(limiter.blocked_for(blocked).is_some());
        for n in 0..MAX_TRACKED as u32 + 500 {
            let ip: IpAddr = std::net::Ipv6Addr::new(0x2001, 0xdb9, (n >> 16) as u16, n as u16, 0, 0, 0, 1).into();
            limiter.unknown_mac(ip, mac(10 + n));
        }
        let counts = limiter.state.lock().unwrap();
        assert_eq!(counts.networks.len(), MAX_TRACKED);
        assert!(counts.remembered <= MAX_REMEMBERED);
        let pairs: usize = counts.networks.iter().map(|(_, t)| t.unknown.len()).sum();
        assert_eq!(pairs, counts.remembered);
        assert_eq!(counts.counted_by.values().map(Vec::len).sum::<usize>(), pairs);
        drop(counts);
        assert!(
            limiter.blocked_for(blocked).is_some(),
            "the block outlived 100,500 quiet networks"
        );
    }
}
