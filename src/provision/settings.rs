//! Provisioning settings, kept as XSwitch dicts: realm `PROVISION` for the
//! site, realm `PROVISION:<mac>` for one phone's overrides. A change takes
//! effect on the next fetch; nothing restarts.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::domain::{Mac, SiteTimeZone, language};
use crate::provision::phone_auth::{Credential, Holder, Mode};
use crate::provision::render::SettingsView;

pub const SITE_REALM: &str = "PROVISION";

/// The keys of realm PROVISION, and what each holds.
pub const KEYS: &[(&str, &str)] = &[
    (
        "sip_server_host",
        "SIP server the phones register with (default: the host they reach sipprov by)",
    ),
    ("sip_server_port", "SIP server port, 1-65535 (default 5060)"),
    ("transport", "udp, tcp or tls (default udp)"),
    ("ntp_server", "NTP server (default pool.ntp.org)"),
    (
        "time_zone",
        "an IANA time zone such as Europe/Berlin or Asia/Shanghai (daylight saving included), or an offset from UTC: +8, -5, +5:30 (default +8)",
    ),
    (
        "language",
        "the phones' display language: en, zh-CN, de, fr, ... (default en)",
    ),
    (
        "phone_admin_password",
        "the phones' own admin password; stored encrypted, shown as ********",
    ),
    (
        "resync_interval",
        "minutes between the phones' checks for new settings, 5-10080 (default 1440)",
    ),
    (
        "allowed_networks",
        "comma-separated networks phones may fetch from, e.g. 10.0.0.0/8, 192.168.1.0/24 (default: any); site only",
    ),
    (
        "auth_mode",
        "off, basic or digest: how phones prove themselves for files with SIP passwords (default off)",
    ),
    (
        "throttle_unknown_macs",
        "different unknown MACs one network (/24 or /64) may ask for in 10 minutes before it waits 10 minutes, 1-100000 (default 100); site only",
    ),
    (
        "throttle_wrong_credentials",
        "wrong phone credentials one network may send in 10 minutes before it waits 10 minutes, 1-10000 (default 20); site only",
    ),
    (
        "push_rate",
        "SIP NOTIFYs a minute overall when a change is pushed to phones, 1-6000 (default 50); site only",
    ),
    (
        "push_network_rate",
        "SIP NOTIFYs a minute to one network (/24 or /64) when a change is pushed, 1-6000 (default 5); site only",
    ),
    (
        "push_confirm_minutes",
        "minutes a phone that answered a push has to fetch its files before it is listed as not confirmed, 1-1440 (default 10); site only",
    ),
    (
        "push_on_change",
        "on or off: a change that touches phones pushes it to them by itself, once changes have been quiet for 10 seconds (default off); site only",
    ),
    (
        "push_via",
        "direct (sipprov sends the NOTIFY to the phone) or freeswitch (XSwitch's FreeSWITCH sends it through the phone's registration) (default direct); site only",
    ),
    (
        "freeswitch_esl",
        "FreeSWITCH's event socket, host:port (default 127.0.0.1:8021); site only",
    ),
    (
        "freeswitch_esl_password",
        "the event socket's password (default FreeSWITCH's own, ClueCon); stored encrypted; site only",
    ),
    (
        "freeswitch_profile",
        "the SIP profile the phones register on (default internal); site only",
    ),
    (
        "phone_sip_port",
        "the port phones take SIP NOTIFY on, 1-65535 (default 5060, 5061 with transport tls)",
    ),
    (
        "phone_sip_address",
        "where a phone takes SIP NOTIFY, an IP address with or without a port (default: the address of its last fetch)",
    ),
    ("auth_username", "the user name phones authenticate with"),
    (
        "auth_password",
        "the password phones authenticate with; stored encrypted",
    ),
    (
        "auth_password_previous",
        "also accepted while phones move to a new password; stored encrypted",
    ),
];

/// Keys that only a phone's own realm sets (`PROVISION:<mac>`).
pub const PHONE_ONLY: &[&str] = &["phone_sip_address"];

/// The keys the site sets: all but the phone-only ones.
pub fn site_keys() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    KEYS.iter().filter(|(k, _)| !PHONE_ONLY.contains(k))
}

/// Keys whose values are secret: encrypted at rest and never shown.
pub fn is_secret(k: &str) -> bool {
    k.contains("password")
}

/// Whether a dicts row holds a secret setting: a secret key in a
/// provisioning realm.
pub fn is_secret_setting(realm: &str, k: &str) -> bool {
    is_settings_realm(realm) && is_secret(k)
}

/// The realm of one phone's overrides.
pub fn phone_realm(mac: Mac) -> String {
    format!("{SITE_REALM}:{}", mac.lower())
}

/// Whether a realm holds provisioning settings, so its rows are checked.
pub fn is_settings_realm(realm: &str) -> bool {
    realm == SITE_REALM
        || realm
            .strip_prefix("PROVISION:")
            .is_some_and(|mac| mac.parse::<Mac>().is_ok_and(|m| m.lower() == mac))
}

/// Checks one setting; the error names the key and the reason.
pub fn validate(k: &str, v: &str) -> Result<(), String> {
    let v = v.trim();
    let bad = |why: &str| Err(format!("'{v}' {why}"));
    match k {
        "sip_server_host" | "ntp_server" => {
            if v.is_empty() || v.len() > 253 || !v.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)) {
                return bad("is not a host name or IP address");
            }
        }
        "sip_server_port" => {
            if !v.parse::<u16>().is_ok_and(|p| p > 0) {
                return bad("is not a port from 1 to 65535");
            }
        }
        "transport" => {
            if !["udp", "tcp", "tls"].contains(&v.to_lowercase().as_str()) {
                return bad("is not udp, tcp or tls");
            }
        }
        "time_zone" => {
            SiteTimeZone::parse(v)?;
        }
        "language" => {
            language::code(v)?;
        }
        "allowed_networks" => {
            if let Err(bad_net) = networks(v) {
                return Err(format!(
                    "'{bad_net}' is not a network such as 10.0.0.0/8 or 2001:db8::/32"
                ));
            }
        }
        "auth_mode" => {
            if crate::provision::phone_auth::Mode::parse(v).is_none() {
                return bad("is not off, basic or digest");
            }
        }
        "auth_username" => {
            if v.is_empty() || v.len() > 64 || v.contains(':') || v.chars().any(char::is_control) {
                return bad("is not a user name (no colon, at most 64 characters)");
            }
        }
        "phone_admin_password" | "auth_password" | "auth_password_previous" => {
            if v.len() < 6 || v.chars().any(char::is_control) {
                return Err("must have at least 6 printable characters".into());
            }
        }
        "resync_interval" => {
            if !v.parse::<u32>().is_ok_and(|m| (5..=10080).contains(&m)) {
                return bad("is not a number of minutes from 5 to 10080");
            }
        }
        "throttle_unknown_macs" => {
            if !v.parse::<usize>().is_ok_and(|n| (1..=100_000).contains(&n)) {
                return bad("is not a number from 1 to 100000");
            }
        }
        "push_rate" | "push_network_rate" => {
            if !v.parse::<u32>().is_ok_and(|n| (1..=6000).contains(&n)) {
                return bad("is not a number from 1 to 6000");
            }
        }
        "push_confirm_minutes" => {
            if !v.parse::<u32>().is_ok_and(|n| (1..=1440).contains(&n)) {
                return bad("is not a number of minutes from 1 to 1440");
            }
        }
        "push_on_change" => {
            if !["on", "off"].contains(&v) {
                return bad("is not on or off");
            }
        }
        "push_via" => {
            if !["direct", "freeswitch"].contains(&v) {
                return bad("is not direct or freeswitch");
            }
        }
        "freeswitch_esl" => {
            let port = v.rsplit_once(':').map(|(host, port)| (host, port.parse::<u16>()));
            if !matches!(port, Some((host, Ok(p))) if p > 0 && !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
            {
                return bad("is not host:port (127.0.0.1:8021, pbx.example.com:8021)");
            }
        }
        "freeswitch_esl_password" => {
            if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
                return bad("must be 1 to 128 printable characters");
            }
        }
        "freeswitch_profile" => {
            if v.is_empty() || v.len() > 64 || !v.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                return bad("is not a profile name (letters, digits, . _ -)");
            }
        }
        "phone_sip_port" => {
            if !v.parse::<u16>().is_ok_and(|p| p > 0) {
                return bad("is not a port from 1 to 65535");
            }
        }
        "phone_sip_address" => {
            if v.parse::<IpAddr>().is_err() && v.parse::<std::net::SocketAddr>().is_err() {
                return bad("is not an IP address, or one with a port (192.0.2.7, 192.0.2.7:5062, [2001:db8::7]:5060)");
            }
        }
        "throttle_wrong_credentials" => {
            if !v.parse::<u32>().is_ok_and(|n| (1..=10_000).contains(&n)) {
                return bad("is not a number from 1 to 10000");
            }
        }
        other => {
            let keys: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
            return Err(format!(
                "'{other}' is not a provisioning setting; use one of {}",
                keys.join(", ")
            ));
        }
    }
    Ok(())
}

/// The settings a phone gets: built-in defaults, then the site's, then its own.
/// `open` turns a stored secret back into its value.
pub fn apply(
    mut s: SettingsView,
    rows: &[(String, String, String)],
    open: impl Fn(&str, &str) -> Option<String>,
) -> SettingsView {
    for (realm, k, v) in rows {
        let v = v.trim();
        match k.as_str() {
            "sip_server_host" => s.sip_server_host = v.to_string(),
            "sip_server_port" => s.sip_server_port = v.parse().unwrap_or(s.sip_server_port),
            "transport" => s.transport = v.to_lowercase(),
            "ntp_server" => s.ntp_server = v.to_string(),
            "time_zone" => {
                if let Ok(tz) = SiteTimeZone::parse(v) {
                    s.tz = tz;
                }
            }
            "language" => {
                if let Ok(code) = language::code(v) {
                    s.language = code.to_string();
                }
            }
            "phone_admin_password" => s.admin_password = open(realm, v).unwrap_or_default(),
            "resync_interval" => s.resync_interval_minutes = v.parse().unwrap_or(s.resync_interval_minutes),
            _ => {}
        }
    }
    s
}

/// `10.0.0.0/8, 192.168.1.7` → the networks; a bare address is one host.
pub fn networks(v: &str) -> Result<Vec<IpNet>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| s.to_string())
        })
        .collect()
}

/// The site's throttle thresholds, where set: unknown MACs, wrong credentials.
pub fn throttle_thresholds(rows: &[(String, String, String)]) -> (Option<usize>, Option<u32>) {
    let site = |key: &str| {
        rows.iter()
            .find(|(realm, k, _)| realm == SITE_REALM && k == key)
            .map(|(_, _, v)| v.trim())
    };
    (
        site("throttle_unknown_macs").and_then(|v| v.parse().ok()),
        site("throttle_wrong_credentials").and_then(|v| v.parse().ok()),
    )
}

/// What pushing a change to phones takes from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSettings {
    pub rates: crate::push::pacing::Rates,
    /// How long a phone that answered has to fetch before it is listed as
    /// not confirmed.
    pub confirm_minutes: u32,
    /// The port phones take SIP on, when set; else their transport's own.
    pub phone_sip_port: Option<u16>,
    /// The phone's line transport: `udp`, `tcp` or `tls`.
    pub transport: String,
    /// The phone's own address for SIP, where set.
    pub phone_sip_address: Option<std::net::SocketAddr>,
    /// Through FreeSWITCH, when `push_via` says so.
    pub freeswitch: Option<FreeSwitchSettings>,
    /// Whether a change pushes itself to its phones.
    pub on_change: bool,
}

/// How to reach XSwitch's FreeSWITCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeSwitchSettings {
    pub event_socket: String,
    /// The password as stored (encrypted), when set.
    pub password_stored: Option<String>,
    pub profile: String,
}

/// The push settings: the site's, and the phone's own where `rows` hold them.
pub fn push_settings(rows: &[(String, String, String)]) -> PushSettings {
    let mut s = PushSettings {
        rates: Default::default(),
        confirm_minutes: 10,
        phone_sip_port: None,
        transport: "udp".into(),
        phone_sip_address: None,
        freeswitch: None,
        on_change: false,
    };
    let mut address = None;
    let mut via_freeswitch = false;
    let mut freeswitch = FreeSwitchSettings {
        event_socket: "127.0.0.1:8021".into(),
        password_stored: None,
        profile: "internal".into(),
    };
    for (realm, k, v) in rows {
        let v = v.trim();
        let site = realm == SITE_REALM;
        match k.as_str() {
            // Rows written around the API may hold anything: kept within 1-6000.
            "push_rate" if site => s.rates.per_minute = v.parse().map_or(s.rates.per_minute, |n: u32| n.clamp(1, 6000)),
            "push_network_rate" if site => {
                s.rates.per_network_per_minute = v
                    .parse()
                    .map_or(s.rates.per_network_per_minute, |n: u32| n.clamp(1, 6000))
            }
            "push_confirm_minutes" if site => s.confirm_minutes = v.parse().unwrap_or(s.confirm_minutes),
            "phone_sip_port" => s.phone_sip_port = v.parse().ok().or(s.phone_sip_port),
            "transport" => s.transport = v.to_lowercase(),
            "phone_sip_address" if !site => address = Some(v.to_string()),
            "push_via" if site => via_freeswitch = v == "freeswitch",
            "push_on_change" if site => s.on_change = v == "on",
            "freeswitch_esl" if site => freeswitch.event_socket = v.to_string(),
            "freeswitch_esl_password" if site => freeswitch.password_stored = Some(v.to_string()),
            "freeswitch_profile" if site => freeswitch.profile = v.to_string(),
            _ => {}
        }
    }
    s.freeswitch = via_freeswitch.then_some(freeswitch);
    let port = s
        .phone_sip_port
        .unwrap_or(crate::push::sip::Transport::of(&s.transport).default_port());
    s.phone_sip_address = address.and_then(|a| {
        a.parse::<std::net::SocketAddr>()
            .ok()
            .or_else(|| a.parse::<IpAddr>().ok().map(|ip| std::net::SocketAddr::new(ip, port)))
    });
    s
}

/// How phones authenticate for files with SIP passwords: the mode, and the
/// credentials accepted (the site's, and the phone's own when it has one).
pub fn phone_auth(
    rows: &[(String, String, String)],
    open: impl Fn(&str, &str, &str) -> Option<String>,
) -> (Mode, Vec<Credential>) {
    let mut mode = Mode::Off;
    let mut by_realm: Vec<(String, Credential)> = Vec::new();
    for (realm, k, v) in rows {
        let credential = match by_realm.iter_mut().find(|(r, _)| r == realm) {
            Some((_, c)) => c,
            None => {
                let holder = if realm == SITE_REALM {
                    Holder::Site
                } else {
                    Holder::Phone
                };
                by_realm.push((
                    realm.clone(),
                    Credential {
                        holder,
                        ..Credential::default()
                    },
                ));
                &mut by_realm.last_mut().expect("just pushed").1
            }
        };
        match k.as_str() {
            "auth_mode" => mode = Mode::parse(v).unwrap_or(mode),
            "auth_username" => credential.username = v.trim().to_string(),
            "auth_password" | "auth_password_previous" => credential.passwords.extend(open(realm, k, v)),
            _ => {}
        }
    }
    let credentials = by_realm
        .into_iter()
        .map(|(_, c)| c)
        .filter(|c| !c.username.is_empty() && !c.passwords.is_empty())
        .collect();
    (mode, credentials)
}

/// The credential a phone should fetch with when phone authentication is on:
/// its own if it has one, else the site's, with the current password.
pub fn fetch_credential(
    rows: &[(String, String, String)],
    open: impl Fn(&str, &str, &str) -> Option<String>,
) -> Option<(String, String)> {
    if phone_auth(rows, &open).0 == Mode::Off {
        return None;
    }
    let value = |realm: &str, key: &str| rows.iter().find(|(r, k, _)| r == realm && k == key).map(|(_, _, v)| v);
    let own = rows.iter().map(|(r, _, _)| r.as_str()).find(|r| *r != SITE_REALM);
    own.into_iter().chain([SITE_REALM]).find_map(|realm| {
        let username = value(realm, "auth_username")?.trim().to_string();
        let password = open(realm, "auth_password", value(realm, "auth_password")?)?;
        (!username.is_empty()).then_some((username, password))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::render::RenderContext;

    fn rows(pairs: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
        pairs
            .iter()
            .map(|(r, k, v)| (r.to_string(), k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn throttle_thresholds_come_from_the_site_only() {
        let set = rows(&[
            ("PROVISION", "throttle_unknown_macs", "50"),
            ("PROVISION:001565aabbcc", "throttle_wrong_credentials", "1"),
        ]);
        assert_eq!(throttle_thresholds(&set), (Some(50), None));
        assert!(validate("throttle_unknown_macs", "0").is_err());
        assert!(validate("throttle_wrong_credentials", "10001").is_err());
        assert!(validate("throttle_wrong_credentials", "5").is_ok());
    }

    #[test]
    fn a_phone_learns_its_own_credential_else_the_sites_current_one() {
        let open = |_: &str, _: &str, sealed: &str| Some(sealed.to_string());
        let site = [
            ("PROVISION", "auth_mode", "digest"),
            ("PROVISION", "auth_username", "phones"),
            ("PROVISION", "auth_password_previous", "old"),
            ("PROVISION", "auth_password", "new"),
        ];
        assert_eq!(
            fetch_credential(&rows(&site), open),
            Some(("phones".into(), "new".into()))
        );
        let mut own = site.to_vec();
        own.extend([
            ("PROVISION:001565aabbcc", "auth_username", "desk"),
            ("PROVISION:001565aabbcc", "auth_password", "desk-pass"),
        ]);
        assert_eq!(
            fetch_credential(&rows(&own), open),
            Some(("desk".into(), "desk-pass".into()))
        );
        let off = [
            ("PROVISION", "auth_username", "phones"),
            ("PROVISION", "auth_password", "new"),
        ];
        assert_eq!(fetch_credential(&rows(&off), open), None, "authentication is off");
    }

    #[test]
    fn values_are_checked_with_a_reason() {
        assert!(validate("sip_server_port", "5060").is_ok());
        assert!(
            validate("sip_server_port", "0")
                .unwrap_err()
                .contains("'0' is not a port")
        );
        assert!(validate("transport", "TLS").is_ok());
        assert!(validate("transport", "sctp").is_err());
        assert!(validate("time_zone", "+5:30").is_ok());
        assert!(validate("time_zone", "+25").is_err());
        assert!(validate("resync_interval", "1").is_err());
        assert!(validate("ntp_server", "bad host!").is_err());
        assert!(validate("colour", "blue").unwrap_err().contains("sip_server_host"));
    }

    #[test]
    fn allowed_networks() {
        let rows = |v: &str| vec![("PROVISION".to_string(), "allowed_networks".to_string(), v.to_string())];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let allows =
            |rows: &[(String, String, String)], peer| Resolved::new(rows.to_vec(), |_, _, _| None).allows(peer);
        assert!(allows(&[], ip("203.0.113.9")));
        assert!(allows(&rows("10.0.0.0/8, 192.168.1.7"), ip("10.2.3.4")));
        assert!(allows(&rows("10.0.0.0/8, 192.168.1.7"), ip("192.168.1.7")));
        assert!(
            allows(&rows("10.0.0.0/8"), ip("::ffff:10.9.9.9")),
            "IPv4 seen through an IPv6 socket"
        );
        assert!(!allows(&rows("10.0.0.0/8, 192.168.1.7"), ip("192.168.1.8")));
        assert!(!allows(&rows("2001:db8::/32"), ip("127.0.0.1")));
        assert!(
            validate("allowed_networks", "10.0.0.0/33")
                .unwrap_err()
                .contains("'10.0.0.0/33'")
        );
    }

    #[test]
    fn the_phone_overrides_the_site() {
        let base = RenderContext::fixture().settings;
        let rows = vec![
            (
                "PROVISION".to_string(),
                "sip_server_host".to_string(),
                "pbx.site".to_string(),
            ),
            ("PROVISION".to_string(), "time_zone".to_string(), "-5:30".to_string()),
            (
                "PROVISION:001565aabbcc".to_string(),
                "sip_server_host".to_string(),
                "pbx.desk".to_string(),
            ),
            (
                "PROVISION".to_string(),
                "phone_admin_password".to_string(),
                "sealed".to_string(),
            ),
        ];
        let s = apply(base, &rows, |_, v| (v == "sealed").then(|| "opened".to_string()));
        assert_eq!(s.sip_server_host, "pbx.desk");
        assert_eq!(
            (s.tz.offset_minutes, s.tz.offset.as_str(), s.tz.gmt.as_str()),
            (-330, "-5:30", "GMT-05:30")
        );
        assert_eq!(s.admin_password, "opened");
        assert!(
            is_settings_realm("PROVISION:001565aabbcc")
                && !is_settings_realm("PROVISION:xyz")
                && !is_settings_realm("QUEUE_CC_PARAM")
        );
    }
}

/// Where a site has set none: XSwitch's own, China Standard Time.
const DEFAULT_TIME_ZONE: &str = "+8";

/// Built-in provisioning settings. The SIP server defaults to the host the
/// phone used to reach sipprov, and phones keep polling the URL they came from.
pub fn defaults(host: &str, scheme: &str) -> SettingsView {
    let server = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    SettingsView {
        sip_server_host: server.trim_start_matches('[').trim_end_matches(']').to_string(),
        sip_server_port: 5060,
        transport: "udp".into(),
        ntp_server: "pool.ntp.org".into(),
        tz: SiteTimeZone::parse(DEFAULT_TIME_ZONE).expect("the default is an offset"),
        language: "en".into(),
        admin_password: String::new(),
        provisioning_url: format!("{scheme}://{host}/prov/"),
        provisioning_username: String::new(),
        provisioning_password: String::new(),
        resync_interval_minutes: 1440,
    }
}

/// The settings one phone is served under (the site's, then its own),
/// parsed and with their secrets opened once per change, not per fetch.
#[derive(Debug, Clone)]
pub struct Resolved {
    rows: Vec<(String, String, String)>,
    allowed: Vec<Vec<IpNet>>,
    pub unknown_mac_threshold: Option<usize>,
    pub wrong_credential_threshold: Option<u32>,
    pub mode: Mode,
    pub credentials: Vec<Credential>,
    fetch_credential: Option<(String, String)>,
    admin_password: Option<String>,
}

impl Resolved {
    /// `rows` are the site's settings then the phone's; `open` turns a
    /// stored secret of (realm, key) back into its value.
    pub fn new(rows: Vec<(String, String, String)>, open: impl Fn(&str, &str, &str) -> Option<String>) -> Resolved {
        let allowed = rows
            .iter()
            .filter(|(realm, k, _)| realm == SITE_REALM && k == "allowed_networks")
            .filter_map(|(_, _, v)| networks(v).ok())
            .filter(|nets| !nets.is_empty())
            .collect();
        let (unknown_mac_threshold, wrong_credential_threshold) = throttle_thresholds(&rows);
        let (mode, credentials) = phone_auth(&rows, &open);
        let fetch_credential = fetch_credential(&rows, &open);
        let admin_password = rows
            .iter()
            .rfind(|(_, k, _)| k == "phone_admin_password")
            .map(|(realm, k, v)| open(realm, k, v).unwrap_or_default());
        Resolved {
            rows,
            allowed,
            unknown_mac_threshold,
            wrong_credential_threshold,
            mode,
            credentials,
            fetch_credential,
            admin_password,
        }
    }

    /// Whether the site lets `peer` fetch: true unless `allowed_networks`
    /// is set and leaves it out.
    pub fn allows(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.allowed.iter().all(|nets| nets.iter().any(|n| n.contains(&peer)))
    }

    /// What templates see, for a phone that came by `host` over `scheme`;
    /// files with secrets also carry the fetch credential.
    pub fn view(&self, host: &str, scheme: &str, with_fetch_credential: bool) -> SettingsView {
        let admin_password = self.admin_password.clone().unwrap_or_default();
        let mut view = apply(defaults(host, scheme), &self.rows, |_, _| Some(admin_password.clone()));
        if with_fetch_credential && let Some((username, password)) = &self.fetch_credential {
            view.provisioning_username.clone_from(username);
            view.provisioning_password.clone_from(password);
        }
        view
    }
}
