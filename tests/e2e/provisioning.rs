//! Phones fetching their files, vendor by vendor, as they do at boot.

use reqwest::StatusCode;
use serde_json::json;

use crate::clients::RunClient;
use crate::harness::{TestApp, assert_done, assert_error, on_each_backend};

/// A display name that breaks naive XML and text output.
const TRICKY_NAME: &str = r#"Ops & "Sales" <1> 'x'"#;

pub struct Fetched {
    pub status: StatusCode,
    pub content_type: String,
    pub body: String,
}

pub async fn fetch(app: &TestApp, path: &str, user_agent: &str) -> Fetched {
    let r = app
        .client
        .get(app.url(path))
        .header("User-Agent", user_agent)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    Fetched {
        status,
        content_type,
        body: r.text().await.unwrap(),
    }
}

/// Asserts a 200 with well-formed XML.
#[track_caller]
fn assert_xml(f: &Fetched, path: &str) {
    assert_eq!(f.status, 200, "{path}: {}", f.body);
    assert!(f.content_type.starts_with("text/xml"), "{path}: {}", f.content_type);
    let mut reader = quick_xml::Reader::from_str(&f.body);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("{path} is not well-formed XML: {e}\n{}", f.body),
        }
    }
}

/// Two extensions, the first with a display name full of XML metacharacters,
/// on a phone of `vendor` with `mac`.
pub async fn phone(app: &TestApp, vendor: &str, mac: &str, model: &str) {
    for (extn, password, name) in [("1001", "pw-one-1001", TRICKY_NAME), ("1002", "pw-two-1002", "Second")] {
        let (status, _) = app.get(&format!("/api/extensions?extn={extn}")).await;
        assert_eq!(status, 200);
        if app.get(&format!("/api/extensions?extn={extn}")).await.1["rowCount"] == 0 {
            assert_done(
                &app.post(
                    "/api/extensions",
                    json!({"extn": extn, "password": password, "cid_name": name}),
                )
                .await,
            );
        }
    }
    let record = json!({"vendor": vendor, "mac": mac, "type": model, "name": "Desk", "extn": "[{\"extn\":\"1001\"},{\"extn\":\"1002\"}]"});
    assert_done(&app.post("/api/device_provisions", record).await);
}

#[tokio::test]
async fn yealink_boot_sequence() {
    on_each_backend(|app| async move {
        phone(&app, "yealink", "001565aabbcc", "").await;
        let ua = "Yealink SIP-T46G 28.83.0.50 00:15:65:aa:bb:cc";
        let boot = fetch(&app, "/prov/y000000000000.boot", ua).await;
        assert_eq!(boot.status, 200);
        assert!(boot.body.starts_with("#!version:1.0.0.1"));
        assert!(
            boot.body.contains("include:config \"001565aabbcc.cfg\""),
            "{}",
            boot.body
        );
        let common = fetch(&app, "/prov/y000000000028.cfg", ua).await;
        assert_eq!(
            (common.status, common.content_type.as_str()),
            (StatusCode::OK, "text/plain; charset=utf-8")
        );
        assert!(
            common
                .body
                .contains(&format!("static.auto_provision.server.url = http://{}/prov/", app.addr)),
            "{}",
            common.body
        );
        assert!(!common.body.contains("password"), "common files carry no credentials");
        assert!(
            fetch(&app, "/prov/001565aabbcc.boot", ua)
                .await
                .body
                .contains("include:config \"001565aabbcc.cfg\"")
        );
        let cfg = fetch(&app, "/prov/001565aabbcc.cfg", ua).await;
        assert_eq!(cfg.status, 200);
        for expected in [
            "account.1.user_name = 1001",
            "account.1.password = pw-one-1001",
            "account.2.auth_name = 1002",
            "account.2.password = pw-two-1002",
            &format!("account.1.sip_server.1.address = {}", app.addr.ip()),
            &format!("account.1.display_name = {TRICKY_NAME}"),
        ] {
            assert!(cfg.body.contains(expected), "missing {expected:?} in\n{}", cfg.body);
        }
    })
    .await;
}

#[tokio::test]
async fn grandstream_boot_sequence_p_values_and_named_items() {
    on_each_backend(|app| async move {
        phone(&app, "潮流", "000b82aabbcc", "").await;
        let ua = "Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b82aabbcc";
        assert_eq!(
            fetch(&app, "/prov/cfg000b82aabbcc", ua).await.status,
            404,
            "the binary form is not served"
        );
        let cfg = fetch(&app, "/prov/cfg000b82aabbcc.xml", ua).await;
        assert_xml(&cfg, "cfg000b82aabbcc.xml");
        for expected in [
            "<P35>1001</P35>",
            "<P34>pw-one-1001</P34>",
            "<P404>1002</P404>",
            "<P406>pw-two-1002</P406>",
            "<P3>Ops &amp; &quot;Sales&quot; &lt;1&gt; &apos;x&apos;</P3>",
        ] {
            assert!(cfg.body.contains(expected), "missing {expected} in\n{}", cfg.body);
        }
        assert_xml(&fetch(&app, "/prov/cfggxp2135.xml", ua).await, "cfggxp2135.xml");
        assert_xml(&fetch(&app, "/prov/cfg.xml", ua).await, "cfg.xml");

        phone(&app, "gs", "000b82000002", "GRP2614").await;
        let v2 = fetch(
            &app,
            "/prov/cfg000b82000002.xml",
            "Grandstream GRP2614 1.0.5.33 DevId 000b82000002",
        )
        .await;
        assert_xml(&v2, "GRP2614");
        assert!(
            v2.body
                .contains(r#"<item name="account.2.sip.subscriber.password">pw-two-1002</item>"#),
            "{}",
            v2.body
        );
    })
    .await;
}

#[tokio::test]
async fn polycom_master_then_its_own_files() {
    on_each_backend(|app| async move {
        phone(&app, "polycom", "0004f2aabbcc", "").await;
        let ua = "FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430 Type/Application";
        let own = fetch(&app, "/prov/0004f2aabbcc.cfg", ua).await;
        assert_xml(&own, "0004f2aabbcc.cfg");
        assert!(own.body.contains(r#"CONFIG_FILES="0004f2aabbcc-sipprov.cfg""#));
        assert_xml(&fetch(&app, "/prov/000000000000.cfg", ua).await, "000000000000.cfg");
        let params = fetch(&app, "/prov/0004f2aabbcc-sipprov.cfg", ua).await;
        assert_xml(&params, "-sipprov.cfg");
        assert!(
            params.body.contains(r#"reg.2.auth.password="pw-two-1002""#)
                && params.body.contains(r#"reg.1.address="1001@xswitch.cn""#),
            "{}",
            params.body
        );
        assert_xml(&fetch(&app, "/prov/0004f2aabbcc-phone.cfg", ua).await, "-phone.cfg");
        assert_xml(
            &fetch(&app, "/prov/0004f2aabbcc-directory.xml", ua).await,
            "-directory.xml",
        );
        assert_xml(
            &fetch(&app, "/prov/000000000000-directory.xml", ua).await,
            "000000000000-directory.xml",
        );
    })
    .await;
}

#[tokio::test]
async fn snom_index_files_then_upper_case_settings() {
    on_each_backend(|app| async move {
        phone(&app, "snom", "000413aabbcc", "D785").await;
        let ua = "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413AABBCC SXM:0 UXM:0)";
        assert_xml(&fetch(&app, "/prov/snomD785.htm", ua).await, "snomD785.htm");
        let index = fetch(&app, "/prov/snomD785-000413AABBCC.htm", ua).await;
        assert_xml(&index, "index");
        assert!(index.body.contains("/prov/000413AABBCC.xml"), "{}", index.body);
        let settings = fetch(&app, "/prov/000413AABBCC.xml", ua).await;
        assert_xml(&settings, "000413AABBCC.xml");
        assert!(
            settings
                .body
                .contains(r#"<user_pass idx="2" perm="R">pw-two-1002</user_pass>"#),
            "{}",
            settings.body
        );
        assert_eq!(
            fetch(&app, "/prov/000413aabbcc.xml", ua).await.status,
            404,
            "Snom names its MAC in upper case"
        );
    })
    .await;
}

/// A phone's boot: the files it asks for in order, the last its own, and
/// what must be in that one.
struct BootCase {
    vendor: &'static str,
    mac: &'static str,
    user_agent: &'static str,
    files: &'static [&'static str],
    expected: &'static str,
}

#[tokio::test]
async fn the_other_vendors_serve_their_files() {
    on_each_backend(|app| async move {
        let cases = [
            BootCase {
                vendor: "fanvil",
                mac: "0c383e07e16c",
                user_agent: "Fanvil X4 2.10.2.6887 0c383e07e16c",
                files: &["F0V00X400000.cfg", "0c383e07e16c.cfg"],
                expected: "<Register_Pswd>pw-two-1002</Register_Pswd>",
            },
            BootCase {
                vendor: "cisco",
                mac: "0002fdaabbcc",
                user_agent: "Cisco/SPA504G-7.4.4 (0002FDAABBCC)(CBT141400UK)",
                files: &["spa504G.cfg", "0002fdaabbcc.xml"],
                expected: r#"<Password_2_ ua="na">pw-two-1002</Password_2_>"#,
            },
            BootCase {
                vendor: "cisco",
                mac: "00562b043615",
                user_agent: "Cisco-CP-7841-3PCC/11.0.1 (00562b043615)",
                files: &["7841-3PCC.xml", "00562b043615.xml"],
                expected: r#"<Auth_ID_1_ ua="na">1001</Auth_ID_1_>"#,
            },
            BootCase {
                vendor: "htek",
                mac: "001fc1aabbcc",
                user_agent: "Htek UC903 2.0.4.2 00:1f:c1:aa:bb:cc",
                files: &["cfg0016.xml", "cfg001fc1aabbcc.xml"],
                expected: r#"<P734 para="Account2.Password">pw-two-1002</P734>"#,
            },
            BootCase {
                vendor: "flyingvoice",
                mac: "0021f2aabbcc",
                user_agent: "Flyingvoice FIP13G V0.6.24 00:21:F2:AA:BB:CC",
                files: &["y000000000000.boot", "y000000000000.cfg", "0021f2aabbcc.cfg"],
                expected: "account.2.password = pw-two-1002",
            },
            BootCase {
                vendor: "huawei",
                mac: "00e0fcaabbcc",
                user_agent: "",
                files: &["00e0fcaabbcc.xml"],
                expected: r#"Passwd="pw-two-1002""#,
            },
            BootCase {
                vendor: "akuvox",
                mac: "0c1105aabbcc",
                user_agent: "",
                files: &["0c1105aabbcc.cfg"],
                expected: "Config.Account2.GENERAL.Pwd = pw-two-1002",
            },
            BootCase {
                vendor: "gigaset",
                mac: "7c2f80aabbcc",
                user_agent: "Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80AABBCC",
                files: &["7c2f80aabbcc.xml"],
                expected: r#"value="pw-two-1002""#,
            },
        ];
        let vendors_seen: std::collections::HashSet<&str> = cases.iter().map(|c| c.vendor).collect();
        assert_eq!(vendors_seen.len(), 7, "every vendor not walked above has a case");
        for BootCase {
            vendor,
            mac,
            user_agent,
            files,
            expected,
        } in cases
        {
            phone(&app, vendor, mac, "").await;
            for file in files {
                let f = fetch(&app, &format!("/prov/{file}"), user_agent).await;
                assert_eq!(f.status, 200, "{vendor} {file}: {}", f.body);
                if f.content_type.starts_with("text/xml") {
                    assert_xml(&f, file);
                }
            }
            let own = fetch(&app, &format!("/prov/{}", files.last().unwrap()), user_agent).await;
            assert!(
                own.body.contains(expected),
                "{vendor}: missing {expected} in\n{}",
                own.body
            );
            assert!(own.body.contains("pw-one-1001"), "{vendor}: line 1 missing");
        }
    })
    .await;
}

#[tokio::test]
async fn misses_look_alike_and_a_foreign_mac_is_refused() {
    on_each_backend(|app| async move {
        phone(&app, "yealink", "001565aabbcc", "").await;
        let unknown_mac = fetch(
            &app,
            "/prov/001565000000.cfg",
            "Yealink SIP-T46G 28.72.0.1 00:15:65:00:00:00",
        )
        .await;
        let wrong_vendor = fetch(&app, "/prov/cfg001565aabbcc.xml", "").await;
        let unknown_name = fetch(&app, "/prov/nothing-here.txt", "").await;
        let traversal = fetch(&app, "/prov/..%2f..%2fetc%2fpasswd", "").await;
        for miss in [&unknown_mac, &wrong_vendor, &unknown_name, &traversal] {
            assert_eq!(
                (miss.status, miss.body.as_str()),
                (StatusCode::NOT_FOUND, "Not Found\n")
            );
        }
        // A phone asking for another phone's file by name.
        let foreign = fetch(
            &app,
            "/prov/001565aabbcc.cfg",
            "Yealink SIP-T46G 28.72.0.1 00:15:65:11:22:33",
        )
        .await;
        assert_eq!(foreign.status, 403);
        assert!(!foreign.body.contains("pw-one"));
    })
    .await;
}

#[tokio::test]
async fn xswitch_alias_etag_and_head() {
    on_each_backend(|app| async move {
        phone(&app, "yealink", "001565aabbcc", "").await;
        let alias = fetch(&app, "/api/provision/yealink/001565aabbcc.cfg", "").await;
        assert_eq!(alias.status, 200, "no token needed: {}", alias.body);
        assert!(alias.body.contains("pw-one-1001"));
        assert_eq!(
            fetch(&app, "/api/provision/gs/001565aabbcc.cfg", "").await.status,
            404,
            "the path's vendor must be the phone's"
        );

        let first = app.client.get(app.url("/prov/001565aabbcc.cfg")).send().await.unwrap();
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        let again = app
            .client
            .get(app.url("/prov/001565aabbcc.cfg"))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        let head = app.client.head(app.url("/prov/001565aabbcc.cfg")).send().await.unwrap();
        assert_eq!(
            (head.status().as_u16(), head.headers()["etag"].to_str().unwrap()),
            (200, etag.as_str())
        );

        // A changed password changes the file and its ETag.
        let id = app.get("/api/extensions?extn=1001").await.1["data"][0]["id"]
            .as_i64()
            .unwrap();
        assert_done(
            &app.put(&format!("/api/extensions/{id}"), json!({"password": "rotated-pass"}))
                .await,
        );
        let changed = app
            .client
            .get(app.url("/prov/001565aabbcc.cfg"))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), 200);
        assert!(
            changed
                .text()
                .await
                .unwrap()
                .contains("account.1.password = rotated-pass")
        );
    })
    .await;
}

#[tokio::test]
async fn a_mac_sweep_gets_nothing_and_is_throttled_but_a_booting_site_is_not() {
    on_each_backend(|app| async move {
        phone(&app, "yealink", "001565aabbcc", "").await;
        // A site rebooting: the same phone many times, and unregistered phones
        // asking again and again, are never blocked.
        for round in 0..50 {
            assert_eq!(
                fetch(&app, "/prov/001565aabbcc.cfg", "").await.status,
                200,
                "round {round}"
            );
            assert_eq!(fetch(&app, "/prov/001565000001.cfg", "").await.status, 404);
        }
        let mut statuses = std::collections::BTreeMap::new();
        for n in 0..10_000u32 {
            let mac = format!("0015{:08x}", n.wrapping_mul(2_654_435_761));
            let f = fetch(&app, &format!("/prov/{mac}.cfg"), "").await;
            assert!(!f.body.contains("password"), "a sweep never gets a configuration");
            *statuses.entry(f.status.as_u16()).or_insert(0) += 1;
        }
        assert!(!statuses.contains_key(&200), "{statuses:?}");
        assert!(statuses[&429] > 9_800, "the sweep is throttled early: {statuses:?}");
        // The sweeping network is refused every miss, with a time to wait...
        let blocked = app.client.get(app.url("/prov/0015ffffffff.cfg")).send().await.unwrap();
        assert_eq!(blocked.status(), 429);
        assert!(blocked.headers().contains_key("retry-after"));
        // ...but a registered phone behind it is still served.
        assert_eq!(fetch(&app, "/prov/001565aabbcc.cfg", "").await.status, 200);
    })
    .await;
}

/// Polls `check` until it holds; fetch tracking is written in batches.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..50 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 5 s");
}

#[tokio::test]
async fn fetches_are_tracked_and_unknown_phones_wait_to_be_claimed() {
    on_each_backend(|app| async move {
        phone(&app, "yealink", "001565aabbcc", "").await;
        let (_, before) = app.get("/api/device_provisions/1").await;
        assert_eq!(
            (before["last_provisioned_at"].clone(), before["firmware"].clone()),
            (json!(""), json!(""))
        );

        let ua = "Yealink SIP-T46G 28.72.0.1 00:15:65:aa:bb:cc";
        assert_eq!(fetch(&app, "/prov/001565aabbcc.cfg", ua).await.status, 200);
        eventually("the fetch shows on the device", || async {
            app.get("/api/device_provisions/1").await.1["last_file"] == "001565aabbcc.cfg"
        })
        .await;
        let (_, after) = app.get("/api/device_provisions/1").await;
        assert_eq!(after["last_ip"], "127.0.0.1");
        assert_eq!(after["firmware"], "28.72.0.1");
        assert_eq!(after["last_user_agent"], ua);
        assert_ne!(after["last_provisioned_at"], "");

        let stranger = "Yealink SIP-T54W 96.85.0.5 80:5e:c0:11:22:33";
        for _ in 0..3 {
            assert_eq!(fetch(&app, "/prov/805ec0112233.cfg", stranger).await.status, 404);
        }
        assert_eq!(fetch(&app, "/prov/cfg000b82aabb01.xml", "").await.status, 404);
        eventually("both unknown phones are pending", || async {
            app.get("/api/device_provisions/pending").await.1["rowCount"] == 2
        })
        .await;
        let (_, pending) = app.get("/api/device_provisions/pending?mac=80:5e:c0").await;
        let row = &pending["data"][0];
        assert_eq!(
            (
                row["mac"].clone(),
                row["vendor"].clone(),
                row["model"].clone(),
                row["ip"].clone(),
                row["count"].clone()
            ),
            (
                json!("805ec0112233"),
                json!("yealink"),
                json!("T54W"),
                json!("127.0.0.1"),
                json!(3)
            )
        );
        assert_eq!(row["reason"], "no record has its MAC");
        let (_, by_oui) = app.get("/api/device_provisions/pending?vendor=grandstream").await;
        assert_eq!(
            by_oui["data"][0]["mac"], "000b82aabb01",
            "vendor guessed from the MAC prefix"
        );

        // Claiming it: create its record; it leaves the pending list and is served.
        assert_done(
            &app.post(
                "/api/device_provisions",
                json!({"vendor": "yealink", "mac": "805ec0112233", "extn": "1002"}),
            )
            .await,
        );
        assert_eq!(app.get("/api/device_provisions/pending").await.1["rowCount"], 1);
        assert!(
            fetch(&app, "/prov/805ec0112233.cfg", stranger)
                .await
                .body
                .contains("pw-two-1002")
        );
    })
    .await;
}

#[tokio::test]
async fn the_pending_list_is_bounded() {
    on_each_backend(|app| async move {
        let now = sipprov::domain::timestamp::now();
        let phones: Vec<_> = (0..sipprov::store::fetches::MAX_PENDING + 25)
            .map(|n| sipprov::store::fetches::PendingPhone {
                mac: format!("02{n:010x}"),
                vendor: String::new(),
                model: String::new(),
                ip: "192.0.2.1".into(),
                user_agent: String::new(),
                first_seen: now,
                last_seen: now + time::Duration::seconds(n),
                count: 1,
                reason: "no record has its MAC".into(),
            })
            .collect();
        app.db.record_fetches(&[], &[], &phones).await.unwrap();
        let (_, page) = app.get("/api/device_provisions/pending?perPage=1").await;
        assert_eq!(page["rowCount"], sipprov::store::fetches::MAX_PENDING);
        assert_eq!(
            page["data"][0]["mac"],
            format!("02{:010x}", sipprov::store::fetches::MAX_PENDING + 24),
            "the newest stay"
        );
    })
    .await;
}

#[tokio::test]
async fn firmware_with_range_etag_and_no_way_out() {
    on_each_backend(|app| async move {
        let dir = app.data_dir.path().join("firmware/yealink");
        std::fs::create_dir_all(&dir).unwrap();
        let image: Vec<u8> = (0..100_000u32).map(|n| (n % 251) as u8).collect();
        std::fs::write(dir.join("T46G-28.86.0.1.rom"), &image).unwrap();
        std::fs::write(app.data_dir.path().join("secret.txt"), "outside").unwrap();

        let url = app.url("/prov/firmware/yealink/T46G-28.86.0.1.rom");
        let whole = app.client.get(&url).send().await.unwrap();
        assert_eq!(whole.status(), 200);
        let etag = whole.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(whole.bytes().await.unwrap().as_ref(), &image[..]);

        // Real curl, as an installer would check it: a byte range.
        // On a blocking thread: this runtime also runs the server.
        let curl_url = url.clone();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("curl")
                .args(["-s", "-r", "1000-1999", "-o", "-", "-w", "\n%{http_code}", &curl_url])
                .run()
        })
        .await
        .unwrap();
        let (body, code) = out.stdout.split_at(out.stdout.len() - 4);
        assert_eq!(&code[1..], b"206");
        assert_eq!(body, &image[1000..2000]);

        let cached = app
            .client
            .get(&url)
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(cached.status(), 304);
        for escape in [
            "/prov/firmware/../secret.txt",
            "/prov/firmware/%2e%2e/secret.txt",
            "/prov/firmware/yealink/..%2f..%2fsecret.txt",
        ] {
            let r = app.client.get(app.url(escape)).send().await.unwrap();
            let status = r.status();
            assert!(!r.text().await.unwrap().contains("outside"), "{escape} escaped");
            assert!(status.is_client_error(), "{escape}: {status}");
        }
    })
    .await;
}

#[tokio::test]
async fn preview_shows_the_phones_files_with_passwords_masked() {
    on_each_backend(|app| async move {
        phone(&app, "polycom", "0004f2aabbcc", "").await;
        let (status, preview) = app.get("/api/device_provisions/1/preview").await;
        assert_eq!(status, 200, "{preview}");
        assert_eq!(
            (preview["mac"].clone(), preview["vendor"].clone()),
            (json!("0004f2aabbcc"), json!("polycom"))
        );
        assert_eq!(preview["provisioning_url"], format!("http://{}/prov/", app.addr));
        let files = preview["files"].as_array().unwrap();
        let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            vec![
                "0004f2aabbcc.cfg",
                "0004f2aabbcc-sipprov.cfg",
                "0004f2aabbcc-phone.cfg",
                "0004f2aabbcc-directory.xml"
            ]
        );
        let text = preview.to_string();
        assert!(
            !text.contains("pw-one-1001") && !text.contains("pw-two-1002"),
            "passwords are masked"
        );
        assert!(
            files[1]["body"]
                .as_str()
                .unwrap()
                .contains(r#"reg.2.auth.password="********""#)
        );
        assert_eq!(
            files[1]["url"],
            format!("http://{}/prov/0004f2aabbcc-sipprov.cfg", app.addr)
        );
        assert_eq!(app.get("/api/device_provisions/99/preview").await.0, 404);
        // A preview is not a phone's fetch.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_eq!(app.get("/api/device_provisions/1").await.1["last_provisioned_at"], "");
    })
    .await;
}

/// Sets provisioning settings in dicts realm `realm` through the API.
async fn set_provisioning(app: &TestApp, realm: &str, settings: &[(&str, &str)]) {
    for (k, v) in settings {
        assert_done(&app.post("/api/dicts", json!({"realm": realm, "k": k, "v": v})).await);
    }
}

/// Real curl, off the runtime that serves: `args` then the URL; returns status and body.
async fn curl(args: &[&str], url: String) -> (u16, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("curl")
            .arg("-s")
            .args(&args)
            .args(["-w", "\n%{http_code}", &url])
            .run();
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), body.to_string())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn phones_authenticate_by_digest_or_basic_with_rotation_and_per_phone_credentials() {
    on_each_backend(|app| async move {
        phone(&app, "yealink", "001565aabbcc", "").await;
        phone(&app, "yealink", "001565000002", "").await;
        set_provisioning(
            &app,
            "PROVISION",
            &[
                ("auth_mode", "digest"),
                ("auth_username", "phones"),
                ("auth_password", "site-new-pass"),
                ("auth_password_previous", "site-old-pass"),
            ],
        )
        .await;
        set_provisioning(
            &app,
            "PROVISION:001565000002",
            &[("auth_username", "desk2"), ("auth_password", "desk2-pass")],
        )
        .await;
        let url = |mac: &str| app.url(&format!("/prov/{mac}.cfg"));

        let (status, body) = curl(&[], url("001565aabbcc")).await;
        assert_eq!((status, body.as_str()), (401, "Unauthorized\n"));
        let unknown = curl(&[], url("001565999999")).await;
        assert_eq!(
            unknown,
            (401, "Unauthorized\n".to_string()),
            "an unknown MAC looks like a refused one"
        );

        for password in ["site-new-pass", "site-old-pass"] {
            let (status, body) = curl(&["--digest", "-u", &format!("phones:{password}")], url("001565aabbcc")).await;
            assert_eq!(status, 200, "{password}: {body}");
            assert!(body.contains("account.1.password = pw-one-1001"));
            // A phone still on the previous password learns the new one.
            assert!(
                body.contains("static.auto_provision.server.username = phones\n")
                    && body.contains("static.auto_provision.server.password = site-new-pass\n"),
                "{body}"
            );
        }
        assert_eq!(
            curl(&["--digest", "-u", "phones:wrong"], url("001565aabbcc")).await.0,
            401
        );
        let (status, body) = curl(&["--digest", "-u", "desk2:desk2-pass"], url("001565000002")).await;
        assert_eq!(status, 200, "the phone's own credential");
        assert!(
            body.contains("server.username = desk2\n") && body.contains("server.password = desk2-pass\n"),
            "{body}"
        );
        assert_eq!(
            curl(&["--digest", "-u", "desk2:desk2-pass"], url("001565aabbcc"))
                .await
                .0,
            401,
            "only for that phone"
        );
        assert_eq!(
            curl(&["--digest", "-u", "phones:site-new-pass"], url("001565999999"))
                .await
                .0,
            404,
            "authenticated, but no such phone"
        );
        // Common files need no credentials, and never carry them.
        assert_eq!(curl(&[], app.url("/prov/y000000000000.cfg")).await.0, 200);
        let (_, common) = curl(&[], app.url("/prov/y000000000028.cfg")).await;
        assert!(
            !common.contains("site-new-pass") && !common.contains("server.username"),
            "{common}"
        );
        let (_, preview) = app.get("/api/device_provisions/1/preview").await;
        let preview = preview.to_string();
        assert!(
            preview.contains("server.password = ********") && !preview.contains("site-new-pass"),
            "{preview}"
        );

        assert_done(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION:001565aabbcc", "k": "auth_mode", "v": "basic"}),
            )
            .await,
        );
        let basic = app
            .client
            .get(url("001565aabbcc"))
            .basic_auth("phones", Some("site-new-pass"))
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), 200);
        let refused = app
            .client
            .get(url("001565aabbcc"))
            .basic_auth("phones", Some("nope"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        assert!(
            refused.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic realm=\"sipprov\"")
        );
        assert_error_free_settings(&app).await;
    })
    .await;
}

/// The auth passwords read back masked.
async fn assert_error_free_settings(app: &TestApp) {
    let (_, rows) = app.get("/api/dicts?realm=PROVISION").await;
    for row in rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["k"].as_str().unwrap().contains("password"))
    {
        assert_eq!(row["v"], "********", "{row}");
    }
    assert_error(
        &app.post(
            "/api/dicts",
            json!({"realm": "PROVISION", "k": "auth_mode", "v": "ntlm"}),
        )
        .await,
        400,
        "is not off, basic or digest",
    );
}

#[tokio::test]
async fn an_allow_list_keeps_other_networks_out() {
    on_each_backend(|app| async move {
        phone(&app, "yealink", "001565aabbcc", "").await;
        let id = assert_done(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION", "k": "allowed_networks", "v": "10.0.0.0/8, 192.168.1.0/24"}),
            )
            .await,
        );
        let firmware = app.data_dir.path().join("firmware");
        std::fs::create_dir_all(&firmware).unwrap();
        std::fs::write(firmware.join("T46S-66.86.0.15.rom"), b"firmware image").unwrap();
        let outside = fetch(&app, "/prov/001565aabbcc.cfg", "").await;
        assert_eq!(outside.status, 403);
        assert!(!outside.body.contains("pw-one"));
        for path in ["/prov/y000000000000.boot", "/prov/firmware/T46S-66.86.0.15.rom"] {
            assert_eq!(fetch(&app, path, "").await.status, 403, "every phone file: {path}");
        }
        let tftp = app.start_tftp(true).await;
        let over_tftp = crate::tftp::atftp_get(tftp, "y000000000000.cfg").await;
        assert!(!over_tftp.status.success(), "TFTP too");
        assert_done(
            &app.put(
                &format!("/api/dicts/{}", id.as_str().unwrap()),
                json!({"v": "10.0.0.0/8, 127.0.0.0/8"}),
            )
            .await,
        );
        assert_eq!(fetch(&app, "/prov/001565aabbcc.cfg", "").await.status, 200);
        let allowed = fetch(&app, "/prov/firmware/T46S-66.86.0.15.rom", "").await;
        assert_eq!(
            (allowed.status.as_u16(), allowed.body.as_str()),
            (200, "firmware image")
        );
        assert!(crate::tftp::atftp_get(tftp, "y000000000000.cfg").await.status.success());
        assert_error(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION", "k": "allowed_networks", "v": "10.0.0.0/16"}),
            )
            .await,
            409,
            "already exists",
        );
        assert_error(
            &app.put(
                &format!("/api/dicts/{}", id.as_str().unwrap()),
                json!({"v": "10.0.0.0/33"}),
            )
            .await,
            400,
            "'10.0.0.0/33' is not a network",
        );
    })
    .await;
}

#[tokio::test]
async fn polycom_uploads_are_kept_capped_and_its_overrides_served_back() {
    on_each_backend(|app| async move {
        phone(&app, "polycom", "0004f2aabbcc", "").await;
        phone(&app, "polycom", "0004f2000002", "").await;
        phone(&app, "yealink", "001565aabbcc", "").await;
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, body: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, body).unwrap();
            path.display().to_string()
        };
        // `curl -T` as the phone: `credentials` and its User-Agent.
        let put = |local: String, name: &str, credentials: &'static str, user_agent: &'static str| {
            let url = app.url(&format!("/prov/{name}"));
            async move { curl(&["-T", &local, "-u", credentials, "-A", user_agent], url).await.0 }
        };
        const OWN: &str = "desk-aabbcc:own-pass";
        const SITE: &str = "phones:site-pass";
        const NO_MAC: &str = "FileTransport PolycomVVX-VVX_411-UA/6.4.0.2";
        const ITS_MAC: &str = "FileTransport PolycomVVX-VVX_411-UA/6.4.0.2 (SN:0004f2aabbcc)";
        let stored = app.data_dir.path().join("uploads/0004f2aabbcc");
        let log = "0100000000|sip  |4|00|Registration succeeded\n".repeat(200);

        // Without phone authentication, nobody may write a phone's files.
        assert_eq!(put(file("app.log", log.as_bytes()), "0004f2aabbcc-app.log", SITE, NO_MAC).await, 403);
        assert!(!stored.exists());

        set_provisioning(
            &app,
            "PROVISION",
            &[("auth_mode", "basic"), ("auth_username", "phones"), ("auth_password", "site-pass")],
        )
        .await;
        set_provisioning(
            &app,
            "PROVISION:0004f2aabbcc",
            &[("auth_username", "desk-aabbcc"), ("auth_password", "own-pass")],
        )
        .await;
        assert_eq!(put(file("a.log", b"x"), "0004f2aabbcc-app.log", "phones:wrong", NO_MAC).await, 401);
        // The site's credential proves only that it is some phone: its
        // User-Agent must name the file's MAC. Its own credential is enough.
        assert_eq!(put(file("a.log", b"x"), "0004f2aabbcc-app.log", SITE, NO_MAC).await, 403);
        assert_eq!(put(file("app.log", log.as_bytes()), "0004f2aabbcc-app.log", SITE, ITS_MAC).await, 204);
        assert_eq!(std::fs::read_to_string(stored.join("0004f2aabbcc-app.log")).unwrap(), log);
        assert_eq!(put(file("app.log", log.as_bytes()), "0004f2aabbcc-app.log", OWN, NO_MAC).await, 204);
        // One phone's own credential opens nothing of another's.
        assert_eq!(put(file("x", b"evil"), "0004f2000002-app.log", OWN, NO_MAC).await, 401);
        assert!(!app.data_dir.path().join("uploads/0004f2000002").exists());
        assert_eq!(
            curl(&["-u", OWN], app.url("/prov/0004f2aabbcc-app.log")).await.0,
            404,
            "logs are not served"
        );

        // Settings changed on the phone survive its next boot, and are as
        // secret as its configuration.
        let overrides = r#"<?xml version="1.0" standalone="yes"?><PHONE_CONFIG><OVERRIDES reg.1.auth.password="pw-one-1001"/></PHONE_CONFIG>"#;
        assert_eq!(put(file("phone.cfg", overrides.as_bytes()), "0004f2aabbcc-phone.cfg", OWN, NO_MAC).await, 204);
        assert_eq!(
            fetch(&app, "/prov/0004f2aabbcc-phone.cfg", "").await.status,
            401,
            "read back only with the phone's credentials"
        );
        assert_eq!(curl(&["-u", OWN], app.url("/prov/0004f2aabbcc-phone.cfg")).await, (200, overrides.to_string()));

        // Only a known Polycom phone's own files, and never a config.
        for (name, user_agent) in [
            (
                "001565aabbcc-app.log",
                "FileTransport PolycomVVX-VVX_411-UA/6.4.0.2 (SN:001565aabbcc)",
            ),
            ("0004f2aabbcc-sipprov.cfg", ITS_MAC),
            ("0004f2aabbcc.cfg", ITS_MAC),
        ] {
            assert_eq!(put(file("x", b"evil"), name, SITE, user_agent).await, 404, "{name}");
        }
        assert!(!app.data_dir.path().join("uploads/001565aabbcc").exists());
        let (_, params) = curl(&["-u", OWN], app.url("/prov/0004f2aabbcc-sipprov.cfg")).await;
        assert!(params.contains("pw-one-1001"));

        // Over the cap: refused whole, the kept copy untouched.
        let huge = vec![b'x'; 1024 * 1024 + 1];
        assert_eq!(put(file("huge.log", &huge), "0004f2aabbcc-app.log", OWN, NO_MAC).await, 413);
        assert_eq!(std::fs::read_to_string(stored.join("0004f2aabbcc-app.log")).unwrap(), log);
    })
    .await;
}

#[tokio::test]
async fn with_phone_authentication_on_no_answer_tells_a_known_mac_from_an_unknown_one() {
    on_each_backend(|app| async move {
        phone(&app, "yealink", "001565aabbcc", "").await;
        set_provisioning(
            &app,
            "PROVISION",
            &[
                ("auth_mode", "digest"),
                ("auth_username", "phones"),
                ("auth_password", "site-pass"),
                ("throttle_unknown_macs", "3"),
            ],
        )
        .await;
        let answer = |path: String| {
            let app = &app;
            async move {
                let response = app.client.get(app.url(&path)).send().await.unwrap();
                let status = response.status();
                let mut headers: Vec<String> = response
                    .headers()
                    .iter()
                    .filter(|(name, _)| !["date", "x-request-id", "www-authenticate"].contains(&name.as_str()))
                    .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
                    .collect();
                headers.sort();
                // Each challenge carries a fresh nonce; the rest must match.
                let challenges = response.headers().get_all("www-authenticate").iter().count();
                (status, headers, challenges, response.text().await.unwrap())
            }
        };
        for file in ["{mac}.boot", "{mac}.cfg"] {
            let known = answer(format!("/prov/{}", file.replace("{mac}", "001565aabbcc"))).await;
            let unknown = answer(format!("/prov/{}", file.replace("{mac}", "001565aabbcd"))).await;
            assert_eq!(known.0, 401, "{file}");
            assert_eq!(known, unknown, "{file}");
        }
        // Unanswered challenges count toward no throttle, known MAC or not.
        for i in 0..10 {
            let status = answer(format!("/prov/0015650000{i:02}.boot")).await.0;
            assert_eq!(status, 401);
        }
        assert_eq!(app.get("/api/device_provisions/pending").await.1["rowCount"], 0);
    })
    .await;
}

#[tokio::test]
async fn a_digest_response_opens_only_the_file_it_was_computed_for() {
    on_each_backend(|app| async move {
        phone(&app, "yealink", "001565aabbcc", "").await;
        phone(&app, "yealink", "001565000002", "").await;
        set_provisioning(
            &app,
            "PROVISION",
            &[("auth_mode", "digest"), ("auth_username", "phones"), ("auth_password", "site-pass")],
        )
        .await;
        let challenge = app.client.get(app.url("/prov/001565aabbcc.cfg")).send().await.unwrap();
        let header = challenge.headers()["www-authenticate"].to_str().unwrap().to_string();
        let nonce = header.split("nonce=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let md5 = |s: String| hex::encode(<md5::Md5 as md5::Digest>::digest(s.as_bytes()));
        let signed_for = "/prov/001565aabbcc.cfg";
        let authorization = |nc: &str| {
            let ha1 = md5("phones:sipprov:site-pass".to_string());
            let ha2 = md5(format!("GET:{signed_for}"));
            let response = md5(format!("{ha1}:{nonce}:{nc}:c0ffee:auth:{ha2}"));
            format!(
                r#"Digest username="phones", realm="sipprov", nonce="{nonce}", uri="{signed_for}", algorithm=MD5, response="{response}", qop=auth, nc={nc}, cnonce="c0ffee""#
            )
        };
        let with = |path: &'static str, nc: &'static str| {
            let request = app.client.get(app.url(path)).header("authorization", authorization(nc));
            async move { request.send().await.unwrap().status() }
        };
        assert_eq!(with("/prov/001565000002.cfg", "00000001").await, 401, "another phone's file");
        assert_eq!(with("/prov/001565aabbcc.cfg?x=1", "00000002").await, 401, "another target");
        assert_eq!(with("/prov/001565aabbcc.cfg", "00000003").await, 200, "the file it was made for");
    })
    .await;
}

#[tokio::test]
async fn guessing_a_phones_password_is_throttled() {
    on_each_backend(|app| async move {
        phone(&app, "yealink", "001565aabbcc", "").await;
        set_provisioning(
            &app,
            "PROVISION",
            &[
                ("auth_mode", "digest"),
                ("auth_username", "phones"),
                ("auth_password", "right-pass"),
            ],
        )
        .await;
        let url = app.url("/prov/001565aabbcc.cfg");
        // Asking without credentials, as every Digest exchange starts, never counts.
        for _ in 0..30 {
            assert_eq!(curl(&[], url.clone()).await.0, 401);
        }
        assert_eq!(curl(&["--digest", "-u", "phones:right-pass"], url.clone()).await.0, 200);
        for attempt in 1..=20 {
            let guess = format!("phones:guess-{attempt}");
            assert_eq!(
                curl(&["--digest", "-u", &guess], url.clone()).await.0,
                401,
                "guess {attempt}"
            );
        }
        let (status, body) = curl(&["--digest", "-u", "phones:right-pass"], url.clone()).await;
        assert_eq!(
            (status, body.as_str()),
            (429, "Too Many Requests\n"),
            "after 20 wrong passwords the network waits, even with the right one"
        );
    })
    .await;
}

#[tokio::test]
async fn tracking_a_boot_storm_does_not_empty_the_render_cache() {
    on_each_backend(|app| async move {
        phone(&app, "yealink", "001565aabbcc", "").await;
        let ua = "Yealink SIP-T46G 28.72.0.1 00:15:65:aa:bb:cc";
        let first = fetch(&app, "/prov/001565aabbcc.cfg", ua).await;
        app.state.provisioner.fetches.flush(&app.db).await;
        let generation = app.db.latest_change().await.unwrap();
        for _ in 0..3 {
            let again = fetch(&app, "/prov/001565aabbcc.cfg", ua).await;
            assert_eq!(again.body, first.body);
            app.state.provisioner.fetches.flush(&app.db).await;
        }
        assert_eq!(
            app.db.latest_change().await.unwrap(),
            generation,
            "fetch tracking is not a change"
        );
        let (_, devices) = app.get("/api/device_provisions?mac=001565aabbcc").await;
        assert_eq!(
            devices["data"][0]["last_file"], "001565aabbcc.cfg",
            "cached fetches are tracked too"
        );
        // A change through the API is one.
        assert_done(&app.put("/api/device_provisions/1", json!({"name": "Reception"})).await);
        assert!(app.db.latest_change().await.unwrap() > generation);
        assert!(
            fetch(&app, "/prov/001565aabbcc.cfg", ua)
                .await
                .body
                .contains("Reception")
        );
    })
    .await;
}

/// A status for `/prov/<file>` asked from `source` (a loopback address of
/// its own /24), with no User-Agent.
async fn status_from(app: &TestApp, client: &reqwest::Client, file: &str) -> u16 {
    client
        .get(app.url(&format!("/prov/{file}")))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// 500 registered phones and a rollout of 150 new ones behind one address:
/// the new ones trip the throttle, the registered ones are never refused,
/// and once the admin imports the new ones they get their files at their
/// next retry. A sweep from one network is stopped at its threshold, and a
/// sweep spread over 60 networks, each under it, before 2,000 misses.
#[tokio::test]
async fn the_throttle_lets_a_rollout_through_and_still_sees_a_sweep() {
    on_each_backend(|app| async move {
        let import = |macs: Vec<String>| {
            let rows: Vec<_> = macs.iter().map(|m| json!({"mac": m, "vendor": "yealink"})).collect();
            app.post("/api/device_provisions/import", json!(rows))
        };
        let registered: Vec<String> = (0..500).map(|n| format!("0015650{n:05x}")).collect();
        assert_done(&import(registered.clone()).await);
        let site = client_from("127.0.0.1");

        // The rollout: 150 phones with no record yet, behind the same address.
        let rollout: Vec<String> = (0..150).map(|n| format!("0015651{n:05x}")).collect();
        let mut statuses = Vec::new();
        for mac in &rollout {
            statuses.push(status_from(&app, &site, &format!("{mac}.cfg")).await);
        }
        assert!(statuses[..99].iter().all(|s| *s == 404), "{statuses:?}");
        assert!(statuses[100..].iter().all(|s| *s == 429), "{statuses:?}");
        // Registered phones behind the blocked address are served, every one.
        for mac in &registered {
            assert_eq!(status_from(&app, &site, &format!("{mac}.cfg")).await, 200, "{mac}");
        }
        assert_eq!(
            status_from(&app, &site, "y000000000000.boot").await,
            404,
            "an unknown name is a plain 404"
        );
        assert_eq!(
            status_from(&app, &site, "000000000000.cfg").await,
            200,
            "common files are served"
        );
        // The admin imports the rollout: every phone gets its file at its next retry.
        assert_done(&import(rollout.clone()).await);
        for mac in &rollout {
            assert_eq!(status_from(&app, &site, &format!("{mac}.cfg")).await, 200, "{mac}");
        }
        // Their misses were forgiven, so the site is no longer blocked: a
        // phone still without a record gets the plain 404 again.
        assert_eq!(status_from(&app, &site, "0015652fffff.cfg").await, 404);

        // A sweep from one network is stopped at its threshold.
        let sweeper = client_from("127.0.5.1");
        let mut first_429 = None;
        for n in 0..150u32 {
            if status_from(&app, &sweeper, &format!("02aa{n:08x}.cfg")).await == 429 {
                first_429 = Some(n);
                break;
            }
        }
        assert_eq!(first_429, Some(99), "the 100th unknown MAC is refused");
        // The pending list says why each got nothing.
        let reason = |mac: &'static str| {
            let app = &app;
            async move {
                let (_, page) = app.get(&format!("/api/device_provisions/pending?mac={mac}")).await;
                page["data"][0]["reason"].as_str().unwrap_or_default().to_string()
            }
        };
        eventually("the sweep's phones are pending", || async {
            !reason("02aa00000063").await.is_empty()
        })
        .await;
        assert_eq!(reason("02aa00000000").await, "no record has its MAC");
        assert_eq!(
            reason("02aa00000063").await,
            "no record has its MAC, and its network waits: it asked for too many unknown MACs or gave wrong credentials"
        );

        // A sweep over 60 networks, 99 MACs each (under every threshold):
        // the global budget tightens them all before 2,000 misses.
        let mut misses = 0;
        let mut stopped = false;
        'sweep: for network in 10..70u32 {
            let client = client_from(&format!("127.0.{network}.1"));
            for n in 0..99u32 {
                misses += 1;
                if status_from(&app, &client, &format!("02bb{network:02x}{n:06x}.cfg")).await == 429 {
                    stopped = true;
                    break 'sweep;
                }
            }
        }
        assert!(stopped && misses < 2000, "stopped: {stopped} after {misses} misses");
    })
    .await;
}
