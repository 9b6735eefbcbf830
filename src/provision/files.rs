//! The file-name router: which vendor's file a phone asks for, for which MAC.
//!
//! One table of patterns, tried in order and compiled once. Each route
//! carries sample names; on load every sample must land on its own route, so
//! a pattern that shadows another is caught at start, not at a customer site.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

use crate::domain::{Mac, Vendor};

/// What a file is to sipprov.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The same for every phone of a vendor (or model); no secrets.
    Common,
    /// A phone's own index of further files; no secrets.
    DeviceIndex,
    /// A phone's own configuration, with its SIP passwords.
    DeviceConfig,
    /// A file the phone writes back and reads again (Polycom's settings
    /// changed on the phone, its contacts): it may hold SIP passwords.
    WrittenBack,
}

impl FileKind {
    /// Whether the file may hold secrets, and so needs phone credentials
    /// over HTTP and `tftp_serve_secrets` over TFTP.
    pub fn carries_secrets(self) -> bool {
        matches!(self, FileKind::DeviceConfig | FileKind::WrittenBack)
    }
}

/// How a vendor writes the MAC in its file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacCase {
    Lower,
    Upper,
}

/// A resolved request: the vendors the name can belong to (a MAC file such
/// as `<mac>.cfg` is asked for by several; the device record decides), the
/// MAC when the name carries one, and the template that answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMatch {
    pub route: &'static str,
    pub kind: FileKind,
    pub vendors: &'static [(Vendor, MacCase)],
    pub mac: Option<Mac>,
    /// The model or hardware code a common file name carries.
    pub model: Option<String>,
    /// Template file name inside `templates/<vendor>/`.
    pub template: &'static str,
}

impl FileMatch {
    /// Whether `vendor` asks for this name, with its MAC in that vendor's case.
    pub fn fits(&self, vendor: Vendor, name: &str) -> bool {
        self.vendors.iter().any(|(v, case)| {
            *v == vendor
                && self.mac.is_none_or(|mac| match case {
                    MacCase::Lower => name.contains(&mac.lower()),
                    MacCase::Upper => name.contains(&mac.upper()),
                })
        })
    }
}

struct Route {
    name: &'static str,
    /// For a phone's own files: the name, with `{mac}` or `{MAC}` in the vendor's case.
    file: Option<&'static str>,
    pattern: &'static str,
    kind: FileKind,
    vendors: &'static [(Vendor, MacCase)],
    template: &'static str,
    samples: &'static [&'static str],
}

use FileKind::*;
use MacCase::*;
use Vendor::*;

/// Routes in priority order: literal names before the patterns they would
/// also match (`000000000000.cfg` is Polycom's master file, not a MAC).
const ROUTES: &[Route] = &[
    Route {
        name: "yealink-boot",
        file: None,
        pattern: r"^y000000000000\.boot$",
        kind: Common,
        vendors: &[(Yealink, Lower), (Flyingvoice, Lower)],
        template: "y000000000000.boot",
        samples: &["y000000000000.boot"],
    },
    Route {
        name: "polycom-master",
        file: None,
        pattern: r"^000000000000\.cfg$",
        kind: Common,
        vendors: &[(Polycom, Lower)],
        template: "000000000000.cfg",
        samples: &["000000000000.cfg"],
    },
    Route {
        name: "yealink-common",
        file: None,
        // The hardware ID, two or three digits: T46G 028, T46U 108.
        pattern: r"^y0{9}(?P<model>[0-9]{3})\.cfg$",
        kind: Common,
        vendors: &[(Yealink, Lower), (Flyingvoice, Lower)],
        template: "y0000000000xx.cfg",
        samples: &["y000000000028.cfg", "y000000000108.cfg", "y000000000000.cfg"],
    },
    Route {
        name: "device-boot",
        file: Some("{mac}.boot"),
        pattern: r"^(?P<mac>[0-9a-f]{12})\.boot$",
        kind: DeviceIndex,
        vendors: &[(Yealink, Lower), (Flyingvoice, Lower)],
        template: "mac.boot",
        samples: &["001565aabbcc.boot"],
    },
    Route {
        name: "device-cfg",
        file: Some("{mac}.cfg"),
        pattern: r"^(?P<mac>[0-9a-f]{12})\.cfg$",
        kind: DeviceConfig,
        vendors: &[
            (Yealink, Lower),
            (Flyingvoice, Lower),
            (Fanvil, Lower),
            (Polycom, Lower),
            (Akuvox, Lower),
        ],
        template: "mac.cfg",
        samples: &["001565aabbcc.cfg", "0c383e07e16c.cfg"],
    },
    Route {
        // Akuvox phones given a folder name their file with the MAC in
        // upper case (tancredi patterns.d/akuvox.ini matches either case).
        name: "device-cfg-upper",
        file: None,
        pattern: r"^(?P<mac>[0-9A-F]{12})\.cfg$",
        kind: DeviceConfig,
        vendors: &[(Akuvox, Upper)],
        template: "mac.cfg",
        samples: &["0C1105AABBCC.cfg"],
    },
    Route {
        name: "polycom-config",
        file: Some("{mac}-sipprov.cfg"),
        pattern: r"^(?P<mac>[0-9a-f]{12})-sipprov\.cfg$",
        kind: DeviceConfig,
        vendors: &[(Polycom, Lower)],
        template: "mac-sipprov.cfg",
        samples: &["0004f2aabbcc-sipprov.cfg"],
    },
    Route {
        name: "polycom-phone",
        file: Some("{mac}-phone.cfg"),
        pattern: r"^(?P<mac>[0-9a-f]{12})-phone\.cfg$",
        kind: WrittenBack,
        vendors: &[(Polycom, Lower)],
        template: "mac-phone.cfg",
        samples: &["0004f2aabbcc-phone.cfg"],
    },
    Route {
        name: "polycom-directory-common",
        file: None,
        pattern: r"^000000000000-directory\.xml$",
        kind: Common,
        vendors: &[(Polycom, Lower)],
        template: "000000000000-directory.xml",
        samples: &["000000000000-directory.xml"],
    },
    Route {
        name: "polycom-directory",
        file: Some("{mac}-directory.xml"),
        pattern: r"^(?P<mac>[0-9a-f]{12})-directory\.xml$",
        kind: WrittenBack,
        vendors: &[(Polycom, Lower)],
        template: "mac-directory.xml",
        samples: &["0004f2aabbcc-directory.xml"],
    },
    Route {
        name: "device-cfg-xml",
        file: Some("cfg{mac}.xml"),
        pattern: r"^cfg(?P<mac>[0-9a-f]{12})\.xml$",
        kind: DeviceConfig,
        vendors: &[(Grandstream, Lower), (Htek, Lower)],
        template: "cfgmac.xml",
        samples: &["cfg000b82aabbcc.xml", "cfg001fc11c22a9.xml"],
    },
    Route {
        name: "grandstream-common",
        file: None,
        pattern: r"^cfg\.xml$",
        kind: Common,
        vendors: &[(Grandstream, Lower)],
        template: "cfg.xml",
        samples: &["cfg.xml"],
    },
    Route {
        name: "grandstream-model",
        file: None,
        pattern: r"^cfg(?P<model>[a-z]{2,4}[0-9]{3,4}[a-z]{0,2})\.xml$",
        kind: Common,
        vendors: &[(Grandstream, Lower)],
        template: "cfg.xml",
        samples: &["cfggrp2614.xml", "cfggxp2135.xml", "cfgwp820.xml"],
    },
    Route {
        name: "htek-model",
        file: None,
        pattern: r"^cfg(?P<model>[0-9]{4})\.xml$",
        kind: Common,
        vendors: &[(Htek, Lower)],
        template: "cfgcode.xml",
        samples: &["cfg0012.xml", "cfg0019.xml"],
    },
    Route {
        name: "fanvil-model",
        file: None,
        pattern: r"^(?P<model>[fF]0[0-9A-Za-z.]{6,16})\.cfg$",
        kind: Common,
        vendors: &[(Fanvil, Lower)],
        template: "model.cfg",
        samples: &["F0V00X600000.cfg", "f0X2hw1.100.cfg", "f0C00620000.cfg"],
    },
    Route {
        name: "snom-model",
        file: None,
        pattern: r"^snom(?P<model>[0-9A-Za-z]{2,8})\.htm$",
        kind: Common,
        vendors: &[(Snom, Upper)],
        template: "snommodel.htm",
        samples: &["snomD785.htm", "snom710.htm"],
    },
    Route {
        name: "snom-device-index",
        file: None,
        pattern: r"^snom(?P<model>[0-9A-Za-z]{2,8})-(?P<mac>[0-9A-F]{12})\.htm$",
        kind: DeviceIndex,
        vendors: &[(Snom, Upper)],
        template: "snommodel-mac.htm",
        samples: &["snomD785-000413922D24.htm"],
    },
    Route {
        name: "device-xml",
        file: Some("{mac}.xml"),
        pattern: r"^(?P<mac>[0-9a-fA-F]{12})\.xml$",
        kind: DeviceConfig,
        // The Gigaset N870 family asks in lower case, the N510 in upper.
        vendors: &[
            (Snom, Upper),
            (Cisco, Lower),
            (Huawei, Lower),
            (Gigaset, Lower),
            (Gigaset, Upper),
        ],
        template: "mac.xml",
        samples: &["000413922D24.xml", "00562b043615.xml", "7c2f80e0d605.xml"],
    },
    Route {
        name: "cisco-spa",
        file: None,
        pattern: r"^spa(?P<model>[0-9]{3}[A-Za-z]?[0-9]?)\.cfg$",
        kind: Common,
        vendors: &[(Cisco, Lower)],
        template: "spamodel.cfg",
        samples: &["spa504G.cfg", "spa303.cfg", "spa525G2.cfg"],
    },
    Route {
        name: "cisco-mpp",
        file: None,
        pattern: r"^(?P<model>[0-9]{4}-3PCC)\.xml$",
        kind: Common,
        vendors: &[(Cisco, Lower)],
        template: "model-3pcc.xml",
        samples: &["7841-3PCC.xml", "8851-3PCC.xml"],
    },
    Route {
        // The MPP admin guide's `$PSN` example is the bare model (8841.xml).
        name: "cisco-mpp-bare",
        file: None,
        pattern: r"^(?P<model>[0-9]{4})\.xml$",
        kind: Common,
        vendors: &[(Cisco, Lower)],
        template: "model-3pcc.xml",
        samples: &["8841.xml", "6851.xml"],
    },
];

struct Table {
    set: RegexSet,
    patterns: Vec<Regex>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| Table::compile(ROUTES).unwrap_or_else(|e| panic!("{e}")));

impl Table {
    /// Compiles the routes and proves each sample lands on its own route.
    fn compile(routes: &'static [Route]) -> Result<Table, String> {
        let set = RegexSet::new(routes.iter().map(|r| r.pattern)).map_err(|e| format!("file routes: {e}"))?;
        let patterns = routes
            .iter()
            .map(|r| Regex::new(r.pattern))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{e}"))?;
        let table = Table { set, patterns };
        for route in routes {
            for sample in route.samples {
                match table.first(sample) {
                    Some(i) if routes[i].name == route.name => {}
                    Some(i) => {
                        return Err(format!(
                            "file route {} shadows {} for '{sample}'",
                            routes[i].name, route.name
                        ));
                    }
                    None => {
                        return Err(format!(
                            "file route {} does not match its sample '{sample}'",
                            route.name
                        ));
                    }
                }
            }
        }
        Ok(table)
    }

    fn first(&self, name: &str) -> Option<usize> {
        self.set.matches(name).iter().next()
    }
}

/// Checks the table; run at start so a bad table stops the server at once.
pub fn check_table() -> Result<(), String> {
    Table::compile(ROUTES).map(|_| ())
}

/// The names of a phone's own files, as its vendor asks for them, in boot order.
pub fn phone_files(vendor: Vendor, mac: Mac) -> Vec<(String, FileKind)> {
    ROUTES
        .iter()
        .filter_map(|r| {
            let case = r.vendors.iter().find(|(v, _)| *v == vendor)?.1;
            let name = match case {
                Lower => r.file?.replace("{mac}", &mac.lower()),
                Upper => r.file?.replace("{mac}", &mac.upper()),
            };
            Some((name, r.kind))
        })
        .collect()
}

/// The file that carries a phone's configuration.
pub fn config_file(vendor: Vendor, mac: Mac) -> Option<String> {
    phone_files(vendor, mac)
        .into_iter()
        .rev()
        .find(|(_, kind)| *kind == DeviceConfig)
        .map(|(name, _)| name)
}

/// Resolves a requested file name (the last path segment).
pub fn resolve(name: &str) -> Option<FileMatch> {
    let table = &*TABLE;
    let index = table.first(name)?;
    let route = &ROUTES[index];
    let captures = table.patterns[index].captures(name)?;
    let mac = match captures.name("mac") {
        Some(m) => Some(m.as_str().parse::<Mac>().ok()?),
        None => None,
    };
    Some(FileMatch {
        route: route.name,
        kind: route.kind,
        vendors: route.vendors,
        mac,
        model: captures.name("model").map(|m| m.as_str().to_string()),
        template: route.template,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_table_has_no_shadowed_routes() {
        check_table().unwrap();
    }

    #[test]
    fn a_shadowing_route_is_caught() {
        static BAD: &[Route] = &[
            Route {
                name: "any-cfg",
                file: None,
                pattern: r"^.*\.cfg$",
                kind: Common,
                vendors: &[],
                template: "",
                samples: &["a.cfg"],
            },
            Route {
                name: "mac-cfg",
                file: None,
                pattern: r"^[0-9a-f]{12}\.cfg$",
                kind: DeviceConfig,
                vendors: &[],
                template: "",
                samples: &["001565aabbcc.cfg"],
            },
        ];
        let err = Table::compile(BAD).err().unwrap();
        assert!(err.contains("any-cfg shadows mac-cfg"), "{err}");
    }

    #[test]
    fn a_phones_own_files_resolve_back_to_it() {
        let mac: Mac = "000413aabbcc".parse().unwrap();
        let names = |v| phone_files(v, mac).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(names(Snom), vec!["000413AABBCC.xml"]);
        assert_eq!(
            names(Polycom),
            vec![
                "000413aabbcc.cfg",
                "000413aabbcc-sipprov.cfg",
                "000413aabbcc-phone.cfg",
                "000413aabbcc-directory.xml"
            ]
        );
        assert_eq!(config_file(Polycom, mac).as_deref(), Some("000413aabbcc-sipprov.cfg"));
        assert_eq!(config_file(Yealink, mac).as_deref(), Some("000413aabbcc.cfg"));
        for vendor in [
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
        ] {
            assert!(config_file(vendor, mac).is_some(), "{vendor}");
            for (name, _) in phone_files(vendor, mac) {
                let m = resolve(&name).unwrap();
                assert!(m.fits(vendor, &name) && m.mac == Some(mac), "{vendor} {name}");
            }
        }
    }

    #[test]
    fn names_resolve_to_vendor_mac_and_kind() {
        let m = resolve("001565aabbcc.cfg").unwrap();
        assert_eq!(
            (m.kind, m.mac.unwrap().lower()),
            (DeviceConfig, "001565aabbcc".to_string())
        );
        assert!(
            m.fits(Yealink, "001565aabbcc.cfg")
                && m.fits(Polycom, "001565aabbcc.cfg")
                && !m.fits(Snom, "001565aabbcc.cfg")
        );
        assert_eq!(resolve("000000000000.cfg").unwrap().route, "polycom-master");
        assert_eq!(resolve("y000000000028.cfg").unwrap().model.as_deref(), Some("028"));
        assert_eq!(resolve("cfggrp2614.xml").unwrap().route, "grandstream-model");
        assert_eq!(resolve("cfg0012.xml").unwrap().route, "htek-model");
        let snom = resolve("000413922D24.xml").unwrap();
        assert!(snom.fits(Snom, "000413922D24.xml"));
        let lower = resolve("000413922d24.xml").unwrap();
        assert!(!lower.fits(Snom, "000413922d24.xml"), "Snom asks in upper case");
        assert!(lower.fits(Cisco, "000413922d24.xml"));
        assert_eq!(
            resolve("snomD785-000413922D24.htm").unwrap().mac.unwrap().upper(),
            "000413922D24"
        );
        for unknown in [
            "",
            "index.html",
            "../etc/passwd",
            "cfg000b82aabbcc",
            "001565aabbcc.cfg.bak",
            "001565AaBBCC.cfg",
        ] {
            assert_eq!(resolve(unknown), None, "{unknown}");
        }
    }

    proptest! {
        #[test]
        fn every_mac_round_trips_through_its_vendor_names(bytes in any::<[u8; 6]>()) {
            let mac: Mac = hex::encode(bytes).parse().unwrap();
            for (name, vendor) in [
                (format!("{}.cfg", mac.lower()), Yealink),
                (format!("cfg{}.xml", mac.lower()), Grandstream),
                (format!("{}.xml", mac.upper()), Snom),
                (format!("{}.xml", mac.lower()), Cisco),
                (format!("snomD785-{}.htm", mac.upper()), Snom),
            ] {
                let m = resolve(&name);
                // The all-zero MAC is Polycom's master file name, never a phone.
                if mac.lower() == "000000000000" && name.ends_with(".cfg") {
                    continue;
                }
                let m = m.unwrap();
                prop_assert_eq!(m.mac, Some(mac));
                prop_assert!(m.fits(vendor, &name), "{} for {:?}", name, vendor);
            }
        }

        #[test]
        fn arbitrary_names_never_panic(name in ".{0,64}") {
            let _ = resolve(&name);
        }
    }
}
