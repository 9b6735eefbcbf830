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
/// with three lines, 2001 to 2003 ("Line 1" ...).
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
                    json!({"extn": extn, "password": format!("line-pass-{extn}"), "cid_name": format!("Line {n}")}),
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
const FPBX_YL: &str = "fusionpbx resources/templates/provision/yealink/t54w/y000000000096.cfg";

/// What a Yealink phone of firmware `version` (73, 80, 86) should get.
fn yealink_expected(version: u32, provisioning_url: &str) -> Vec<Row> {
    let s = if version >= 81 { "static." } else { "" };
    let mut rows = vec![
        row(format!("{s}auto_provision.server.url"), provisioning_url, FPBX_YL),
        row(format!("{s}auto_provision.server.username"), FETCH_USER, FPBX_YL),
        row(format!("{s}auto_provision.server.password"), FETCH_PASSWORD, FPBX_YL),
        row(format!("{s}auto_provision.repeat.enable"), 1, FPBX_YL),
        row(format!("{s}auto_provision.repeat.minutes"), 60, FPBX_YL),
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
    for n in 1..=3 {
        let a = |k: &str| format!("account.{n}.{k}");
        rows.extend([
            row(a("enable"), 1, WAZO_YL),
            row(
                a("label"),
                format!("200{n}"),
                "wazo-provd-plugins plugins/wazo_yealink/v73/templates/base.tpl (the number)",
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
            check_exact(&format!("V{version}"), &ini(&body), &yealink_expected(version, &url));
        }
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
        check_exact("FIP", &ini(&fip), &yealink_expected(86, &url));

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
