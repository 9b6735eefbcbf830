//! What a phone's User-Agent says: family, model, firmware and, for most
//! families, the MAC. The patterns are the packs' `[[user_agents]]`, tried
//! family by family in code order.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use regex::{Regex, RegexSet};

use crate::domain::{Mac, Vendor};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneAgent {
    pub vendor: Vendor,
    pub model: String,
    pub firmware: String,
    pub mac: Option<Mac>,
}

/// The longest model or firmware kept from a User-Agent.
const MAX_FIELD: usize = 64;

/// How many distinct User-Agents keep their reading. Most families put the
/// MAC in it, so each phone has its own: this covers a boot storm of this
/// many phones at once. Past it, the least recently seen are read again
/// when they come back; no one is refused.
pub const KEPT_READINGS: usize = 32_768;

/// The longest User-Agent whose reading is kept: a phone's is well under
/// it, and a longer one costs its sender a fresh reading each time.
pub const MAX_KEPT_AGENT: usize = 160;

#[derive(Debug)]
pub struct AgentTable {
    rules: Vec<(Vendor, Regex)>,
    /// All the patterns at once: a User-Agent is searched once to find the
    /// first that matches, and only that one is asked for its groups.
    set: RegexSet,
    /// Readings by exact User-Agent: a phone sends the same one with each
    /// fetch, and reading it takes two regex searches.
    readings: Mutex<LruCache<Box<str>, Option<Arc<PhoneAgent>>>>,
}

impl AgentTable {
    pub fn new(rules: Vec<(Vendor, Regex)>) -> AgentTable {
        let set = RegexSet::new(rules.iter().map(|(_, re)| re.as_str())).expect("each pattern compiled alone");
        let kept = NonZeroUsize::new(KEPT_READINGS).expect("a positive constant");
        AgentTable {
            rules,
            set,
            readings: Mutex::new(LruCache::new(kept)),
        }
    }

    /// Reads a User-Agent; None for anything that is not a known phone.
    pub fn parse(&self, user_agent: &str) -> Option<Arc<PhoneAgent>> {
        if user_agent.len() > MAX_KEPT_AGENT {
            return self.read(user_agent).map(Arc::new);
        }
        if let Some(kept) = self.readings.lock().expect("readings lock").get(user_agent) {
            return kept.clone();
        }
        let reading = self.read(user_agent).map(Arc::new);
        self.readings
            .lock()
            .expect("readings lock")
            .put(user_agent.into(), reading.clone());
        reading
    }

    /// Model and firmware are cut to `MAX_FIELD` characters: they reach
    /// files and the render cache's keys.
    fn read(&self, user_agent: &str) -> Option<PhoneAgent> {
        let field = |m: Option<regex::Match<'_>>| m.map_or("", |m| m.as_str()).chars().take(MAX_FIELD).collect();
        let (vendor, re) = &self.rules[self.set.matches(user_agent).iter().next()?];
        let c = re.captures(user_agent)?;
        Some(PhoneAgent {
            vendor: *vendor,
            model: field(c.name("model")),
            firmware: field(c.name("fw")),
            mac: c.name("mac").and_then(|m| m.as_str().parse().ok()),
        })
    }

    /// How many readings are kept.
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.readings.lock().expect("readings lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> AgentTable {
        let yealink = Regex::new(r"^Yealink (?P<model>SIP-\S+) (?P<fw>\S+) (?P<mac>\S+)$").unwrap();
        AgentTable::new(vec![(Vendor::intern("yealink"), yealink)])
    }

    #[test]
    fn a_reading_is_kept_once_and_the_same_as_a_fresh_one() {
        let agents = table();
        let ua = "Yealink SIP-T46U 108.86.0.20 00:15:65:00:00:01";
        let first = agents.parse(ua).unwrap();
        let again = agents.parse(ua).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "read once");
        assert_eq!(*first, agents.read(ua).unwrap());
        assert_eq!(agents.parse("curl/8.0"), None);
        assert_eq!(agents.parse("curl/8.0"), None, "a miss is kept too");
        assert_eq!(agents.kept(), 2);
    }

    #[test]
    fn readings_kept_are_bounded_in_number_and_length() {
        let agents = table();
        for n in 0..KEPT_READINGS + 100 {
            agents.parse(&format!("Yealink SIP-T46U 108.86.0.20 {n:012x}"));
        }
        assert_eq!(agents.kept(), KEPT_READINGS, "the least recent go");
        let agents = table();
        let long = format!("Yealink SIP-T46U {} 00:15:65:00:00:01", "9".repeat(MAX_KEPT_AGENT));
        assert!(agents.parse(&long).is_some(), "read");
        assert_eq!(agents.kept(), 0, "but not kept");
    }
}
