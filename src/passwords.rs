//! Password checks are slow and take memory on purpose (argon2): each one
//! holds about 19 MiB and a core. They run in a small pool of their own, and
//! each source network may start only a few logins at a time and a few a
//! second, so a flood of bogus logins can neither exhaust memory nor keep
//! anyone else from logging in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::IpNet;

type Job = Box<dyn FnOnce() + Send>;

/// Runs password hashing and checks on a few threads of its own. Their own
/// threads, not the runtime's blocking pool: each argon2 block is freed
/// into its thread's allocator arena and kept there, so memory stays at a
/// few blocks instead of one per blocking thread ever used.
pub struct PasswordPool {
    jobs: tokio::sync::mpsc::Sender<Job>,
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

impl PasswordPool {
    /// `size` threads; they end when the pool is dropped.
    pub fn new(size: usize) -> PasswordPool {
        // Callers past the queue wait their turn without holding a thread.
        let (jobs, queue) = tokio::sync::mpsc::channel::<Job>(size * 16);
        let queue = std::sync::Arc::new(Mutex::new(queue));
        for n in 0..size {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("passwords-{n}"))
                .spawn(move || {
                    loop {
                        let job = queue.lock().expect("password queue lock").blocking_recv();
                        match job {
                            Some(job) => job(),
                            None => break,
                        }
                    }
                })
                .expect("a password thread starts");
        }
        PasswordPool { jobs }
    }

    /// Runs `work` on one of the pool's threads once one is free.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .await
            .map_err(|_| anyhow::anyhow!("the password pool has stopped"))?;
        Ok(result.await?)
    }
}

/// Logins one network may have under way at once.
const IN_FLIGHT_PER_NETWORK: u32 = 2;
/// Logins one network may start in a burst, and how fast that refills.
const BURST: f64 = 30.0;
const PER_SECOND: f64 = 5.0;
/// Networks tracked at once; past this, those at rest are forgotten.
const MAX_NETWORKS: usize = 10_000;

#[derive(Default)]
pub struct LoginGate {
    networks: Mutex<HashMap<IpNet, Bucket>>,
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
        if let Some(bucket) = networks.get_mut(&self.network) {
            bucket.in_flight = bucket.in_flight.saturating_sub(1);
        }
    }
}

impl LoginGate {
    /// Lets a login from `network` through, or says how long to wait.
    pub fn enter(&self, network: IpNet) -> Result<Entry<'_>, Duration> {
        let now = Instant::now();
        let mut networks = self.networks.lock().expect("login gate lock");
        if networks.len() >= MAX_NETWORKS && !networks.contains_key(&network) {
            // A network at rest with a full bucket is the same as one never seen.
            networks.retain(|_, b| b.in_flight > 0 || refilled(b, now) < BURST);
            if networks.len() >= MAX_NETWORKS {
                return Err(Duration::from_secs(1));
            }
        }
        let bucket = networks.entry(network).or_insert(Bucket {
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
                pool.run(move || {
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
