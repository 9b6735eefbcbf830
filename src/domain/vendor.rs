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

    pub fn code(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, v)| *v == self)
            .map(|(n, _)| *n)
            .expect("every vendor has a name")
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
    fn resolves_chinese_and_short_names() {
        assert_eq!(Vendor::resolve("潮流").unwrap(), Vendor::Grandstream);
        assert_eq!(Vendor::resolve("GS").unwrap(), Vendor::Grandstream);
        assert_eq!(Vendor::resolve(" Yealink ").unwrap(), Vendor::Yealink);
        assert_eq!(Vendor::resolve("华为").unwrap(), Vendor::Huawei);
        assert_eq!(Vendor::resolve("poly").unwrap().code(), "polycom");
    }

    #[test]
    fn unknown_vendor_lists_accepted_values() {
        let err = Vendor::resolve("acme").unwrap_err().to_string();
        assert!(err.contains("'acme'") && err.contains("yealink") && err.contains("潮流"));
    }
}
