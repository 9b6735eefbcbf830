//! Password checks are slow and take memory on purpose (argon2): each one
//! holds about 19 MiB and a core. They run in a small pool of their own, and
//! each source network may start only a few logins at a time and a few a
//! second, so a flood of bogus logins can neither exhaust memory nor keep
//! anyone else from logging in: checks for networks with no counted failures
//! go first, so a flood from networks that keep failing waits behind them.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use lru::LruCache;

use crate::workers::{Priority, WorkerPool};

/// Logins from networks without counted failures that may wait for their
/// check: over a minute of checks, and each holds only its connection.
const FIRST_WAITING: usize = 2_048;
/// Logins from networks that failed before that may wait: a couple of
/// seconds of checks; past them such a login is told to come back (429),
/// so a flood from failing networks holds neither memory nor anyone's turn.
const NORMAL_WAITING: usize = 64;

/// The pool password checks run in: half the cores (at least one), so a
/// flood of logins may take those and the phones keep the rest. Measured
/// with bench/abuse.sh: with twice the cores, 100 bogus logins at once
/// pushed the phones' p99 past 500 ms on 2 cores. Its own threads, not the
/// runtime's blocking pool: each argon2 block is freed into its thread's
/// allocator arena and kept there, so memory stays at a few blocks instead
/// of one per blocking thread ever used. Its first job makes the dummy hash
/// unknown names are checked against, so no login pays for it.
pub fn password_pool() -> WorkerPool {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let pool = WorkerPool::with_caps("passwords", (cores / 2).max(1), FIRST_WAITING, NORMAL_WAITING);
    pool.submit(Priority::First, crate::secrets::prepare_dummy_hash);
    pool
}

/// Logins one network may have under way at once.
const IN_FLIGHT_PER_NETWORK: u32 = 2;
/// Logins one network may start in a burst, and how fast that refills.
const BURST: f64 = 30.0;
const PER_SECOND: f64 = 5.0;
/// Networks tracked at once; past this, the one that tried least recently
/// is forgotten, which only gives it a fresh burst. More than the
/// connections a listener holds, so networks with logins under way are not
/// the ones forgotten, and a full table never refuses a network.
const MAX_NETWORKS: usize = 65_536;

/// How long a wide network's wrong password keeps its logins out of the
/// first queue: as long as a lock lasts.
const FAILED_RECENTLY: Duration = Duration::from_secs(2 * 3600);

pub struct LoginGate {
    networks: Mutex<LruCache<IpNet, Bucket>>,
    /// Wide networks (IPv4 /16, IPv6 /48) with a wrong password lately, and
    /// when: their logins wait behind those of networks without. Wide,
    /// because an attacker's fresh /64s (or /24s) come from far fewer of
    /// them; checked per node, as the queue is.
    failed: Mutex<LruCache<IpNet, Instant>>,
    /// Logins under way per wide network: only its first few go first, so
    /// a burst from fresh /24s of one /16 does not crowd the first queue.
    wide_in_flight: Mutex<HashMap<IpNet, u32>>,
}

/// Logins of one wide network that may wait in the first queue at once.
const FIRST_PER_WIDE_NETWORK: u32 = 2;

impl Default for LoginGate {
    fn default() -> Self {
        let size = NonZeroUsize::new(MAX_NETWORKS).expect("non-zero");
        LoginGate {
            networks: Mutex::new(LruCache::new(size)),
            failed: Mutex::new(LruCache::new(size)),
            wide_in_flight: Mutex::new(HashMap::new()),
        }
    }
}

/// The wide network of a source network: its IPv4 /16 or IPv6 /48.
fn wide(network: IpNet) -> IpNet {
    let prefix = match network {
        IpNet::V4(_) => 16,
        IpNet::V6(_) => 48,
    };
    IpNet::new(network.addr(), prefix).map_or(network, |n| n.trunc())
}

struct Bucket {
    tokens: f64,
    at: Instant,
    in_flight: u32,
}

/// A login let through; dropping it frees its network's place.
pub struct Entry<'a> {
    gate: &'a LoginGate,
    network: IpNet,
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        let mut networks = self.gate.networks.lock().expect("login gate lock");
        if let Some(bucket) = networks.peek_mut(&self.network) {
            bucket.in_flight = bucket.in_flight.saturating_sub(1);
        }
        drop(networks);
        let mut wide_in_flight = self.gate.wide_in_flight.lock().expect("login gate lock");
        let key = wide(self.network);
        if let Some(n) = wide_in_flight.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                wide_in_flight.remove(&key);
            }
        }
    }
}

impl Entry<'_> {
    /// The queue this login waits in: first when its wide network has had
    /// no wrong password lately and has no more than a few logins under way.
    pub fn priority(&self) -> Priority {
        let key = wide(self.network);
        let under_way = self
            .gate
            .wide_in_flight
            .lock()
            .expect("login gate lock")
            .get(&key)
            .copied();
        let failed = self.gate.failed.lock().expect("login gate lock");
        match failed.peek(&key) {
            Some(at) if at.elapsed() < FAILED_RECENTLY => Priority::Normal,
            _ if under_way.unwrap_or(0) > FIRST_PER_WIDE_NETWORK => Priority::Normal,
            _ => Priority::First,
        }
    }
}

impl LoginGate {
    /// Lets a login from `network` through, or says how long to wait.
    pub fn enter(&self, network: IpNet) -> Result<Entry<'_>, Duration> {
        let now = Instant::now();
        let mut networks = self.networks.lock().expect("login gate lock");
        let bucket = networks.get_or_insert_mut(network, || Bucket {
            tokens: BURST,
            at: now,
            in_flight: 0,
        });
        bucket.tokens = refilled(bucket, now);
        bucket.at = now;
        if bucket.in_flight >= IN_FLIGHT_PER_NETWORK || bucket.tokens < 1.0 {
            let wait = ((1.0 - bucket.tokens).max(0.0) / PER_SECOND).max(0.5);
            return Err(Duration::from_secs_f64(wait));
        }
        bucket.tokens -= 1.0;
        bucket.in_flight += 1;
        drop(networks);
        *self
            .wide_in_flight
            .lock()
            .expect("login gate lock")
            .entry(wide(network))
            .or_default() += 1;
        Ok(Entry { gate: self, network })
    }
}

impl LoginGate {
    /// Counts a wrong password from `network`.
    pub fn failed(&self, network: IpNet) {
        self.failed
            .lock()
            .expect("login gate lock")
            .put(wide(network), Instant::now());
    }
}

fn refilled(bucket: &Bucket, now: Instant) -> f64 {
    (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * PER_SECOND).min(BURST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn a_network_gets_a_few_logins_at_once_and_a_few_a_second() {
        let gate = LoginGate::default();
        let a = net("192.0.2.0/24");
        let first = gate.enter(a).unwrap();
        let second = gate.enter(a).unwrap();
        assert!(gate.enter(a).is_err(), "a third at once");
        assert!(
            gate.enter(net("198.51.100.0/24")).is_ok(),
            "another network is not held up"
        );
        drop(first);
        drop(second);
        let mut let_through = 2;
        while gate.enter(a).is_ok() {
            let_through += 1;
        }
        assert_eq!(let_through, BURST as usize, "the burst, then a wait");
    }

    #[test]
    fn a_wrong_password_sends_its_wide_network_to_the_second_queue() {
        let gate = LoginGate::default();
        let priority = |network: &str| gate.enter(net(network)).unwrap().priority();
        assert_eq!(priority("198.51.100.0/24"), Priority::First);
        gate.failed(net("198.51.100.0/24"));
        assert_eq!(priority("198.51.7.0/24"), Priority::Normal, "the same /16");
        assert_eq!(priority("198.52.7.0/24"), Priority::First);
        gate.failed(net("2001:db8:1:2::/64"));
        assert_eq!(priority("2001:db8:1:ffff::/64"), Priority::Normal, "the same /48");
        assert_eq!(priority("2001:db8:2::/64"), Priority::First);
    }

    #[test]
    fn only_a_few_logins_of_a_wide_network_go_first_at_once() {
        let gate = LoginGate::default();
        let held: Vec<Entry<'_>> = (0..3)
            .map(|n| gate.enter(net(&format!("203.0.{n}.0/24"))).unwrap())
            .collect();
        assert_eq!(held[0].priority(), Priority::Normal, "three under way from one /16");
        drop(held);
        assert_eq!(gate.enter(net("203.0.9.0/24")).unwrap().priority(), Priority::First);
        assert!(gate.wide_in_flight.lock().unwrap().is_empty(), "nothing left behind");
    }

    #[test]
    fn a_full_gate_forgets_the_quietest_network_and_refuses_none() {
        let gate = LoginGate::default();
        for n in 0..MAX_NETWORKS as u32 + 10 {
            let network = IpNet::new(std::net::Ipv4Addr::from(n << 8).into(), 24).unwrap();
            drop(gate.enter(network).expect("a network never seen is let in"));
        }
        assert_eq!(gate.networks.lock().unwrap().len(), MAX_NETWORKS);
        assert!(
            gate.enter(net("203.0.113.0/24")).is_ok(),
            "a new network, the table full"
        );
    }
}
