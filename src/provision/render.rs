//! Rendering a pack's file from its tera template.
//!
//! Output is escaped for its format: XML entities in XML files, and no line
//! breaks or control characters inside a value of a `key = value` file, so a
//! display name can never add a setting.
//!
//! Every render has a [`Budget`]: bytes of output, items its loops may
//! make with `range()`, and time, checked as it makes items and writes
//! bytes. Going over fails that render with [`RenderError::OverBudget`],
//! naming the file; templates come from the data dir, written by people.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use serde::Serialize;
use tera::{Context, Tera};

use crate::domain::SiteTimeZone;
use crate::domain::keys::KeyView;
use crate::packs::manifest::Problem;
use crate::store::extensions::DirectoryEntry;

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
    /// What the phone shows on the line's key: the extension's name, or
    /// its number when it has none.
    pub label: String,
    /// The caller name others see: the caller-ID name, else the label.
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
    pub fn mapped(&self) -> [(&'static str, &str); 4] {
        [
            ("transport", self.transport.as_str()),
            ("language", self.language.as_str()),
            ("time_zone", self.tz.name.as_str()),
            ("utc_offset", self.tz.offset.as_str()),
        ]
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RenderContext {
    pub device: DeviceView,
    pub lines: Vec<LineView>,
    pub settings: SettingsView,
    /// The phone's programmable keys, in slot order, as its family writes them.
    pub keys: Vec<KeyView>,
    /// The company directory, for the templates that show it; shared, not
    /// copied per fetch.
    #[serde(skip)]
    pub directory: Option<Arc<Vec<DirectoryEntry>>>,
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
    /// The file and what it went over.
    #[error("template {0} went over its render budget: {1}")]
    OverBudget(String, String),
}

/// What one render may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Bytes of output.
    pub output_bytes: usize,
    /// Items `range()` may make over all its calls: what bounds a template's
    /// loops, nested or not, with output or without.
    pub loop_items: u64,
    /// Wall time, checked as items are made and bytes written.
    pub time: Duration,
}

impl Budget {
    /// Every phone file: a directory of 10,000 entries is well within it,
    /// and a file of the built-in packs takes under a millisecond.
    pub const FILE: Budget = Budget {
        output_bytes: 16 << 20,
        loop_items: 1_000_000,
        time: Duration::from_secs(2),
    };
}

/// The render under way on this thread and what it has spent.
struct Spending {
    budget: Budget,
    deadline: Instant,
    items: u64,
    bytes: usize,
    /// Why it stopped, once it went over.
    over: Option<String>,
}

thread_local! {
    static SPENDING: RefCell<Option<Spending>> = const { RefCell::new(None) };
}

/// Spends `items` loop items and `bytes` of output of this thread's render;
/// `Err` with the reason once it is over its budget.
fn spend(items: u64, bytes: usize) -> Result<(), String> {
    SPENDING.with_borrow_mut(|spending| {
        let Some(s) = spending else {
            return Ok(());
        };
        if let Some(over) = &s.over {
            return Err(over.clone());
        }
        s.items += items;
        s.bytes += bytes;
        let over = if s.items > s.budget.loop_items {
            Some(format!("its loops made more than {} items", s.budget.loop_items))
        } else if s.bytes > s.budget.output_bytes {
            Some(format!("it wrote more than {} bytes", s.budget.output_bytes))
        } else if Instant::now() > s.deadline {
            Some(format!(
                "it ran longer than {}",
                humantime::format_duration(s.budget.time)
            ))
        } else {
            None
        };
        match over {
            Some(reason) => {
                s.over = Some(reason.clone());
                Err(reason)
            }
            None => Ok(()),
        }
    })
}

/// Sets this thread's budget for one render and takes it off after.
struct Metered;

impl Metered {
    fn start(budget: Budget) -> Metered {
        SPENDING.set(Some(Spending {
            budget,
            deadline: Instant::now() + budget.time,
            items: 0,
            bytes: 0,
            over: None,
        }));
        Metered
    }

    /// Why the render went over, if it did.
    fn over(&self) -> Option<String> {
        SPENDING.with_borrow(|s| s.as_ref().and_then(|s| s.over.clone()))
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        SPENDING.set(None);
    }
}

/// The output of a render, counted against its budget as it is written.
struct MeteredOutput(Vec<u8>);

impl Write for MeteredOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        spend(0, buf.len()).map_err(std::io::Error::other)?;
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// tera's `range(end, start=0, step_by=1)`, counting the items it makes
/// against the render's budget before making them.
fn metered_range(kwargs: tera::Kwargs, _: &tera::State) -> tera::TeraResult<Vec<i64>> {
    let start = kwargs.get::<i64>("start")?.unwrap_or_default();
    let end = kwargs.must_get::<i64>("end")?;
    let step = kwargs.get::<i64>("step_by")?.unwrap_or(1);
    if step == 0 {
        return Err(tera::Error::message("range: step_by must not be 0"));
    }
    let span = i128::from(end) - i128::from(start);
    let len = if (span > 0) == (step > 0) && span != 0 {
        (span.abs() + i128::from(step).abs() - 1) / i128::from(step).abs()
    } else {
        0
    };
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    spend(len, 0).map_err(|over| tera::Error::message(format!("range: {over}")))?;
    Ok((0..len as i64).map(|i| start + i * step).collect())
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
                label: display_name.into(),
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
            keys: Vec::new(),
            directory: Some(Arc::new(vec![
                DirectoryEntry {
                    name: "Front desk".into(),
                    number: "1001".into(),
                },
                DirectoryEntry {
                    name: "O'Brien & Sons <sales>".into(),
                    number: "1002".into(),
                },
            ])),
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
    /// Whether the template names `directory`: only then is the company
    /// directory, perhaps thousands of entries, put in its context.
    reads_directory: bool,
}

const TEMPLATE: &str = "file.out";

/// Whether a tag or an expression of the template (not a comment) names
/// `directory`.
fn names_directory(source: &str) -> bool {
    static NAMED: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\{[{%][^}]*\bdirectory\b").expect("a valid pattern"));
    NAMED.is_match(source)
}

impl Templates {
    /// Parses each template (name → (label, source)); one that does not
    /// parse is left out and reported.
    pub fn compile(sources: &BTreeMap<String, (String, String)>) -> (Templates, Vec<Problem>) {
        let mut templates = Templates::default();
        let mut problems = Vec::new();
        for (name, (label, source)) in sources {
            let format = Format::of(source);
            let mut tera = Tera::new();
            tera.register_function("range", metered_range);
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
                            reads_directory: names_directory(source),
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

    /// Renders a template for a phone, with the pack's values as `pack`,
    /// within `budget`.
    pub fn render(
        &self,
        name: &str,
        ctx: &RenderContext,
        pack: serde_json::Value,
        budget: Budget,
    ) -> Result<Rendered, RenderError> {
        let compiled = self
            .compiled
            .get(name)
            .ok_or_else(|| RenderError::Missing(name.to_string()))?;
        let fail = |e: tera::Error| RenderError::Template(compiled.label.clone(), format!("{e}"));
        let mut context = Context::from_serialize(ctx).map_err(fail)?;
        context.insert("pack", &pack);
        let directory: &[DirectoryEntry] = match &ctx.directory {
            Some(entries) if compiled.reads_directory => entries,
            _ => &[],
        };
        context.insert("directory", directory);
        let metered = Metered::start(budget);
        let mut output = MeteredOutput(Vec::new());
        let rendered = compiled.tera.render_to(TEMPLATE, &context, &mut output);
        if let Some(over) = metered.over() {
            return Err(RenderError::OverBudget(compiled.label.clone(), over));
        }
        rendered.map_err(fail)?;
        let body = String::from_utf8(output.0)
            .map_err(|_| RenderError::Template(compiled.label.clone(), "the output is not UTF-8".into()))?;
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

    #[test]
    fn only_templates_that_name_the_directory_get_it() {
        assert!(names_directory(
            "{% for entry in directory %}{{ entry.name }}{% endfor %}"
        ));
        assert!(names_directory("{{ directory | length }}"));
        assert!(!names_directory("{# the company directory #}key = 1"));
        assert!(!names_directory("CONTACTS_DIRECTORY=\"\" {{ directory_url }}"));
    }

    use super::*;

    #[test]
    fn text_values_cannot_add_lines() {
        let mut out = Vec::new();
        escape_text("Evil\naccount.2.password = x\r", &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "Evilaccount.2.password = x");
    }

    fn compiled(source: &str) -> Templates {
        let sources = BTreeMap::from([("t".to_string(), ("bomb.cfg".to_string(), source.to_string()))]);
        let (templates, problems) = Templates::compile(&sources);
        assert!(problems.is_empty(), "{problems:?}");
        templates
    }

    fn render(source: &str, budget: Budget) -> Result<String, RenderError> {
        compiled(source)
            .render("t", &RenderContext::fixture(), serde_json::json!({}), budget)
            .map(|r| r.body.to_string())
    }

    #[test]
    fn range_makes_what_teras_does() {
        let each = |call: &str| {
            render(
                &format!("{{% for i in {call} %}}{{{{ i }}}},{{% endfor %}}"),
                Budget::FILE,
            )
            .unwrap()
        };
        assert_eq!(each("range(end=4)"), "0,1,2,3,");
        assert_eq!(each("range(start=2, end=9, step_by=3)"), "2,5,8,");
        assert_eq!(each("range(start=5, end=0, step_by=-2)"), "5,3,1,");
        assert_eq!(each("range(end=0)"), "");
    }

    #[test]
    fn nested_loops_go_over_the_budget_with_output_and_without() {
        let budget = Budget::FILE;
        // Few items, much output: a kilobyte a turn, so the bytes run out
        // long before the time does, even on a loaded machine.
        let wide = format!(
            "{{% for i in range(end=1000) %}}{{% for j in range(end=1000) %}}{}{{{{ device.name }}}}{{% endfor %}}{{% endfor %}}",
            "x".repeat(1024)
        );
        for (source, reason) in [
            // 10^10 items, writing nothing: the loop items run out.
            (
                "{% for i in range(end=100000) %}{% for j in range(end=100000) %}{% endfor %}{% endfor %}",
                "its loops made more than",
            ),
            // The same, writing: the loop items run out first too.
            (
                "{% for i in range(end=100000) %}{% for j in range(end=100000) %}x{% endfor %}{% endfor %}",
                "its loops made more than",
            ),
            (wide.as_str(), "it wrote more than"),
        ] {
            let started = Instant::now();
            match render(source, budget) {
                Err(RenderError::OverBudget(file, why)) => {
                    assert_eq!(file, "bomb.cfg");
                    assert!(why.starts_with(reason), "{why}");
                }
                other => panic!("{source}: {other:?}"),
            }
            assert!(started.elapsed() < budget.time, "{source} took {:?}", started.elapsed());
        }
        let slow = Budget {
            time: Duration::ZERO,
            ..Budget::FILE
        };
        assert!(matches!(
            render("{% for i in range(end=10) %}{{ i }}{% endfor %}", slow),
            Err(RenderError::OverBudget(_, why)) if why.starts_with("it ran longer than")
        ));
        assert!(
            render("{% for i in range(end=10) %}{{ i }}{% endfor %}", budget).is_ok(),
            "the next render starts afresh"
        );
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
