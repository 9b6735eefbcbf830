//! Vendor packs: one folder per phone family, `templates/<family>/`, with
//! its templates and a manifest (`vendor.toml`, see `manifest`). Packs are
//! built into the binary; a folder under `<data-dir>/templates/` overrides a
//! built-in pack file by file (its manifest merges over the built-in one
//! table by table) or adds a family, without a rebuild. Everything sipprov
//! knows about a family comes from here: its names, OUIs, User-Agents, file
//! routes, models and values.

pub mod agents;
pub mod keys;
pub mod manifest;
pub mod routes;
pub mod samples;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use regex::Regex;
use rust_embed::RustEmbed;

use self::agents::{AgentTable, PhoneAgent};
use self::manifest::{Manifest, Problem, line_of, model_key};
use self::routes::{FileKind, FileMatch, MacCase, RouteEntry, RouteSpec, RouteTable};
use crate::domain::keys::{KeyType, KeyView, PhoneKey};
use crate::domain::{Mac, UnknownVendor, Vendor};
use crate::provision::render::{Budget, RenderContext, RenderError, Rendered, Templates, well_formed};

#[derive(RustEmbed)]
#[folder = "templates/"]
#[exclude = "*.md"]
struct Builtin;

/// Each pack's manifest, beside its templates.
pub const MANIFEST: &str = "vendor.toml";

/// How often the data dir's packs are looked at for changes.
const DISK_CHECK: Duration = Duration::from_secs(1);

/// One family, ready to serve.
pub struct Pack {
    pub vendor: Vendor,
    /// Its code first, then the other names, lower-case.
    names: Vec<String>,
    manifest: Manifest,
    /// Lines per model, by `model_key`.
    models: HashMap<String, i64>,
    uploads: Vec<Regex>,
    /// `[firmware_formats]`, compiled: a generation and what tells it.
    firmware_formats: Vec<(String, Regex)>,
    templates: Templates,
    /// Changes whenever a file its phones' files are made of does: its
    /// manifests, its base's, and the templates it renders.
    print: String,
}

impl Pack {
    /// One model of each format generation: the default's, then the first
    /// each `[formats]` entry names.
    fn generation_models(&self) -> Vec<String> {
        let mut models: Vec<String> = vec![String::new()];
        models.extend(
            self.manifest
                .formats
                .values()
                .filter_map(|names| names.first())
                .map(|name| name.trim_end_matches('*').to_string()),
        );
        models
    }

    /// The format generation of a phone: the one its firmware tells, else
    /// its model's, else the pack's default.
    fn format(&self, model: &str, firmware: &str) -> Option<&str> {
        let key = model_key(model);
        let by_firmware = self
            .firmware_formats
            .iter()
            .find(|(_, tells)| !firmware.is_empty() && tells.is_match(firmware))
            .map(|(format, _)| format.as_str());
        by_firmware
            .or_else(|| {
                self.manifest
                    .formats
                    .iter()
                    .find(|(_, models)| models.iter().any(|m| manifest::names_model(m, &key)))
                    .map(|(format, _)| format.as_str())
            })
            .or(self.manifest.vendor.default_format.as_deref())
    }
}

/// How a phone is told to re-check now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notify {
    /// A SIP NOTIFY with this `Event`.
    Event(String),
    /// It cannot be, for this reason.
    Unsupported(String),
}

/// Every pack, with the tables built from them.
pub struct Packs {
    packs: Vec<Pack>,
    by_name: HashMap<String, usize>,
    ouis: HashMap<String, Vendor>,
    routes: RouteTable,
    agents: AgentTable,
    /// Changes whenever any pack file does.
    print: u64,
}

/// The hash of some (label, text) files' texts, as hex. Not of their
/// labels: those name where the file lies, which differs between nodes
/// that serve the same files.
fn family_print<'a>(files: impl Iterator<Item = &'a (String, String)>) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (_, text) in files {
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
    }
    hex::encode(&hash.finalize()[..16])
}

/// A family's files as found, before they are read.
#[derive(Default)]
struct Sources {
    /// Manifests, built-in first: (label, text).
    manifests: Vec<(String, String)>,
    /// Template name → (label, text); an override replaces the built-in.
    templates: BTreeMap<String, (String, String)>,
}

/// What loading found: the packs (as far as they could be built) and every
/// problem, by file.
pub struct Loaded {
    pub packs: Packs,
    pub problems: Vec<Problem>,
    /// Every pack file read, by label.
    pub files: Vec<String>,
}

fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 32
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn gather(overrides: &Path, problems: &mut Vec<Problem>) -> BTreeMap<String, Sources> {
    let mut families: BTreeMap<String, Sources> = BTreeMap::new();
    let mut add = |family: &str, file: &str, label: String, text: String| {
        let sources = families.entry(family.to_string()).or_default();
        if file == MANIFEST {
            sources.manifests.push((label, text));
        } else {
            sources.templates.insert(file.to_string(), (label, text));
        }
    };
    for path in Builtin::iter() {
        if let (Some((family, file)), Some(data)) = (path.split_once('/'), Builtin::get(&path)) {
            add(
                family,
                file,
                path.to_string(),
                String::from_utf8_lossy(&data.data).into_owned(),
            );
        }
    }
    let Ok(dirs) = std::fs::read_dir(overrides) else {
        return families;
    };
    let mut dirs: Vec<PathBuf> = dirs.flatten().map(|d| d.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for dir in dirs {
        let family = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if !valid_code(&family) {
            problems.push(Problem {
                file: dir.display().to_string(),
                line: None,
                message: "a pack folder's name is its code: lower-case letters, digits, '-' and '_', at most 32".into(),
            });
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|f| f.path())
            .collect();
        files.sort();
        for path in files {
            let label = path.display().to_string();
            // A file that links out of the templates folder is not read.
            let Some(real) = crate::confined::within_blocking(overrides, &path) else {
                problems.push(Problem {
                    file: label,
                    line: None,
                    message: "leads out of the templates folder; not read".into(),
                });
                continue;
            };
            if !real.is_file() || path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            match std::fs::read_to_string(&real) {
                Ok(text) => add(
                    &family,
                    &path.file_name().unwrap_or_default().to_string_lossy(),
                    label,
                    text,
                ),
                Err(e) => problems.push(Problem {
                    file: label,
                    line: None,
                    message: format!("not readable as UTF-8 text: {e}"),
                }),
            }
        }
    }
    families
}

/// A number that changes when any file in the data dir's packs is added,
/// removed or written: names, sizes and modification times, hashed.
fn disk_print(dir: &Path) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut entries = Vec::new();
    for family in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(family.path()).into_iter().flatten().flatten() {
            if let Ok(meta) = file.metadata() {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .unwrap_or_default();
                entries.push((file.path(), meta.len(), modified));
            }
        }
    }
    entries.sort();
    entries.hash(&mut hasher);
    hasher.finish()
}

/// One load under way: the files found, their texts, each family's
/// manifest, and the problems so far.
#[derive(Default)]
struct Loader {
    families: BTreeMap<String, Sources>,
    texts: HashMap<String, String>,
    /// Each family's own manifests merged, and the last file of them.
    tables: BTreeMap<String, (toml::Table, String)>,
    problems: Vec<Problem>,
}

impl Loader {
    /// A problem in `file`, on the line where `needle` first appears.
    fn problem(&mut self, file: &str, needle: Option<&str>, message: String) {
        let line = needle.and_then(|n| line_of(self.texts.get(file).map_or("", String::as_str), n));
        self.problems.push(Problem {
            file: file.to_string(),
            line,
            message,
        });
    }

    fn origin(&self, pack: &Pack) -> String {
        self.tables[pack.vendor.code()].1.clone()
    }

    /// Each family's manifests, read and merged in order (built-in first).
    fn read_manifests(&mut self) {
        for (code, sources) in &self.families {
            let mut merged = toml::Table::new();
            let mut origin = None;
            for (label, text) in &sources.manifests {
                match manifest::read(label, text) {
                    Ok(table) => {
                        manifest::merge(&mut merged, table);
                        origin = Some(label.clone());
                    }
                    Err(found) => self.problems.extend(found),
                }
            }
            match origin {
                Some(origin) => {
                    self.tables.insert(code.clone(), (merged, origin));
                }
                None if sources.manifests.is_empty() => self.problems.push(Problem {
                    file: format!("{code}/{MANIFEST}"),
                    line: None,
                    message: "a pack needs a manifest".into(),
                }),
                None => {}
            }
        }
    }

    /// One family's pack: its manifest with what it takes from
    /// `templates_from`, and its templates compiled.
    fn build(&mut self, code: &str) -> Option<Pack> {
        let (own, origin) = self.tables[code].clone();
        let mut table = own.clone();
        let mut templates = self.families[code].templates.clone();
        let base = own
            .get("vendor")
            .and_then(|v| v.get("templates_from"))
            .and_then(toml::Value::as_str)
            .map(str::to_string);
        if let Some(base) = base.as_deref() {
            let Some((base_table, _)) = self.tables.get(base) else {
                self.problem(&origin, Some(base), format!("templates_from = '{base}': no such pack"));
                return None;
            };
            if base_table.get("vendor").and_then(|v| v.get("templates_from")).is_some() {
                let message = format!("templates_from = '{base}': that pack takes from another itself");
                self.problem(&origin, Some(base), message);
                return None;
            }
            // Who the family is stays its own: names, OUIs, User-Agents.
            let mut inherited = base_table.clone();
            if let Some(toml::Value::Table(vendor)) = inherited.get_mut("vendor") {
                vendor.retain(|key: &str, _| key != "names" && key != "ouis");
            }
            inherited.remove("user_agents");
            // How its phones are told to re-check is the family's own when it says.
            if own.contains_key("notify") {
                inherited.remove("notify");
            }
            // So are the key types and models its phones can do, when it lists them.
            if let Some(toml::Value::Table(keys)) = own.get("keys")
                && let Some(toml::Value::Table(base_keys)) = inherited.get_mut("keys")
            {
                for section in ["types", "models"] {
                    if keys.contains_key(section) {
                        base_keys.remove(section);
                    }
                }
            }
            manifest::merge(&mut inherited, own);
            table = inherited;
            for (name, source) in &self.families[base].templates {
                templates.entry(name.clone()).or_insert_with(|| source.clone());
            }
        }
        let manifest: Manifest = match toml::Value::Table(table).try_into() {
            Ok(m) => m,
            Err(e) => {
                self.problem(&origin, None, e.message().to_string());
                return None;
            }
        };
        if let Some(problem) = manifest.notify.as_ref().and_then(manifest::NotifySection::problem) {
            self.problem(&origin, Some("[notify]"), problem);
            return None;
        }
        let print = family_print(
            std::iter::once(code)
                .chain(base.as_deref())
                .flat_map(|family| &self.families[family].manifests)
                .chain(templates.values()),
        );
        let (compiled, template_problems) = Templates::compile(&templates);
        self.problems.extend(template_problems);
        for rule in &manifest.files {
            if !templates.contains_key(&rule.template) {
                let message = format!("file '{}': no template '{}' in the pack", rule.name, rule.template);
                self.problem(&origin, Some(&rule.template), message);
            }
        }
        let uploads = manifest
            .vendor
            .uploads
            .iter()
            .filter_map(|name| {
                let rule = manifest::FileRule {
                    name: name.clone(),
                    template: String::new(),
                    kind: FileKind::Common,
                    model: None,
                    samples: Vec::new(),
                    content_type: None,
                };
                Regex::new(&manifest::file_pattern(&rule).ok()?).ok()
            })
            .collect();
        let firmware_formats = manifest
            .firmware_formats
            .iter()
            .flat_map(|(format, patterns)| patterns.iter().map(move |p| (format, p)))
            .filter_map(|(format, pattern)| Some((format.clone(), Regex::new(pattern).ok()?)))
            .collect();
        let mut names = vec![code.to_string()];
        names.extend(manifest.vendor.names.iter().map(|n| n.trim().to_lowercase()));
        Some(Pack {
            vendor: Vendor::intern(code),
            names,
            models: manifest
                .models
                .iter()
                .map(|(m, lines)| (model_key(m), *lines))
                .collect(),
            manifest,
            uploads,
            firmware_formats,
            templates: compiled,
            print,
        })
    }

    /// Every name and OUI, each claimed by one family. Built-in packs claim
    /// first, so a clash is blamed on the data dir's pack.
    fn names_and_ouis(&mut self, packs: &[Pack]) -> (HashMap<String, usize>, HashMap<String, Vendor>) {
        let mut by_name = HashMap::new();
        let mut ouis = HashMap::new();
        let mut order: Vec<usize> = (0..packs.len()).collect();
        order.sort_by_key(|&i| self.origin(&packs[i]) != format!("{}/{MANIFEST}", packs[i].vendor));
        for index in order {
            let pack = &packs[index];
            let origin = self.origin(pack);
            for name in &pack.names {
                if let Some(other) = by_name.insert(name.clone(), index) {
                    let message = format!("the name '{name}' is taken by {}", packs[other].vendor);
                    self.problem(&origin, Some(name), message);
                }
            }
            for oui in &pack.manifest.vendor.ouis {
                if let Some(other) = ouis.insert(oui.clone(), pack.vendor) {
                    self.problem(&origin, Some(oui), format!("OUI {oui} is {other}'s too"));
                }
            }
        }
        (by_name, ouis)
    }

    /// The User-Agent rules, family by family; each sample must be read as
    /// its own family.
    fn agents(&mut self, packs: &[Pack]) -> AgentTable {
        let mut rules = Vec::new();
        let mut samples = Vec::new();
        for pack in packs {
            for rule in &pack.manifest.user_agents {
                if let Ok(re) = Regex::new(&manifest::expand_agent_pattern(&rule.pattern)) {
                    rules.push((pack.vendor, re));
                    samples.extend(rule.samples.iter().map(|s| (pack.vendor, s.clone(), self.origin(pack))));
                }
            }
        }
        let agents = AgentTable::new(rules);
        for (vendor, sample, origin) in samples {
            let read = agents.parse(&sample).map(|a| a.vendor);
            if read != Some(vendor) {
                let read = read.map_or("no phone".to_string(), |v| v.to_string());
                self.problem(
                    &origin,
                    Some(&sample),
                    format!("User-Agent sample '{sample}' is read as {read}"),
                );
            }
        }
        agents
    }

    /// The file routes of every family, merged; with a shadowed route, none.
    fn routes(&mut self, packs: &[Pack]) -> RouteTable {
        let mut specs = Vec::new();
        for pack in packs {
            for rule in &pack.manifest.files {
                let Ok(pattern) = manifest::file_pattern(rule) else {
                    continue;
                };
                let case = if rule.name.contains("{MAC}") {
                    MacCase::Upper
                } else {
                    MacCase::Lower
                };
                specs.push(RouteSpec {
                    pattern,
                    name: rule.name.clone(),
                    entry: RouteEntry {
                        vendor: pack.vendor,
                        case,
                        kind: rule.kind,
                        template: rule.template.clone(),
                        content_type: rule.content_type.clone(),
                    },
                    samples: rule.samples.clone(),
                    origin: self.origin(pack),
                });
            }
        }
        RouteTable::build(specs).unwrap_or_else(|found| {
            for (origin, name, message) in found {
                self.problem(&origin, Some(&format!("\"{name}\"")), message);
            }
            RouteTable::build(Vec::new()).expect("an empty table builds")
        })
    }
}

/// Every name of the built-in families, as the API document lists them.
pub fn builtin_vendor_names() -> &'static [String] {
    static NAMES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        let packs = Packs::builtin();
        packs.packs.iter().flat_map(|p| p.names.iter().cloned()).collect()
    });
    &NAMES
}

impl Packs {
    /// Only the built-in packs.
    pub fn builtin() -> Packs {
        let loaded = Packs::load(Path::new("/nonexistent"));
        assert!(loaded.problems.is_empty(), "built-in packs: {:?}", loaded.problems);
        loaded.packs
    }

    /// Reads the built-in packs and those in `overrides`
    /// (`<data-dir>/templates`). Whatever has a problem is left out and
    /// the problem reported.
    pub fn load(overrides: &Path) -> Loaded {
        let mut loader = Loader::default();
        let families = gather(overrides, &mut loader.problems);
        let mut print = std::collections::hash_map::DefaultHasher::new();
        let mut files = Vec::new();
        for sources in families.values() {
            for (label, text) in sources.manifests.iter().chain(sources.templates.values()) {
                (label, text).hash(&mut print);
                files.push(label.clone());
                loader.texts.insert(label.clone(), text.clone());
            }
        }
        loader.families = families;
        loader.read_manifests();
        let codes: Vec<String> = loader.tables.keys().cloned().collect();
        let packs: Vec<Pack> = codes.iter().filter_map(|code| loader.build(code)).collect();
        let (by_name, ouis) = loader.names_and_ouis(&packs);
        let agents = loader.agents(&packs);
        let routes = loader.routes(&packs);
        // A template two packs share is reported once.
        let mut seen = std::collections::HashSet::new();
        loader.problems.retain(|p| seen.insert(p.to_string()));
        Loaded {
            packs: Packs {
                packs,
                by_name,
                ouis,
                routes,
                agents,
                print: print.finish(),
            },
            problems: loader.problems,
            files,
        }
    }

    /// Changes whenever any pack file does.
    pub fn print(&self) -> u64 {
        self.print
    }

    /// Each family's code and print: what its phones' files are made of,
    /// so a change to one family's templates makes only its phones older.
    pub fn family_prints(&self) -> Vec<(String, String)> {
        self.packs
            .iter()
            .map(|p| (p.vendor.code().to_string(), p.print.clone()))
            .collect()
    }

    fn pack(&self, vendor: Vendor) -> Option<&Pack> {
        self.packs.iter().find(|p| p.vendor == vendor)
    }

    /// Every family, by code.
    pub fn vendors(&self) -> impl Iterator<Item = Vendor> + '_ {
        self.packs.iter().map(|p| p.vendor)
    }

    /// How a phone of this family and model is told to re-check: the NOTIFY
    /// `Event`, or why it cannot be.
    pub fn notify(&self, vendor: Vendor, model: &str) -> Notify {
        let Some(section) = self.pack(vendor).and_then(|p| p.manifest.notify.as_ref()) else {
            return Notify::Unsupported("its pack does not say how its phones are told to re-check".into());
        };
        let key = model_key(model);
        let own = section
            .models
            .iter()
            .find(|(entry, _)| !key.is_empty() && manifest::names_model(entry, &key))
            .map(|(_, event)| event);
        match (own.or(section.event.as_ref()), &section.unsupported) {
            (Some(event), _) => Notify::Event(event.clone()),
            (None, reason) => Notify::Unsupported(reason.clone().unwrap_or_default()),
        }
    }

    /// Resolves a vendor name as admins write it: any case, any of its names.
    pub fn vendor(&self, name: &str) -> Result<Vendor, UnknownVendor> {
        self.by_name
            .get(&name.trim().to_lowercase())
            .map(|&i| self.packs[i].vendor)
            .ok_or_else(|| UnknownVendor {
                name: name.to_string(),
                accepted: self.accepted_names(),
            })
    }

    pub fn accepted_names(&self) -> String {
        self.packs
            .iter()
            .flat_map(|p| p.names.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The family whose prefix a MAC carries, if it is a known one.
    pub fn vendor_of_oui(&self, mac: &Mac) -> Option<Vendor> {
        self.ouis.get(&mac.lower()[..6]).copied()
    }

    pub fn parse_user_agent(&self, user_agent: &str) -> Option<Arc<PhoneAgent>> {
        self.agents.parse(user_agent)
    }

    /// Resolves a requested file name (the last path segment).
    pub fn resolve(&self, name: &str) -> Option<FileMatch> {
        self.routes.resolve(name)
    }

    /// The names of a phone's own files, as its family asks for them, in
    /// boot order: one name per template.
    pub fn phone_files(&self, vendor: Vendor, mac: Mac) -> Vec<(String, FileKind)> {
        let Some(pack) = self.pack(vendor) else {
            return Vec::new();
        };
        let mut seen = Vec::new();
        pack.manifest
            .files
            .iter()
            .filter(|r| !r.name.contains("{model}") && (r.name.contains("{mac}") || r.name.contains("{MAC}")))
            .filter(|r| {
                let first = !seen.contains(&&r.template);
                seen.push(&r.template);
                first
            })
            .map(|r| {
                (
                    r.name.replace("{mac}", &mac.lower()).replace("{MAC}", &mac.upper()),
                    r.kind,
                )
            })
            .collect()
    }

    /// The files of a family named the same for every phone (no MAC, no
    /// model) that pre-rendering renders: not the directory, which is as
    /// large as the site and rendered when a phone asks for it.
    pub fn prerendered_common_files(&self, vendor: Vendor) -> Vec<String> {
        self.pack(vendor).map_or_else(Vec::new, |pack| {
            pack.manifest
                .files
                .iter()
                .filter(|r| !r.name.contains('{') && r.kind != FileKind::Directory)
                .map(|r| r.name.clone())
                .collect()
        })
    }

    /// The file that carries a phone's configuration.
    pub fn config_file(&self, vendor: Vendor, mac: Mac) -> Option<String> {
        self.phone_files(vendor, mac)
            .into_iter()
            .rev()
            .find(|(_, kind)| *kind == FileKind::Config)
            .map(|(name, _)| name)
    }

    /// The phone a name belongs to and the families whose phones may write
    /// it: their written-back files and their declared uploads.
    pub fn uploadable(&self, name: &str) -> Option<(Mac, Vec<Vendor>)> {
        let mut vendors = Vec::new();
        let mut mac = None;
        if let Some(m) = self.resolve(name).filter(|m| m.kind == FileKind::WrittenBack) {
            mac = m.mac;
            vendors.extend(
                self.vendors()
                    .filter(|v| m.entry(*v, name).is_some_and(|e| e.kind == FileKind::WrittenBack)),
            );
        }
        for pack in &self.packs {
            // Uploads name the phone in lower case.
            let found = pack
                .uploads
                .iter()
                .find_map(|re| re.captures(name))
                .and_then(|c| c.name("mac"));
            if let Some(m) = found.filter(|m| !m.as_str().chars().any(|c| c.is_ascii_uppercase())) {
                mac = m.as_str().parse().ok();
                vendors.push(pack.vendor);
            }
        }
        Some((mac?, vendors))
    }

    /// Whether `vendor`'s pack lists `model` (its lines, or its keys);
    /// `None` when it lists no models at all.
    pub fn knows_model(&self, vendor: Vendor, model: &str) -> Option<bool> {
        let pack = self.pack(vendor)?;
        if pack.models.is_empty() {
            return None;
        }
        let key = model_key(model);
        Some(pack.models.contains_key(&key) || pack.manifest.keys.models.keys().any(|m| model_key(m) == key))
    }

    /// Why `vendor`'s pack cannot write a file for `model`, if it cannot;
    /// an empty reason (a data-dir pack's) takes the refusal back.
    pub fn refuses_model(&self, vendor: Vendor, model: &str) -> Option<&str> {
        let key = model_key(model);
        self.pack(vendor)?
            .manifest
            .refused_models
            .iter()
            .find(|(entry, why)| !why.trim().is_empty() && manifest::names_model(entry, &key))
            .map(|(_, why)| why.as_str())
    }

    /// How many lines `model` of `vendor` takes: the family's count for it,
    /// else the most any of its phones takes, when the pack says.
    pub fn line_limit(&self, vendor: Vendor, model: &str) -> Option<usize> {
        let pack = self.pack(vendor)?;
        let lines = pack
            .models
            .get(&model_key(model))
            .copied()
            .or(pack.manifest.vendor.max_lines)?;
        usize::try_from(lines).ok()
    }

    /// What the pack writes for this phone: each `[values.X]` map looked
    /// up with setting X's value (or the map's `default`), as `pack.X`, and
    /// the model's format generation as `pack.format`.
    fn pack_values(pack: &Pack, ctx: &RenderContext) -> serde_json::Value {
        let mut values = serde_json::Map::new();
        for (setting, value) in ctx.settings.mapped() {
            let Some(map) = pack.manifest.values.get(setting) else {
                continue;
            };
            if let Some(found) = map.get(value).or_else(|| map.get("default"))
                && let Ok(found) = serde_json::to_value(found)
            {
                values.insert(setting.to_string(), found);
            }
        }
        if let Some(format) = pack.format(&ctx.device.model, &ctx.device.firmware) {
            values.insert("format".into(), format.into());
        }
        serde_json::Value::Object(values)
    }

    pub fn render(&self, vendor: Vendor, template: &str, ctx: &RenderContext) -> Result<Rendered, RenderError> {
        let pack = self
            .pack(vendor)
            .ok_or_else(|| RenderError::Missing(format!("{vendor}/{template}")))?;
        pack.templates
            .render(template, ctx, Self::pack_values(pack, ctx), Budget::FILE)
    }

    /// Three keys of the fixture phone (a line, a BLF with a troublesome
    /// label, a speed dial) and a fourth taken away, as `model` shows them, else as the first model
    /// with keys does; none when the family has none.
    fn fixture_keys(&self, pack: &Pack, model: &str) -> Vec<KeyView> {
        let keys = [
            (KeyType::Line, "1", ""),
            (KeyType::Blf, "1002", "Ops & \"Sales\" <1>\nnext = line"),
            (KeyType::SpeedDial, "100", "Reception"),
        ];
        let keys: Vec<PhoneKey> = (1..)
            .zip(keys)
            .filter(|(_, (kind, _, _))| pack.manifest.keys.types.contains_key(kind.name()))
            .map(|(slot, (kind, value, label))| PhoneKey {
                slot,
                kind,
                value: value.into(),
                label: label.into(),
            })
            .collect();
        let with_keys = pack
            .manifest
            .keys
            .models
            .keys()
            .find(|m| self.key_layout(pack.vendor, m).is_ok());
        let model = match self.key_layout(pack.vendor, model) {
            Ok(_) => model,
            Err(_) => with_keys.map_or(model, String::as_str),
        };
        // Slots 2 and 4 had keys once: on the fixture's two lines, 2 is the
        // second line's key again and 4 is written empty.
        self.key_views(pack.vendor, model, &keys, &[2, 4], 2)
    }

    /// Renders every template of every pack against the fixture phone, once
    /// per format generation the pack has; XML must be well-formed, and the
    /// configuration must carry each declared fetch-credential key.
    pub fn check_renders(&self) -> Vec<Problem> {
        let found = self.check_renders_telling(|_| {});
        found.over_budget.into_iter().chain(found.others).collect()
    }

    /// [`check_renders`](Self::check_renders), telling `starting` each
    /// template's label before its renders, so a watcher can name the one
    /// that never finished; renders over their budget are told apart.
    pub fn check_renders_telling(&self, mut starting: impl FnMut(&str)) -> SampleProblems {
        let mut found = SampleProblems::default();
        for pack in &self.packs {
            let models = pack.generation_models();
            let mut config_text = String::new();
            for template in pack.templates.names() {
                let label = pack.templates.label(template).to_string();
                starting(&label);
                for model in &models {
                    let mut ctx = RenderContext::fixture();
                    ctx.device.vendor = pack.vendor.code().into();
                    ctx.device.model = model.clone();
                    ctx.keys = self.fixture_keys(pack, model);
                    match self.render(pack.vendor, template, &ctx) {
                        Ok(rendered) => {
                            if rendered.content_type.starts_with("text/xml")
                                && let Err(message) = well_formed(&rendered.body)
                            {
                                found.others.push(Problem {
                                    file: label.clone(),
                                    line: None,
                                    message: format!("model '{model}': {message}"),
                                });
                            }
                            if pack
                                .manifest
                                .files
                                .iter()
                                .any(|f| f.template == template && f.kind == FileKind::Config)
                            {
                                let text = quick_xml::escape::unescape(&rendered.body)
                                    .map_or(rendered.body.to_string(), |t| t.into_owned());
                                config_text.push_str(&text);
                            }
                        }
                        Err(e) => {
                            let over = matches!(e, RenderError::OverBudget(..));
                            let problem = Problem {
                                file: label.clone(),
                                line: None,
                                message: e.to_string(),
                            };
                            if over {
                                found.over_budget.push(problem);
                            } else {
                                found.others.push(problem);
                            }
                        }
                    }
                }
            }
            for key in &pack.manifest.vendor.fetch_credential {
                if !config_text.contains(key.as_str()) {
                    found.others.push(Problem {
                        file: format!("{}/{MANIFEST}", pack.vendor),
                        line: None,
                        message: format!("fetch_credential key '{key}' is in no configuration file the pack renders"),
                    });
                }
            }
        }
        found
    }
}

/// What the sample renders found: renders over their budget, which a
/// server refuses to take, and the other problems, which `check-templates`
/// reports.
#[derive(Debug, Default)]
pub struct SampleProblems {
    pub over_budget: Vec<Problem>,
    pub others: Vec<Problem>,
}

/// The packs a running server uses: the built-in ones and the data dir's,
/// read again when a file there changes (looked at once a second, off the
/// phones' path). A change is taken only when its packs load and their
/// sample renders stay within budget; otherwise the packs before it stay in
/// use, and the problem is logged.
pub struct PackShelf {
    overrides: PathBuf,
    current: RwLock<Arc<Packs>>,
    /// The data dir's packs as last looked at.
    disk: Mutex<u64>,
}

impl PackShelf {
    /// Loads the packs and renders their samples; any problem stops here,
    /// so a broken pack is found at start, not by a phone.
    pub async fn open(data_dir: &Path) -> Result<PackShelf, Vec<Problem>> {
        let overrides = data_dir.join("templates");
        loop {
            let disk = disk_print(&overrides);
            match load_checked(&overrides).await {
                Taken::Packs(packs) => {
                    return Ok(PackShelf {
                        overrides,
                        current: RwLock::new(packs),
                        disk: Mutex::new(disk),
                    });
                }
                Taken::Problems(problems) => return Err(problems),
                Taken::ChangedMeanwhile => continue,
            }
        }
    }

    /// The packs in use.
    pub fn current(&self) -> Arc<Packs> {
        self.current.read().expect("packs lock").clone()
    }

    /// Looks at the data dir once a second for as long as the server runs.
    pub fn watch(self: &Arc<Self>) {
        let shelf = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(DISK_CHECK).await;
                shelf.look().await;
            }
        });
    }

    /// Takes the data dir's packs if they changed and have no problem.
    pub async fn look(&self) {
        let disk = disk_print(&self.overrides);
        if *self.disk.lock().expect("disk print lock") == disk {
            return;
        }
        match load_checked(&self.overrides).await {
            Taken::Packs(packs) => {
                tracing::info!("the packs in the data dir changed; reloaded");
                *self.current.write().expect("packs lock") = packs;
            }
            Taken::Problems(problems) => {
                for problem in &problems {
                    tracing::error!(%problem, "a changed pack has a problem; the packs before it stay in use");
                }
            }
            // Looked at again next time.
            Taken::ChangedMeanwhile => return,
        }
        *self.disk.lock().expect("disk print lock") = disk;
    }
}

/// What loading the packs gave.
enum Taken {
    Packs(Arc<Packs>),
    Problems(Vec<Problem>),
    ChangedMeanwhile,
}

/// Loads the packs (on a blocking thread: it parses every template) and
/// renders their samples within budget ([`samples`]).
async fn load_checked(overrides: &Path) -> Taken {
    let dir = overrides.to_path_buf();
    let loaded = match tokio::task::spawn_blocking(move || Packs::load(&dir)).await {
        Ok(loaded) => loaded,
        Err(err) => {
            return Taken::Problems(vec![Problem {
                file: overrides.display().to_string(),
                line: None,
                message: format!("loading the packs failed: {err}"),
            }]);
        }
    };
    if !loaded.problems.is_empty() {
        return Taken::Problems(loaded.problems);
    }
    let packs = Arc::new(loaded.packs);
    match samples::check(packs.clone(), overrides, samples::Found::OverBudget).await {
        None => Taken::ChangedMeanwhile,
        Some(problems) if problems.is_empty() => Taken::Packs(packs),
        Some(problems) => Taken::Problems(problems),
    }
}

#[cfg(test)]
mod tests;

/// Models a pack accepts (by their keys or their format) without a line
/// count in `[models]`: each built-in pack gives each one (a test holds
/// them to it), so no record takes more lines than its phone has. A pack
/// in the data dir that does not is capped by `max_lines` alone.
#[cfg(test)]
fn uncapped_models(manifest: &Manifest) -> Option<String> {
    let listed: std::collections::HashSet<String> = manifest.models.keys().map(|m| model_key(m)).collect();
    let mut uncapped: Vec<&str> = manifest
        .keys
        .models
        .keys()
        .chain(manifest.formats.values().flatten().filter(|m| !m.ends_with('*')))
        .filter(|m| !listed.contains(&model_key(m)))
        .map(String::as_str)
        .collect();
    uncapped.sort_unstable();
    uncapped.dedup();
    (!uncapped.is_empty()).then(|| {
        format!(
            "[models] has no line count for {}, which the pack accepts: give each its lines",
            uncapped.join(", ")
        )
    })
}
