//! What a phone's User-Agent says: family, model, firmware and, for most
//! families, the MAC. The patterns are the packs' `[[user_agents]]`, tried
//! family by family in code order.

use regex::Regex;

use crate::domain::{Mac, Vendor};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneAgent {
    pub vendor: Vendor,
    pub model: String,
    pub firmware: String,
    pub mac: Option<Mac>,
}

#[derive(Debug, Default)]
pub struct AgentTable {
    rules: Vec<(Vendor, Regex)>,
}

impl AgentTable {
    pub fn push(&mut self, vendor: Vendor, pattern: Regex) {
        self.rules.push((vendor, pattern));
    }

    /// Reads a User-Agent; None for anything that is not a known phone.
    pub fn parse(&self, user_agent: &str) -> Option<PhoneAgent> {
        self.rules.iter().find_map(|(vendor, re)| {
            let c = re.captures(user_agent)?;
            Some(PhoneAgent {
                vendor: *vendor,
                model: c.name("model").map_or("", |m| m.as_str()).to_string(),
                firmware: c.name("fw").map_or("", |m| m.as_str()).to_string(),
                mac: c.name("mac").and_then(|m| m.as_str().parse().ok()),
            })
        })
    }
}
