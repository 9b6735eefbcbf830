//! A pack's manifest, `vendor.toml`: who the family is (names, OUIs,
//! User-Agents), which file names its phones ask for and which template
//! answers each, its models, and its own values for sipprov's settings.
//! Every problem is reported with the line it is on.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

use super::routes::FileKind;
use crate::domain::keys::{KeyLayout, KeyType};

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub vendor: VendorSection,
    #[serde(default)]
    pub user_agents: Vec<AgentRule>,
    #[serde(default)]
    pub files: Vec<FileRule>,
    /// `[values.<setting>]`: the pack's value for each of the setting's values.
    #[serde(default)]
    pub values: BTreeMap<String, toml::Table>,
    /// SIP accounts per model.
    #[serde(default)]
    pub models: BTreeMap<String, i64>,
    /// Format generations other than `default_format`, each with its
    /// models: a name, or a prefix ending in `*` (`GRP*`).
    #[serde(default)]
    pub formats: BTreeMap<String, Vec<String>>,
    /// Format generations a firmware tells, whatever the model: each with
    /// regexes its User-Agent's firmware version may match. Looked at
    /// before `[formats]`, when the phone's User-Agent gives a firmware.
    #[serde(default)]
    pub firmware_formats: BTreeMap<String, Vec<String>>,
    /// How its phones are told to re-check now (SIP NOTIFY).
    pub notify: Option<NotifySection>,
    /// Its programmable keys: which types, and how many per model.
    #[serde(default)]
    pub keys: KeysSection,
    /// Models of the family its templates cannot write a file for (a name,
    /// or a prefix ending in `*`), each with why: a record for one is a 400.
    #[serde(default)]
    pub refused_models: BTreeMap<String, String>,
}

/// `[keys]`: the code of each key type its phones can do, and each
/// model's keys; a model `models` omits has `default`'s, else none.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    /// sipprov's type (`blf`) → the family's code for it, as its templates
    /// write it (`16`, `"blf"`).
    #[serde(default)]
    pub types: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub models: BTreeMap<String, ModelKeys>,
    pub default: Option<ModelKeys>,
    /// Why the family has no keys sipprov sets, with its source.
    pub unsupported: Option<String>,
    /// The family's code for a key with nothing on it: how a key taken
    /// away is written (type `none` in templates). Without it, a key taken
    /// away is left out, and stays on the phone.
    pub empty: Option<toml::Value>,
}

/// A model's keys: a count, or a count with expansion modules.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum ModelKeys {
    Keys(u32),
    WithModules {
        keys: u32,
        #[serde(default)]
        modules: u32,
        #[serde(default)]
        module_keys: u32,
    },
}

impl ModelKeys {
    pub fn layout(self) -> KeyLayout {
        match self {
            ModelKeys::Keys(keys) => KeyLayout {
                keys,
                ..KeyLayout::default()
            },
            ModelKeys::WithModules {
                keys,
                modules,
                module_keys,
            } => KeyLayout {
                keys,
                modules,
                module_keys,
            },
        }
    }
}

/// `[notify]`: the `Event` of the NOTIFY that makes the family's phones
/// fetch their files again without rebooting, or why they cannot be told.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    pub event: Option<String>,
    /// Models with an event of their own: a name, or a prefix ending in `*`.
    #[serde(default)]
    pub models: BTreeMap<String, String>,
    /// Why a NOTIFY cannot make these phones re-check, with its source.
    pub unsupported: Option<String>,
}

impl NotifySection {
    /// What is wrong with the section, if anything.
    pub fn problem(&self) -> Option<String> {
        match (&self.event, &self.unsupported) {
            (Some(_), Some(_)) => return Some("[notify] has both event and unsupported; give one".into()),
            (None, None) => return Some("[notify] needs an event, or unsupported with the reason".into()),
            _ => {}
        }
        self.event
            .iter()
            .chain(self.models.values())
            .find(|e| !valid_event(e))
            .map(|e| format!("[notify] event '{e}' is not one header value of printable ASCII, at most 64 characters"))
    }
}

/// An `Event` header value: printable ASCII, so it cannot end the header.
fn valid_event(event: &str) -> bool {
    !event.is_empty() && event.len() <= 64 && event.bytes().all(|b| (0x20..0x7f).contains(&b))
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorSection {
    /// Other names admins use for the family (the folder name is its code).
    #[serde(default)]
    pub names: Vec<String>,
    /// MAC prefixes, six hex digits.
    #[serde(default)]
    pub ouis: Vec<String>,
    /// A family whose templates, files, values and models this one takes
    /// where it has none of its own.
    pub templates_from: Option<String>,
    /// The file format generation of a model `[formats]` does not list.
    pub default_format: Option<String>,
    /// The keys its configuration carries the fetch credential in.
    #[serde(default)]
    pub fetch_credential: Vec<String>,
    /// Further names its phones may write (logs), besides written-back files.
    #[serde(default)]
    pub uploads: Vec<String>,
    /// The most lines any of its phones takes: the cap of a model `[models]`
    /// does not list.
    pub max_lines: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRule {
    /// A regex with the groups `model`, `fw` and `mac`; `{mac}` stands for a
    /// MAC with or without colons.
    pub pattern: String,
    /// User-Agents this rule must read, and no other family's before it.
    #[serde(default)]
    pub samples: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRule {
    /// The file name, with `{mac}` (lower case) or `{MAC}` (upper case) for
    /// the phone's MAC and `{model}` for a model code.
    pub name: String,
    pub template: String,
    pub kind: FileKind,
    /// What a `{model}` may be, as a regex.
    pub model: Option<String>,
    /// Names this route must answer, when its name has a `{model}`.
    #[serde(default)]
    pub samples: Vec<String>,
    /// The Content-Type, when the template's own shape (XML or text) is not it.
    pub content_type: Option<String>,
}

/// The most key slots a model may have, expansion modules included.
pub const MAX_SLOTS: u32 = 1000;

/// A model name as packs list it: upper case, letters and digits only
/// (`T21P_E2` and `t21p-e2` are one model).
pub fn model_key(model: &str) -> String {
    model
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Whether a `[formats]` entry (`GRP*` or `X3`) names a model; both are
/// compared as `model_key`s (`model` is one already).
pub fn names_model(entry: &str, model: &str) -> bool {
    let key = model_key(entry);
    if entry.ends_with('*') {
        model.starts_with(&key)
    } else {
        model == key
    }
}

/// One problem in one file, with its line when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// The line (from 1) of the first occurrence of `needle`, if any.
pub fn line_of(source: &str, needle: &str) -> Option<usize> {
    let at = source.find(needle)?;
    Some(source[..at].matches('\n').count() + 1)
}

/// Reads one manifest file as a table, checking its shape; `file` names it
/// in every problem.
pub fn read(file: &str, source: &str) -> Result<toml::Table, Vec<Problem>> {
    let problem = |line, message: String| Problem {
        file: file.to_string(),
        line,
        message,
    };
    let span_line = |span: Option<std::ops::Range<usize>>| span.map(|s| source[..s.start].matches('\n').count() + 1);
    let table: toml::Table =
        toml::from_str(source).map_err(|e| vec![problem(span_line(e.span()), e.message().to_string())])?;
    let manifest: Manifest =
        toml::from_str(source).map_err(|e| vec![problem(span_line(e.span()), e.message().to_string())])?;
    let problems = check(&manifest, source)
        .into_iter()
        .map(|(needle, message)| problem(line_of(source, &needle), message))
        .collect::<Vec<_>>();
    if problems.is_empty() { Ok(table) } else { Err(problems) }
}

/// What is wrong in a manifest beyond its shape, each with a text to find
/// its line by.
fn check(manifest: &Manifest, source: &str) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for oui in &manifest.vendor.ouis {
        if oui.len() != 6 || !oui.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
            problems.push((oui.clone(), format!("OUI '{oui}': must be six lower-case hex digits")));
        }
    }
    for rule in &manifest.user_agents {
        if let Err(e) = Regex::new(&expand_agent_pattern(&rule.pattern)) {
            problems.push((first_line(&rule.pattern), format!("User-Agent pattern: {e}")));
        }
    }
    for (format, patterns) in &manifest.firmware_formats {
        if manifest.vendor.default_format.as_ref() != Some(format) && !manifest.formats.contains_key(format) {
            problems.push((
                format!("{format} ="),
                format!("[firmware_formats] {format}: not the default_format nor a [formats] generation"),
            ));
        }
        for pattern in patterns {
            if let Err(e) = Regex::new(pattern) {
                problems.push((pattern.clone(), format!("[firmware_formats] {format}: {e}")));
            }
        }
    }
    for rule in &manifest.files {
        if let Err(message) = file_pattern(rule) {
            problems.push((rule.name.clone(), message));
        }
        if let Some(content_type) = &rule.content_type
            && (content_type.is_empty() || !content_type.chars().all(|c| c.is_ascii_graphic() || c == ' '))
        {
            problems.push((
                content_type.clone(),
                format!("file '{}': content_type must be printable ASCII", rule.name),
            ));
        }
    }
    for name in &manifest.vendor.uploads {
        if !name.contains("{mac}") || name.contains("{MAC}") || name.contains("{model}") {
            problems.push((name.clone(), format!("upload '{name}': must name the phone as {{mac}}")));
        }
    }
    for name in manifest.keys.types.keys() {
        if KeyType::named(name).is_none() {
            let known: Vec<&str> = KeyType::ALL.iter().map(|t| t.name()).collect();
            problems.push((
                format!("{name} ="),
                format!("[keys] type '{name}': not one of {}", known.join(", ")),
            ));
        }
    }
    for code in manifest.keys.types.values().chain(&manifest.keys.empty) {
        if !matches!(code, toml::Value::String(_) | toml::Value::Integer(_)) {
            problems.push((
                "[keys]".into(),
                "[keys] types: each code is a string or a number".into(),
            ));
        }
    }
    for (model, keys) in manifest
        .keys
        .models
        .iter()
        .map(|(m, k)| (m.as_str(), k))
        .chain(manifest.keys.default.iter().map(|k| ("default", k)))
    {
        let layout = keys.layout();
        if (layout.modules == 0) != (layout.module_keys == 0) || layout.slots() > MAX_SLOTS {
            problems.push((
                format!("{model} ="),
                format!("[keys] {model}: modules and module_keys go together, and at most {MAX_SLOTS} slots in all"),
            ));
        }
    }
    if manifest.keys.unsupported.is_some() && !manifest.keys.types.is_empty() {
        problems.push((
            "[keys]".into(),
            "[keys] has both types and unsupported; give one".into(),
        ));
    }
    if manifest.vendor.max_lines.is_some_and(|l| l < 1) {
        problems.push((
            "max_lines".into(),
            "[vendor] max_lines: must be a number of lines from 1".into(),
        ));
    }
    for (model, lines) in &manifest.models {
        if *lines < 1 {
            let needle = source
                .lines()
                .find(|l| l.trim_start().trim_start_matches('"').starts_with(model.as_str()))
                .unwrap_or(model)
                .to_string();
            problems.push((
                needle,
                format!("[models] {model} = {lines}: must be a number of lines from 1"),
            ));
        }
    }
    problems
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// The regex for a MAC in a file name: all lower or all upper case (the
/// route's entries say which case each family asks in).
const FILE_MAC: &str = "(?P<mac>[0-9a-f]{12}|[0-9A-F]{12})";
/// A MAC in a User-Agent, with colons or without.
const AGENT_MAC: &str = r"(?P<mac>[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{12})";

pub fn expand_agent_pattern(pattern: &str) -> String {
    pattern.replace("{mac}", AGENT_MAC)
}

/// The anchored regex a file rule's name stands for. Rules whose names
/// differ only in the MAC's case share one.
pub fn file_pattern(rule: &FileRule) -> Result<String, String> {
    let name = &rule.name;
    let mut pattern = String::from("^");
    let mut rest = name.as_str();
    let (mut macs, mut models) = (0, 0);
    while let Some(open) = rest.find('{') {
        pattern.push_str(&regex::escape(&rest[..open]));
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("file '{name}': an unclosed '{{'"))?;
        match &rest[open + 1..open + close] {
            "mac" | "MAC" => {
                macs += 1;
                pattern.push_str(FILE_MAC);
            }
            "model" => {
                models += 1;
                let model = rule
                    .model
                    .as_deref()
                    .ok_or_else(|| format!("file '{name}': {{model}} needs `model`, a regex for it"))?;
                Regex::new(model).map_err(|e| format!("file '{name}': model regex: {e}"))?;
                pattern.push_str(&format!("(?P<model>{model})"));
            }
            other => {
                return Err(format!(
                    "file '{name}': unknown placeholder {{{other}}}; use {{mac}}, {{MAC}} or {{model}}"
                ));
            }
        }
        rest = &rest[open + close + 1..];
    }
    pattern.push_str(&regex::escape(rest));
    pattern.push('$');
    if macs > 1 || models > 1 {
        return Err(format!("file '{name}': at most one MAC and one model"));
    }
    if models == 1 && rule.samples.is_empty() {
        return Err(format!("file '{name}': a name with {{model}} needs `samples`"));
    }
    if name.contains('/') || name.contains("..") {
        return Err(format!("file '{name}': a file name, without folders"));
    }
    if rule.template.contains('/') || rule.template.starts_with('.') {
        return Err(format!(
            "file '{name}': template '{}' must be a file of the pack",
            rule.template
        ));
    }
    Ok(pattern)
}

/// `over` laid on `base`: tables merge key by key, anything else replaces.
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => merge(inner, value),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_their_line() {
        let source = "[vendor]\nouis = [\"00AA\"]\n\n[models]\nD785 = 0\n";
        let problems = read("snom/vendor.toml", source).unwrap_err();
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "snom/vendor.toml:2: OUI '00AA': must be six lower-case hex digits",
                "snom/vendor.toml:5: [models] D785 = 0: must be a number of lines from 1"
            ]
        );
        let unknown = read("x/vendor.toml", "[vendor]\nname = \"x\"\n").unwrap_err();
        assert_eq!(unknown[0].line, Some(2), "{unknown:?}");
        assert!(unknown[0].message.contains("unknown field `name`"), "{unknown:?}");
        let broken = read("x/vendor.toml", "[values.language\n").unwrap_err();
        assert_eq!(broken[0].line, Some(1), "{broken:?}");
    }

    #[test]
    fn a_firmware_tells_a_generation_the_pack_has_by_a_valid_regex() {
        let source = "[vendor]\ndefault_format = \"new\"\n\n[formats]\nold = [\"X4\"]\n\n[firmware_formats]\nnew = ['^2\\.12\\.']\nold = ['^2\\.(']\nnewest = ['^3\\.']\n";
        let problems = read("fanvil/vendor.toml", source).unwrap_err();
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert_eq!(
            shown[0],
            "fanvil/vendor.toml:10: [firmware_formats] newest: not the default_format nor a [formats] generation"
        );
        assert!(
            shown[1].starts_with("fanvil/vendor.toml:9: [firmware_formats] old: regex parse error"),
            "{shown:?}"
        );
    }

    #[test]
    fn file_names_become_anchored_patterns() {
        let rule = |name: &str, model: Option<&str>| FileRule {
            name: name.into(),
            template: "t".into(),
            kind: FileKind::Common,
            model: model.map(str::to_string),
            samples: vec!["x".into()],
            content_type: None,
        };
        let mac = file_pattern(&rule("cfg{mac}.xml", None)).unwrap();
        let upper = file_pattern(&rule("cfg{MAC}.xml", None)).unwrap();
        assert_eq!(mac, upper, "one route for both cases");
        let re = Regex::new(&mac).unwrap();
        assert!(re.is_match("cfg000b82aabbcc.xml") && re.is_match("cfg000B82AABBCC.xml"));
        assert!(!re.is_match("cfg000b82AABBCC.xml") && !re.is_match("xcfg000b82aabbcc.xml"));
        let model = Regex::new(&file_pattern(&rule("y000000000{model}.cfg", Some("[0-9]{3}"))).unwrap()).unwrap();
        assert_eq!(&model.captures("y000000000028.cfg").unwrap()["model"], "028");
        assert!(
            file_pattern(&rule("{serial}.cfg", None))
                .unwrap_err()
                .contains("unknown placeholder")
        );
        assert!(
            file_pattern(&rule("{model}.cfg", None))
                .unwrap_err()
                .contains("needs `model`")
        );
        assert!(file_pattern(&rule("../{mac}.cfg", None)).is_err());
    }

    #[test]
    fn an_override_merges_into_the_built_in_manifest() {
        let mut base: toml::Table = toml::from_str("[values.language]\nen = 1\nde = 2\n[models]\nA = 1\n").unwrap();
        merge(&mut base, toml::from_str("[values.language]\nde = 3\n").unwrap());
        assert_eq!(base["values"]["language"]["de"].as_integer(), Some(3));
        assert_eq!(base["values"]["language"]["en"].as_integer(), Some(1));
        assert_eq!(base["models"]["A"].as_integer(), Some(1));
    }
}
