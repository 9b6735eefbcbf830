//! Failure-only rate limiting for phone fetches.
//!
//! What is counted, per network (its IPv4 /24 or IPv6 /64) within a window,
//! is the number of *different unknown MACs* it asks for, and the number of
//! wrong phone credentials it presents. A MAC sweep or a password guesser
//! trips it at once; a whole site behind one NAT rebooting after a power cut
//! never does, because successful fetches do not count and each unregistered
//! phone is one MAC, however often it asks.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::domain::{Mac, source_network};

/// Networks tracked at once; past this, idle entries are dropped first.
const MAX_TRACKED: usize = 50_000;

#[derive(Debug)]
pub struct MissLimiter {
    // Atomics: the site's settings change them while phones are counted.
    threshold: AtomicUsize,
    credential_threshold: AtomicU32,
    window: Duration,
    cooldown: Duration,
    networks: Mutex<HashMap<IpNet, Tracked>>,
}

#[derive(Debug)]
struct Tracked {
    since: Instant,
    unknown: HashSet<Mac>,
    wrong_credentials: u32,
    blocked_until: Option<Instant>,
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
            networks: Mutex::new(HashMap::new()),
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

    /// How long the address's network must still wait, if it is blocked.
    pub fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let networks = self.networks.lock().expect("limiter lock");
        let until = networks.get(&source_network(ip))?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a request for a MAC no phone record has.
    pub fn unknown_mac(&self, ip: IpAddr, mac: Mac) {
        self.count(ip, |t| {
            t.unknown.insert(mac);
        });
    }

    /// Counts a request with wrong phone credentials.
    pub fn wrong_credentials(&self, ip: IpAddr) {
        self.count(ip, |t| t.wrong_credentials += 1);
    }

    fn count(&self, ip: IpAddr, failure: impl FnOnce(&mut Tracked)) {
        let now = Instant::now();
        let mut networks = self.networks.lock().expect("limiter lock");
        if networks.len() >= MAX_TRACKED {
            networks.retain(|_, t| t.blocked_until.is_some_and(|u| u > now) || now - t.since < self.window);
        }
        let fresh = || Tracked {
            since: now,
            unknown: HashSet::new(),
            wrong_credentials: 0,
            blocked_until: None,
        };
        let tracked = networks.entry(source_network(ip)).or_insert_with(fresh);
        if now - tracked.since >= self.window && tracked.blocked_until.is_none_or(|u| u <= now) {
            *tracked = fresh();
        }
        failure(tracked);
        let tripped = tracked.unknown.len() >= self.threshold.load(Ordering::Relaxed)
            || tracked.wrong_credentials >= self.credential_threshold.load(Ordering::Relaxed);
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
}
