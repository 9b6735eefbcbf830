//! When each phone of a push is told: at most the site's rate overall, and
//! at most its rate per network (/24 or /64), with jitter. Times are given
//! when a job is made, against the rows still waiting, so any node can send
//! a row once it is due and the rates hold across nodes and jobs.

use std::collections::{BTreeSet, HashMap};

use crate::store::resync::Waiting;

/// How often each sender looks at the queue when nothing is due sooner.
pub const LOOK_EVERY_MS: i64 = 500;

/// How long after a push is made its first NOTIFY goes: every sender has
/// looked at the queue since, and then wakes when each row is due, so rows
/// go out on time and a network's NOTIFYs keep their spacing.
pub const FIRST_AFTER_MS: i64 = 2 * LOOK_EVERY_MS;

/// Milliseconds since 1970 now, as the queue keeps times.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// NOTIFYs a minute: overall, and per network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub per_minute: u32,
    pub per_network_per_minute: u32,
}

impl Default for Rates {
    /// FS PBX's pacing: 50 a minute overall, 5 a minute per site.
    fn default() -> Self {
        Rates {
            per_minute: 50,
            per_network_per_minute: 5,
        }
    }
}

/// The times (ms) to tell `networks`' phones, in their order. Overall, time
/// is cut in slots of 60 s / `per_minute` and each slot holds one NOTIFY;
/// in one network two NOTIFYs are at least 60 s / `per_network_per_minute`
/// apart. Networks take turns, so one big site does not hold up the others.
/// `jitter(n)` gives a number in `0..n`.
pub fn schedule(
    waiting: &[Waiting],
    networks: &[String],
    now_ms: i64,
    rates: Rates,
    mut jitter: impl FnMut(i64) -> i64,
) -> Vec<i64> {
    let slot = 60_000 / i64::from(rates.per_minute.max(1));
    let gap = 60_000 / i64::from(rates.per_network_per_minute.max(1));
    let mut taken: BTreeSet<i64> = waiting.iter().map(|w| w.due_ms.div_euclid(slot)).collect();
    let mut next_in: HashMap<&str, i64> = HashMap::new();
    for w in waiting {
        let next = next_in.entry(w.network.as_str()).or_insert(i64::MIN);
        *next = (*next).max(w.due_ms + gap);
    }
    let mut due = vec![0; networks.len()];
    for i in taking_turns(networks) {
        let network = networks[i].as_str();
        let earliest = now_ms.max(next_in.get(network).copied().unwrap_or(i64::MIN));
        let mut index = earliest.div_euclid(slot);
        while taken.contains(&index) {
            index += 1;
        }
        taken.insert(index);
        let start = (index * slot).max(earliest);
        let end = (index + 1) * slot;
        let at = (start + jitter((slot / 4).max(1))).min(end - 1).max(start);
        due[i] = at;
        next_in.insert(network, at + gap);
    }
    due
}

/// Indexes of `networks` in turns: the first of each network, then the
/// second of each, and so on.
fn taking_turns(networks: &[String]) -> Vec<usize> {
    let mut by_network: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, n) in networks.iter().enumerate() {
        match by_network.iter_mut().find(|(name, _)| *name == n.as_str()) {
            Some((_, list)) => list.push(i),
            None => by_network.push((n.as_str(), vec![i])),
        }
    }
    let longest = by_network.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    (0..longest)
        .flat_map(|turn| by_network.iter().filter_map(move |(_, l)| l.get(turn).copied()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_network_is_spaced_by_its_own_rate() {
        let networks = nets(&["a"; 20]);
        let due = schedule(&[], &networks, 0, Rates::default(), |_| 0);
        for pair in due.windows(2) {
            assert!(pair[1] - pair[0] >= 12_000, "{due:?}");
        }
        // 20 phones at 5 a minute: the last goes out after 19 gaps.
        assert_eq!(due[19], 19 * 12_000);
    }

    #[test]
    fn many_networks_share_the_overall_rate_in_turns() {
        let networks: Vec<String> = (0..100).map(|i| format!("n{}", i % 50)).collect();
        let due = schedule(&[], &networks, 0, Rates::default(), |n| n - 1);
        let mut sorted = due.clone();
        sorted.sort();
        // No minute holds more than 50 (one per 1.2 s slot).
        for (i, t) in sorted.iter().enumerate() {
            let in_minute = sorted[i..].iter().take_while(|u| **u < t + 60_000).count();
            assert!(in_minute <= 51, "{in_minute} within a minute of {t}");
        }
        // Each network's two phones are still 12 s apart.
        for n in 0..50 {
            assert!((due[n + 50] - due[n]).abs() >= 12_000);
        }
    }

    #[test]
    fn a_new_job_fits_around_the_rows_waiting() {
        let waiting = vec![
            Waiting {
                network: "a".into(),
                due_ms: 0,
            },
            Waiting {
                network: "b".into(),
                due_ms: 1_200,
            },
        ];
        let due = schedule(&waiting, &nets(&["a", "c"]), 0, Rates::default(), |_| 0);
        assert!(due[0] >= 12_000, "network a waits for its gap: {due:?}");
        assert_eq!(due[1], 2_400, "c takes the first free slot");
    }
}
