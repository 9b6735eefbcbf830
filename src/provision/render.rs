//! Rendering a vendor's file from its tera template.
//!
//! Templates ship in the binary (`templates/<vendor>/`); a file of the same
//! name in `<data-dir>/templates/<vendor>/` overrides one without a restart.
//! Output is escaped for its format: XML entities in XML files, and no line
//! breaks or control characters inside a value of a `key = value` file, so a
//! display name can never add a setting.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rust_embed::RustEmbed;
use serde::Serialize;
use tera::{Context, Tera};

use crate::domain::{SiteTimeZone, Vendor};

#[derive(RustEmbed)]
#[folder = "templates/"]
#[exclude = "*.md"]
struct Builtin;

/// Each pack's manifest, beside its templates.
pub const MANIFEST: &str = "vendor.toml";

/// A model name as packs list it: upper case, letters and digits only
/// (`T21P_E2` and `t21p-e2` are one model).
pub fn model_key(model: &str) -> String {
    model
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The settings a pack maps to its own values (`[values.<setting>]` in its
/// manifest), and where each one's value comes from.
fn mapped_settings(settings: &SettingsView) -> [(&'static str, &str); 3] {
    [
        ("transport", settings.transport.as_str()),
        ("language", settings.language.as_str()),
        ("time_zone", settings.tz.name.as_str()),
    ]
}

/// The phone as its templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    /// `001565aabbcc`
    pub mac: String,
    /// `001565AABBCC`
    pub mac_upper: String,
    /// `00:15:65:aa:bb:cc`
    pub mac_colon: String,
    pub name: String,
    pub vendor: String,
    pub model: String,
    /// The firmware version its User-Agent gave, or "".
    pub firmware: String,
}

/// One SIP account on the phone, numbered from 1.
#[derive(Debug, Clone, Serialize)]
pub struct LineView {
    pub index: usize,
    pub extn: String,
    pub auth_name: String,
    pub password: String,
    pub display_name: String,
    pub cid_name: String,
    pub cid_number: String,
    pub domain: String,
    pub server_host: String,
    pub server_port: u16,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
    pub enabled: bool,
}

/// Site-wide provisioning settings.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    pub sip_server_host: String,
    pub sip_server_port: u16,
    pub transport: String,
    pub ntp_server: String,
    /// The time zone, in every form a vendor writes it (`tz.posix`,
    /// `tz.gmt`, `tz.offset_minutes`, `tz.dst.start.month`, ...).
    pub tz: SiteTimeZone,
    /// A language code (`en`, `zh-CN`, `de`); each pack maps it.
    pub language: String,
    /// The phone's own admin password; "" leaves the phone's as it is.
    pub admin_password: String,
    /// Where the phone keeps polling, ending in `/`.
    pub provisioning_url: String,
    /// The credential the phone should fetch with, when phone
    /// authentication is on; only files with SIP passwords carry it.
    pub provisioning_username: String,
    pub provisioning_password: String,
    pub resync_interval_minutes: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct RenderContext {
    pub device: DeviceView,
    pub lines: Vec<LineView>,
    pub settings: SettingsView,
}

/// A rendered file and how to label it.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub body: String,
    pub content_type: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no template {0}")]
    Missing(String),
    #[error("template {0}: {1}")]
    Template(String, String),
}

/// Vendors that share another's file formats fall back to its templates.
fn family(vendor: Vendor) -> Option<Vendor> {
    match vendor {
        Vendor::Flyingvoice => Some(Vendor::Yealink),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Xml,
    Text,
}

impl Format {
    fn of(source: &str) -> Format {
        if source.trim_start().starts_with('<') {
            Format::Xml
        } else {
            Format::Text
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Xml => "text/xml; charset=utf-8",
            Format::Text => "text/plain; charset=utf-8",
        }
    }
}

fn escape_xml(value: &str, out: &mut dyn Write) -> std::io::Result<()> {
    // Names also appear inside comments, where `--` is not allowed;
    // elsewhere `&#45;` reads as the `-` it stands for.
    let escaped = quick_xml::escape::escape(value);
    out.write_all(escaped.replace("--", "-&#45;").as_bytes())
}

fn escape_text(value: &str, out: &mut dyn Write) -> std::io::Result<()> {
    let clean: String = value.chars().filter(|c| !c.is_control()).collect();
    out.write_all(clean.as_bytes())
}

impl RenderContext {
    /// A made-up phone with two lines and a display name full of XML and
    /// line-break trouble, for checking templates.
    pub fn fixture() -> RenderContext {
        let display_name = "Ops & \"Sales\" <1> 'x'\nnext = line";
        let mut ctx = RenderContext {
            device: DeviceView {
                mac: "001565aabbcc".into(),
                mac_upper: "001565AABBCC".into(),
                mac_colon: "00:15:65:aa:bb:cc".into(),
                name: "Front desk".into(),
                vendor: "yealink".into(),
                model: "T46G".into(),
                firmware: "28.86.0.15".into(),
            },
            lines: vec![LineView {
                index: 1,
                extn: "1001".into(),
                auth_name: "1001".into(),
                password: "s3cret".into(),
                display_name: display_name.into(),
                cid_name: display_name.into(),
                cid_number: "1001".into(),
                domain: "xswitch.cn".into(),
                server_host: "pbx.example.com".into(),
                server_port: 5060,
                transport: "udp".into(),
                enabled: true,
            }],
            settings: SettingsView {
                sip_server_host: "pbx.example.com".into(),
                sip_server_port: 5060,
                transport: "udp".into(),
                ntp_server: "pool.ntp.org".into(),
                tz: SiteTimeZone::parse("Europe/Berlin").expect("a zone in the database"),
                language: "de".into(),
                admin_password: "".into(),
                provisioning_url: "http://pbx.example.com:8081/prov/".into(),
                provisioning_username: "phones".into(),
                provisioning_password: "fetch-pass".into(),
                resync_interval_minutes: 1440,
            },
        };
        ctx.settings.admin_password = "adm1n-pass".into();
        let mut second = ctx.lines[0].clone();
        second.index = 2;
        second.extn = "1002".into();
        ctx.lines.push(second);
        ctx
    }
}

#[derive(Debug, Clone)]
pub struct Renderer {
    overrides: PathBuf,
}

impl Renderer {
    pub fn new(data_dir: &Path) -> Renderer {
        Renderer {
            overrides: data_dir.join("templates"),
        }
    }

    /// The template source for a vendor's file: an override if there is
    /// one, else the built-in, for the vendor or its family.
    fn source(&self, vendor: Vendor, template: &str) -> Option<(String, String)> {
        let candidates = std::iter::once(vendor).chain(family(vendor));
        for v in candidates.clone() {
            let path = self.overrides.join(v.code()).join(template);
            if !path.exists() {
                continue;
            }
            // An override that links out of the templates folder is not read.
            let Some(real) = crate::confined::within_blocking(&self.overrides, &path) else {
                tracing::warn!(template = %path.display(), "a template override leads out of the templates folder; ignored");
                continue;
            };
            if let Ok(text) = std::fs::read_to_string(&real) {
                return Some((path.display().to_string(), text));
            }
        }
        candidates.into_iter().find_map(|v| {
            let name = format!("{}/{template}", v.code());
            let file = Builtin::get(&name)?;
            Some((name, String::from_utf8_lossy(&file.data).into_owned()))
        })
    }

    /// Renders every template, built-in and overriding, against the fixture
    /// phone (as a plain model and a GRP, which some vendors branch on); XML
    /// output must be well-formed. Each manifest must have the shape packs
    /// use. One result per file.
    pub fn check_all(&self) -> Vec<(String, Result<(), String>)> {
        let mut templates: std::collections::BTreeSet<(String, String)> = Builtin::iter()
            .filter_map(|n| n.split_once('/').map(|(v, t)| (v.to_string(), t.to_string())))
            .collect();
        if let Ok(dirs) = std::fs::read_dir(&self.overrides) {
            for dir in dirs.flatten() {
                let vendor = dir.file_name().to_string_lossy().into_owned();
                for file in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                    templates.insert((vendor.clone(), file.file_name().to_string_lossy().into_owned()));
                }
            }
        }
        templates
            .into_iter()
            .map(|(vendor_name, template)| {
                let label = format!("{vendor_name}/{template}");
                let check = || -> Result<(), String> {
                    let vendor = Vendor::resolve(&vendor_name).map_err(|e| e.to_string())?;
                    if template == MANIFEST {
                        let (_, source) = self.source(vendor, MANIFEST).ok_or("not readable")?;
                        return check_manifest(&source);
                    }
                    for model in ["T46G", "GRP2614"] {
                        let mut ctx = RenderContext::fixture();
                        ctx.device.model = model.into();
                        let rendered = self.render(vendor, &template, &ctx).map_err(|e| e.to_string())?;
                        if rendered.content_type.starts_with("text/xml") {
                            well_formed(&rendered.body)?;
                        }
                    }
                    Ok(())
                };
                (label, check())
            })
            .collect()
    }

    /// What the pack writes for this phone's settings: each `[values.X]`
    /// map of its manifest, looked up with setting X's value (or the map's
    /// `default`), as `pack.X`. A setting the map does not know is left out.
    fn pack_values(&self, vendor: Vendor, settings: &SettingsView) -> Result<serde_json::Value, RenderError> {
        let Some((name, source)) = self.source(vendor, MANIFEST) else {
            return Ok(serde_json::json!({}));
        };
        let manifest: toml::Table =
            toml::from_str(&source).map_err(|e| RenderError::Template(name.clone(), e.to_string()))?;
        let maps = manifest.get("values").and_then(toml::Value::as_table);
        let mut pack = serde_json::Map::new();
        for (setting, value) in mapped_settings(settings) {
            let Some(map) = maps.and_then(|m| m.get(setting)).and_then(toml::Value::as_table) else {
                continue;
            };
            if let Some(found) = map.get(value).or_else(|| map.get("default")) {
                let found =
                    serde_json::to_value(found).map_err(|e| RenderError::Template(name.clone(), e.to_string()))?;
                pack.insert(setting.to_string(), found);
            }
        }
        Ok(serde_json::Value::Object(pack))
    }

    /// The models the pack knows and how many lines each takes (`[models]`
    /// in its manifest), by `model_key`. A model it does not list has no limit.
    pub fn model_lines(&self, vendor: Vendor) -> HashMap<String, usize> {
        let manifest = self
            .source(vendor, MANIFEST)
            .and_then(|(_, source)| toml::from_str::<toml::Table>(&source).ok());
        let models = manifest
            .as_ref()
            .and_then(|m| m.get("models"))
            .and_then(toml::Value::as_table);
        models
            .into_iter()
            .flatten()
            .filter_map(|(model, lines)| Some((model_key(model), usize::try_from(lines.as_integer()?).ok()?)))
            .collect()
    }

    pub fn render(&self, vendor: Vendor, template: &str, ctx: &RenderContext) -> Result<Rendered, RenderError> {
        let (name, source) = self
            .source(vendor, template)
            .ok_or_else(|| RenderError::Missing(format!("{}/{template}", vendor.code())))?;
        let pack = self.pack_values(vendor, &ctx.settings)?;
        let format = Format::of(&source);
        let fail = |e: tera::Error| RenderError::Template(name.clone(), format!("{e}"));
        let mut tera = Tera::new();
        tera.autoescape_on([".out"]);
        tera.set_escape_fn(match format {
            Format::Xml => escape_xml,
            Format::Text => escape_text,
        });
        tera.add_raw_template("file.out", &source).map_err(fail)?;
        let mut context = Context::from_serialize(ctx).map_err(fail)?;
        context.insert("pack", &pack);
        let body = tera.render("file.out", &context).map_err(fail)?;
        Ok(Rendered {
            body,
            content_type: format.content_type(),
        })
    }
}

/// A manifest's shape: `[values.<setting>]` tables of values, and
/// `[models]` of line counts from 1. Errors give the line.
fn check_manifest(source: &str) -> Result<(), String> {
    let manifest: toml::Table = toml::from_str(source).map_err(|e| e.to_string().trim().to_string())?;
    for (key, value) in &manifest {
        match (key.as_str(), value) {
            ("values", toml::Value::Table(maps)) => {
                for (setting, map) in maps {
                    if !map.is_table() {
                        return Err(format!("[values.{setting}] must be a table of values"));
                    }
                }
            }
            ("models", toml::Value::Table(models)) => {
                for (model, lines) in models {
                    if lines.as_integer().is_none_or(|n| n < 1) {
                        return Err(format!("[models] {model} = {lines}: must be a number of lines from 1"));
                    }
                }
            }
            (other, _) => {
                return Err(format!(
                    "'{other}' is not a manifest section; use [values.<setting>] or [models]"
                ));
            }
        }
    }
    Ok(())
}

/// Whether a document parses as XML.
pub fn well_formed(xml: &str) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => return Ok(()),
            // The reader lets these through; phones' parsers do not.
            Ok(quick_xml::events::Event::Comment(c)) if c.contains("--") || c.ends_with('-') => {
                return Err(format!(
                    "not well-formed XML at byte {}: '--' inside a comment",
                    reader.buffer_position()
                ));
            }
            Ok(_) => {}
            Err(e) => return Err(format!("not well-formed XML at byte {}: {e}", reader.buffer_position())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever an admin names a phone or a line, every built-in XML file
        /// stays well-formed and gives the name back, and no text file gets
        /// a line the name smuggled in.
        #[test]
        fn any_name_is_escaped_in_every_format(name in "\\PC{0,24}|[<>&'\"\\-]{0,8}|.*\n[a-z.]+ = 1") {
            let renderer = Renderer::new(Path::new("/nonexistent"));
            let templates: Vec<(String, String)> = Builtin::iter()
                .filter_map(|n| n.split_once('/').map(|(v, t)| (v.to_string(), t.to_string())))
                .filter(|(_, t)| t != MANIFEST)
                .collect();
            for (vendor_name, template) in templates {
                let vendor = Vendor::resolve(&vendor_name).unwrap();
                let mut ctx = RenderContext::fixture();
                ctx.device.name = name.clone();
                for line in &mut ctx.lines {
                    line.display_name = name.clone();
                }
                let rendered = renderer.render(vendor, &template, &ctx).unwrap();
                if rendered.content_type.starts_with("text/xml") {
                    prop_assert!(well_formed(&rendered.body).is_ok(), "{}/{}: {:?}", vendor_name, template, well_formed(&rendered.body));
                } else if let Some((_, smuggled)) = name.split_once('\n') {
                    let injected = smuggled.trim();
                    prop_assert!(
                        !rendered.body.lines().any(|l| l.trim() == injected),
                        "{}/{} has the line {:?}", vendor_name, template, injected
                    );
                }
            }
        }
    }

    #[test]
    fn every_builtin_template_renders_and_xml_is_well_formed() {
        let results = Renderer::new(Path::new("/nonexistent")).check_all();
        assert!(results.len() >= 20, "{results:?}");
        for (name, result) in results {
            assert!(result.is_ok(), "{name}: {result:?}");
        }
    }

    #[test]
    fn a_broken_override_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("templates/yealink")).unwrap();
        std::fs::write(dir.path().join("templates/yealink/mac.cfg"), "{% for x in %}").unwrap();
        std::fs::write(
            dir.path().join("templates/yealink/extra.xml"),
            "<a>{{ device.name }}</b>",
        )
        .unwrap();
        let results: std::collections::HashMap<_, _> = Renderer::new(dir.path()).check_all().into_iter().collect();
        assert!(results["yealink/mac.cfg"].is_err());
        assert!(
            results["yealink/extra.xml"]
                .as_ref()
                .unwrap_err()
                .contains("not well-formed")
        );
        assert!(results["grandstream/cfgmac.xml"].is_ok());
    }

    #[test]
    fn the_fixture_escapes_in_every_format() {
        let renderer = Renderer::new(Path::new("/nonexistent"));
        let ctx = RenderContext::fixture();
        let text = renderer.render(Vendor::Yealink, "mac.cfg", &ctx).unwrap().body;
        assert!(
            text.contains("account.1.display_name = Ops & \"Sales\" <1> 'x'next = line"),
            "{text}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("next = line")),
            "a value cannot start a new line"
        );
        let xml = renderer.render(Vendor::Grandstream, "cfgmac.xml", &ctx).unwrap().body;
        assert!(
            xml.contains("<P3>Ops &amp; &quot;Sales&quot; &lt;1&gt; &apos;x&apos;"),
            "{xml}"
        );
    }

    #[test]
    fn text_values_cannot_add_lines() {
        let mut out = Vec::new();
        escape_text("Evil\naccount.2.password = x\r", &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "Evilaccount.2.password = x");
    }

    #[test]
    fn xml_values_are_escaped() {
        let mut out = Vec::new();
        escape_xml(r#"A & B <"C"> 'D'"#, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "A &amp; B &lt;&quot;C&quot;&gt; &apos;D&apos;"
        );
    }
}
