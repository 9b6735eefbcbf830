//! What one miss costs the phone throttle with 0, 10,000 and 100,000
//! networks already tracked (and at the table's bound, where every new
//! network pushes one out). bench/throttle.sh runs it.
//!
//! Prints, per table size, the nanoseconds one miss takes: the median and
//! the 99th percentile of batches of 1,000 misses.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

use sipprov::domain::Mac;
use sipprov::provision::limit::{MAX_TRACKED, MissLimiter};

const BATCH: u32 = 1_000;
const BATCHES: u32 = 200;

fn network(n: u32) -> IpAddr {
    Ipv6Addr::new(0x2001, 0xdb8, (n >> 16) as u16, n as u16, 0, 0, 0, 1).into()
}

fn mac(n: u32) -> Mac {
    format!("02{n:010x}").parse().expect("a MAC")
}

fn main() {
    println!("networks tracked  ns/miss p50  ns/miss p99");
    for size in [0, 10_000, 100_000, MAX_TRACKED + 1] {
        let limiter = MissLimiter::default();
        for n in 0..size as u32 {
            limiter.unknown_mac(network(n), mac(n));
        }
        let mut per_miss = Vec::new();
        let mut next = 10_000_000u32;
        for _ in 0..BATCHES {
            let started = Instant::now();
            for _ in 0..BATCH {
                // A new network each time: the costliest miss (a new entry,
                // and at the bound an eviction).
                limiter.unknown_mac(network(next), mac(next));
                next += 1;
            }
            per_miss.push(started.elapsed().as_nanos() as f64 / f64::from(BATCH));
        }
        per_miss.sort_by(f64::total_cmp);
        let at = |q: f64| per_miss[((per_miss.len() - 1) as f64 * q) as usize];
        let label = if size > MAX_TRACKED {
            format!("{MAX_TRACKED} (full)")
        } else {
            size.to_string()
        };
        println!("{label:>16}  {:>11.0}  {:>11.0}", at(0.5), at(0.99));
        assert!(limiter.tracked_networks() <= MAX_TRACKED);
    }
}
