//! Rendering a pack's file from its tera template.
//!
//! Output is escaped for its format: XML entities in XML files, and no line
//! breaks or control characters inside a value of a `key = value` file, so a
//! display name can never add a setting.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use serde::Serialize;
use tera::{Context, Tera};

use crate::domain::SiteTimeZone;
use crate::packs::manifest::Problem;

/// A model name as packs list it: upper case, letters and digits only
/// (`T21P_E2` and `t21p-e2` are one model).
pub fn model_key(model: &str) -> String {
    model
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
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

impl SettingsView {
    /// The settings a pack maps to its own values (`[values.<setting>]` in
    /// its manifest), and each one's value.
    pub fn mapped(&self) -> [(&'static str, &str); 3] {
        [
            ("transport", self.transport.as_str()),
            ("language", self.language.as_str()),
            ("time_zone", self.tz.name.as_str()),
        ]
    }
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
    /// Shared: a file served from memory is not copied for each fetch.
    pub body: Arc<str>,
    pub content_type: String,
    /// A strong ETag of the body, made once.
    pub etag: String,
}

impl Rendered {
    pub fn new(body: String, content_type: String) -> Rendered {
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(body.as_bytes())[..16]));
        Rendered {
            body: body.into(),
            content_type,
            etag,
        }
    }

    /// Whether an `If-None-Match` value names this body (or `*`).
    pub fn matches(&self, if_none_match: &str) -> bool {
        if_none_match
            .split(',')
            .any(|t| t.trim() == self.etag || t.trim() == "*")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no template {0}")]
    Missing(String),
    #[error("template {0}: {1}")]
    Template(String, String),
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
                vendor: String::new(),
                model: String::new(),
                firmware: String::new(),
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

/// A pack's templates, each parsed once, with the escaping of its format.
#[derive(Default)]
pub struct Templates {
    compiled: BTreeMap<String, Compiled>,
}

struct Compiled {
    label: String,
    format: Format,
    tera: Tera,
}

const TEMPLATE: &str = "file.out";

impl Templates {
    /// Parses each template (name → (label, source)); one that does not
    /// parse is left out and reported.
    pub fn compile(sources: &BTreeMap<String, (String, String)>) -> (Templates, Vec<Problem>) {
        let mut templates = Templates::default();
        let mut problems = Vec::new();
        for (name, (label, source)) in sources {
            let format = Format::of(source);
            let mut tera = Tera::new();
            tera.autoescape_on([".out"]);
            tera.set_escape_fn(match format {
                Format::Xml => escape_xml,
                Format::Text => escape_text,
            });
            match tera.add_raw_template(TEMPLATE, source) {
                Ok(()) => {
                    templates.compiled.insert(
                        name.clone(),
                        Compiled {
                            label: label.clone(),
                            format,
                            tera,
                        },
                    );
                }
                Err(e) => {
                    // Tera points at `--> file.out:<line>:<column>`.
                    let text = e.to_string();
                    let line = text
                        .split_once(&format!("{TEMPLATE}:"))
                        .and_then(|(_, at)| at.split(':').next()?.parse().ok());
                    let message = text
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .trim_start_matches("error: ")
                        .to_string();
                    problems.push(Problem {
                        file: label.clone(),
                        line,
                        message,
                    });
                }
            }
        }
        (templates, problems)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.compiled.keys().map(String::as_str)
    }

    pub fn label<'a>(&'a self, name: &'a str) -> &'a str {
        self.compiled.get(name).map_or(name, |c| c.label.as_str())
    }

    /// Renders a template for a phone, with the pack's values as `pack`.
    pub fn render(&self, name: &str, ctx: &RenderContext, pack: serde_json::Value) -> Result<Rendered, RenderError> {
        let compiled = self
            .compiled
            .get(name)
            .ok_or_else(|| RenderError::Missing(name.to_string()))?;
        let fail = |e: tera::Error| RenderError::Template(compiled.label.clone(), format!("{e}"));
        let mut context = Context::from_serialize(ctx).map_err(fail)?;
        context.insert("pack", &pack);
        let body = compiled.tera.render(TEMPLATE, &context).map_err(fail)?;
        Ok(Rendered::new(body, compiled.format.content_type().to_string()))
    }
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
