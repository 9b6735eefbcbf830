//! A few threads of their own for slow synchronous work: password hashing
//! and template renders. Not the runtime's threads, so such work can never
//! starve the listeners; not its blocking pool either, which would grow a
//! thread per waiting job and which the runtime waits for at exit. Jobs wait
//! in two queues, the first served before the other.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// Which queue a job waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Served first: a phone waiting for its file, a login from a network
    /// with no counted failures, an administrator's own command.
    First,
    /// Everything else: pre-rendering, logins from networks that failed.
    Normal,
}

/// Threads started at most in place of ones a job holds past its caller's
/// patience; past them the pool works with what it has.
const MAX_SPARE: usize = 4;

pub struct WorkerPool {
    shared: Arc<Shared>,
}

struct Shared {
    name: &'static str,
    size: usize,
    /// The most jobs each queue (first, normal) holds for `run_or_refuse`.
    caps: [usize; 2],
    waiting: Mutex<Waiting>,
    ready: Condvar,
    /// Threads running now.
    alive: AtomicUsize,
    /// Jobs their callers gave up on that are still running.
    stuck: AtomicUsize,
}

#[derive(Default)]
struct Waiting {
    first: VecDeque<Job>,
    normal: VecDeque<Job>,
    closed: bool,
}

/// A job's caller may give up on it; see [`WorkerPool::run`].
#[derive(Clone, Default)]
struct GaveUp(Arc<AtomicBool>);

impl WorkerPool {
    /// `size` threads named `<name>-<n>`; they end when the pool is dropped.
    pub fn new(name: &'static str, size: usize) -> WorkerPool {
        WorkerPool::start(name, size, [usize::MAX; 2])
    }

    fn start(name: &'static str, size: usize, caps: [usize; 2]) -> WorkerPool {
        let shared = Arc::new(Shared {
            name,
            size,
            caps,
            waiting: Mutex::new(Waiting::default()),
            ready: Condvar::new(),
            alive: AtomicUsize::new(0),
            stuck: AtomicUsize::new(0),
        });
        for _ in 0..size {
            shared.start_thread();
        }
        WorkerPool { shared }
    }

    /// `size` threads whose queues hold at most `first` and `normal` jobs
    /// for [`run_or_refuse`](Self::run_or_refuse): waiting jobs hold a
    /// client each, and past that a client is better told to come back.
    pub fn with_caps(name: &'static str, size: usize, first: usize, normal: usize) -> WorkerPool {
        WorkerPool::start(name, size, [first, normal])
    }

    /// Queues `job` without waiting for it.
    pub fn submit(&self, priority: Priority, job: impl FnOnce() + Send + 'static) {
        self.queue(priority, Box::new(job), false);
    }

    /// Queues `job`, unless `capped` and its queue is full; says whether it did.
    fn queue(&self, priority: Priority, job: Job, capped: bool) -> bool {
        let mut waiting = self.shared.waiting.lock().expect("worker queue lock");
        let (queue, cap) = match priority {
            Priority::First => (&mut waiting.first, self.shared.caps[0]),
            Priority::Normal => (&mut waiting.normal, self.shared.caps[1]),
        };
        if capped && queue.len() >= cap {
            return false;
        }
        queue.push_back(job);
        drop(waiting);
        self.shared.ready.notify_one();
        true
    }

    /// Runs `work` on one of the pool's threads once one is free, after the
    /// jobs of its priority queued before it and those of a higher one. A
    /// caller that stops waiting (its request ended) leaves a job that is
    /// skipped if it has not started.
    pub async fn run<T: Send + 'static>(
        &self,
        priority: Priority,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        self.run_within(priority, None, work)
            .await
            .map_err(|_| anyhow::anyhow!("the {} pool has stopped", self.shared.name))
    }

    /// Like [`run`](Self::run), but refused at once (`Unfinished::Full`)
    /// when the job's queue holds its cap already.
    pub async fn run_or_refuse<T: Send + 'static>(
        &self,
        priority: Priority,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Unfinished> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if !done.is_closed() {
                let _ = done.send(work());
            }
        });
        if !self.queue(priority, job, true) {
            return Err(Unfinished::Full);
        }
        result.await.map_err(|_| Unfinished::Stopped)
    }

    /// Like [`run`](Self::run), giving up after `patience`. A job given up
    /// while it runs may hold its thread for long: another thread starts in
    /// its place (a few at most), and leaves once the job ends.
    pub async fn run_within<T: Send + 'static>(
        &self,
        priority: Priority,
        patience: Option<std::time::Duration>,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Unfinished> {
        let (done, result) = tokio::sync::oneshot::channel();
        let gave_up = GaveUp::default();
        let started = Arc::new(AtomicBool::new(false));
        {
            let (gave_up, started, shared) = (gave_up.clone(), started.clone(), self.shared.clone());
            self.submit(priority, move || {
                if done.is_closed() {
                    return;
                }
                started.store(true, Ordering::SeqCst);
                let _ = done.send(work());
                if gave_up.0.load(Ordering::SeqCst) {
                    shared.stuck.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
        let Some(patience) = patience else {
            return result.await.map_err(|_| Unfinished::Stopped);
        };
        match tokio::time::timeout(patience, result).await {
            Ok(outcome) => outcome.map_err(|_| Unfinished::Stopped),
            // Dropping the receiver skips a job that has not started.
            Err(_) if !started.load(Ordering::SeqCst) => Err(Unfinished::Queued),
            Err(_) => {
                if !gave_up.0.swap(true, Ordering::SeqCst) {
                    self.shared.stuck.fetch_add(1, Ordering::SeqCst);
                    self.shared.start_spare();
                }
                Err(Unfinished::TimedOut)
            }
        }
    }
}

/// Why a job gave no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unfinished {
    #[error("its queue was full")]
    Full,
    #[error("it waited longer than its caller would, and never started")]
    Queued,
    #[error("it ran longer than its caller would wait")]
    TimedOut,
    #[error("the pool has stopped")]
    Stopped,
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.shared.waiting.lock().expect("worker queue lock").closed = true;
        self.shared.ready.notify_all();
    }
}

impl Shared {
    fn start_thread(self: &Arc<Self>) {
        let n = self.alive.fetch_add(1, Ordering::SeqCst);
        let shared = self.clone();
        std::thread::Builder::new()
            .name(format!("{}-{n}", self.name))
            .spawn(move || shared.work())
            .expect("a worker thread starts");
    }

    /// Starts a thread in place of one a job holds, a few at most.
    fn start_spare(self: &Arc<Self>) {
        if self.alive.load(Ordering::SeqCst) < self.size + MAX_SPARE {
            self.start_thread();
        }
    }

    fn work(&self) {
        while let Some(job) = self.next() {
            job();
            // A spare leaves once the job it stood in for is over.
            let wanted = self.size + self.stuck.load(Ordering::SeqCst).min(MAX_SPARE);
            if self
                .alive
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |alive| {
                    (alive > wanted).then(|| alive - 1)
                })
                .is_ok()
            {
                return;
            }
        }
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }

    /// The next job, first-priority ones before the rest; `None` once closed.
    fn next(&self) -> Option<Job> {
        let mut waiting = self.waiting.lock().expect("worker queue lock");
        loop {
            if let Some(job) = waiting.first.pop_front().or_else(|| waiting.normal.pop_front()) {
                return Some(job);
            }
            if waiting.closed {
                return None;
            }
            waiting = self.ready.wait(waiting).expect("worker queue lock");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn first_jobs_go_before_the_rest() {
        let pool = Arc::new(WorkerPool::new("test", 1));
        let order = Arc::new(Mutex::new(Vec::new()));
        // Hold the one thread so the rest queue up.
        let (release, held) = std::sync::mpsc::channel::<()>();
        pool.submit(Priority::Normal, move || held.recv().unwrap());
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
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![3, 1, 2]);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_the_other_queue_still_takes() {
        let pool = WorkerPool::with_caps("test", 1, 10, 2);
        let (release, held) = std::sync::mpsc::channel::<()>();
        pool.submit(Priority::Normal, move || held.recv().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let pool = Arc::new(pool);
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.run_or_refuse(Priority::Normal, || 1).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.run_or_refuse(Priority::Normal, || 1).await, Err(Unfinished::Full));
        let first = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run_or_refuse(Priority::First, || 2).await })
        };
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(2));
        for task in waiting {
            assert_eq!(task.await.unwrap(), Ok(1));
        }
    }

    #[tokio::test]
    async fn the_pool_runs_no_more_than_its_size_at_once() {
        let pool = Arc::new(WorkerPool::new("test", 3));
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

    #[tokio::test]
    async fn a_job_held_past_its_callers_patience_gets_a_thread_in_its_place() {
        let pool = WorkerPool::new("test", 1);
        let (release, held) = std::sync::mpsc::channel::<()>();
        let stuck = pool
            .run_within(Priority::First, Some(Duration::from_millis(50)), move || {
                held.recv().unwrap()
            })
            .await;
        assert_eq!(stuck, Err(Unfinished::TimedOut));
        assert_eq!(pool.shared.alive.load(Ordering::SeqCst), 2, "a spare started");
        // The pool still answers while the stuck job runs.
        assert_eq!(pool.run(Priority::First, || 7).await.unwrap(), 7);
        release.send(()).unwrap();
        for _ in 0..100 {
            if pool.shared.alive.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(pool.shared.alive.load(Ordering::SeqCst), 1, "the spare left");
        assert_eq!(pool.shared.stuck.load(Ordering::SeqCst), 0);
    }
}
