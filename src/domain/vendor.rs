//! A phone vendor, as sipprov knows it: the code of the pack that serves it
//! (`yealink`, `grandstream`, or any family a pack in the data dir adds).
//! Which names, OUIs and files belong to it is the pack's business
//! (`crate::packs`); here it is only a small, copyable code.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vendor(&'static str);

/// Every code seen, kept once: codes come from pack folder names, a set
/// the data dir's owner controls and that stays small.
static CODES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

impl Vendor {
    /// The vendor with this pack code (lower-case letters, digits, `-`, `_`).
    pub fn intern(code: &str) -> Vendor {
        let mut codes = CODES.lock().expect("vendor codes lock");
        if let Some(known) = codes.get(code) {
            return Vendor(known);
        }
        let leaked: &'static str = Box::leak(code.to_string().into_boxed_str());
        codes.insert(leaked);
        Vendor(leaked)
    }

    pub fn code(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A vendor name no pack answers to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown vendor '{name}'; accepted: {accepted}")]
pub struct UnknownVendor {
    pub name: String,
    pub accepted: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_code_is_one_vendor() {
        let a = Vendor::intern("acme");
        let b = Vendor::intern(&String::from("acme"));
        assert_eq!(a, b);
        assert!(std::ptr::eq(a.code(), b.code()));
        assert_ne!(a, Vendor::intern("acme2"));
        assert_eq!(a.to_string(), "acme");
    }
}
