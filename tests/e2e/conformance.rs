//! Conformance of each vendor pack: a three-line phone on TLS to a
//! non-default port, in a daylight-saving time zone (Europe/Berlin), in
//! German, is rendered and fetched as the phone would; every key is held
//! against an expectation table whose rows cite where the expectation comes
//! from: the vendor's guide, or a mature implementation (wazo-platform/
//! wazo-provd-plugins at 2321a3f3, fusionpbx/fusionpbx at c7a00dcb,
//! nethesis/tancredi at 5a8de9b9). The expectations come from those
//! sources, not from sipprov's output.

use std::collections::BTreeMap;

use serde_json::json;

use crate::harness::{TestApp, assert_done, on_each_backend};

/// The fetch credential the files carry, and that the test fetches with.
const FETCH_USER: &str = "phones";
const FETCH_PASSWORD: &str = "Fetch-Pass-8";
const ADMIN_PASSWORD: &str = "Admin-Pass-7";

/// One expected key: its value, and the source that says so.
struct Row {
    key: String,
    value: String,
    source: &'static str,
}

fn row(key: impl Into<String>, value: impl ToString, source: &'static str) -> Row {
    Row {
        key: key.into(),
        value: value.to_string(),
        source,
    }
}

/// The site of the scenario, and a phone of `vendor` and `model` at `mac`
/// with three lines, 2001 to 2003, whose caller-ID names are "Line 1" ...,
/// and whose extensions are named "Person 1" and "Person 2"; the third has
/// no name, so its label falls back to its number.
async fn scenario(app: &TestApp, vendor: &str, model: &str, mac: &str) {
    // Several phones share one site: its settings are made once.
    let (_, site) = app.get("/api/dicts/realm/PROVISION").await;
    let settings = [
        ("sip_server_host", "pbx.example.com"),
        ("sip_server_port", "5061"),
        ("transport", "tls"),
        ("ntp_server", "ntp.example.com"),
        ("time_zone", "Europe/Berlin"),
        ("language", "de"),
        ("resync_interval", "60"),
        ("phone_admin_password", ADMIN_PASSWORD),
        ("auth_mode", "basic"),
        ("auth_username", FETCH_USER),
        ("auth_password", FETCH_PASSWORD),
    ];
    if site.as_array().is_some_and(|rows| rows.is_empty()) {
        for (k, v) in settings {
            assert_done(
                &app.post("/api/dicts", json!({"realm": "PROVISION", "k": k, "v": v}))
                    .await,
            );
        }
    }
    for n in 1..=3 {
        let extn = format!("200{n}");
        if app.get(&format!("/api/extensions?extn={extn}")).await.1["rowCount"] == 0 {
            assert_done(
                &app.post(
                    "/api/extensions",
                    json!({"extn": extn, "password": format!("line-pass-{extn}"), "cid_name": format!("Line {n}"), "name": extension_name(n)}),
                )
                .await,
            );
        }
    }
    let lines = "[{\"extn\":\"2001\"},{\"extn\":\"2002\"},{\"extn\":\"2003\"}]";
    assert_done(
        &app.post(
            "/api/device_provisions",
            json!({"vendor": vendor, "mac": mac, "type": model, "name": "Desk", "extn": lines}),
        )
        .await,
    );
}

/// The name of the scenario's `n`th extension: the third has none.
fn extension_name(n: usize) -> String {
    if n < 3 { format!("Person {n}") } else { String::new() }
}

/// What a phone shows as line `n`'s label: the extension's name, or its
/// number when it has none. sipprov's choice, in the key each source uses
/// for the line's label.
fn label(n: usize) -> String {
    if n < 3 { extension_name(n) } else { format!("200{n}") }
}

/// The scenario's company directory, by name: each extension's name and
/// number (the third's name is its number).
fn scenario_directory() -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = (1..=3).map(|n| (label(n), format!("200{n}"))).collect();
    entries.sort();
    entries
}

/// The (name, number) of each `entry` element of a directory file whose
/// root is `root`; `name` and `number` are the child elements holding them.
fn directory_entries(body: &str, root: &str, entry: &str, name: &str, number: &str) -> Vec<(String, String)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body);
    let (mut path, mut entries) = (Vec::<String>::new(), Vec::new());
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{body}"))
        {
            Event::Start(e) => {
                let tag = e.name().as_ref().to_string();
                if path.is_empty() {
                    assert_eq!(tag, root, "{body}");
                }
                if tag == entry {
                    entries.push((String::new(), String::new()));
                }
                path.push(tag);
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text: &str = &t;
                let text = text.to_string();
                match (path.last(), entries.last_mut()) {
                    (Some(tag), Some(last)) if tag == name => last.0 = text,
                    (Some(tag), Some(last)) if tag == number => last.1 = text,
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    entries
}

/// The (name, number) of each `entry` element of a directory file whose
/// root is `root`, where each entry holds them in the attributes `name` and
/// `number`.
fn directory_attributes(body: &str, root: &str, entry: &str, name: &str, number: &str) -> Vec<(String, String)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body);
    let (mut depth, mut entries) = (0, Vec::new());
    loop {
        let (element, opens) = match reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{body}"))
        {
            Event::Start(e) => (e.into_owned(), true),
            Event::Empty(e) => (e.into_owned(), false),
            Event::End(_) => {
                depth -= 1;
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let tag = element.name().as_ref().to_string();
        if depth == 0 {
            assert_eq!(tag, root, "{body}");
        }
        if tag == entry {
            let attribute = |key: &str| {
                element
                    .try_get_attribute(key)
                    .unwrap()
                    .map(|a| {
                        a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                            .unwrap()
                            .to_string()
                    })
                    .unwrap_or_else(|| panic!("{entry} without {key}: {body}"))
            };
            entries.push((attribute(name), attribute(number)));
        }
        if opens {
            depth += 1;
        }
    }
    entries
}

/// Fetches a file as the phone does, with its User-Agent and the fetch credential.
async fn fetch(app: &TestApp, file: &str, user_agent: &str) -> String {
    let response = app
        .client
        .get(app.url(&format!("/prov/{file}")))
        .header("user-agent", user_agent)
        .basic_auth(FETCH_USER, Some(FETCH_PASSWORD))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{file}: {body}");
    body
}

/// `key = value` lines; comments (`#`) and blank lines skipped. A key
/// given twice fails.
fn ini(body: &str) -> BTreeMap<String, String> {
    let mut pairs = BTreeMap::new();
    for line in body.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a `key = value` line: {line:?}"));
        let key = key.trim().to_string();
        assert!(
            pairs.insert(key.clone(), value.trim().to_string()).is_none(),
            "{key} is given twice"
        );
    }
    pairs
}

/// Every key the file has is expected, with the expected value, and every
/// expected key is there.
#[track_caller]
fn check_exact(label: &str, actual: &BTreeMap<String, String>, expected: &[Row]) {
    check(label, actual, expected);
    let known: Vec<&str> = expected.iter().map(|r| r.key.as_str()).collect();
    let unknown: Vec<&String> = actual.keys().filter(|k| !known.contains(&k.as_str())).collect();
    assert!(unknown.is_empty(), "{label}: keys no source asks for: {unknown:?}");
}

/// Every expected key is there with its value.
#[track_caller]
fn check(label: &str, actual: &BTreeMap<String, String>, expected: &[Row]) {
    let mut wrong = Vec::new();
    for r in expected {
        match actual.get(&r.key) {
            Some(value) if *value == r.value => {}
            got => wrong.push(format!("{} = {:?}, expected {:?} ({})", r.key, got, r.value, r.source)),
        }
    }
    assert!(wrong.is_empty(), "{label}:\n{}", wrong.join("\n"));
}

const YL_AG8X: &str = "Yealink Administrator Guide V8x, account parameter table and Auto Provisioning";
const YL_APG7X: &str = "Yealink Auto Provisioning Guide V7x, parameter appendix (account.X.transport)";
const YL_DST: &str = "Yealink Administrator Guide, Daylight Saving Time parameters (Month/Week/Day/Hour, 7 = Sunday)";
const WAZO_YL: &str = "wazo-provd-plugins plugins/wazo_yealink/v87/templates/base.tpl";
const WAZO_YL_COMMON: &str = "wazo-provd-plugins plugins/wazo_yealink/common/common.py (_SIP_TRANSPORT, _LOCALE)";
const TANCREDI_YL: &str = "tancredi data/templates/yealink.tmpl and yealink.macros (timezoneName, language)";
const YL_NOTIFY: &str = "Yealink T2/T4/T5 Administrator Guide, SIP NOTIFY: sip.notify_reboot_enable = 0 honours check-sync;reboot=false (1, the default, always reboots)";
const FPBX_YL: &str = "fusionpbx resources/templates/provision/yealink/t54w/y000000000096.cfg";
const YL_DIRECTORY: &str = "fusionpbx resources/templates/provision/yealink/t4x/y000000000028.cfg (remote_phonebook.data.N.url/.name; features.remote_phonebook.enable, flash_time in seconds)";
const YL_DIRECTORY_AUTH: &str = "wazo-provd-plugins plugins/wazo_yealink/v87/templates/base.tpl (remote_phonebook.data.N.username/password, \"V84 ADD\")";
const YL_DIRECTORY_FILE: &str = "fusionpbx resources/templates/provision/yealink/t4x/directory.xml and wazo-phoned plugins/yealink/templates/yealink_results.jinja (YealinkIPPhoneDirectory/DirectoryEntry/Name, Telephone)";

/// What a Yealink phone of firmware `version` (73, 80, 86) at `mac` should get.
fn yealink_expected(version: u32, provisioning_url: &str, mac: &str) -> Vec<Row> {
    let s = if version >= 81 { "static." } else { "" };
    let mut rows = vec![
        row(
            "remote_phonebook.data.1.url",
            format!("{provisioning_url}{mac}-phonebook.xml"),
            YL_DIRECTORY,
        ),
        row("remote_phonebook.data.1.name", "Directory", YL_DIRECTORY),
        row("features.remote_phonebook.enable", 1, YL_DIRECTORY),
        row("features.remote_phonebook.flash_time", 3600, YL_DIRECTORY),
        row(format!("{s}auto_provision.server.url"), provisioning_url, FPBX_YL),
        row(format!("{s}auto_provision.server.username"), FETCH_USER, FPBX_YL),
        row(format!("{s}auto_provision.server.password"), FETCH_PASSWORD, FPBX_YL),
        row(format!("{s}auto_provision.repeat.enable"), 1, FPBX_YL),
        row(format!("{s}auto_provision.repeat.minutes"), 60, FPBX_YL),
        row("sip.notify_reboot_enable", 0, YL_NOTIFY),
        row("local_time.ntp_server1", "ntp.example.com", WAZO_YL),
        row("local_time.time_zone", "+1", TANCREDI_YL),
        row("local_time.time_zone_name", "Germany(Berlin)", TANCREDI_YL),
        row("local_time.summer_time", 1, YL_DST),
        row("local_time.dst_time_type", 1, YL_DST),
        row("local_time.start_time", "3/5/7/2", YL_DST),
        row("local_time.end_time", "10/5/7/3", YL_DST),
        row("local_time.offset_time", 60, YL_DST),
        row("lang.gui", "German", WAZO_YL_COMMON),
        row("lang.wui", "German", WAZO_YL),
        row(
            format!("{s}security.user_password"),
            format!("admin:{ADMIN_PASSWORD}"),
            WAZO_YL,
        ),
    ];
    if version >= 81 {
        rows.push(row("static.auto_provision.power_on", 1, FPBX_YL));
    }
    if version >= 84 {
        rows.push(row("remote_phonebook.data.1.username", FETCH_USER, YL_DIRECTORY_AUTH));
        rows.push(row(
            "remote_phonebook.data.1.password",
            FETCH_PASSWORD,
            YL_DIRECTORY_AUTH,
        ));
    }
    for n in 1..=3 {
        let a = |k: &str| format!("account.{n}.{k}");
        rows.extend([
            row(a("enable"), 1, WAZO_YL),
            row(
                a("label"),
                label(n),
                "fusionpbx resources/templates/provision/yealink/t46u/{$mac}.cfg (account.N.label, the line's label)",
            ),
            row(a("display_name"), format!("Line {n}"), TANCREDI_YL),
            row(a("user_name"), format!("200{n}"), WAZO_YL),
            row(a("auth_name"), format!("200{n}"), WAZO_YL),
            row(a("password"), format!("line-pass-200{n}"), WAZO_YL),
            row(a("sip_server.1.address"), "pbx.example.com", YL_AG8X),
            row(a("sip_server.1.port"), 5061, YL_AG8X),
        ]);
        if version >= 80 {
            rows.push(row(a("sip_server.1.transport_type"), 2, YL_AG8X));
        } else {
            rows.push(row(a("transport"), 2, YL_APG7X));
        }
    }
    rows
}

#[tokio::test]
async fn yealink_v86_v80_and_v73() {
    on_each_backend(|app| async move {
        let url = app.url("/prov/");
        for (mac, user_agent, version) in [
            ("001565aabb01", "Yealink SIP-T46S 66.86.0.15 00:15:65:aa:bb:01", 86),
            ("001565aabb02", "Yealink SIP-T46G 28.80.0.95 00:15:65:aa:bb:02", 80),
            ("001565aabb03", "Yealink SIP-T46G 28.73.0.50 00:15:65:aa:bb:03", 73),
        ] {
            scenario(&app, "yealink", "", mac).await;
            let body = fetch(&app, &format!("{mac}.cfg"), user_agent).await;
            // YL-AG8x "Boot File Attributes": every file starts with the version line.
            assert!(body.starts_with("#!version:1.0.0.1\n"), "{body}");
            check_exact(
                &format!("V{version}"),
                &ini(&body),
                &yealink_expected(version, &url, mac),
            );
        }
        // The company directory the configuration names.
        let book = fetch(
            &app,
            "001565aabb01-phonebook.xml",
            "Yealink SIP-T46S 66.86.0.15 00:15:65:aa:bb:01",
        )
        .await;
        assert_eq!(
            directory_entries(&book, "YealinkIPPhoneDirectory", "DirectoryEntry", "Name", "Telephone"),
            scenario_directory(),
            "{YL_DIRECTORY_FILE}"
        );
        // Flyingvoice FIP phones read the same keys as current Yealink
        // firmware (fusionpbx resources/templates/provision/flyingvoice/
        // fip16plus/{$mac}.cfg); their time zone name, daylight saving and
        // language values are unverified (docs/vendors.md).
        scenario(&app, "flyingvoice", "FIP16Plus", "0021f2aabb05").await;
        let fip = fetch(
            &app,
            "0021f2aabb05.cfg",
            "Flyingvoice FIP16Plus V0.6.24 00:21:F2:AA:BB:05",
        )
        .await;
        check_exact("FIP", &ini(&fip), &yealink_expected(86, &url, "0021f2aabb05"));

        // The common boot file names the phone's own file, from the MAC in
        // its User-Agent (fusionpbx app/provision/index.php does the same;
        // Yealink documents no macro for it); without one, 404, and the
        // phone falls back to y0000000000XX.cfg and <mac>.cfg (YL-AG8x "Boot Files").
        let boot = fetch(
            &app,
            "y000000000000.boot",
            "Yealink SIP-T46S 66.86.0.15 00:15:65:aa:bb:01",
        )
        .await;
        assert_eq!(
            boot.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>(),
            [
                "#!version:1.0.0.1",
                "include:config \"001565aabb01.cfg\"",
                "overwrite_mode = 1"
            ]
        );
        let anonymous = app
            .client
            .get(app.url("/prov/y000000000000.boot"))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 404);
        // Three-digit hardware IDs (T46U: 108) have their common file too.
        let common = fetch(
            &app,
            "y000000000108.cfg",
            "Yealink SIP-T46U 108.86.0.20 00:15:65:aa:bb:04",
        )
        .await;
        check_exact(
            "common",
            &ini(&common),
            &[
                row("static.auto_provision.server.url", &url, FPBX_YL),
                row("static.auto_provision.repeat.enable", 1, FPBX_YL),
                row("static.auto_provision.repeat.minutes", 60, FPBX_YL),
                row("local_time.ntp_server1", "ntp.example.com", WAZO_YL),
                row("local_time.time_zone", "+1", TANCREDI_YL),
                row("lang.gui", "German", WAZO_YL_COMMON),
                row("lang.wui", "German", WAZO_YL),
            ],
        );
    })
    .await;
}

/// Every element with text, by name: `<P47>x</P47>` → P47 = x; Grandstream
/// `<item name="k">v</item>` → k = v; `<param name="k" value="v"/>` and
/// `<SYMB_ITEM ID="k" value="v"/>` → k = v; an `idx` attribute is kept as
/// `name[idx]`. The document must be well-formed.
fn xml(body: &str) -> BTreeMap<String, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body);
    let mut pairs = BTreeMap::new();
    let mut open: Option<String> = None;
    let mut text = String::new();
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{body}"));
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let tag = e.name().as_ref().to_string();
                let attr = |name: &str| {
                    e.attributes().flatten().find(|a| a.key.as_ref() == name).map(|a| {
                        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .unwrap()
                            .into_owned()
                    })
                };
                let key = match (attr("name"), attr("ID"), attr("idx")) {
                    (Some(name), _, _) => name,
                    (None, Some(id), _) => id,
                    (None, None, Some(idx)) => format!("{tag}[{idx}]"),
                    (None, None, None) => tag,
                };
                match attr("value") {
                    Some(value) => {
                        pairs.insert(key, value);
                    }
                    None if matches!(event, Event::Start(_)) => {
                        open = Some(key);
                        text.clear();
                    }
                    None => {}
                }
            }
            Event::Text(t) => text.push_str(&t),
            Event::GeneralRef(r) => text.push_str(&format!("&{};", &*r)),
            Event::End(_) => {
                if let Some(key) = open.take()
                    && !text.trim().is_empty()
                {
                    pairs.insert(key, quick_xml::escape::unescape(text.trim()).unwrap().into_owned());
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    pairs
}

const HTEK_WAZO: &str = "wazo-provd-plugins plugins/wazo_htek/v2_0_4_6_41/templates/base.tpl";
const HTEK_BOOK: &str = "fusionpbx resources/templates/provision/htek/uc926/{$mac}.cfg (P4401 RemotePhoneBook1.Url, P3316 its name, P23166 UpdateRemotePhoneBook.time)";
const HTEK_BOOK_FILE: &str = "fusionpbx resources/templates/provision/htek/uc926/phonebook.xml and wazo-phoned plugins/htek/templates/htek_results.jinja (PhoneDirectory/DirectoryEntry/Name, Telephone)";
const HTEK_FPBX: &str = "fusionpbx resources/templates/provision/htek/uc926/{$mac}.cfg";
const HTEK_TANCREDI: &str = "tancredi data/templates/sangoma.tmpl and sangoma.macros (Htek OEM)";

#[tokio::test]
async fn htek_three_lines_each_with_its_profile() {
    on_each_backend(|app| async move {
        scenario(&app, "htek", "UC926", "001fc1aabb01").await;
        let body = fetch(&app, "cfg001fc1aabb01.xml", "Htek UC926 2.0.4.2 00:1f:c1:aa:bb:01").await;
        let mut rows = vec![
            row("P237", app.url("/prov/"), HTEK_WAZO),
            // 1 over HTTP, 3 over HTTPS (tancredi sangoma.tmpl: https → 3).
            row("P212", 1, HTEK_TANCREDI),
            row("P1360", FETCH_USER, HTEK_FPBX),
            row("P1361", FETCH_PASSWORD, HTEK_FPBX),
            row("P194", 1, HTEK_FPBX),
            row("P193", 60, HTEK_TANCREDI),
            row("P30", "ntp.example.com", HTEK_WAZO),
            row("P144", 0, HTEK_FPBX),
            row("P64", 50, "tancredi data/templates/sangoma.macros (Europe/Berlin → 50)"),
            row("P75", 2, HTEK_WAZO),
            row("P8621", 2, HTEK_TANCREDI),
            row("P2525", 2, HTEK_TANCREDI),
            row("P2", ADMIN_PASSWORD, HTEK_WAZO),
            row("P4401", app.url("/prov/001fc1aabb01-phonebook.xml"), HTEK_BOOK),
            row("P3316", "Directory", HTEK_BOOK),
            row("P23166", 60, HTEK_BOOK),
        ];
        // Account n's keys, and its profile's (htek-akuvox research table:
        // wazo base.tpl for the binding and labels, fusionpbx for servers).
        let numbers = [
            (271, 24082, 47, 130, 20000, 35, 36, 34, 3),
            (401, 24083, 747, 830, 20001, 735, 736, 734, 703),
            (501, 24084, 502, 930, 20002, 504, 505, 506, 507),
        ];
        for (i, (active, bound, server, transport, label_key, user, auth, password, name)) in
            numbers.into_iter().enumerate()
        {
            let n = i + 1;
            rows.extend([
                row(format!("P{active}"), 1, HTEK_FPBX),
                row(format!("P{bound}"), i, HTEK_WAZO),
                row(format!("P{server}"), "pbx.example.com:5061", HTEK_FPBX),
                row(format!("P{transport}"), 2, HTEK_FPBX),
                row(format!("P{label_key}"), label(n), HTEK_WAZO),
                row(format!("P{user}"), format!("200{n}"), HTEK_FPBX),
                row(format!("P{auth}"), format!("200{n}"), HTEK_FPBX),
                row(format!("P{password}"), format!("line-pass-200{n}"), HTEK_FPBX),
                row(format!("P{name}"), format!("Line {n}"), HTEK_FPBX),
            ]);
        }
        check_exact("Htek", &xml(&body), &rows);
        let book = fetch(
            &app,
            "001fc1aabb01-phonebook.xml",
            "Htek UC926 2.0.4.2 00:1f:c1:aa:bb:01",
        )
        .await;
        assert_eq!(
            directory_entries(&book, "PhoneDirectory", "DirectoryEntry", "Name", "Telephone"),
            scenario_directory(),
            "{HTEK_BOOK_FILE}"
        );
    })
    .await;
}

const GS_FPBX_OLD: &str = "fusionpbx @d70fa030 resources/templates/provision/grandstream/gxp2160/{$mac}.xml (GXP21xx fw 1.0.10.35 P-value template)";
const GS_FPBX_16: &str = "fusionpbx resources/templates/provision/grandstream/gxp16xx/{$mac}.xml";
const GS_BOOK: &str = "fusionpbx resources/templates/provision/grandstream/gxp21xx/{$mac}.xml (P330 download mode 0/1 HTTP/2 TFTP/3 HTTPS, P331 host/path, P332 minutes, P6713/P6714 credential)";
const GS_BOOK_GRP: &str = "fusionpbx resources/templates/provision/grandstream/grp26xx/{$mac}.xml (phonebook.download.mode/server/interval/username/password)";
const GS_BOOK_FILE: &str = "Grandstream GXP Series XML Phonebook Guide and fusionpbx grandstream/grp26xx/phonebook.xml (AddressBook/Contact/FirstName, Phone/phonenumber, accountindex 0 = account 1)";
const GS_FPBX_GRP: &str = "fusionpbx resources/templates/provision/grandstream/grp2616/{$mac}.xml";
const GS_WAZO_V2: &str = "wazo-provd-plugins plugins/wazo_grandstream/common/templates/base_v2.tpl";
const GS_PROV: &str = "Grandstream SIP Device Provisioning Guide: P237 is the path without scheme, P212 the protocol";
/// Grandstream's menu entry for GMT+01:00 (Berlin), as its P64 option list spells it.
const GS_BERLIN: &str = "CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00";

#[tokio::test]
async fn grandstream_gxp_p_values_and_grp_items() {
    on_each_backend(|app| async move {
        let path = format!("{}/prov", app.addr);
        scenario(&app, "grandstream", "GXP2170", "000b82aabb01").await;
        let body = fetch(
            &app,
            "cfg000b82aabb01.xml",
            "Grandstream Model HW GXP2170 SW 1.0.11.79 DevId 000b82aabb01",
        )
        .await;
        let mut rows = vec![
            row("mac", "000b82aabb01", GS_PROV),
            // 1 HTTP, 2 HTTPS.
            row("P212", 1, GS_FPBX_16),
            row("P237", &path, GS_PROV),
            row("P1360", FETCH_USER, GS_FPBX_16),
            row("P1361", FETCH_PASSWORD, GS_FPBX_16),
            row("P194", 1, GS_FPBX_16),
            row("P193", 60, GS_FPBX_16),
            row("P30", "ntp.example.com", GS_FPBX_16),
            row("P144", 0, GS_FPBX_16),
            row("P64", GS_BERLIN, GS_FPBX_16),
            row("P143", 0, GS_FPBX_OLD),
            row("P1362", "de", GS_FPBX_16),
            row("P2", ADMIN_PASSWORD, GS_FPBX_16),
            // 0 off, 1 HTTP, 2 TFTP, 3 HTTPS.
            row("P330", 1, GS_BOOK),
            row("P331", &path, GS_BOOK),
            row("P332", 60, GS_BOOK),
            row("P6713", FETCH_USER, GS_BOOK),
            row("P6714", FETCH_PASSWORD, GS_BOOK),
        ];
        let numbers = [
            (271, 270, 47, 35, 36, 34, 3, 130),
            (401, 417, 402, 404, 405, 406, 407, 448),
            (501, 517, 502, 504, 505, 506, 507, 548),
        ];
        for (i, (active, label_key, server, user, auth, password, name, transport)) in numbers.into_iter().enumerate() {
            let n = i + 1;
            rows.extend([
                row(format!("P{active}"), 1, GS_FPBX_OLD),
                row(format!("P{label_key}"), label(n), GS_FPBX_OLD),
                row(format!("P{server}"), "pbx.example.com:5061", GS_FPBX_OLD),
                row(format!("P{user}"), format!("200{n}"), GS_FPBX_OLD),
                row(format!("P{auth}"), format!("200{n}"), GS_FPBX_OLD),
                row(format!("P{password}"), format!("line-pass-200{n}"), GS_FPBX_OLD),
                row(format!("P{name}"), format!("Line {n}"), GS_FPBX_OLD),
                row(format!("P{transport}"), 2, GS_FPBX_OLD),
            ]);
        }
        check_exact("GXP2170", &xml(&body), &rows);
        // The phone asks for phonebook.xml in the folder P331 names.
        let book = fetch(
            &app,
            "phonebook.xml",
            "Grandstream Model HW GXP2170 SW 1.0.11.79 DevId 000b82aabb01",
        )
        .await;
        assert_eq!(
            directory_entries(&book, "AddressBook", "Contact", "FirstName", "phonenumber"),
            scenario_directory(),
            "{GS_BOOK_FILE}"
        );
        assert!(
            book.contains("<accountindex>0</accountindex>"),
            "{GS_BOOK_FILE}: {book}"
        );
        // Names and numbers only, yet not without the credential a configuration needs.
        let anonymous = app
            .client
            .get(app.url("/prov/phonebook.xml"))
            .header(
                "user-agent",
                "Grandstream Model HW GXP2170 SW 1.0.11.79 DevId 000b82aabb01",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401);

        scenario(&app, "grandstream", "GRP2614", "000b82aabb02").await;
        let body = fetch(
            &app,
            "cfg000b82aabb02.xml",
            "Grandstream GRP2614 1.0.5.15 DevId 000b82aabb02",
        )
        .await;
        let mut rows = vec![
            row("mac", "000b82aabb02", GS_PROV),
            row("provisioning.config.protocol", "HTTP", GS_FPBX_GRP),
            row("provisioning.config.serverPath", &path, GS_FPBX_GRP),
            row("provisioning.config.username", FETCH_USER, GS_FPBX_GRP),
            row("provisioning.config.password", FETCH_PASSWORD, GS_FPBX_GRP),
            row("provisioning.auto.mode", "YesUpgradeMin", GS_FPBX_GRP),
            row("provisioning.auto.minute", 60, GS_FPBX_GRP),
            row("phonebook.download.mode", "EnabledUseHTTP", GS_BOOK_GRP),
            row("phonebook.download.server", &path, GS_BOOK_GRP),
            row("phonebook.download.interval", 60, GS_BOOK_GRP),
            row("phonebook.download.username", FETCH_USER, GS_BOOK_GRP),
            row("phonebook.download.password", FETCH_PASSWORD, GS_BOOK_GRP),
            row("dateTime.ntp.server.1", "ntp.example.com", GS_WAZO_V2),
            row("dateTime.override.dhcp.allowOption42", "No", GS_FPBX_GRP),
            row("dateTime.timezone", GS_BERLIN, GS_FPBX_GRP),
            row("dateTime.override.dhcp.allowOption2", "No", GS_FPBX_GRP),
            row("language.gui", "de", GS_WAZO_V2),
            row("users.admin.password", ADMIN_PASSWORD, GS_WAZO_V2),
        ];
        for n in 1..=3 {
            let a = |k: &str| format!("account.{n}.{k}");
            rows.extend([
                row(a("enable"), "Yes", GS_FPBX_GRP),
                row(a("name"), label(n), GS_FPBX_GRP),
                row(a("sip.server.1.address"), "pbx.example.com:5061", GS_FPBX_GRP),
                row(a("sip.userid"), format!("200{n}"), GS_FPBX_GRP),
                row(a("sip.subscriber.userid"), format!("200{n}"), GS_FPBX_GRP),
                row(a("sip.subscriber.password"), format!("line-pass-200{n}"), GS_FPBX_GRP),
                row(a("sip.subscriber.name"), format!("Line {n}"), GS_FPBX_GRP),
                // fusionpbx commit 7d62cc1e63 "Fix the server 2 address and sip transport": numeric.
                row(a("sip.transport"), 2, GS_FPBX_GRP),
            ]);
        }
        check_exact("GRP2614", &xml(&body), &rows);

        // Accounts 5 and 6 of a GXP2170 are Grandstream's P17xx and P18xx blocks.
        for n in 4..=6 {
            let extn = format!("200{n}");
            assert_done(
                &app.post(
                    "/api/extensions",
                    json!({"extn": extn, "password": format!("line-pass-{extn}")}),
                )
                .await,
            );
        }
        let six = (1..=6)
            .map(|n| format!("{{\"extn\":\"200{n}\"}}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_done(
            &app.post(
                "/api/device_provisions",
                json!({"vendor": "grandstream", "mac": "000b82aabb03", "type": "GXP2170", "extn": format!("[{six}]")}),
            )
            .await,
        );
        let body = fetch(&app, "cfg000b82aabb03.xml", "").await;
        check(
            "GXP2170 accounts 5 and 6",
            &xml(&body),
            &[
                row("P1701", 1, GS_FPBX_OLD),
                row("P1702", "pbx.example.com:5061", GS_FPBX_OLD),
                row("P1706", "line-pass-2005", GS_FPBX_OLD),
                row("P1748", 2, GS_FPBX_OLD),
                row("P1801", 1, GS_FPBX_OLD),
                row("P1806", "line-pass-2006", GS_FPBX_OLD),
                row("P1848", 2, GS_FPBX_OLD),
            ],
        );
    })
    .await;
}

const SNOM_WAZO: &str = "wazo-provd-plugins plugins/wazo_snom/common/templates/base.tpl";
const SNOM_TANCREDI: &str = "tancredi data/templates/snom.tmpl and snom.macros";
const SNOM_FPBX: &str = "fusionpbx resources/templates/provision/snom/d785/{$mac}.xml";
const SNOM_WIKI: &str =
    "Snom wiki, Identities/Login (user_host is the domain part of the AOR) and Provisioning Polling for desk phones";

#[tokio::test]
async fn snom_host_bare_and_transport_in_the_outbound_proxy() {
    on_each_backend(|app| async move {
        scenario(&app, "snom", "D785", "000413aabb01").await;
        let body = fetch(
            &app,
            "000413AABB01.xml",
            "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413AABB01 SXM:0 UXM:0)",
        )
        .await;
        let mut rows = vec![
            row("setting_server", app.url("/prov/"), SNOM_WAZO),
            row("http_client_user", FETCH_USER, SNOM_FPBX),
            row("http_client_pass", FETCH_PASSWORD, SNOM_FPBX),
            row("update_policy", "auto_update", SNOM_TANCREDI),
            row("prov_polling_enabled", "off", SNOM_WIKI),
            row("settings_refresh_timer", 3600, SNOM_WIKI),
            row("ntp_server", "ntp.example.com", SNOM_WAZO),
            row("timezone", "GER+1", SNOM_TANCREDI),
            row("language", "Deutsch", SNOM_TANCREDI),
            row("web_language", "Deutsch", SNOM_TANCREDI),
            row("admin_mode_password", ADMIN_PASSWORD, SNOM_WAZO),
            row("admin_mode_password_confirm", ADMIN_PASSWORD, SNOM_FPBX),
            row("http_user", "admin", SNOM_TANCREDI),
            row("http_pass", ADMIN_PASSWORD, SNOM_WAZO),
        ];
        for n in 1..=3 {
            let k = |key: &str| format!("{key}[{n}]");
            rows.extend([
                row(k("user_active"), "on", SNOM_WAZO),
                row(k("user_realname"), format!("Line {n}"), SNOM_WAZO),
                row(k("user_idle_text"), label(n), SNOM_WAZO),
                row(k("user_name"), format!("200{n}"), SNOM_WAZO),
                row(k("user_pname"), format!("200{n}"), SNOM_WAZO),
                row(k("user_pass"), format!("line-pass-200{n}"), SNOM_WAZO),
                row(k("user_host"), "pbx.example.com", SNOM_WIKI),
                row(k("user_outbound"), "pbx.example.com:5061;transport=tls", SNOM_TANCREDI),
            ]);
        }
        check_exact("Snom", &xml(&body), &rows);
    })
    .await;
}

const AKUVOX_TANCREDI: &str = "tancredi data/templates/akuvox.tmpl and akuvox.macros";
const AKUVOX_ELASTIX: &str = "xrobau/elastix endpointconfig2 tpl/Elastix_LXPx50_cfg.tpl (Akuvox SP-R50)";
const AKUVOX_BOOK: &str = "tancredi data/templates/akuvox.tmpl (Config.RemotePhoneBook.REMOTE_PHONE_BOOKn.DisplayName/Url, GENERAL.Search, GENERAL.FlashInterval 3600) and xrobau/elastix Elastix_LXPx50_cfg.tpl (REMOTE_PHONE_BOOK0 from 0)";
const AKUVOX_BOOK_FILE: &str = "xrobau/elastix endpointconfig2 phonesrv/vendor/Elastix.class.php (Directory Name=, Contact Id/Name/Office attributes, for the Akuvox SP-R50 OEM)";

#[tokio::test]
async fn akuvox_tls_time_zone_language_and_an_upper_case_file_name() {
    on_each_backend(|app| async move {
        scenario(&app, "akuvox", "SP-R50P", "0c1105aabb01").await;
        let mut rows = vec![
            row("Config.Autoprovision.PNP.Enable", 0, AKUVOX_TANCREDI),
            row("Config.Autoprovision.GENERAL.Url", app.url("/prov/"), AKUVOX_TANCREDI),
            row("Config.Autoprovision.GENERAL.UserName", FETCH_USER, AKUVOX_ELASTIX),
            row("Config.Autoprovision.GENERAL.Pwd", FETCH_PASSWORD, AKUVOX_ELASTIX),
            // 1: at power on (elastix's comment lists 0 off, 1 power on, 2 schedule, 3 both).
            row("Config.Autoprovision.MODE.Mode", 1, AKUVOX_ELASTIX),
            row("Config.Settings.SNTP.Enable", 1, AKUVOX_TANCREDI),
            row("Config.Settings.SNTP.NTPServer1", "ntp.example.com", AKUVOX_TANCREDI),
            row("Config.Settings.SNTP.TimeZone", "+1", AKUVOX_TANCREDI),
            row("Config.Settings.SNTP.Name", "Germany(Berlin)", AKUVOX_TANCREDI),
            row("Config.Settings.LANGUAGE.Type", 10, AKUVOX_TANCREDI),
            row("Config.Settings.WEB_LOGIN.Password", ADMIN_PASSWORD, AKUVOX_TANCREDI),
            row(
                "Config.RemotePhoneBook.REMOTE_PHONE_BOOK0.DisplayName",
                "Directory",
                AKUVOX_BOOK,
            ),
            row(
                "Config.RemotePhoneBook.REMOTE_PHONE_BOOK0.Url",
                app.url("/prov/0c1105aabb01-phonebook.xml"),
                AKUVOX_BOOK,
            ),
            row("Config.RemotePhoneBook.GENERAL.Search", 1, AKUVOX_BOOK),
            row("Config.RemotePhoneBook.GENERAL.FlashInterval", 3600, AKUVOX_BOOK),
        ];
        for n in 1..=3 {
            let a = |k: &str| format!("Config.Account{n}.{k}");
            rows.extend([
                row(a("GENERAL.Enable"), 1, AKUVOX_TANCREDI),
                row(a("GENERAL.Label"), label(n), AKUVOX_TANCREDI),
                row(a("GENERAL.DisplayName"), format!("Line {n}"), AKUVOX_TANCREDI),
                row(a("GENERAL.UserName"), format!("200{n}"), AKUVOX_TANCREDI),
                row(a("GENERAL.AuthName"), format!("200{n}"), AKUVOX_TANCREDI),
                row(a("GENERAL.Pwd"), format!("line-pass-200{n}"), AKUVOX_TANCREDI),
                row(a("SIP.Server"), "pbx.example.com", AKUVOX_TANCREDI),
                row(a("SIP.Port"), 5061, AKUVOX_TANCREDI),
                row(a("SIP.TransType"), 2, AKUVOX_TANCREDI),
            ]);
        }
        for name in ["0c1105aabb01.cfg", "0C1105AABB01.cfg"] {
            let body = fetch(&app, name, "").await;
            check_exact(name, &ini(&body), &rows);
        }
        let book = fetch(
            &app,
            "0c1105aabb01-phonebook.xml",
            "Akuvox SP-R50P 50.0.1.2 0c1105aabb01",
        )
        .await;
        assert_eq!(
            directory_attributes(&book, "Directory", "Contact", "Name", "Office"),
            scenario_directory(),
            "{AKUVOX_BOOK_FILE}"
        );
        // Akuvox's OUI (IEEE MA-L 0C1105, "AKUVOX (XIAMEN) NETWORKS") names an
        // unknown phone's vendor.
        let unknown = app
            .client
            .get(app.url("/prov/0C1105000009.cfg"))
            .basic_auth(FETCH_USER, Some(FETCH_PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 404);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let (_, pending) = app.get("/api/device_provisions/pending").await;
        assert_eq!(pending["data"][0]["vendor"], "akuvox", "{pending}");
    })
    .await;
}

/// Every attribute of every element, as Polycom writes its parameters. A
/// parameter given twice fails.
fn xml_attributes(body: &str) -> BTreeMap<String, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body);
    let mut pairs = BTreeMap::new();
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{body}"))
        {
            Event::Start(e) | Event::Empty(e) => {
                for a in e.attributes() {
                    let a = a.unwrap_or_else(|e| panic!("a bad attribute: {e}"));
                    let key = a.key.as_ref().to_string();
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap()
                        .into_owned();
                    assert!(pairs.insert(key.clone(), value).is_none(), "{key} is given twice");
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    pairs
}

const POLY_DIRECTORY: &str = "fusionpbx resources/templates/provision/polycom/5.x/{$mac}-directory.xml and the Polycom UC Software Administrator Guide, Local Contact Directory (directory/item_list/item with fn, ln, ct; 000000000000-directory.xml when the phone has none)";
const POLY_WAZO: &str = "wazo-provd-plugins plugins/wazo_polycom/common/templates/base.tpl and common.py";
const POLY_FPBX: &str = "fusionpbx resources/templates/provision/polycom/6.x/{$mac}.cfg";
const POLY_CHECK_SYNC: &str = "Polycom UC Software Administrator Guide, voIpProt.SIP.specialEvent.checkSync.alwaysReboot: 0 reboots on check-sync only when the files changed";
const POLY_DST: &str = "Polycom SoundPoint SIP 2.2 Administrator Guide, appendix A-53 (daylightSavings, 1 = Sunday)";
const POLY_POLL: &str =
    "Poly Trio administrator guide p.174 and UCS 5.8.1 guide, provisional polling (mode rel, period in seconds)";
const POLY_EXPORT: &str = "a UCS 5.4.2 phone's exported settings (device.prov.serverType as a word)";

#[tokio::test]
async fn polycom_daylight_saving_language_ntp_and_polling() {
    on_each_backend(|app| async move {
        scenario(&app, "polycom", "VVX411", "0004f2aabb01").await;
        let body = fetch(
            &app,
            "0004f2aabb01-sipprov.cfg",
            "FileTransport PolycomVVX-VVX_411-UA/6.4.0.2 (SN:0004f2aabb01)",
        )
        .await;
        let dst = |k: &str| format!("tcpIpApp.sntp.daylightSavings.{k}");
        let mut rows = vec![
            row("device.set", 1, POLY_WAZO),
            row("device.prov.serverType.set", 1, POLY_FPBX),
            row("device.prov.serverType", "HTTP", POLY_EXPORT),
            row("device.prov.serverName.set", 1, POLY_FPBX),
            row("device.prov.serverName", format!("{}/prov/", app.addr), POLY_FPBX),
            row("device.prov.user.set", 1, POLY_FPBX),
            row("device.prov.user", FETCH_USER, POLY_FPBX),
            row("device.prov.password.set", 1, POLY_FPBX),
            row("device.prov.password", FETCH_PASSWORD, POLY_FPBX),
            row("device.prov.tagSerialNo.set", 1, POLY_WAZO),
            row("device.prov.tagSerialNo", 1, POLY_WAZO),
            row("device.sntp.serverName.set", 1, POLY_FPBX),
            row("device.sntp.serverName", "ntp.example.com", POLY_FPBX),
            row("device.auth.localAdminPassword.set", 1, POLY_WAZO),
            row("device.auth.localAdminPassword", ADMIN_PASSWORD, POLY_WAZO),
            row("tcpIpApp.sntp.address", "ntp.example.com", POLY_WAZO),
            row("tcpIpApp.sntp.address.overrideDHCP", 1, POLY_WAZO),
            row("tcpIpApp.sntp.gmtOffset", 3600, POLY_WAZO),
            row("tcpIpApp.sntp.gmtOffset.overrideDHCP", 1, POLY_FPBX),
            row(dst("enable"), 1, POLY_DST),
            row(dst("fixedDayEnable"), 0, POLY_DST),
            row(dst("start.month"), 3, POLY_DST),
            row(dst("start.dayOfWeek"), 1, POLY_DST),
            row(dst("start.dayOfWeek.lastInMonth"), 1, POLY_DST),
            row(dst("start.time"), 2, POLY_DST),
            row(dst("stop.month"), 10, POLY_DST),
            row(dst("stop.dayOfWeek"), 1, POLY_DST),
            row(dst("stop.dayOfWeek.lastInMonth"), 1, POLY_DST),
            row(dst("stop.time"), 3, POLY_DST),
            row("lcl.ml.lang", "German_Germany", POLY_WAZO),
            row("prov.polling.enabled", 1, POLY_FPBX),
            row("prov.polling.mode", "rel", POLY_POLL),
            row("prov.polling.period", 3600, POLY_POLL),
            row("voIpProt.SIP.specialEvent.checkSync.alwaysReboot", 0, POLY_CHECK_SYNC),
        ];
        for n in 1..=3 {
            let r = |k: &str| format!("reg.{n}.{k}");
            rows.extend([
                row(r("address"), format!("200{n}@xswitch.cn"), POLY_FPBX),
                row(
                    r("label"),
                    label(n),
                    "fusionpbx resources/templates/provision/polycom/5.x/{$mac}.cfg (reg.N.label, the line's label)",
                ),
                row(r("displayName"), format!("Line {n}"), POLY_WAZO),
                row(r("auth.userId"), format!("200{n}"), POLY_WAZO),
                row(r("auth.password"), format!("line-pass-200{n}"), POLY_WAZO),
                row(r("server.1.address"), "pbx.example.com", POLY_WAZO),
                row(r("server.1.port"), 5061, POLY_WAZO),
                row(r("server.1.register"), 1, POLY_WAZO),
                row(r("server.1.transport"), "TLS", POLY_WAZO),
            ]);
        }
        check_exact("Polycom", &xml_attributes(&body), &rows);

        // The company directory, in the phone's own file until it writes
        // one back, and in the common one it falls back to.
        let ua = "FileTransport PolycomVVX-VVX_411-UA/6.4.0.2 (SN:0004f2aabb01)";
        for file in ["0004f2aabb01-directory.xml", "000000000000-directory.xml"] {
            let book = fetch(&app, file, ua).await;
            assert_eq!(
                directory_entries(&book, "directory", "item", "fn", "ct"),
                scenario_directory(),
                "{file}: {POLY_DIRECTORY}"
            );
        }
    })
    .await;
}

const CISCO_MPP_AG: &str =
    "Cisco IP Phone 8800 Multiplatform Phones Administration Guide (Proxy, SIP_Transport, Daylight_Saving_Time_Rule)";
const CISCO_PROV: &str = "Cisco Multiplatform Phones Provisioning Guide (Profile_Rule evaluation, [--uid --pwd], Resync_Periodic in seconds)";
const CISCO_SPA_NOTIFY: &str =
    "Linksys SPA Provisioning Guide p.53, Resync_From_SIP: a NOTIFY with Event: resync makes the phone resync";
const CISCO_FPBX: &str = "fusionpbx resources/templates/provision/cisco/8841/{$mac}.xml";
const CISCO_BOOK: &str = "fusionpbx resources/templates/provision/cisco/8841/{$mac}.xml and wazo-provd-plugins plugins/wazo_cisco_sip/v12_0_7/templates/base.tpl (XML_Directory_Service_Name/URL)";
const CISCO_BOOK_FILE: &str = "fusionpbx resources/templates/provision/cisco/spa504g/directory.xml and wazo-phoned plugins/cisco/templates/cisco_results.jinja (CiscoIPPhoneDirectory/DirectoryEntry/Name, Telephone)";
const CISCO_WAZO: &str = "wazo-provd-plugins plugins/wazo_cisco_spa/common/templates/base.tpl and common.py";

#[tokio::test]
async fn cisco_mpp_comes_back_to_its_own_file_with_its_credential() {
    on_each_backend(|app| async move {
        scenario(&app, "cisco", "8841", "00562baabb01").await;
        let body = fetch(&app, "00562baabb01.xml", "Cisco-CP-8841-3PCC/11.0.1 (00562baabb01)").await;
        let mut rows = vec![
            row("Provision_Enable", "Yes", CISCO_FPBX),
            row(
                "Profile_Rule",
                format!(
                    "[--uid {FETCH_USER} --pwd {FETCH_PASSWORD}]{}$MA.xml",
                    app.url("/prov/")
                ),
                CISCO_PROV,
            ),
            row("Resync_On_Reset", "Yes", CISCO_FPBX),
            row("Resync_From_SIP", "Yes", CISCO_SPA_NOTIFY),
            row("Resync_Periodic", 3600, CISCO_PROV),
            row("Primary_NTP_Server", "ntp.example.com", CISCO_WAZO),
            row("Time_Zone", "GMT+01:00", CISCO_WAZO),
            row("Ignore_DHCP_Time_Offset", "Yes", CISCO_FPBX),
            row("Daylight_Saving_Time_Enable", "Yes", CISCO_FPBX),
            row(
                "Daylight_Saving_Time_Rule",
                "start=3/-1/7/2;end=10/-1/7/3;save=1",
                CISCO_MPP_AG,
            ),
            row("Language_Selection", "German", CISCO_WAZO),
            row("Station_Name", "Desk", CISCO_WAZO),
            row("Admin_Password", ADMIN_PASSWORD, CISCO_FPBX),
            row("XML_Directory_Service_Name", "Directory", CISCO_BOOK),
            row(
                "XML_Directory_Service_URL",
                app.url("/prov/00562baabb01-phonebook.xml"),
                CISCO_BOOK,
            ),
        ];
        for n in 1..=3 {
            let e = |k: &str| format!("{k}_{n}_");
            rows.extend([
                row(e("Line_Enable"), "Yes", CISCO_FPBX),
                row(e("Proxy"), "pbx.example.com:5061", CISCO_MPP_AG),
                row(e("Use_DNS_SRV"), "No", CISCO_MPP_AG),
                row(e("Display_Name"), format!("Line {n}"), CISCO_WAZO),
                row(e("User_ID"), format!("200{n}"), CISCO_WAZO),
                row(e("Password"), format!("line-pass-200{n}"), CISCO_WAZO),
                row(e("Auth_ID"), format!("200{n}"), CISCO_WAZO),
                row(e("SIP_Transport"), "TLS", CISCO_MPP_AG),
                // Line n on key n, named as the line's label (sipprov's
                // choice; wazo writes the number there).
                row(e("Extension"), n, CISCO_WAZO),
                row(e("Short_Name"), label(n), CISCO_WAZO),
            ]);
        }
        let profile = xml(&body);
        check("Cisco MPP", &profile, &rows);
        // The rules after the phone's own are emptied, so nothing sends it elsewhere.
        for rule in ["Profile_Rule_B", "Profile_Rule_C", "Profile_Rule_D"] {
            assert!(!profile.contains_key(rule), "{rule} = {:?}", profile.get(rule));
            assert!(body.contains(&format!("<{rule} ua=\"na\"></{rule}>")), "{body}");
        }
        let book = fetch(
            &app,
            "00562baabb01-phonebook.xml",
            "Cisco-CP-8841-3PCC/11.0.1 (00562baabb01)",
        )
        .await;
        assert_eq!(
            directory_entries(&book, "CiscoIPPhoneDirectory", "DirectoryEntry", "Name", "Telephone"),
            scenario_directory(),
            "{CISCO_BOOK_FILE}"
        );
        // The model file a new phone asks for, by either reading of $PSN.
        for name in ["8841-3PCC.xml", "8841.xml"] {
            let model = fetch(&app, name, "").await;
            assert!(
                model.contains(&format!("{}$MA.xml", app.url("/prov/"))),
                "{name}: {model}"
            );
        }
    })
    .await;
}

/// Every element with text, by its path from the root: `sip/line[2]/Transport`.
/// A segment carries the element's `index` attribute, or its position
/// among siblings of the same name when it has one.
fn xml_paths(body: &str) -> BTreeMap<String, String> {
    xml_tree(body, false)
}

/// As `xml_paths`, with each attribute too: `Device/ComCfg/Access/Sntp@URL`.
fn xml_paths_and_attributes(body: &str) -> BTreeMap<String, String> {
    xml_tree(body, true)
}

fn xml_tree(body: &str, with_attributes: bool) -> BTreeMap<String, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body);
    let mut pairs = BTreeMap::new();
    // The open elements: each segment, and how often each child name came.
    let mut stack: Vec<(String, BTreeMap<String, usize>)> = Vec::new();
    let mut text = String::new();
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{body}"))
        {
            event @ (Event::Start(_) | Event::Empty(_)) => {
                let (Event::Start(ref e) | Event::Empty(ref e)) = event else {
                    unreachable!()
                };
                let name = e.name().as_ref().to_string();
                let index = e.attributes().flatten().find(|a| a.key.as_ref() == "index").map(|a| {
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap()
                        .into_owned()
                });
                let seen = stack
                    .last_mut()
                    .map(|(_, counts)| {
                        let n = counts.entry(name.clone()).or_insert(0);
                        *n += 1;
                        *n
                    })
                    .unwrap_or(1);
                let segment = match index {
                    Some(i) => format!("{name}[{i}]"),
                    None if seen > 1 || name.ends_with("_Entry") => format!("{name}[{seen}]"),
                    None => name,
                };
                stack.push((segment, BTreeMap::new()));
                if with_attributes {
                    let path = stack
                        .iter()
                        .skip(1)
                        .map(|(s, _)| s.as_str())
                        .collect::<Vec<_>>()
                        .join("/");
                    for a in e.attributes().flatten() {
                        let value = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .unwrap()
                            .into_owned();
                        pairs.insert(format!("{path}@{}", a.key.as_ref()), value);
                    }
                }
                text.clear();
                if matches!(event, Event::Empty(_)) {
                    stack.pop();
                }
            }
            Event::Text(t) => text.push_str(&t),
            Event::End(_) => {
                let path = stack
                    .iter()
                    .skip(1)
                    .map(|(s, _)| s.as_str())
                    .collect::<Vec<_>>()
                    .join("/");
                stack.pop();
                if !text.trim().is_empty() {
                    pairs.insert(path, text.trim().to_string());
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    pairs
}

const FANVIL_WAZO: &str =
    "wazo-provd-plugins plugins/wazo_fanvil/serie_x/templates/base-new.tpl and entry.py (_TZ_INFO, _SIP_TRANSPORT)";
const FANVIL_WAZO_V23: &str = "wazo-provd-plugins plugins/wazo_fanvil/v2_3 plugin-info (C58, C62) and serie_x/templates/base.tpl (<VOIP_CONFIG_FILE> SIP_Line_List)";
const FANVIL_WAZO_OLD: &str = "wazo-provd-plugins plugins/wazo_fanvil/serie_x/templates/base.tpl (<VOIP_CONFIG_FILE>)";
const FANVIL_FPBX: &str = "fusionpbx resources/templates/provision/fanvil/x4u/{$mac}.cfg";
const FANVIL_WAZO_X7C: &str = "wazo-provd-plugins plugins/wazo_fanvil/common/templates/X7C.tpl (DST_Start_Min, DST_End_Min) and sipXecom's Fanvil plugin (SNTP/DST_Start_Min: the minutes of the change)";
const FANVIL_FPBX_OLD: &str = "fusionpbx resources/templates/provision/fanvil/x4/{$mac}.cfg";
const FANVIL_TANCREDI: &str =
    "tancredi data/templates/fanvil-X5.tmpl and fanvil.macros (scheme_map, upgrade_wait_hours)";

#[tokio::test]
async fn fanvil_sysconf_and_voip_config_file() {
    on_each_backend(|app| async move {
        let url = app.url("/prov/");
        scenario(&app, "fanvil", "X5U", "0c383eaabb01").await;
        let body = fetch(&app, "0c383eaabb01.cfg", "Fanvil X5U 2.12.1 0c383eaabb01").await;
        let mut rows = vec![
            row("Version", "2.0000000000", FANVIL_FPBX),
            row("phone/date/EnableSNTP", 1, FANVIL_WAZO),
            row("phone/date/SNTPServer", "ntp.example.com", FANVIL_WAZO),
            // Quarter hours east of UTC, an integer.
            row("phone/date/TimeZone", 4, FANVIL_WAZO),
            row("phone/date/TimeZoneName", "UTC+1", FANVIL_WAZO),
            row("phone/date/EnableDST", 2, FANVIL_WAZO),
            row("phone/date/DSTFixedType", 2, FANVIL_WAZO),
            row("phone/date/DSTMinOffset", 60, FANVIL_WAZO),
            row("phone/date/DSTStartMon", 3, FANVIL_WAZO),
            // The last week: 5 (fusionpbx and tancredi; wazo writes -1).
            row("phone/date/DSTStartWeek", 5, FANVIL_FPBX),
            row("phone/date/DSTStartWday", 0, FANVIL_WAZO),
            row("phone/date/DSTStartHour", 2, FANVIL_WAZO),
            row("phone/date/DSTEndMon", 10, FANVIL_WAZO),
            row("phone/date/DSTEndWeek", 5, FANVIL_FPBX),
            row("phone/date/DSTEndWday", 0, FANVIL_WAZO),
            row("phone/date/DSTEndHour", 3, FANVIL_WAZO),
            row("phone/display/DefaultLanguage", "de", FANVIL_WAZO),
            row("ap/FlashServerIP", &url, FANVIL_FPBX),
            row("ap/FlashFileName", "$mac.cfg", FANVIL_TANCREDI),
            // 4 HTTP, 5 HTTPS.
            row("ap/FlashProtocol", 4, FANVIL_TANCREDI),
            row("ap/FlashMode", 2, FANVIL_TANCREDI),
            row("ap/FlashInterval", 1, FANVIL_TANCREDI),
            row("ap/DefaultUsername", FETCH_USER, FANVIL_FPBX),
            row("ap/DefaultPassword", FETCH_PASSWORD, FANVIL_FPBX),
            row("ap/pnp/PNPEnable", 0, FANVIL_WAZO),
            row("web/account[1]/Name", "admin", FANVIL_WAZO),
            row("web/account[1]/Password", ADMIN_PASSWORD, FANVIL_WAZO),
            row("web/account[1]/Level", 10, FANVIL_WAZO),
        ];
        for n in 1..=3 {
            let l = |k: &str| format!("sip/line[{n}]/{k}");
            rows.extend([
                row(l("EnableReg"), 1, FANVIL_WAZO),
                row(l("PhoneNumber"), format!("200{n}"), FANVIL_WAZO),
                row(l("DisplayName"), format!("Line {n}"), FANVIL_WAZO),
                row(l("RegisterAddr"), "pbx.example.com", FANVIL_WAZO),
                row(l("RegisterPort"), 5061, FANVIL_WAZO),
                row(l("RegisterUser"), format!("200{n}"), FANVIL_FPBX),
                row(l("RegisterPswd"), format!("line-pass-200{n}"), FANVIL_WAZO),
                row(l("Transport"), 3, FANVIL_WAZO),
            ]);
        }
        // The company directory, with the fetch credential.
        let book = |k: &str| format!("phone/xmlContact[1]/{k}");
        rows.extend([
            row(book("Name"), "Directory", FANVIL_BOOK_SYSCONF),
            row(
                book("Addr"),
                app.url("/prov/0c383eaabb01-phonebook.xml"),
                FANVIL_BOOK_SYSCONF,
            ),
            row(book("UserName"), FETCH_USER, FANVIL_BOOK_SYSCONF),
            row(book("PassWd"), FETCH_PASSWORD, FANVIL_BOOK_SYSCONF),
        ]);
        check_exact("Fanvil sysConf", &xml_paths(&body), &rows);

        // C58 and C62 read <VOIP_CONFIG_FILE>: a C62 has 4 lines, a C58 2
        // (wazo-provd-plugins plugins/wazo_fanvil/v2_3 plugin-info and its
        // base.tpl).
        scenario(&app, "fanvil", "C62", "0c383eaabb03").await;
        let body = fetch(&app, "0c383eaabb03.cfg", "Fanvil C62 2.3.431.130 0c383eaabb03").await;
        assert!(body.contains("<VOIP_CONFIG_FILE>"), "{body}");
        let paths = xml_paths(&body);
        for n in 1..=3 {
            let e = |k: &str| format!("SIP_CONFIG_MODULE/SIP_Line_List/SIP_Line_List_Entry[{n}]/{k}");
            check(
                "Fanvil C62",
                &paths,
                &[row(e("Register_User"), format!("200{n}"), FANVIL_WAZO_V23)],
            );
        }
        let three = "[{\"extn\":\"2001\"},{\"extn\":\"2002\"},{\"extn\":\"2003\"}]";
        let refused = app
            .post(
                "/api/device_provisions",
                json!({"vendor": "fanvil", "mac": "0c383eaabb04", "type": "C58", "extn": three}),
            )
            .await;
        crate::harness::assert_error(&refused, 400, "a C58 takes at most 2 lines; 3 given");

        scenario(&app, "fanvil", "X4", "0c383eaabb02").await;
        let body = fetch(&app, "0c383eaabb02.cfg", "Fanvil X4 1.6.3 0c383eaabb02").await;
        let g = |k: &str| format!("GLOBAL_CONFIG_MODULE/{k}");
        let a = |k: &str| format!("AUTOUPDATE_CONFIG_MODULE/{k}");
        let mut rows = vec![
            row("version", "2.0002", FANVIL_WAZO_OLD),
            row(g("Enable_SNTP"), 1, FANVIL_WAZO_OLD),
            row(g("SNTP_Server"), "ntp.example.com", FANVIL_WAZO_OLD),
            row(g("Time_Zone"), 4, FANVIL_WAZO_OLD),
            row(g("Time_Zone_Name"), "UTC+1", FANVIL_WAZO_OLD),
            row(g("Enable_DST"), 2, FANVIL_WAZO_OLD),
            row(g("DST_Fixed_Type"), 2, FANVIL_FPBX_OLD),
            row(g("DST_Min_Offset"), 60, FANVIL_WAZO_OLD),
            row(g("DST_Start_Mon"), 3, FANVIL_FPBX_OLD),
            row(g("DST_Start_Week"), 5, FANVIL_FPBX_OLD),
            row(g("DST_Start_Wday"), 0, FANVIL_FPBX_OLD),
            row(g("DST_Start_Hour"), 2, FANVIL_FPBX_OLD),
            row(g("DST_Start_Min"), 0, FANVIL_WAZO_X7C),
            row(g("DST_End_Mon"), 10, FANVIL_FPBX_OLD),
            row(g("DST_End_Week"), 5, FANVIL_FPBX_OLD),
            row(g("DST_End_Wday"), 0, FANVIL_FPBX_OLD),
            row(g("DST_End_Hour"), 3, FANVIL_WAZO_OLD),
            row(g("DST_End_Min"), 0, FANVIL_WAZO_X7C),
            row(
                g("Language"),
                16,
                "wazo-provd-plugins plugins/wazo_fanvil/serie_x/entry.py (_LOCALE de_DE)",
            ),
            row(a("Download_Server_IP"), &url, FANVIL_WAZO_OLD),
            row(a("Config_File_Name"), "$mac.cfg", FANVIL_WAZO_OLD),
            row(a("Download_Protocol"), 4, FANVIL_TANCREDI),
            row(a("Download_Mode"), 2, FANVIL_TANCREDI),
            row(a("Download_Interval"), 1, FANVIL_TANCREDI),
            row(a("Download_Username"), FETCH_USER, FANVIL_WAZO_OLD),
            row(a("Download_Password"), FETCH_PASSWORD, FANVIL_WAZO_OLD),
            row(a("PNP_Enable"), 0, FANVIL_WAZO_OLD),
            row(
                "MMI_CONFIG_MODULE/MMI_Account/MMI_Account_Entry[1]/ID",
                "Account1",
                FANVIL_WAZO_OLD,
            ),
            row(
                "MMI_CONFIG_MODULE/MMI_Account/MMI_Account_Entry[1]/Name",
                "admin",
                FANVIL_WAZO_OLD,
            ),
            row(
                "MMI_CONFIG_MODULE/MMI_Account/MMI_Account_Entry[1]/Password",
                ADMIN_PASSWORD,
                FANVIL_WAZO_OLD,
            ),
            row(
                "MMI_CONFIG_MODULE/MMI_Account/MMI_Account_Entry[1]/Level",
                10,
                FANVIL_WAZO_OLD,
            ),
        ];
        for n in 1..=3 {
            let e = |k: &str| format!("SIP_CONFIG_MODULE/SIP_Line_List/SIP_Line_List_Entry[{n}]/{k}");
            rows.extend([
                row(e("ID"), format!("SIP{n}"), FANVIL_WAZO_OLD),
                row(e("Enable_Reg"), 1, FANVIL_WAZO_OLD),
                row(e("Phone_Number"), format!("200{n}"), FANVIL_WAZO_OLD),
                row(e("Display_Name"), format!("Line {n}"), FANVIL_WAZO_OLD),
                row(e("Register_Addr"), "pbx.example.com", FANVIL_WAZO_OLD),
                row(e("Register_Port"), 5061, FANVIL_WAZO_OLD),
                row(e("Register_User"), format!("200{n}"), FANVIL_WAZO_OLD),
                row(e("Register_Pswd"), format!("line-pass-200{n}"), FANVIL_WAZO_OLD),
                // 3 per wazo and tancredi; fusionpbx's old templates write 2.
                row(e("Transport"), 3, FANVIL_WAZO_OLD),
            ]);
        }
        let book = |k: &str| format!("PHONE_CONFIG_MODULE/Xml_PhoneBook/Xml_PhoneBook_Entry[1]/{k}");
        rows.extend([
            row(book("ID"), "XML-PBook1", FANVIL_BOOK),
            row(book("Name"), "Directory", FANVIL_BOOK),
            row(book("Addr"), app.url("/prov/0c383eaabb02-phonebook.xml"), FANVIL_BOOK),
        ]);
        check_exact("Fanvil VOIP_CONFIG_FILE", &xml_paths(&body), &rows);
    })
    .await;
}

const GS5: &str = "amooma/GS5 app/controllers/config_gigaset_controller.rb (N510 items, decimal numbers)";
const GIGA_N510: &str =
    "wazo-provd-plugins plugins/wazo_gigaset/N510/templates/base.tpl, fixed in commit e191cee1 (line 1 unsuffixed)";
const GIGA_WIKI: &str = "Gigaset pro wiki, The XML provisioning file (MAC_ADDRESS and PROFILE_NAME must match)";
const GIGA_NX70: &str =
    "wazo-provd-plugins plugins/wazo_gigaset/Nx70_83_v2_65_0/templates/base.tpl and common.py (_SIP_TRANSPORT)";
const GIGA_PERIOD: &str = "Gigaset pro wiki, Nx70 provisioning period (seconds, at least 1800)";

#[tokio::test]
async fn gigaset_n510_items_and_n870_params() {
    on_each_backend(|app| async move {
        scenario(&app, "gigaset", "N510", "7c2f80aabb01").await;
        let body = fetch(&app, "7C2F80AABB01.xml", "N510 IP PRO/42.245.00.000.000;7C2F80AABB01").await;
        let q = |v: &str| format!("\"{v}\"");
        let mut rows = vec![
            row("MAC_ADDRESS", "7C2F80AABB01", GIGA_WIKI),
            row("PROFILE_NAME", "N510", GIGA_WIKI),
            row(
                "BS_IP_Data1.aucS_DATA_SERVER[0]",
                q(&format!("{}/prov", app.addr)),
                GIGA_N510,
            ),
            row("BS_IP_Data.ucB_AUTO_UPDATE_PROFILE", 1, GS5),
            row("BS_IP_Data1.aucS_TIME_NTP_SERVER", q("ntp.example.com"), GIGA_N510),
            row("BS_IP_Data1.uiI_TIME_TIMEZONE", 27, GS5),
            row("BS_IP_Data1.ucB_TIME_USE_AUTOMATIC_DST", 1, GIGA_N510),
            row("BS_IP_Data1.ucI_HTTPLANGUAGE", 2, GIGA_N510),
        ];
        for n in 1..=3 {
            let s = if n == 1 { String::new() } else { format!("_{n}") };
            rows.extend([
                row(
                    format!("BS_IP_Data1.aucS_SIP_ACCOUNT_NAME_{n}"),
                    q(&format!("200{n}")),
                    GIGA_N510,
                ),
                row(format!("BS_IP_Data1.ucB_SIP_ACCOUNT_IS_ACTIVE_{n}"), 1, GIGA_N510),
                row(
                    format!("BS_IP_Data1.aucS_SIP_DISPLAYNAME{s}"),
                    q(&format!("Line {n}")),
                    GIGA_N510,
                ),
                row(
                    format!("BS_IP_Data1.aucS_SIP_USER_ID{s}"),
                    q(&format!("200{n}")),
                    GIGA_N510,
                ),
                row(format!("BS_IP_Data3.aucS_SIP_LOGIN_ID{s}"), q(&format!("200{n}")), GS5),
                row(
                    format!("BS_IP_Data1.aucS_SIP_PASSWORD{s}"),
                    q(&format!("line-pass-200{n}")),
                    GIGA_N510,
                ),
                row(
                    format!("BS_IP_Data1.aucS_SIP_DOMAIN{s}"),
                    q("pbx.example.com"),
                    GIGA_N510,
                ),
                row(
                    format!("BS_IP_Data1.aucS_SIP_SERVER{s}"),
                    q("pbx.example.com"),
                    GIGA_N510,
                ),
                row(
                    format!("BS_IP_Data1.aucS_SIP_REGISTRAR{s}"),
                    q("pbx.example.com"),
                    GIGA_N510,
                ),
                row(format!("BS_IP_Data1.uiI_SIP_SERVER_PORT{s}"), 5061, GS5),
                row(format!("BS_IP_Data1.uiI_SIP_REGISTRAR_PORT{s}"), 5061, GS5),
                row(
                    format!("BS_Accounts.astAccounts[{}].aucAccountName[0]", n - 1),
                    q(&format!("200{n}")),
                    GS5,
                ),
                // One bit per handset (wazo commit f7d0d5cf).
                row(
                    format!("BS_Accounts.astAccounts[{}].uiSendMask", n - 1),
                    1 << (n - 1),
                    GS5,
                ),
                row(
                    format!("BS_Accounts.astAccounts[{}].uiReceiveMask", n - 1),
                    1 << (n - 1),
                    GS5,
                ),
            ]);
        }
        check_exact("N510", &xml(&body), &rows);

        scenario(&app, "gigaset", "N870", "7c2f80aabb02").await;
        let body = fetch(
            &app,
            "7c2f80aabb02.xml",
            "Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80AABB02",
        )
        .await;
        assert!(
            body.contains("<provisioning version=\"1.1\" productID=\"e2\">"),
            "{body}"
        );
        let mut rows = vec![
            row("Provisioning.global.ProvisioningServer", app.url("/prov/"), GIGA_NX70),
            row("Provisioning.global.Period", 3600, GIGA_PERIOD),
            row("DmGlobal.0.NtpServer", "ntp.example.com", GIGA_NX70),
            row("DmGlobal.0.TimeZone", "Europe/Berlin", GIGA_NX70),
            row("WebUIAccounts.1.Password", ADMIN_PASSWORD, GIGA_NX70),
            row("SipProvider.0.Name", "sipprov", GIGA_NX70),
            row("SipProvider.0.Domain", "pbx.example.com", GIGA_NX70),
            row("SipProvider.0.ProxyServerAddress", "pbx.example.com", GIGA_NX70),
            row("SipProvider.0.ProxyServerPort", 5061, GIGA_NX70),
            row("SipProvider.0.RegServerAddress", "pbx.example.com", GIGA_NX70),
            row("SipProvider.0.RegServerPort", 5061, GIGA_NX70),
            row("SipProvider.0.TransportProtocol", 3, GIGA_NX70),
        ];
        for n in 1..=3 {
            let a = |k: &str| format!("SipAccount.0000{n}.{k}");
            rows.extend([
                row(a("AuthName"), format!("200{n}"), GIGA_NX70),
                row(a("AuthPassword"), format!("line-pass-200{n}"), GIGA_NX70),
                row(a("UserName"), format!("200{n}"), GIGA_NX70),
                row(a("DisplayName"), format!("Line {n}"), GIGA_NX70),
                row(a("ProviderId"), 0, GIGA_NX70),
            ]);
        }
        check_exact("N870", &xml(&body), &rows);
    })
    .await;
}

const HUAWEI_7910: &str = "rpfilomeno/tr069config Config-eSpace7910.xml (ComCfg/Phone/Server PrimaryRegServerAddress/Port, ComCfg/Phone/Sip TransferMode 0 on UDP)";
const HUAWEI_EXPORT: &str =
    "an eSpace 7910's exported configuration (tetesh/Huawei_espace_gui_configurator Config-eSpace7910_old.xml)";

#[tokio::test]
async fn huawei_ntp_language_and_accounts_where_an_export_shows_them() {
    on_each_backend(|app| async move {
        scenario(&app, "huawei", "eSpace7910", "00e0fcaabb01").await;
        let body = fetch(&app, "00e0fcaabb01.xml", "").await;
        let mut rows = vec![
            row("Device/ComCfg/Access/Sntp@URL", "ntp.example.com", HUAWEI_EXPORT),
            row("Device/ComCfg/Access/Sntp@ENABLESNTP", 1, HUAWEI_EXPORT),
            row("Device/ComCfg/Lang@language", "de-DE", HUAWEI_EXPORT),
            row("Device/ComCfg/WebAdminUser@UserName", "admin", HUAWEI_EXPORT),
            row("Device/ComCfg/WebAdminUser@PassWord", ADMIN_PASSWORD, HUAWEI_EXPORT),
            // The registrar is the phone's, not each account's.
            row(
                "Device/ComCfg/Phone/Server@PrimaryRegServerAddress",
                "pbx.example.com",
                HUAWEI_7910,
            ),
            row("Device/ComCfg/Phone/Server@PrimaryRegServerPort", 5061, HUAWEI_7910),
        ];
        for n in 1..=3 {
            let a = |k: &str| format!("Device/UserCfg/Account{n}{k}");
            rows.extend([
                row(a("@Enable"), 1, HUAWEI_EXPORT),
                row(a("@Account"), format!("200{n}"), HUAWEI_EXPORT),
                row(a("@LabelName"), label(n), HUAWEI_EXPORT),
                row(a("/Auth@UserName"), format!("200{n}"), HUAWEI_EXPORT),
                row(a("/Auth@Passwd"), format!("line-pass-200{n}"), HUAWEI_EXPORT),
            ]);
        }
        // TLS has no code any source gives: the transport is left out.
        check_exact("Huawei", &xml_paths_and_attributes(&body), &rows);
        // On UDP it is 0, the phone's own (ComCfg/Phone/Sip@TransferMode).
        assert_done(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION:00e0fcaabb01", "k": "transport", "v": "udp"}),
            )
            .await,
        );
        let waited = std::time::Instant::now();
        loop {
            let body = fetch(&app, "00e0fcaabb01.xml", "").await;
            let got = xml_paths_and_attributes(&body);
            if let Some(mode) = got.get("Device/ComCfg/Phone/Sip@TransferMode") {
                assert_eq!(mode, "0", "{HUAWEI_7910}");
                break;
            }
            assert!(waited.elapsed().as_secs() < 10, "the transport did not arrive: {body}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_phone_gets_no_more_lines_than_its_model_has() {
    on_each_backend(|app| async move {
        for n in 1..=2 {
            let extn = format!("300{n}");
            assert_done(&app.post("/api/extensions", json!({"extn": extn, "password": "line-pass-300"})).await);
        }
        let two = "[{\"extn\":\"3001\"},{\"extn\":\"3002\"}]";
        // A GXP1610 has one account (fusionpbx grandstream/gxp16xx: "Account 2 - GXP1620/1625/1628/1630 only").
        let refused = app
            .post(
                "/api/device_provisions",
                json!({"vendor": "grandstream", "mac": "000b82000001", "type": "GXP1610", "extn": two}),
            )
            .await;
        crate::harness::assert_error(&refused, 400, "a GXP1610 takes at most 1 line; 2 given");
        assert!(refused.1["message"].as_str().unwrap().starts_with("extn"), "{}", refused.1);
        // An import is refused whole.
        let csv = format!("name,extn,vendor,mac,type\na,\"{}\",grandstream,000b82000002,GXP1620\nb,\"{}\",grandstream,000b82000003,gxp-1610\n", two.replace('"', "\"\""), two.replace('"', "\"\""));
        let import = app.import_csv(csv).await;
        assert_eq!(import.status(), 400);
        let report = import.text().await.unwrap();
        assert!(report.contains("takes at most 1 line; 2 given") && report.contains("\"row\":3"), "{report}");
        assert_eq!(app.get("/api/device_provisions").await.1["rowCount"], 0);
        // One that fits is fine, and so is a record without a model, within
        // the family's most; a model the pack does not list is refused.
        crate::harness::assert_error(
            &app.post(
                "/api/device_provisions",
                json!({"vendor": "grandstream", "mac": "000b82000005", "type": "GXP9999", "extn": two}),
            )
            .await,
            400,
            "type: grandstream's pack does not list model 'GXP9999'",
        );
        for (mac, model) in [("000b82000004", "GXP1620"), ("000b82000005", "")] {
            assert_done(
                &app.post(
                    "/api/device_provisions",
                    json!({"vendor": "grandstream", "mac": mac, "type": model, "extn": two}),
                )
                .await,
            );
        }
        // A record written before, with a model the pack does not list, may
        // still be renamed; changing it to another unlisted model may not.
        crate::freshness::sql_from_outside(&app, "UPDATE device_provisions SET type = 'GXP9999' WHERE mac = '000b82000005'").await;
        let (_, old) = app.get("/api/device_provisions?mac=000b82000005").await;
        let old = old["data"][0]["id"].as_i64().unwrap();
        assert_done(&app.put(&format!("/api/device_provisions/{old}"), json!({"name": "Kept"})).await);
        crate::harness::assert_error(
            &app.put(&format!("/api/device_provisions/{old}"), json!({"type": "GXP9998"})).await,
            400,
            "does not list model 'GXP9998'",
        );
        // Past it, a record without a model is refused as well: 16 is the
        // most of any Grandstream phone (wazo-provd-plugins plugin-info,
        // GXV3350); a GRP2616 has 6 (fusionpbx grandstream/grp26xx).
        let many = |n: u32| {
            let lines: Vec<String> = (1..=n).map(|i| format!("{{\"extn\":\"{}\"}}", 3100 + i)).collect();
            format!("[{}]", lines.join(","))
        };
        for n in 1..=17 {
            let extn = format!("{}", 3100 + n);
            assert_done(&app.post("/api/extensions", json!({"extn": extn, "password": "line-pass-310"})).await);
        }
        for (mac, model, lines, why) in [
            ("000b82000006", "", 17, "a grandstream phone takes at most 16 lines; 17 given"),
            ("000b82000007", "GRP2616", 7, "a GRP2616 takes at most 6 lines; 7 given"),
        ] {
            let refused = app
                .post(
                    "/api/device_provisions",
                    json!({"vendor": "grandstream", "mac": mac, "type": model, "extn": many(lines)}),
                )
                .await;
            crate::harness::assert_error(&refused, 400, why);
        }
        // Devices whose files the packs cannot write are refused, saying
        // why: Grandstream's DECT bases and ATAs keep their accounts in
        // profiles (fusionpbx grandstream/dp750 and ht802: P747, P735,
        // P734), Flyingvoice's ATA reads another profile (fusionpbx flyingvoice).
        for (vendor, mac, model, why) in [
            ("grandstream", "000b82000008", "DP750", "type: sipprov cannot write a DP750's files: DECT bases"),
            ("grandstream", "000b82000009", "HT802", "type: sipprov cannot write a HT802's files: ATAs"),
            ("flyingvoice", "0021f2000001", "IP542N", "type: sipprov cannot write a IP542N's files"),
        ] {
            let refused = app
                .post(
                    "/api/device_provisions",
                    json!({"vendor": vendor, "mac": mac, "type": model, "extn": "3001"}),
                )
                .await;
            crate::harness::assert_error(&refused, 400, why);
        }
    })
    .await;
}

/// A Fanvil phone's generation is the one its firmware tells, else its
/// model's, for its own file and its model's file alike. wazo-provd-plugins
/// wazo_fanvil: an X5S on 2.3 takes <VOIP_CONFIG_FILE> (v2_3 plugin-info);
/// the model file of the older phones is a <VOIP_CONFIG_FILE> too
/// (common/templates/common/model.tpl, named F0V00X5S0000.cfg for the X5S
/// in serie_x entry.py). An X5S on firmware no line of wazo's tells goes by
/// its model, which fusionpbx's templates give <sysConf>.
#[tokio::test]
async fn a_fanvil_phone_gets_the_generation_its_firmware_tells_in_every_file() {
    on_each_backend(|app| async move {
        let mac = "0c383eaabb05";
        scenario(&app, "fanvil", "X5S", mac).await;
        // On 2.3, Berlin is zone 27, MET_001 (v2_3 entry.py _TZ_INFO).
        for (firmware, zone) in [
            ("2.3.0.5100", "<Time_Zone>27</Time_Zone>"),
            ("0.0.10", "<TimeZone>4</TimeZone>"),
        ] {
            let agent = format!("Fanvil X5S {firmware} {mac}");
            for file in [format!("{mac}.cfg"), "F0V00X5S0000.cfg".to_string()] {
                let body = fetch(&app, &file, &agent).await;
                let root = if firmware == "0.0.10" {
                    "<sysConf>"
                } else {
                    "<VOIP_CONFIG_FILE>"
                };
                assert!(body.contains(root) && body.contains(zone), "{file} for {agent}: {body}");
            }
        }
        // Firmware that tells nothing: an X4 goes by its model, which reads
        // <VOIP_CONFIG_FILE> (fusionpbx fanvil/x4), its model file
        // (f0X4hw1.100.cfg, serie_x entry.py) too.
        let mac = "0c383eaabb06";
        scenario(&app, "fanvil", "X4", mac).await;
        let agent = format!("Fanvil X4 0.0.10 {mac}");
        for file in [format!("{mac}.cfg"), "f0X4hw1.100.cfg".to_string()] {
            let body = fetch(&app, &file, &agent).await;
            assert!(body.contains("<VOIP_CONFIG_FILE>"), "{file} for {agent}: {body}");
        }
        // Another family's User-Agent tells nothing of a Fanvil phone, even
        // with a firmware Fanvil's lines know.
        let other = "Yealink SIP-T46U 2.12.16.17 0c:38:3e:aa:bb:06";
        assert!(
            fetch(&app, &format!("{mac}.cfg"), other)
                .await
                .contains("<VOIP_CONFIG_FILE>")
        );
    })
    .await;
}

/// A record that names no model takes the model the phone's User-Agent
/// names; when that is one its pack refuses (an HT802, whose accounts are
/// profiles: fusionpbx grandstream/ht802), the phone gets nothing rather
/// than a GXP file it would misread, and its timeline says why.
#[tokio::test]
async fn a_phone_that_says_it_is_a_refused_model_gets_nothing_and_is_told_why() {
    on_each_backend(|app| async move {
        let mac = "000b8200000a";
        scenario(&app, "grandstream", "", mac).await;
        let file = format!("/prov/cfg{mac}.xml");
        let status = |user_agent: String| {
            app.client
                .get(app.url(&file))
                .header("user-agent", user_agent)
                .basic_auth(FETCH_USER, Some(FETCH_PASSWORD))
                .send()
        };
        let ata = format!("Grandstream Model HW HT802 V2.0A SW 1.0.45.2 DevId {mac}");
        assert_eq!(status(ata.clone()).await.unwrap().status(), 404);
        let gxp = format!("Grandstream Model HW GXP2135 SW 1.0.7.97 DevId {mac}");
        assert!(fetch(&app, &format!("cfg{mac}.xml"), &gxp).await.contains("<P47>"));
        let (_, page) = app.get(&format!("/api/device_provisions?mac={mac}")).await;
        let id = page["data"][0]["id"].as_i64().unwrap();
        for _ in 0..100 {
            let (_, timeline) = app.get(&format!("/api/device_provisions/{id}/timeline")).await;
            let events = timeline["events"].as_array().unwrap().clone();
            if let Some(refused) = events.iter().find(|e| e["outcome"] == "404") {
                assert_eq!(refused["user_agent"], ata.as_str());
                assert!(
                    refused["reason"]
                        .as_str()
                        .unwrap()
                        .contains("is one its pack does not write"),
                    "{refused}"
                );
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the refusal never reached the timeline");
    })
    .await;
}

#[tokio::test]
async fn a_pack_manifest_in_the_data_dir_takes_effect_without_a_restart() {
    on_each_backend(|app| async move {
        scenario(&app, "snom", "D785", "000413aabb09").await;
        let ua = "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413AABB09 SXM:0 UXM:0)";
        assert!(xml(&fetch(&app, "000413AABB09.xml", ua).await)["language"] == "Deutsch");
        let dir = app.data_dir.path().join("templates/snom");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("vendor.toml"),
            "[values.language]\nde = \"Deutsch (Schweiz)\"\n[values.time_zone]\n\"Europe/Berlin\" = \"CHE+1\"\n[models]\nD785 = 1\n",
        )
        .unwrap();
        // The render cache notices a changed override within a second.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let settings = xml(&fetch(&app, "000413AABB09.xml", ua).await);
        assert_eq!((settings["language"].as_str(), settings["timezone"].as_str()), ("Deutsch (Schweiz)", "CHE+1"));
        let refused = app
            .post(
                "/api/device_provisions",
                json!({"vendor": "snom", "mac": "000413aabb0a", "type": "D785", "extn": "[{\"extn\":\"2001\"},{\"extn\":\"2002\"}]"}),
            )
            .await;
        crate::harness::assert_error(&refused, 400, "a D785 takes at most 1 line");
    })
    .await;
}

/// A family sipprov was not built with: a pack folder in the data dir gives
/// its names, OUI, User-Agent, file name, values and models, and the
/// running server takes it within a second, with no rebuild or restart.
#[tokio::test]
async fn a_made_up_family_dropped_into_the_data_dir_takes_effect_without_a_rebuild() {
    on_each_backend(|app| async move {
        let dir = app.data_dir.path().join("templates/acme");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("vendor.toml"),
            r#"[vendor]
names = ["Acme Phones"]
ouis = ["02ac3e"]
fetch_credential = ["auth_user"]

[[user_agents]]
pattern = '^AcmePhone (?P<model>[A-Z0-9]+)/(?P<fw>[0-9.]+) {mac}'
samples = ["AcmePhone A2/1.2 02:ac:3e:00:00:01"]

[[files]]
name = "acme-{MAC}.ini"
template = "phone.ini"
kind = "config"
content_type = "text/x-acme; charset=utf-8"

[values.transport]
udp = "U"
tls = "S"

[models]
A2 = 2
"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("phone.ini"),
            "auth_user={{ settings.provisioning_username }}\n{% for line in lines %}line{{ line.index }}={{ line.extn }}:{{ line.password }}@{{ settings.sip_server_host }};{{ pack.transport }}\n{% endfor %}",
        )
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

        // An unknown Acme phone asks: the pack's User-Agent rule and OUI name it.
        let ask = || {
            app.client
                .get(app.url("/prov/acme-02AC3E000001.ini"))
                .header("user-agent", "AcmePhone A2/1.2 02:ac:3e:00:00:01")
                .send()
        };
        assert_eq!(ask().await.unwrap().status(), 404);
        crate::provisioning::eventually("the Acme phone is pending", || async {
            app.get("/api/device_provisions/pending").await.1["rowCount"] == 1
        })
        .await;
        let (_, pending) = app.get("/api/device_provisions/pending").await;
        assert_eq!(pending["data"][0]["vendor"], "acme", "{pending}");
        assert_eq!(pending["data"][0]["model"], "A2", "{pending}");

        // Its limit of two lines holds, and its name is one the API takes.
        assert_done(&app.post("/api/extensions", json!({"extn": "2001", "password": "line-pass-2001"})).await);
        assert_done(&app.post("/api/extensions", json!({"extn": "2002", "password": "line-pass-2002"})).await);
        assert_done(&app.post("/api/extensions", json!({"extn": "2003", "password": "line-pass-2003"})).await);
        let three = "[{\"extn\":\"2001\"},{\"extn\":\"2002\"},{\"extn\":\"2003\"}]";
        crate::harness::assert_error(
            &app.post("/api/device_provisions", json!({"vendor": "Acme Phones", "mac": "02ac3e000001", "type": "A2", "extn": three}))
                .await,
            400,
            "a A2 takes at most 2 lines",
        );
        let two = "[{\"extn\":\"2001\"},{\"extn\":\"2002\"}]";
        assert_done(
            &app.post("/api/device_provisions", json!({"vendor": "Acme Phones", "mac": "02ac3e000001", "type": "A2", "extn": two}))
                .await,
        );
        for (k, v) in [("sip_server_host", "pbx.example.com"), ("transport", "tls")] {
            assert_done(&app.post("/api/dicts", json!({"realm": "PROVISION", "k": k, "v": v})).await);
        }
        let response = ask().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/x-acme; charset=utf-8");
        let body = response.text().await.unwrap();
        assert_eq!(
            body,
            "auth_user=\nline1=2001:line-pass-2001@pbx.example.com;S\nline2=2002:line-pass-2002@pbx.example.com;S\n"
        );
        // The file is Acme's own: the lower-case name is no Acme file.
        let lower = app.client.get(app.url("/prov/acme-02ac3e000001.ini")).send().await.unwrap();
        assert_eq!(lower.status(), 404);
    })
    .await;
}

const YL_KEYS: &str = "fusionpbx resources/templates/provision/yealink/t46s/{$mac}.cfg (linekey.N.type/line/value/label; 15 Line, 16 BLF, 13 SpeedDial) and the Yealink T2/T4 Administrator Guide (linekey.X.line: 1 = line 1)";
const FIP_KEYS: &str = "fusionpbx resources/templates/provision/flyingvoice/fip13g/y000000000000.cfg and app/devices/app_config.php (flyingvoice: 15 line, 16 blf, 13 speed_dial)";
const HTEK_KEYS: &str = "wazo-provd-plugins plugins/wazo_htek/common/common.py _gen_param_num (P41200+N-1 type, +100 value, +200 label, +300 account) and fusionpbx app/devices/app_config.php (htek: 1 line, 3 blf, 2 speed_dial)";
const GS_KEYS: &str = "fusionpbx @d3f37c0f resources/templates/provision/grandstream/gxp2170/{$mac}.xml (VPK P1363+2(N-1) mode, P1364 account from 0, P1465 description, P1466 value; line keys: 0 Line, 11 BLF, 10 Speed Dial)";
const GS_KEYS_GRP: &str = "fusionpbx resources/templates/provision/grandstream/grp261x/{$mac}.xml (pks.vpk.N.keyMode Line/BLF/SpeedDial, account AccountN, description, value)";
const FANVIL_KEYS: &str = "wazo-provd-plugins plugins/wazo_fanvil/common/templates/base.tpl and common.py (Function_Key_Entry FkeyN: Type 2 SIPn for a line, Type 1 number@line/ba BLF, /f speed dial)";
const FANVIL_BOOK_SYSCONF: &str = "wazo-provd-plugins plugins/wazo_fanvil/common/templates/base-new.tpl and fusionpbx fanvil/x6u/{$mac}.cfg (<xmlContact index> Name, Addr, UserName, PassWd)";
const FANVIL_BOOK: &str =
    "fusionpbx resources/templates/provision/fanvil/x4/{$mac}.cfg (Xml_PhoneBook_Entry XML-PBook1 Name/Addr)";
const FANVIL_BOOK_FILE: &str =
    "wazo-phoned plugins/fanvil/templates/fanvil_results_v2.jinja (PhoneBook/DirectoryEntry/Name, Telephone)";
const SNOM_KEYS: &str = "Snom wiki, <functionKeys> tag and Function Key Types (fkey idx from 0: line, blf <sip:..>, speed); tancredi data/templates/snom.macros";
const SNOM_BOOK: &str =
    "Snom wiki, XML Directory (tbook/item/name, number); fusionpbx resources/templates/provision/snom/D785/{$mac}.xml";
const CISCO_KEYS: &str = "wazo-provd-plugins plugins/wazo_cisco_spa/common/common.py (Extension_N_ Disabled, Short_Name_N_, Extended_Function_N_ fnc=blf+sd+cp;sub=..; fnc=sd;ext=..) and fusionpbx cisco/8841/{$mac}.xml";
const POLY_KEYS: &str = "wazo-provd-plugins plugins/wazo_polycom/common/common.py and fusionpbx polycom/6.x/{$mac}.cfg (attendant.resourceList.N.address/label/type normal|automata)";
const AKUVOX_KEYS: &str = "tancredi data/templates/akuvox.tmpl (Config.Programable.LINEKEYN.Type/Label/Param1/Param2) and akuvox.macros (14 line, 16 blf, 10 speed dial)";

/// The scenario's keys: line 1, a BLF of 2002 labelled Ana, a speed dial
/// to 100 labelled Reception, in slots 1 to 3 (Polycom, which takes only
/// monitored resources: a BLF of 2002, a park orbit 700, a BLF of 2003).
async fn give_keys(app: &TestApp, mac: &str, keys: serde_json::Value) {
    let (_, found) = app.get(&format!("/api/device_provisions?mac={mac}")).await;
    let id = found["data"][0]["id"].as_i64().unwrap();
    assert_done(
        &app.put(&format!("/api/device_provisions/{id}/keys"), json!({ "keys": keys }))
            .await,
    );
}

fn three_keys() -> serde_json::Value {
    json!([
        {"slot": 1, "type": "line", "value": "1"},
        {"slot": 2, "type": "blf", "value": "2002", "label": "Ana"},
        {"slot": 3, "type": "speed_dial", "value": "100", "label": "Reception"},
    ])
}

const YL_EMPTY: &str = "wazo-provd-plugins plugins/wazo_yealink/v87/common.py _format_funckey_null (type 0) and tancredi yealink.macros (disabled: 0)";
const FIP_EMPTY: &str = "fusionpbx app/devices/app_config.php (flyingvoice label-na: 0)";
const HTEK_EMPTY: &str =
    "wazo-provd-plugins plugins/wazo_htek/common/common.py fkey_type_assoc ('': 0) and tancredi sangoma.macros";
const GS_EMPTY: &str = "fusionpbx grandstream/gxp2140/{$mac}.xml and gxp17xx/{$mac}.xml (key mode None (-1))";
const GS_EMPTY_GRP: &str = "wazo-provd-plugins plugins/wazo_grandstream/common/common.py (disabled: None) and fusionpbx grandstream/grp2614/{$mac}.xml";
const FANVIL_EMPTY: &str = "wazo-provd-plugins plugins/wazo_fanvil/common/common.py (type 0) and fusionpbx fanvil/x4u/{$mac}.cfg (none: Type 0, empty Value)";
const SNOM_EMPTY: &str =
    "Snom wiki, Function Key Types (none) and wazo-provd-plugins plugins/wazo_snom/common/templates/300.tpl";
const CISCO_EMPTY: &str = "fusionpbx cisco/8811/{$mac}.xml (Extension Disabled) and wazo-provd-plugins wazo_cisco_sip base.tpl (an empty Extended_Function leaves a line key)";
const POLY_EMPTY: &str = "wazo-provd-plugins plugins/wazo_polycom/v3_2_4B/var/tftpboot/phone1.cfg (attendant.resourceList address, label and type default to empty)";
const AKUVOX_EMPTY: &str = "tancredi data/templates/akuvox.macros (disabled: 0)";

/// A key taken away is written back as what the phone has there by
/// default, in each family's own syntax, so the phone lets go of it: slot 3
/// is line 3's key again on this three-line phone, and slot 5, no line's,
/// is written empty.
#[tokio::test]
async fn a_key_taken_away_is_written_empty_in_every_familys_syntax() {
    /// Family, model, MAC, file, User-Agent, its parser, and the slots' rows.
    type Cleared = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        Parse,
        Vec<Row>,
    );
    type Parse = fn(&str) -> BTreeMap<String, String>;
    on_each_backend(|app| async move {
        let before = json!([
            {"slot": 2, "type": "blf", "value": "2002", "label": "Ana"},
            {"slot": 3, "type": "speed_dial", "value": "100", "label": "Reception"},
            {"slot": 5, "type": "dnd"},
        ]);
        let after = json!([{"slot": 2, "type": "blf", "value": "2002", "label": "Ana"}]);
        let entry = |n: usize, field: &str| format!("PHONE_CONFIG_MODULE/Function_Key/Function_Key_Entry[{n}]/{field}");
        let families: Vec<Cleared> = vec![
            (
                "yealink",
                "T46S",
                "001565aabb31",
                "001565aabb31.cfg",
                "Yealink SIP-T46S 66.86.0.15 00:15:65:aa:bb:31",
                ini,
                vec![
                    row("linekey.3.type", 15, YL_KEYS),
                    row("linekey.3.line", 3, YL_KEYS),
                    row("linekey.3.value", "", YL_KEYS),
                    row("linekey.3.label", "", YL_KEYS),
                    row("linekey.5.type", 0, YL_EMPTY),
                ],
            ),
            (
                "flyingvoice",
                "FIP13G",
                "0021f2aabb31",
                "0021f2aabb31.cfg",
                "Flyingvoice FIP13G V0.6.24 00:21:F2:AA:BB:31",
                ini,
                vec![row("linekey.3.type", 15, FIP_KEYS), row("linekey.5.type", 0, FIP_EMPTY)],
            ),
            (
                "htek",
                "UC926",
                "001fc1aabb31",
                "cfg001fc1aabb31.xml",
                "Htek UC926 2.0.4.2 00:1f:c1:aa:bb:31",
                xml,
                vec![
                    row("P41202", 1, HTEK_KEYS),
                    row("P41302", "", HTEK_KEYS),
                    row("P41502", 2, HTEK_KEYS),
                    row("P20200", 0, HTEK_EMPTY),
                ],
            ),
            (
                "grandstream",
                "GXP2170",
                "000b82aabb31",
                "cfg000b82aabb31.xml",
                "Grandstream Model HW GXP2170 SW 1.0.11.79 DevId 000b82aabb31",
                xml,
                vec![
                    row("P1367", 0, GS_KEYS),
                    row("P1368", 2, GS_KEYS),
                    row("P1470", "", GS_KEYS),
                    row("P1371", -1, GS_EMPTY),
                ],
            ),
            (
                "grandstream",
                "GRP2614",
                "000b82aabb32",
                "cfg000b82aabb32.xml",
                "Grandstream Model HW GRP2614 SW 1.0.5.33 DevId 000b82aabb32",
                xml,
                vec![
                    row("pks.vpk.3.keyMode", "Line", GS_KEYS_GRP),
                    row("pks.vpk.3.account", "Account3", GS_KEYS_GRP),
                    row("pks.vpk.5.keyMode", "None", GS_EMPTY_GRP),
                ],
            ),
            (
                "fanvil",
                "X4",
                "0c383eaabb31",
                "0c383eaabb31.cfg",
                "Fanvil X4 1.6.3 0c383eaabb31",
                xml_paths,
                vec![
                    row(entry(2, "ID"), "Fkey3", FANVIL_KEYS),
                    row(entry(2, "Type"), 2, FANVIL_KEYS),
                    row(entry(2, "Value"), "SIP3", FANVIL_KEYS),
                    row(entry(3, "ID"), "Fkey5", FANVIL_EMPTY),
                    row(entry(3, "Type"), 0, FANVIL_EMPTY),
                ],
            ),
            (
                "snom",
                "D785",
                "000413aabb31",
                "000413AABB31.xml",
                "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413AABB31 SXM:0 UXM:0)",
                xml,
                vec![row("fkey[2]", "line", SNOM_KEYS), row("fkey[4]", "none", SNOM_EMPTY)],
            ),
            (
                "cisco",
                "8841",
                "00562baabb31",
                "00562baabb31.xml",
                "Cisco-CP-8841-3PCC/11.0.1 (00562baabb31)",
                xml,
                vec![
                    row("Extension_3_", 3, CISCO_KEYS),
                    row("Extended_Function_3_", "", CISCO_EMPTY),
                    row("Extension_5_", "Disabled", CISCO_EMPTY),
                    row("Short_Name_5_", "", CISCO_EMPTY),
                    row("Extended_Function_5_", "", CISCO_EMPTY),
                ],
            ),
            (
                "akuvox",
                "SP-R63G",
                "0c1105aabb31",
                "0c1105aabb31.cfg",
                "Akuvox SP-R63G 63.0.1.2 0c1105aabb31",
                ini,
                vec![
                    row("Config.Programable.LINEKEY3.Type", 14, AKUVOX_KEYS),
                    row("Config.Programable.LINEKEY3.Param2", 3, AKUVOX_KEYS),
                    row("Config.Programable.LINEKEY5.Type", 0, AKUVOX_EMPTY),
                ],
            ),
        ];
        for (vendor, model, mac, file, ua, parse, rows) in families {
            scenario(&app, vendor, model, mac).await;
            give_keys(&app, mac, before.clone()).await;
            give_keys(&app, mac, after.clone()).await;
            let body = fetch(&app, file, ua).await;
            // XML parsers leave empty elements out: an empty value is one
            // that holds nothing, there or not.
            let parsed = parse(&body);
            let (empty, set): (Vec<Row>, Vec<Row>) = rows.into_iter().partition(|r| r.value.is_empty());
            check(&format!("{vendor} {model}, keys taken away"), &parsed, &set);
            for r in empty {
                let got = parsed.get(&r.key).map_or("", String::as_str);
                assert_eq!(got, "", "{vendor} {model}: {} ({})\n{body}", r.key, r.source);
            }
        }

        // Polycom's keys are BLF and park only; a template's key taken away
        // by deleting the template is cleared too.
        scenario(&app, "polycom", "VVX411", "0004f2aabb31").await;
        let template = assert_done(
            &app.post(
                "/api/key_templates",
                json!({"name": "Park", "keys": [{"slot": 2, "type": "park", "value": "700"}]}),
            )
            .await,
        );
        let (_, found) = app.get("/api/device_provisions?mac=0004f2aabb31").await;
        let id = found["data"][0]["id"].as_i64().unwrap();
        let keys = json!({"template_id": template.as_str().unwrap().parse::<i64>().unwrap(),
                          "keys": [{"slot": 1, "type": "blf", "value": "2002"}]});
        assert_done(&app.put(&format!("/api/device_provisions/{id}/keys"), keys).await);
        assert_done(
            &app.delete(&format!("/api/key_templates/{}", template.as_str().unwrap()))
                .await,
        );
        let (_, got) = app.get(&format!("/api/device_provisions/{id}/keys")).await;
        assert_eq!(got["cleared"], json!([2]), "{got}");
        let body = fetch(
            &app,
            "0004f2aabb31-sipprov.cfg",
            "FileTransport PolycomVVX-VVX_411-UA/6.4.0.2 (SN:0004f2aabb31)",
        )
        .await;
        let resource = |field: &str| format!("attendant.resourceList.2.{field}");
        check(
            "Polycom, a template's key taken away",
            &xml_attributes(&body),
            &[
                row(resource("address"), "", POLY_EMPTY),
                row(resource("label"), "", POLY_EMPTY),
                row(resource("type"), "", POLY_EMPTY),
            ],
        );
    })
    .await;
}

#[tokio::test]
async fn keys_and_the_directory_in_every_familys_own_syntax() {
    on_each_backend(|app| async move {
        // The lines' domain: what a BLF watches.
        scenario(&app, "yealink", "T46S", "001565aabb21").await;
        let (_, extension) = app.get("/api/extensions?extn=2002").await;
        let domain = extension["data"][0]["domain"].as_str().unwrap().to_string();

        give_keys(&app, "001565aabb21", three_keys()).await;
        let body = fetch(
            &app,
            "001565aabb21.cfg",
            "Yealink SIP-T46S 66.86.0.15 00:15:65:aa:bb:21",
        )
        .await;
        check(
            "Yealink keys",
            &ini(&body),
            &[
                row("linekey.1.type", 15, YL_KEYS),
                row("linekey.1.line", 1, YL_KEYS),
                row("linekey.2.type", 16, YL_KEYS),
                row("linekey.2.value", 2002, YL_KEYS),
                row("linekey.2.label", "Ana", YL_KEYS),
                row("linekey.3.type", 13, YL_KEYS),
                row("linekey.3.value", 100, YL_KEYS),
                row("linekey.3.label", "Reception", YL_KEYS),
            ],
        );

        // A DECT base's handsets take the language by number
        // (wazo plugins/wazo_yealink/common/common.py _LOCALE: de_DE 2).
        scenario(&app, "yealink", "W60B", "001565aabb22").await;
        let body = fetch(&app, "001565aabb22.cfg", "Yealink W60B 77.85.0.20 00:15:65:aa:bb:22").await;
        check(
            "Yealink W60B",
            &ini(&body),
            &[
                row("custom.handset.language", 2, WAZO_YL_COMMON),
                row("lang.wui", "German", WAZO_YL),
            ],
        );

        scenario(&app, "flyingvoice", "FIP13G", "0021f2aabb21").await;
        give_keys(&app, "0021f2aabb21", three_keys()).await;
        let body = fetch(&app, "0021f2aabb21.cfg", "Flyingvoice FIP13G V0.6.24 00:21:F2:AA:BB:21").await;
        check(
            "Flyingvoice keys",
            &ini(&body),
            &[
                row("linekey.1.type", 15, FIP_KEYS),
                row("linekey.2.type", 16, FIP_KEYS),
                row("linekey.2.value", 2002, FIP_KEYS),
                row("linekey.3.type", 13, FIP_KEYS),
            ],
        );

        scenario(&app, "htek", "UC926", "001fc1aabb21").await;
        give_keys(&app, "001fc1aabb21", three_keys()).await;
        let body = fetch(&app, "cfg001fc1aabb21.xml", "Htek UC926 2.0.4.2 00:1f:c1:aa:bb:21").await;
        check(
            "Htek keys",
            &xml(&body),
            &[
                row("P41200", 1, HTEK_KEYS),
                row("P41201", 3, HTEK_KEYS),
                row("P41301", 2002, HTEK_KEYS),
                row("P41401", "Ana", HTEK_KEYS),
                row("P41202", 2, HTEK_KEYS),
                row("P41302", 100, HTEK_KEYS),
                row("P41402", "Reception", HTEK_KEYS),
            ],
        );

        scenario(&app, "grandstream", "GXP2170", "000b82aabb21").await;
        give_keys(&app, "000b82aabb21", three_keys()).await;
        let body = fetch(
            &app,
            "cfg000b82aabb21.xml",
            "Grandstream Model HW GXP2170 SW 1.0.11.79 DevId 000b82aabb21",
        )
        .await;
        check(
            "Grandstream GXP keys",
            &xml(&body),
            &[
                row("P1363", 0, GS_KEYS),
                row("P1364", 0, GS_KEYS),
                row("P1365", 11, GS_KEYS),
                row("P1366", 0, GS_KEYS),
                row("P1467", "Ana", GS_KEYS),
                row("P1468", 2002, GS_KEYS),
                row("P1367", 10, GS_KEYS),
                row("P1469", "Reception", GS_KEYS),
                row("P1470", 100, GS_KEYS),
            ],
        );
        scenario(&app, "grandstream", "GRP2614", "000b82aabb22").await;
        give_keys(&app, "000b82aabb22", three_keys()).await;
        let body = fetch(
            &app,
            "cfg000b82aabb22.xml",
            "Grandstream Model HW GRP2614 SW 1.0.5.33 DevId 000b82aabb22",
        )
        .await;
        check(
            "Grandstream GRP keys",
            &xml(&body),
            &[
                row("pks.vpk.1.keyMode", "Line", GS_KEYS_GRP),
                row("pks.vpk.1.account", "Account1", GS_KEYS_GRP),
                row("pks.vpk.2.keyMode", "BLF", GS_KEYS_GRP),
                row("pks.vpk.2.description", "Ana", GS_KEYS_GRP),
                row("pks.vpk.2.value", 2002, GS_KEYS_GRP),
                row("pks.vpk.3.keyMode", "SpeedDial", GS_KEYS_GRP),
                row("pks.vpk.3.value", 100, GS_KEYS_GRP),
            ],
        );

        scenario(&app, "fanvil", "X4", "0c383eaabb21").await;
        give_keys(&app, "0c383eaabb21", three_keys()).await;
        let body = fetch(&app, "0c383eaabb21.cfg", "Fanvil X4 1.6.3 0c383eaabb21").await;
        let entry = |n: usize, field: &str| format!("PHONE_CONFIG_MODULE/Function_Key/Function_Key_Entry[{n}]/{field}");
        check(
            "Fanvil keys",
            &xml_paths(&body),
            &[
                row(entry(1, "ID"), "Fkey1", FANVIL_KEYS),
                row(entry(1, "Type"), 2, FANVIL_KEYS),
                row(entry(1, "Value"), "SIP1", FANVIL_KEYS),
                row(entry(2, "ID"), "Fkey2", FANVIL_KEYS),
                row(entry(2, "Type"), 1, FANVIL_KEYS),
                row(entry(2, "Value"), "2002@1/ba", FANVIL_KEYS),
                row(entry(2, "Title"), "Ana", FANVIL_KEYS),
                row(entry(3, "Value"), "100@1/f", FANVIL_KEYS),
                row(
                    "PHONE_CONFIG_MODULE/Xml_PhoneBook/Xml_PhoneBook_Entry[1]/Addr",
                    app.url("/prov/0c383eaabb21-phonebook.xml"),
                    FANVIL_BOOK,
                ),
            ],
        );
        let book = fetch(&app, "0c383eaabb21-phonebook.xml", "Fanvil X4 1.6.3 0c383eaabb21").await;
        assert_eq!(
            directory_entries(&book, "PhoneBook", "DirectoryEntry", "Name", "Telephone"),
            scenario_directory(),
            "{FANVIL_BOOK_FILE}"
        );

        scenario(&app, "snom", "D785", "000413aabb21").await;
        give_keys(&app, "000413aabb21", three_keys()).await;
        let ua = "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413AABB21 SXM:0 UXM:0)";
        let body = fetch(&app, "000413AABB21.xml", ua).await;
        check(
            "Snom keys",
            &xml(&body),
            &[
                row("fkey[0]", "line", SNOM_KEYS),
                row("fkey[1]", format!("blf <sip:2002@{domain}>"), SNOM_KEYS),
                row("fkey[2]", "speed 100", SNOM_KEYS),
            ],
        );
        assert!(
            body.contains(r#"<fkey idx="1" context="active" label="Ana" perm="R">"#),
            "{SNOM_KEYS}\n{body}"
        );
        let index = fetch(&app, "snomD785-000413AABB21.htm", ua).await;
        assert!(index.contains(&app.url("/prov/000413AABB21-phonebook.xml")), "{index}");
        let book = fetch(&app, "000413AABB21-phonebook.xml", ua).await;
        assert_eq!(
            directory_entries(&book, "tbook", "item", "name", "number"),
            scenario_directory(),
            "{SNOM_BOOK}"
        );

        scenario(&app, "cisco", "8841", "00562baabb21").await;
        give_keys(&app, "00562baabb21", three_keys()).await;
        let body = fetch(&app, "00562baabb21.xml", "Cisco-CP-8841-3PCC/11.0.1 (00562baabb21)").await;
        check(
            "Cisco keys",
            &xml(&body),
            &[
                row("Extension_1_", 1, CISCO_KEYS),
                row("Extension_2_", "Disabled", CISCO_KEYS),
                row("Short_Name_2_", "Ana", CISCO_KEYS),
                row(
                    "Extended_Function_2_",
                    format!("fnc=blf+sd+cp;sub=2002@{domain};nme=Ana"),
                    CISCO_KEYS,
                ),
                row("Extension_3_", "Disabled", CISCO_KEYS),
                row(
                    "Extended_Function_3_",
                    format!("fnc=sd;ext=100@{domain};nme=Reception"),
                    CISCO_KEYS,
                ),
            ],
        );
        assert_eq!(
            body.matches("<Extension_2_ ").count(),
            1,
            "a key's slot is not line 2's too: {body}"
        );

        scenario(&app, "polycom", "VVX411", "0004f2aabb21").await;
        give_keys(
            &app,
            "0004f2aabb21",
            json!([
                {"slot": 1, "type": "blf", "value": "2002", "label": "Ana"},
                {"slot": 2, "type": "park", "value": "700", "label": "Park"},
                {"slot": 3, "type": "blf", "value": "2003"},
            ]),
        )
        .await;
        let body = fetch(
            &app,
            "0004f2aabb21-sipprov.cfg",
            "FileTransport PolycomVVX-VVX_411-UA/6.4.0.2 (SN:0004f2aabb21)",
        )
        .await;
        let resource = |n: u32, field: &str| format!("attendant.resourceList.{n}.{field}");
        check(
            "Polycom keys",
            &xml_attributes(&body),
            &[
                row(resource(1, "address"), format!("2002@{domain}"), POLY_KEYS),
                row(resource(1, "label"), "Ana", POLY_KEYS),
                row(resource(1, "type"), "normal", POLY_KEYS),
                row(resource(2, "address"), format!("700@{domain}"), POLY_KEYS),
                row(resource(2, "type"), "automata", POLY_KEYS),
                row(resource(3, "address"), format!("2003@{domain}"), POLY_KEYS),
                row(resource(3, "label"), 2003, POLY_KEYS),
            ],
        );

        scenario(&app, "akuvox", "SP-R63G", "0c1105aabb21").await;
        give_keys(&app, "0c1105aabb21", three_keys()).await;
        let body = fetch(&app, "0c1105aabb21.cfg", "Akuvox SP-R63G 63.0.1.2 0c1105aabb21").await;
        check(
            "Akuvox keys",
            &ini(&body),
            &[
                row("Config.Programable.LINEKEY1.Type", 14, AKUVOX_KEYS),
                row("Config.Programable.LINEKEY2.Type", 16, AKUVOX_KEYS),
                row("Config.Programable.LINEKEY2.Label", "Ana", AKUVOX_KEYS),
                row("Config.Programable.LINEKEY2.Param1", 2002, AKUVOX_KEYS),
                row("Config.Programable.LINEKEY3.Type", 10, AKUVOX_KEYS),
                row("Config.Programable.LINEKEY3.Param1", 100, AKUVOX_KEYS),
            ],
        );

        // Families whose phones have no keys sipprov sets say why.
        scenario(&app, "gigaset", "N510", "7c2f80aabb21").await;
        let (_, found) = app.get("/api/device_provisions?mac=7c2f80aabb21").await;
        let id = found["data"][0]["id"].as_i64().unwrap();
        let (status, refused) = app
            .put(
                &format!("/api/device_provisions/{id}/keys"),
                json!({ "keys": three_keys() }),
            )
            .await;
        assert_eq!(status, 400, "{refused}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .starts_with("keys: slot 1: gigaset phones have no keys sipprov sets"),
            "{refused}"
        );
    })
    .await;
}
