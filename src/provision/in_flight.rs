//! Work under way, shared: the first caller for a key runs it, and every
//! caller that arrives for the same key meanwhile gets its result. Entries
//! live only while somebody waits on them, so the map never holds more
//! than there are callers.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

pub struct InFlight<K, V> {
    running: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K: Hash + Eq + Clone, V: Clone> InFlight<K, V> {
    pub fn new() -> Self {
        InFlight {
            running: Mutex::new(HashMap::new()),
        }
    }

    /// `work`'s result, or that of the same key's work already under way.
    /// If the caller running it goes away, a waiting one takes it over.
    pub async fn share<F: Future<Output = V>>(&self, key: &K, work: impl FnOnce() -> F) -> V {
        let waiting = Waiting {
            in_flight: self,
            key,
            cell: Some(self.lock().entry(key.clone()).or_default().clone()),
        };
        waiting
            .cell
            .as_ref()
            .expect("held until dropped")
            .get_or_init(work)
            .await
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<OnceCell<V>>>> {
        self.running.lock().expect("in-flight lock")
    }

    /// Keys with work under way.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Default for InFlight<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// Leaves the map once the last caller waiting on a key is done, or gone.
struct Waiting<'a, K: Hash + Eq + Clone, V: Clone> {
    in_flight: &'a InFlight<K, V>,
    key: &'a K,
    cell: Option<Arc<OnceCell<V>>>,
}

impl<K: Hash + Eq + Clone, V: Clone> Drop for Waiting<'_, K, V> {
    fn drop(&mut self) {
        let mut running = self.in_flight.lock();
        // Let go under the lock, so the last caller to leave sees that it is.
        drop(self.cell.take());
        if running.get(self.key).is_some_and(|c| Arc::strong_count(c) == 1) {
            running.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn callers_that_arrive_together_share_one_run() {
        let shared = Arc::new(InFlight::<String, usize>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut callers = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (shared, runs) = (shared.clone(), runs.clone());
            callers.spawn(async move {
                shared
                    .share(&"a.cfg".to_string(), || async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        runs.fetch_add(1, Ordering::SeqCst) + 100
                    })
                    .await
            });
        }
        let results = callers.join_all().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one run for 20 callers");
        assert!(results.iter().all(|r| *r == 100));
        assert!(shared.is_empty(), "nothing is left behind");
        // Later callers run it again: only work under way is shared.
        shared.share(&"a.cfg".to_string(), || async { 7 }).await;
        assert!(shared.is_empty());
    }

    #[tokio::test]
    async fn callers_that_go_away_leave_nothing_behind() {
        let shared = InFlight::<u32, u32>::new();
        for key in 0..100 {
            let never = shared.share(&key, std::future::pending);
            assert!(tokio::time::timeout(Duration::from_millis(1), never).await.is_err());
        }
        assert!(shared.is_empty(), "{} keys left", shared.len());
    }

    #[tokio::test]
    async fn a_waiting_caller_takes_over_from_one_that_went_away() {
        let shared = Arc::new(InFlight::<u32, u32>::new());
        let first = {
            let shared = shared.clone();
            tokio::spawn(async move { shared.share(&1, std::future::pending).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let second = {
            let shared = shared.clone();
            tokio::spawn(async move { shared.share(&1, || async { 5 }).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        first.abort();
        assert_eq!(second.await.unwrap(), 5);
        assert!(shared.is_empty());
    }
}
