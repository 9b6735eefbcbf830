//! How a node learns of changes it did not make: another node's (by
//! PostgreSQL's LISTEN/NOTIFY), another process's on the same SQLite file
//! (by `PRAGMA data_version`, looked at every 100 ms), or anything else
//! (by a look at the change log every `change_check_interval`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Provisioner;
use crate::domain::timestamp;

/// How long changes stay in the log: far longer than any node takes to read them.
const KEEP_CHANGES: i64 = 3600;
const PRUNE_EVERY: Duration = Duration::from_secs(600);

impl Provisioner {
    /// Follows the change log for as long as the server runs.
    pub fn watch_changes(self: &Arc<Self>, check_every: Duration) {
        let provisioner = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(check_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut pruned = Instant::now();
            loop {
                let mut watch = match provisioner.db.watch_changes().await {
                    Ok(watch) => Some(watch),
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot watch for changes; looking every change_check_interval");
                        None
                    }
                };
                loop {
                    let watched = async {
                        match watch.as_mut() {
                            Some(watch) => watch.next().await,
                            None => std::future::pending().await,
                        }
                    };
                    let lost = tokio::select! {
                        watched = watched => watched.is_err(),
                        _ = tick.tick() => false,
                    };
                    if let Err(err) = provisioner.catch_up().await {
                        tracing::warn!(error = %err, "could not read the change log");
                    }
                    if let Err(err) = provisioner.note_packs().await {
                        tracing::warn!(error = %err, "could not record that the packs changed");
                    }
                    if pruned.elapsed() >= PRUNE_EVERY {
                        pruned = Instant::now();
                        let before = timestamp::now().unix_timestamp() - KEEP_CHANGES;
                        if let Err(err) = provisioner.db.prune_changes(before).await {
                            tracing::warn!(error = %err, "could not prune the change log");
                        }
                    }
                    if lost {
                        tracing::warn!("lost the change watch; opening it again");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
        });
    }
}
