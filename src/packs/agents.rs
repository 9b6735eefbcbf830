//! What a phone's User-Agent says: family, model, firmware and, for most
//! families, the MAC. The patterns are the packs' `[[user_agents]]`, tried
//! family by family in code order.

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

#[derive(Debug)]
pub struct AgentTable {
    rules: Vec<(Vendor, Regex)>,
    /// All the patterns at once: a User-Agent is searched once to find the
    /// first that matches, and only that one is asked for its groups.
    set: RegexSet,
}

impl AgentTable {
    pub fn new(rules: Vec<(Vendor, Regex)>) -> AgentTable {
        let set = RegexSet::new(rules.iter().map(|(_, re)| re.as_str())).expect("each pattern compiled alone");
        AgentTable { rules, set }
    }

    /// Reads a User-Agent; None for anything that is not a known phone.
    /// Model and firmware are cut to `MAX_FIELD` characters: they reach
    /// files and the render cache's keys.
    pub fn parse(&self, user_agent: &str) -> Option<PhoneAgent> {
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
}
