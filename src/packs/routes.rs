//! The file-name router: which families' file a phone asks for, for which
//! MAC. Routes come from the packs' `[[files]]`; names that differ only in
//! the MAC's case share a route, and the families on it say which case
//! they ask in. Literal names are tried first, then names with a MAC, then
//! names with a model. Each route's samples must land on it, so a pattern
//! that shadows another is caught when packs load, not at a customer site.

use std::sync::Arc;

use regex::{Regex, RegexSet};
use serde::Deserialize;

use crate::domain::{Mac, Vendor};

/// What a file is to sipprov.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// The same for every phone of a family (or model); no secrets.
    Common,
    /// A phone's own index of further files; no secrets.
    Index,
    /// A phone's own configuration, with its SIP passwords.
    Config,
    /// A file the phone writes back and reads again (settings changed on
    /// the phone, its contacts): it may hold SIP passwords.
    WrittenBack,
    /// The company directory: names and numbers, no secrets, yet served
    /// only with the phone credentials a configuration needs.
    Directory,
}

impl FileKind {
    /// Whether the file may hold secrets, and so needs phone credentials
    /// over HTTP and `tftp_serve_secrets` over TFTP.
    pub fn carries_secrets(self) -> bool {
        matches!(self, FileKind::Config | FileKind::WrittenBack)
    }

    /// Whether a fetch needs the phone credentials even without a MAC in
    /// its name.
    pub fn needs_credentials(self) -> bool {
        self.carries_secrets() || self == FileKind::Directory
    }

    /// Its name in metrics.
    pub fn label(self) -> &'static str {
        match self {
            FileKind::Common => "common",
            FileKind::Index => "index",
            FileKind::Config => "config",
            FileKind::WrittenBack => "written_back",
            FileKind::Directory => "directory",
        }
    }
}

/// How a family writes the MAC in a file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacCase {
    Lower,
    Upper,
}

/// One family's claim on a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub vendor: Vendor,
    pub case: MacCase,
    pub kind: FileKind,
    pub template: String,
    pub content_type: Option<String>,
}

/// A route as the packs declare it, before the table is built.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub pattern: String,
    /// The file name with its placeholders, as the manifest wrote it.
    pub name: String,
    pub entry: RouteEntry,
    pub samples: Vec<String>,
    /// The manifest that declared it, for problems.
    pub origin: String,
}

#[derive(Debug)]
struct Route {
    pattern: String,
    name: String,
    has_mac: bool,
    has_model: bool,
    entries: Arc<[RouteEntry]>,
    samples: Vec<(String, String)>,
}

impl Route {
    /// Literal names first, then a MAC's, then a model's.
    fn rank(&self) -> u8 {
        match (self.has_mac, self.has_model) {
            (false, false) => 0,
            (true, _) => 1,
            (false, true) => 2,
        }
    }
}

/// A resolved request: the families the name can belong to (a MAC file
/// such as `<mac>.cfg` is asked for by several; the device record decides),
/// the MAC when the name carries one, and the model when it carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMatch {
    /// The route's name as the manifest wrote it (`{mac}.cfg`).
    pub route: String,
    /// The most guarded kind among the families on the route: what a request
    /// must prove before anyone knows which family the phone is.
    pub kind: FileKind,
    pub mac: Option<Mac>,
    pub model: Option<String>,
    entries: Arc<[RouteEntry]>,
}

impl FileMatch {
    /// The families on the route, in pack order.
    pub fn vendors(&self) -> impl Iterator<Item = Vendor> + '_ {
        self.entries.iter().map(|e| e.vendor)
    }

    /// How `vendor` answers this name, if it asks for it with its MAC in
    /// the case it uses.
    pub fn entry(&self, vendor: Vendor, name: &str) -> Option<&RouteEntry> {
        self.entries.iter().find(|e| {
            e.vendor == vendor
                && self.mac.is_none_or(|mac| match e.case {
                    MacCase::Lower => name.contains(&mac.lower()),
                    MacCase::Upper => name.contains(&mac.upper()),
                })
        })
    }
}

#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<Route>,
    set: RegexSet,
    patterns: Vec<Regex>,
}

/// A MAC with letters in it, so a sample shows which case a route takes.
const SAMPLE_MAC: &str = "0a1b2c3d4e5f";

impl RouteTable {
    /// Merges the packs' routes, orders them and proves each sample lands
    /// on its own route. Problems are (manifest, file name, message).
    pub fn build(specs: Vec<RouteSpec>) -> Result<RouteTable, Vec<(String, String, String)>> {
        let mut routes: Vec<Route> = Vec::new();
        let mut origins: Vec<String> = Vec::new();
        for spec in specs {
            let samples = if spec.samples.is_empty() {
                let mac = match spec.entry.case {
                    MacCase::Lower => SAMPLE_MAC.to_string(),
                    MacCase::Upper => SAMPLE_MAC.to_uppercase(),
                };
                vec![spec.name.replace("{mac}", &mac).replace("{MAC}", &mac)]
            } else {
                spec.samples
            };
            let samples = samples.into_iter().map(|s| (s, spec.origin.clone()));
            match routes.iter_mut().find(|r| r.pattern == spec.pattern) {
                Some(route) => {
                    let mut entries = route.entries.to_vec();
                    entries.push(spec.entry);
                    route.entries = entries.into();
                    route.samples.extend(samples);
                }
                None => {
                    origins.push(spec.origin.clone());
                    routes.push(Route {
                        has_mac: spec.name.contains("{mac}") || spec.name.contains("{MAC}"),
                        has_model: spec.name.contains("{model}"),
                        pattern: spec.pattern,
                        name: spec.name,
                        entries: vec![spec.entry].into(),
                        samples: samples.collect(),
                    });
                }
            }
        }
        routes.sort_by_key(Route::rank);
        let compiled = |p: &String| Regex::new(p).map_err(|e| vec![(String::new(), p.clone(), e.to_string())]);
        let patterns = routes
            .iter()
            .map(|r| compiled(&r.pattern))
            .collect::<Result<Vec<_>, _>>()?;
        let set = RegexSet::new(routes.iter().map(|r| &r.pattern))
            .map_err(|e| vec![(String::new(), String::new(), e.to_string())])?;
        let table = RouteTable { routes, set, patterns };
        let mut problems = Vec::new();
        for route in &table.routes {
            for (sample, origin) in &route.samples {
                match table.first(sample) {
                    Some(i) if table.routes[i].pattern == route.pattern => {}
                    Some(i) => problems.push((
                        origin.clone(),
                        route.name.clone(),
                        format!(
                            "file '{}' is shadowed by '{}' for '{sample}'",
                            route.name, table.routes[i].name
                        ),
                    )),
                    None => problems.push((
                        origin.clone(),
                        route.name.clone(),
                        format!("file '{}' does not match its sample '{sample}'", route.name),
                    )),
                }
            }
        }
        if problems.is_empty() { Ok(table) } else { Err(problems) }
    }

    fn first(&self, name: &str) -> Option<usize> {
        self.set.matches(name).iter().next()
    }

    /// Resolves a requested file name (the last path segment).
    pub fn resolve(&self, name: &str) -> Option<FileMatch> {
        let index = self.first(name)?;
        let route = &self.routes[index];
        let captures = self.patterns[index].captures(name)?;
        let mac = match captures.name("mac") {
            Some(m) => Some(m.as_str().parse::<Mac>().ok()?),
            None => None,
        };
        Some(FileMatch {
            route: route.name.clone(),
            kind: route.entries.iter().map(|e| e.kind).max().unwrap_or(FileKind::Common),
            mac,
            model: captures.name("model").map(|m| m.as_str().to_string()),
            entries: route.entries.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, pattern: &str, vendor: &str, case: MacCase, samples: &[&str]) -> RouteSpec {
        RouteSpec {
            pattern: pattern.into(),
            name: name.into(),
            entry: RouteEntry {
                vendor: Vendor::intern(vendor),
                case,
                kind: FileKind::Config,
                template: "t".into(),
                content_type: None,
            },
            samples: samples.iter().map(|s| s.to_string()).collect(),
            origin: format!("{vendor}/vendor.toml"),
        }
    }

    #[test]
    fn a_shadowing_route_is_caught() {
        let problems = RouteTable::build(vec![
            spec("{model}.cfg", r"^(?P<model>.*)\.cfg$", "a", MacCase::Lower, &["x.cfg"]),
            spec(
                "{model}x.cfg",
                r"^(?P<model>[a-z])x\.cfg$",
                "b",
                MacCase::Lower,
                &["ax.cfg"],
            ),
        ])
        .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "b/vendor.toml");
        assert!(
            problems[0]
                .2
                .contains("'{model}x.cfg' is shadowed by '{model}.cfg' for 'ax.cfg'"),
            "{problems:?}"
        );
    }

    #[test]
    fn literal_names_go_before_a_macs_and_cases_share_a_route() {
        let mac = r"^(?P<mac>[0-9a-f]{12}|[0-9A-F]{12})\.cfg$";
        let table = RouteTable::build(vec![
            spec("{mac}.cfg", mac, "lower", MacCase::Lower, &[]),
            spec("{MAC}.cfg", mac, "upper", MacCase::Upper, &[]),
            spec(
                "000000000000.cfg",
                r"^000000000000\.cfg$",
                "master",
                MacCase::Lower,
                &[],
            ),
        ])
        .unwrap();
        assert_eq!(table.resolve("000000000000.cfg").unwrap().route, "000000000000.cfg");
        let m = table.resolve("0a1b2c3d4e5f.cfg").unwrap();
        assert!(m.entry(Vendor::intern("lower"), "0a1b2c3d4e5f.cfg").is_some());
        assert!(m.entry(Vendor::intern("upper"), "0a1b2c3d4e5f.cfg").is_none());
        let m = table.resolve("0A1B2C3D4E5F.cfg").unwrap();
        assert!(m.entry(Vendor::intern("upper"), "0A1B2C3D4E5F.cfg").is_some());
        assert_eq!(table.resolve("0A1b2c3d4e5f.cfg"), None, "mixed case is no MAC");
    }
}
