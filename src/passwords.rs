//! Password checks are slow and take memory on purpose (argon2): each one
//! holds about 19 MiB and a core. They run in a small pool of their own, and
//! each source network may start only a few logins at a time and a few a
//! second, so a flood of bogus logins can neither exhaust memory nor keep
//! anyone else from logging in: checks for networks with no counted failures
//! go first, so a flood from networks that keep failing waits behind them.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use lru::LruCache;

type Job = Box<dyn FnOnce() + Send>;

/// Which queue a check waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A login from a network with no counted failures, or an administrator's
    /// own command.
    First,
    /// A login from a network that has failed before.
    Normal,
}

/// Runs password hashing and checks on a few threads of its own. Their own
/// threads, not the runtime's blocking pool: each argon2 block is freed
/// into its thread's allocator arena and kept there, so memory stays at a
/// few blocks instead of one per blocking thread ever used.
pub struct PasswordPool {
    queues: std::sync::Arc<Queues>,
}

#[derive(Default)]
struct Queues {
    waiting: Mutex<Waiting>,
    ready: Condvar,
}

#[derive(Default)]
struct Waiting {
    first: VecDeque<Job>,
    normal: VecDeque<Job>,
    closed: bool,
}

impl Default for PasswordPool {
    /// Half the cores (at least one): a flood of logins may take those,
    /// and the phones keep the rest. Measured with bench/abuse.sh: with
    /// twice the cores, 100 bogus logins at once pushed the phones' p99
    /// past 500 ms on 2 cores.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        PasswordPool::new((cores / 2).max(1))
    }
}

impl Drop for PasswordPool {
    fn drop(&mut self) {
        self.queues.waiting.lock().expect("password queue lock").closed = true;
        self.queues.ready.notify_all();
    }
}

impl PasswordPool {
    /// `size` threads; they end when the pool is dropped. The first job
    /// makes the dummy hash unknown names are checked against, so no
    /// login pays for it.
    pub fn new(size: usize) -> PasswordPool {
        let queues = std::sync::Arc::new(Queues::default());
        for n in 0..size {
            let queues = queues.clone();
            std::thread::Builder::new()
                .name(format!("passwords-{n}"))
                .spawn(move || {
                    while let Some(job) = queues.next() {
                        job();
                    }
                })
                .expect("a password thread starts");
        }
        let pool = PasswordPool { queues };
        pool.queue(Priority::First, Box::new(crate::secrets::prepare_dummy_hash));
        pool
    }

    fn queue(&self, priority: Priority, job: Job) {
        let mut waiting = self.queues.waiting.lock().expect("password queue lock");
        match priority {
            Priority::First => waiting.first.push_back(job),
            Priority::Normal => waiting.normal.push_back(job),
        }
        drop(waiting);
        self.queues.ready.notify_one();
    }

    /// Runs `work` on one of the pool's threads once one is free, after
    /// every job of a higher priority queued before it. A caller that gives
    /// up (its request ended) leaves a job that does no harm when it runs.
    pub async fn run<T: Send + 'static>(
        &self,
        priority: Priority,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.queue(
            priority,
            Box::new(move || {
                if !done.is_closed() {
                    let _ = done.send(work());
                }
            }),
        );
        result
            .await
            .map_err(|_| anyhow::anyhow!("the password pool has stopped"))
    }
}

impl Queues {
    /// The next job, first-priority ones before the rest; `None` once closed.
    fn next(&self) -> Option<Job> {
        let mut waiting = self.waiting.lock().expect("password queue lock");
        loop {
            if let Some(job) = waiting.first.pop_front().or_else(|| waiting.normal.pop_front()) {
                return Some(job);
            }
            if waiting.closed {
                return None;
            }
            waiting = self.ready.wait(waiting).expect("password queue lock");
        }
    }
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

pub struct LoginGate {
    networks: Mutex<LruCache<IpNet, Bucket>>,
}

impl Default for LoginGate {
    fn default() -> Self {
        LoginGate {
            networks: Mutex::new(LruCache::new(NonZeroUsize::new(MAX_NETWORKS).expect("non-zero"))),
        }
    }
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
        Ok(Entry { gate: self, network })
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

    #[tokio::test]
    async fn checks_from_clean_networks_go_first() {
        use std::sync::Arc;
        let pool = Arc::new(PasswordPool::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        // Hold the one thread so the rest queue up.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(Priority::Normal, move || held.recv().unwrap()).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut tasks = Vec::new();
        for (n, priority) in [(1, Priority::Normal), (2, Priority::Normal), (3, Priority::First)] {
            let (pool, order) = (pool.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(priority, move || order.lock().unwrap().push(n)).await.unwrap()
            }));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![3, 1, 2]);
    }

    #[tokio::test]
    async fn the_pool_runs_no_more_than_its_size_at_once() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let pool = Arc::new(PasswordPool::new(3));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(Priority::Normal, move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
                .unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
