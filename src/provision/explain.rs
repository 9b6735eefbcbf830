//! `sipprov explain`: the checks a fetch meets, one by one, as the phone
//! side takes them, with nothing served, counted or recorded: the answer to
//! "why does my phone get a 404?" without a phone.

use std::fmt;
use std::net::IpAddr;

use super::Provisioner;
use super::answer::{Answer, PhoneRequest};
use super::phone_auth::Mode;
use crate::domain::Vendor;

/// One check and how it went.
#[derive(Debug)]
pub struct Step {
    pub check: &'static str,
    /// Whether the fetch gets past it.
    pub passed: bool,
    pub detail: String,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.passed { "ok" } else { "REFUSED" };
        write!(f, "{:<12} {mark:<8} {}", self.check, self.detail)
    }
}

/// A fetch to explain.
pub struct Fetch<'a> {
    pub file: &'a str,
    pub user_agent: &'a str,
    pub from: IpAddr,
    /// The host the phone reaches sipprov by.
    pub host: &'a str,
    /// Asked over TFTP, and whether TFTP serves files with passwords.
    pub over_tftp: Option<bool>,
}

impl Provisioner {
    /// The checks `fetch` meets, in order, up to the first it fails; the
    /// last step says what the phone gets.
    pub async fn explain(&self, fetch: &Fetch<'_>) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut step = |check, passed, detail: String| {
            steps.push(Step { check, passed, detail });
            passed
        };
        let name = fetch.file.rsplit('/').next().unwrap_or(fetch.file);
        let packs = self.packs.current();
        let Some(matched) = packs.resolve(name) else {
            step("file name", false, format!("no pack knows a file named '{name}': 404"));
            return steps;
        };
        let mut families: Vec<&str> = Vec::new();
        for family in matched.vendors().map(Vendor::code) {
            if !families.contains(&family) {
                families.push(family);
            }
        }
        let mac_note = matched.mac.map_or(String::new(), |mac| format!(", for MAC {mac}"));
        step(
            "file name",
            true,
            format!(
                "'{}' of {} ({} file){mac_note}",
                matched.route,
                families.join(", "),
                matched.kind.label()
            ),
        );
        // TFTP refuses a file with passwords before anything else.
        if let Some(serve_secrets) = fetch.over_tftp {
            let refused = matched.kind.carries_secrets() && !serve_secrets;
            let detail = if refused {
                "this file carries passwords and tftp_serve_secrets is off: TFTP answers 'file not found'".into()
            } else {
                "TFTP serves this file".to_string()
            };
            if !step("tftp", !refused, detail) {
                return steps;
            }
        }
        let agent = packs.parse_user_agent(fetch.user_agent);
        let said = match &agent {
            Some(a) => format!(
                "{} {} firmware {}{}",
                a.vendor.code(),
                a.model,
                a.firmware,
                a.mac.map_or(String::new(), |m| format!(", MAC {m}"))
            ),
            None => "no pack knows this User-Agent: the file name alone decides the family".into(),
        };
        step("user agent", true, said);
        if let (Some(file_mac), Some(says)) = (matched.mac, agent.as_ref().and_then(|a| a.mac))
            && file_mac != says
            && !step(
                "mac",
                false,
                format!("it names MAC {says}, not the file's {file_mac}: another phone's file is refused (403)"),
            )
        {
            return steps;
        }
        let settings = self.settings_for(matched.mac);
        if !step(
            "network",
            settings.allows(fetch.from),
            if settings.allows(fetch.from) {
                format!("{} may fetch (allowed_networks)", fetch.from)
            } else {
                format!("{} is outside allowed_networks: 403", fetch.from)
            },
        ) {
            return steps;
        }
        // Credentials are asked before the MAC is looked up.
        if matched.mac.is_some() || matched.kind.needs_credentials() {
            let detail = match settings.mode {
                Mode::Off => "phone authentication is off: no credentials asked".to_string(),
                mode => format!(
                    "phone authentication is {}: without the site's or the phone's own credentials the phone gets 401, whether a record has its MAC or not, and wrong ones too often throttle its network (429)",
                    if mode == Mode::Basic { "basic" } else { "digest" }
                ),
            };
            step("credentials", true, detail);
        }
        if let Some(mac) = matched.mac {
            let known = self.fleet.read().expect("fleet lock").phones.contains_key(&mac);
            let detail = if known {
                format!("a record has MAC {mac}")
            } else {
                format!("no record has MAC {mac}: the phone is listed as pending and gets 404 until it is claimed")
            };
            if !step("record", known, detail) {
                return steps;
            }
        }
        let request = PhoneRequest {
            user_agent: fetch.user_agent,
            peer: fetch.from,
            ..PhoneRequest::look(fetch.file, fetch.host)
        };
        let (passed, detail) = match self.answer(&request).await {
            Answer::File(file) => (
                true,
                format!(
                    "200: {} bytes, version {}",
                    file.body.len(),
                    self.secrets.file_version(&file.etag)
                ),
            ),
            Answer::NotFound => (
                false,
                "404: the pack renders nothing by this name for this phone".into(),
            ),
            Answer::ModelRefused => (false, format!("404: {}", crate::provision::reason::MODEL_REFUSED)),
            Answer::Unavailable => (false, "503: the file could not be rendered in time".into()),
            Answer::Forbidden => (false, "403".into()),
            Answer::Unauthorized(_) => (false, "401: credentials needed".into()),
            Answer::Throttled(_) => (false, "429: its network waits".into()),
            Answer::Stored => (true, "an upload the phone sends is kept".into()),
        };
        step("answer", passed, detail);
        steps
    }
}
