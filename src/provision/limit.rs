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

use crate::domain::{Mac, source_network};

/// Networks tracked at once; past this, idle entries are dropped first.
/// With at most a threshold's worth of MACs each, this bounds the memory a
/// sweep over many networks (IPv6 /64s are cheap) can make sipprov hold.
const MAX_TRACKED: usize = 10_000;
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
    networks: HashMap<IpNet, Tracked>,
    global_since: Instant,
    global_unknown: HashSet<Mac>,
}

#[derive(Debug)]
struct Tracked {
    since: Instant,
    unknown: HashSet<Mac>,
    wrong_credentials: u32,
    blocked_until: Option<Instant>,
    /// Whether wrong credentials set the block.
    for_credentials: bool,
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
                networks: HashMap::new(),
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

    /// How many networks are told to wait now.
    pub fn throttled_networks(&self) -> usize {
        let now = Instant::now();
        let counts = self.state.lock().expect("limiter lock");
        counts
            .networks
            .values()
            .filter(|t| t.blocked_until.is_some_and(|until| until > now))
            .count()
    }

    /// How long the address's network must still wait, if it is blocked.
    pub fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let counts = self.state.lock().expect("limiter lock");
        let until = counts.networks.get(&source_network(ip))?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// How long the address's network must still wait before it may try
    /// credentials again, if wrong ones blocked it.
    pub fn credentials_blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        let counts = self.state.lock().expect("limiter lock");
        let tracked = counts.networks.get(&source_network(ip))?;
        tracked.for_credentials.then_some(())?;
        drop(counts);
        self.blocked_for(ip)
    }

    /// Counts a request for a MAC no phone record has.
    pub fn unknown_mac(&self, ip: IpAddr, mac: Mac) {
        let most = self.threshold.load(Ordering::Relaxed);
        self.count(ip, Some(mac), |t| {
            // Past the threshold the network is blocked: more MACs change nothing.
            if t.unknown.len() < most {
                t.unknown.insert(mac);
            }
        });
    }

    /// Forgets the misses of MACs that now have a record; a network blocked
    /// only by them is let through again.
    pub fn forgive(&self, macs: impl IntoIterator<Item = Mac>) {
        let macs: HashSet<Mac> = macs.into_iter().collect();
        let mut counts = self.state.lock().expect("limiter lock");
        counts.global_unknown.retain(|m| !macs.contains(m));
        let threshold = self.threshold_now(&counts);
        let credential_threshold = self.credential_threshold.load(Ordering::Relaxed);
        for tracked in counts.networks.values_mut() {
            let before = tracked.unknown.len();
            tracked.unknown.retain(|m| !macs.contains(m));
            if tracked.unknown.len() < before
                && tracked.unknown.len() < threshold
                && tracked.wrong_credentials < credential_threshold
            {
                tracked.blocked_until = None;
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
        self.count(ip, None, |t| t.wrong_credentials += 1);
    }

    fn count(&self, ip: IpAddr, unknown: Option<Mac>, failure: impl FnOnce(&mut Tracked)) {
        let now = Instant::now();
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
        let networks = &mut counts.networks;
        if networks.len() >= MAX_TRACKED {
            networks.retain(|_, t| t.blocked_until.is_some_and(|u| u > now) || now - t.since < self.window);
        }
        let fresh = || Tracked {
            since: now,
            unknown: HashSet::new(),
            wrong_credentials: 0,
            blocked_until: None,
            for_credentials: false,
        };
        let tracked = networks.entry(source_network(ip)).or_insert_with(fresh);
        if now - tracked.since >= self.window && tracked.blocked_until.is_none_or(|u| u <= now) {
            *tracked = fresh();
        }
        failure(tracked);
        let by_credentials = tracked.wrong_credentials >= self.credential_threshold.load(Ordering::Relaxed);
        let tripped = tracked.unknown.len() >= threshold || by_credentials;
        tracked.for_credentials |= by_credentials;
        if tripped && tracked.blocked_until.is_none() {
            tracked.blocked_until = Some(now + self.cooldown);
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
        assert_eq!(counts.networks[&source_network(sweeper)].unknown.len(), 5);
    }
}
