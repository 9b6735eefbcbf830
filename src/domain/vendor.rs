//! The phone vendors sipprov provisions, and the names admins use for them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vendor {
    Yealink,
    Grandstream,
    Fanvil,
    Huawei,
    Polycom,
    Snom,
    Cisco,
    Htek,
    Flyingvoice,
    Akuvox,
    Gigaset,
    /// The PBX maker's own brand (小樱桃, x-y-t.cn).
    Xyt,
}

/// Every accepted spelling, lower-case, with the vendor it names. The first
/// entry for each vendor is its canonical code.
const NAMES: &[(&str, Vendor)] = &[
    ("yealink", Vendor::Yealink),
    ("亿联", Vendor::Yealink),
    ("grandstream", Vendor::Grandstream),
    ("gs", Vendor::Grandstream),
    ("潮流", Vendor::Grandstream),
    ("fanvil", Vendor::Fanvil),
    ("方位", Vendor::Fanvil),
    ("huawei", Vendor::Huawei),
    ("华为", Vendor::Huawei),
    ("polycom", Vendor::Polycom),
    ("poly", Vendor::Polycom),
    ("snom", Vendor::Snom),
    ("cisco", Vendor::Cisco),
    ("htek", Vendor::Htek),
    ("flyingvoice", Vendor::Flyingvoice),
    ("akuvox", Vendor::Akuvox),
    ("gigaset", Vendor::Gigaset),
    ("xyt", Vendor::Xyt),
];

/// Vendors' MAC prefixes (OUIs), for guessing who an unknown phone is.
const OUIS: &[(&str, Vendor)] = &[
    ("001565", Vendor::Yealink),
    ("805ec0", Vendor::Yealink),
    ("805e0c", Vendor::Yealink),
    ("c4fc22", Vendor::Yealink),
    ("44dbd2", Vendor::Yealink),
    ("249ad8", Vendor::Yealink),
    ("e434d7", Vendor::Yealink),
    ("644f56", Vendor::Yealink),
    ("ec1da9", Vendor::Yealink),
    ("3497d7", Vendor::Yealink),
    ("b061a9", Vendor::Yealink),
    ("f01653", Vendor::Yealink),
    ("000b82", Vendor::Grandstream),
    ("c074ad", Vendor::Grandstream),
    ("ec74d7", Vendor::Grandstream),
    ("0c383e", Vendor::Fanvil),
    ("00a859", Vendor::Fanvil),
    ("0004f2", Vendor::Polycom),
    ("64167f", Vendor::Polycom),
    ("482567", Vendor::Polycom),
    ("00907a", Vendor::Polycom),
    ("000413", Vendor::Snom),
    ("00087b", Vendor::Snom),
    ("002699", Vendor::Cisco),
    ("503de5", Vendor::Cisco),
    ("00e16d", Vendor::Cisco),
    ("00da55", Vendor::Cisco),
    ("10bd18", Vendor::Cisco),
    ("001873", Vendor::Cisco),
    ("a44c11", Vendor::Cisco),
    ("30e4db", Vendor::Cisco),
    ("002155", Vendor::Cisco),
    ("68efbd", Vendor::Cisco),
    // wazo-provd-plugins wazo_cisco_spa / cisco MPP DHCP classes.
    ("d0ec35", Vendor::Cisco),
    ("00562b", Vendor::Cisco),
    ("0021a0", Vendor::Cisco),
    ("0002fd", Vendor::Cisco),
    ("8843e1", Vendor::Cisco),
    ("001fc1", Vendor::Htek),
    ("0021f2", Vendor::Flyingvoice),
    ("0c1105", Vendor::Akuvox),
    ("7c2f80", Vendor::Gigaset),
    ("002104", Vendor::Gigaset),
    ("589ec6", Vendor::Gigaset),
    ("14b370", Vendor::Gigaset),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown vendor '{0}'; accepted: {accepted}", accepted = Vendor::accepted_names())]
pub struct UnknownVendor(pub String);

impl Vendor {
    /// Resolves a vendor name as admins write it: any case, Chinese or English.
    pub fn resolve(name: &str) -> Result<Vendor, UnknownVendor> {
        let wanted = name.trim().to_lowercase();
        NAMES
            .iter()
            .find(|(n, _)| *n == wanted)
            .map(|(_, v)| *v)
            .ok_or_else(|| UnknownVendor(name.to_string()))
    }

    /// Every vendor, in the order of their names.
    pub fn all() -> impl Iterator<Item = Vendor> {
        NAMES
            .iter()
            .enumerate()
            .filter(|(i, (_, v))| *i == 0 || NAMES[i - 1].1 != *v)
            .map(|(_, (_, v))| *v)
    }

    pub fn code(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, v)| *v == self)
            .map(|(n, _)| *n)
            .expect("every vendor has a name")
    }

    /// The vendor whose prefix a MAC carries, if it is a known one.
    pub fn from_oui(mac: &crate::domain::Mac) -> Option<Vendor> {
        let lower = mac.lower();
        OUIS.iter().find(|(oui, _)| lower.starts_with(oui)).map(|(_, v)| *v)
    }

    pub fn accepted_names() -> String {
        NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_each_vendor_once_by_its_code() {
        let codes: Vec<&str> = Vendor::all().map(Vendor::code).collect();
        assert_eq!(codes.len(), 12);
        assert_eq!(codes[..3], ["yealink", "grandstream", "fanvil"]);
        for code in &codes {
            assert_eq!(Vendor::resolve(code).unwrap().code(), *code);
        }
    }

    #[test]
    fn resolves_chinese_and_short_names() {
        assert_eq!(Vendor::resolve("潮流").unwrap(), Vendor::Grandstream);
        assert_eq!(Vendor::resolve("GS").unwrap(), Vendor::Grandstream);
        assert_eq!(Vendor::resolve(" Yealink ").unwrap(), Vendor::Yealink);
        assert_eq!(Vendor::resolve("华为").unwrap(), Vendor::Huawei);
        assert_eq!(Vendor::resolve("poly").unwrap().code(), "polycom");
    }

    #[test]
    fn guesses_by_oui() {
        let mac = |s: &str| s.parse::<crate::domain::Mac>().unwrap();
        assert_eq!(Vendor::from_oui(&mac("00:15:65:12:34:56")), Some(Vendor::Yealink));
        assert_eq!(Vendor::from_oui(&mac("000B82AABBCC")), Some(Vendor::Grandstream));
        assert_eq!(Vendor::from_oui(&mac("020000000001")), None);
    }

    #[test]
    fn unknown_vendor_lists_accepted_values() {
        let err = Vendor::resolve("acme").unwrap_err().to_string();
        assert!(err.contains("'acme'") && err.contains("yealink") && err.contains("潮流"));
    }
}
