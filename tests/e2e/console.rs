//! The admin console, driven in a real headless Chromium through
//! ChromeDriver, and its form protection checked with plain HTTP.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::clients::RunClient;
use crate::harness::{ADMIN_PASSWORD, TestApp, assert_done, on_each_backend};

/// A ChromeDriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .start();
        Driver { child, port }
    }

    /// A fresh headless browser with its own profile.
    async fn browser(&self, language: &str) -> Client {
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", format!("--lang={language}")],
                "prefs": {"intl.accept_languages": language},
            }
        });
        let capabilities = capabilities.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{}", self.port);
        for _ in 0..100 {
            match ClientBuilder::rustls()
                .expect("rustls client")
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return client,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("chromedriver did not start on port {}", self.port);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Saves a screenshot of the page; kept in `SIPPROV_SCREENSHOTS` when set
/// (how docs/screenshots/ is refreshed). It must be a real PNG either way.
async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "{name}: not a picture"
    );
    if let Ok(dir) = std::env::var("SIPPROV_SCREENSHOTS") {
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

async fn text_of(browser: &Client, css: &str) -> String {
    text_when(browser, css, |_| true).await
}

/// The element's text once `ready` holds, waiting out a page that is still
/// being replaced (an element of the old page goes stale under us).
async fn text_when(browser: &Client, css: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let element = browser
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        let late = std::time::Instant::now() > deadline;
        match element.text().await {
            Ok(text) if ready(&text) || late => return text,
            Err(e) if late => panic!("{css}: {e}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The element's text on the page at `url`, reloaded until `ready` holds
/// (or 10 s pass): what phones fetched reaches the database in batches.
async fn text_after_reloads(browser: &Client, url: &str, css: &str, ready: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..50 {
        browser.goto(url).await.unwrap();
        text = text_of(browser, css).await;
        if ready(&text) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    text
}

async fn fill(browser: &Client, name: &str, value: &str) {
    let field = browser.find(Locator::Css(&format!("[name='{name}']"))).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(browser: &Client, css: &str) {
    browser.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

async fn path_of(browser: &Client) -> String {
    let url = browser.current_url().await.unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

fn write_csv(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// Uploads a file on an import page and asks for the dry-run report.
async fn check_file(browser: &Client, app: &TestApp, page: &str, path: &Path) {
    browser.goto(&app.url(page)).await.unwrap();
    let input = browser.find(Locator::Css("#file")).await.unwrap();
    input.send_keys(path.to_str().unwrap()).await.unwrap();
    click(browser, "#check").await;
    text_of(browser, "#report").await;
}

/// A phone fetching its file over HTTP, as a Yealink does.
async fn phone_fetch(app: &TestApp, mac: &str) -> StatusCode {
    let colon: Vec<String> = (0..6).map(|i| mac[i * 2..i * 2 + 2].to_string()).collect();
    app.client
        .get(app.url(&format!("/prov/{mac}.cfg")))
        .header(
            "User-Agent",
            format!("Yealink SIP-T46U 108.86.0.20 {}", colon.join(":")),
        )
        .send()
        .await
        .unwrap()
        .status()
}

async fn device_count(app: &TestApp) -> i64 {
    let (_, page) = app.get("/api/device_provisions").await;
    page["rowCount"].as_i64().unwrap()
}

#[tokio::test]
async fn an_admin_rolls_out_phones_in_a_real_browser() {
    let driver = Driver::start();
    let driver = &driver;
    on_each_backend(|app| async move {
        let files = tempfile::tempdir().unwrap();
        let browser = driver.browser("en-US").await;

        // Logging in, with the API's own session.
        browser.goto(&app.url("/ui/devices")).await.unwrap();
        assert_eq!(path_of(&browser).await, "/ui/login");
        screenshot(&browser, "login").await;
        fill(&browser, "login", "admin").await;
        fill(&browser, "password", "wrong-password").await;
        click(&browser, "#log-in").await;
        assert!(text_of(&browser, ".error").await.contains("Wrong username or password"));
        fill(&browser, "password", ADMIN_PASSWORD).await;
        click(&browser, "#log-in").await;
        text_of(&browser, "#devices").await;
        assert_eq!(path_of(&browser).await, "/ui/devices");

        // Extensions: a range, as muti_add makes it.
        browser.goto(&app.url("/ui/extensions")).await.unwrap();
        fill(&browser, "extns_start", "1001").await;
        fill(&browser, "extns_end", "1005").await;
        click(&browser, "#create-range").await;
        assert!(text_of(&browser, ".flash").await.contains("Saved"));
        assert!(text_of(&browser, "#extensions").await.contains("1005"));
        screenshot(&browser, "extensions").await;

        // Extensions with names, from a spreadsheet: checked, then confirmed.
        click(&browser, "#import-extensions").await;
        assert_eq!(path_of(&browser).await, "/ui/extensions/import");
        let staff = write_csv(files.path(), "staff.csv", "extn,name\n1006,Sam Smith\n1007,Ana Lima\n");
        check_file(&browser, &app, "/ui/extensions/import", &staff).await;
        let planned = text_of(&browser, "#good-rows").await;
        assert!(planned.contains("1006") && planned.contains("Sam Smith"), "{planned}");
        assert!(text_of(&browser, "#report").await.contains("2 extensions will be created"));
        click(&browser, "#confirm").await;
        assert!(text_of(&browser, ".flash").await.contains("Imported"));
        assert_eq!(path_of(&browser).await, "/ui/extensions?done=imported");
        assert!(text_of(&browser, "#extensions").await.contains("Ana Lima"));

        // An import with one bad row: the report shows it, nothing is written.
        let bad = write_csv(
            files.path(),
            "phones.csv",
            "name,extn,vendor,mac\nReception,1001,yealink,00:15:65:00:00:01\nSales,1002,yealink,00:15:65:00:00:0G\nStore,1003,gs,00:0b:82:00:00:03\n",
        );
        check_file(&browser, &app, "/ui/import", &bad).await;
        let report = text_of(&browser, "#bad-rows").await;
        assert!(report.contains("00:15:65:00:00:0G"), "{report}");
        assert!(report.contains("is not a MAC address"), "{report}");
        assert!(text_of(&browser, "#report").await.contains("Nothing was written"));
        assert!(browser.find(Locator::Css("#confirm")).await.is_err(), "no way to confirm a bad file");
        screenshot(&browser, "import-report").await;
        assert_eq!(device_count(&app).await, 0);

        // Fixed, checked again, confirmed.
        let good = write_csv(
            files.path(),
            "phones.csv",
            "name,extn,vendor,mac\nReception,1001,yealink,00:15:65:00:00:01\nSales,1002,yealink,00:15:65:00:00:02\nStore,1003,gs,00:0b:82:00:00:03\n",
        );
        check_file(&browser, &app, "/ui/import", &good).await;
        assert!(text_of(&browser, "#report").await.contains("3 devices will be created"));
        let good_rows = text_of(&browser, "#good-rows").await;
        assert!(good_rows.contains("001565000002") && good_rows.contains("New phone"), "{good_rows}");
        screenshot(&browser, "import-confirm").await;
        assert_eq!(device_count(&app).await, 0, "a dry run writes nothing");
        click(&browser, "#confirm").await;
        let table = text_of(&browser, "#devices").await;
        assert_eq!(device_count(&app).await, 3);
        for mac in ["00:15:65:00:00:01", "00:15:65:00:00:02", "00:0B:82:00:00:03"] {
            assert!(table.contains(mac), "{table}");
        }
        assert!(table.contains("Never fetched"));

        // A phone fetches its file: the table shows when, from where, which firmware.
        assert_eq!(phone_fetch(&app, "001565000002").await, StatusCode::OK);
        let row = "tr[data-mac='001565000002']";
        let shown = text_after_reloads(&browser, &app.url("/ui/devices"), row, |t| {
            t.contains("Has the current config")
        })
        .await;
        assert!(shown.contains("127.0.0.1") && shown.contains("108.86.0.20"), "{shown}");
        let (_, device) = app.get("/api/device_provisions?mac=001565000002").await;
        let fetched_at = device["data"][0]["last_provisioned_at"].as_str().unwrap().to_string();
        assert!(shown.contains(&fetched_at), "{shown} lacks {fetched_at}");
        screenshot(&browser, "devices").await;

        // Search by extension.
        fill(&browser, "q", "1003").await;
        browser
            .find(Locator::Css("select[name='field']"))
            .await
            .unwrap()
            .select_by_value("extn")
            .await
            .unwrap();
        click(&browser, "form.search button").await;
        let found = text_when(&browser, "#devices tbody", |t| !t.contains("00:15:65:00:00:01")).await;
        assert!(found.contains("00:0B:82:00:00:03") && !found.contains("00:15:65:00:00:01"), "{found}");

        // A settings change makes that phone's config older than the one it has.
        browser.goto(&app.url("/ui/settings")).await.unwrap();
        fill(&browser, "sip_server_port", "99999").await;
        click(&browser, "#save-settings").await;
        assert!(
            text_of(&browser, "[data-field='sip_server_port']").await.contains("not a port"),
            "the message sits beside its field"
        );
        screenshot(&browser, "settings").await;
        fill(&browser, "sip_server_port", "5062").await;
        fill(&browser, "sip_server_host", "pbx.example.com").await;
        click(&browser, "#save-settings").await;
        assert!(text_of(&browser, ".flash").await.contains("Settings saved"));
        browser.goto(&app.url("/ui/devices")).await.unwrap();
        assert!(text_of(&browser, row).await.contains("Has an older config"));

        // Preview: the rendered files, passwords masked, URLs to copy.
        let id = device["data"][0]["id"].as_i64().unwrap();
        browser.goto(&app.url(&format!("/ui/devices/{id}/preview"))).await.unwrap();
        let page = text_of(&browser, "main").await;
        assert!(page.contains("001565000002.cfg"), "{page}");
        assert!(page.contains("pbx.example.com"), "{page}");
        assert!(page.contains("********"), "{page}");
        let (_, detail) = app.get(&format!("/api/extensions/{}", extension_id(&app, "1002").await)).await;
        assert!(!page.contains(detail["password"].as_str().unwrap()), "no SIP password on the page");
        let url = text_of(&browser, "#url-yealink").await;
        assert_eq!(url, app.url("/api/provision/yealink/"));
        screenshot(&browser, "preview").await;

        // The device's page shows what its phone fetched, and the changes.
        let timeline = text_after_reloads(&browser, &app.url(&format!("/ui/devices/{id}")), "#timeline", |t| {
            t.contains("Fetch 001565000002.cfg")
        })
        .await;
        assert!(timeline.contains("Fetch 001565000002.cfg") && timeline.contains("served"), "{timeline}");
        assert!(!timeline.contains("001565000001.cfg"), "another phone's fetch: {timeline}");
        screenshot(&browser, "timeline").await;

        // A pending phone is claimed with an extension.
        assert_eq!(phone_fetch(&app, "001565abcdef").await, StatusCode::NOT_FOUND);
        let listed = text_after_reloads(&browser, &app.url("/ui/pending"), "#pending", |t| {
            t.contains("00:15:65:AB:CD:EF")
        })
        .await;
        assert!(listed.contains("00:15:65:AB:CD:EF") && listed.contains("T46U"), "{listed}");
        screenshot(&browser, "pending").await;
        click(&browser, "tr[data-mac='001565abcdef'] a").await;
        fill(&browser, "name", "Lobby").await;
        click(&browser, "input[name='extn'][value='1004']").await;
        screenshot(&browser, "claim").await;
        click(&browser, "#claim").await;
        assert!(text_of(&browser, ".flash").await.contains("claimed"));
        assert!(text_of(&browser, "#devices").await.contains("Lobby"));
        assert_eq!(phone_fetch(&app, "001565abcdef").await, StatusCode::OK, "the claimed phone gets its file");
        let (_, claimed) = app.get("/api/device_provisions?mac=001565abcdef").await;
        assert_eq!(claimed["data"][0]["extn"], "1004");

        // A phone-sized screen keeps the table usable.
        browser.set_window_size(390, 844).await.unwrap();
        browser.goto(&app.url("/ui/devices")).await.unwrap();
        text_of(&browser, "#devices").await;
        screenshot(&browser, "devices-phone").await;
        browser.set_window_size(1280, 900).await.unwrap();

        // The language switch.
        click(&browser, "a[lang='zh']").await;
        assert!(text_of(&browser, "nav").await.contains("话机"));
        screenshot(&browser, "devices-zh").await;
        click(&browser, "a[lang='en']").await;
        assert!(text_of(&browser, "nav").await.contains("Devices"));

        // Logging out ends the session for the API too.
        click(&browser, "#logout").await;
        text_of(&browser, "#log-in").await;
        browser.goto(&app.url("/ui/devices")).await.unwrap();
        assert_eq!(path_of(&browser).await, "/ui/login");
        browser.close().await.unwrap();
    })
    .await;
}

async fn extension_id(app: &TestApp, extn: &str) -> i64 {
    let (_, page) = app.get(&format!("/api/extensions?extn={extn}")).await;
    page["data"][0]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn the_console_follows_the_browser_language() {
    let driver = Driver::start();
    let driver = &driver;
    on_each_backend(|app| async move {
        let browser = driver.browser("zh-CN").await;
        browser.goto(&app.url("/ui/login")).await.unwrap();
        assert_eq!(text_of(&browser, "h1").await, "登录");
        fill(&browser, "login", "admin").await;
        fill(&browser, "password", ADMIN_PASSWORD).await;
        click(&browser, "#log-in").await;
        text_of(&browser, "#devices").await;
        // Settings' help and the Activity page's names are Chinese too.
        browser.goto(&app.url("/ui/settings")).await.unwrap();
        let hint = text_of(&browser, "form .hint").await;
        assert_eq!(hint, "话机注册的 SIP 服务器（默认：话机访问 sipprov 所用的主机）");
        browser.goto(&app.url("/ui/activity")).await.unwrap();
        let action = text_of(&browser, "#activity tbody tr[data-id] td:nth-child(5)").await;
        assert_eq!(action, "登录", "the admin's own login, by name");
        // Why a pending phone got nothing, in Chinese.
        assert_eq!(phone_fetch(&app, "001565abcdef").await, StatusCode::NOT_FOUND);
        let reason = text_after_reloads(&browser, &app.url("/ui/pending"), "#pending", |t| {
            t.contains("00:15:65:AB:CD:EF")
        })
        .await;
        assert!(reason.contains("没有记录使用此 MAC"), "{reason}");
        browser.close().await.unwrap();
    })
    .await;
}

/// Logs in through the console's form, as a browser would, and returns the
/// session cookie and a form token from a page.
async fn console_session(app: &TestApp) -> (String, String) {
    let response = app
        .client
        .post(app.url("/ui/login"))
        .form(&[("login", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = app
        .client
        .get(app.url("/ui/extensions"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token on the page")
        .to_string();
    (cookie, token)
}

#[tokio::test]
async fn forms_refuse_posts_without_the_session_token_or_from_another_site() {
    on_each_backend(|app| async move {
        let (cookie, token) = console_session(&app).await;
        let post = |form: Vec<(&'static str, String)>, origin: Option<&'static str>| {
            let mut request = app
                .client
                .post(app.url("/ui/extensions/range"))
                .header("cookie", &cookie)
                .form(&form);
            if let Some(origin) = origin {
                request = request.header("origin", origin).header("sec-fetch-site", "cross-site");
            }
            request.send()
        };
        let range = |csrf: &str| {
            vec![
                ("csrf", csrf.to_string()),
                ("extns_start", "2001".to_string()),
                ("extns_end", "2002".to_string()),
            ]
        };
        let missing = post(range("")[1..].to_vec(), None).await.unwrap();
        assert_eq!(missing.status(), StatusCode::FORBIDDEN);
        let wrong = post(range(&"0".repeat(64)), None).await.unwrap();
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
        let cross_site = post(range(&token), Some("https://evil.example")).await.unwrap();
        assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
        let (_, page) = app.get("/api/extensions?extn=200").await;
        assert_eq!(page["rowCount"], 0, "no refused form wrote anything");

        let sent = post(range(&token), None).await.unwrap();
        assert_eq!(sent.status(), StatusCode::SEE_OTHER);
        let (_, page) = app.get("/api/extensions?extn=200").await;
        assert_eq!(page["rowCount"], 2);

        // The console's changes are in the operation log, as the admin's.
        let (_, logs) = app.get("/api/logs?perPage=50").await;
        let rows = logs["data"].as_array().unwrap();
        assert!(
            rows.iter()
                .any(|r| r["resource"] == "extensions" && r["action"] == "CREATE" && r["user_id"] == "1"),
            "{logs}"
        );

        // Pages carry the protective headers, and unknown pages say so.
        let page = app
            .client
            .get(app.url("/ui/devices"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let headers = page.headers();
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["cache-control"], "no-store");
        let unknown = app
            .client
            .get(app.url("/ui/devices/999999"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    })
    .await;
}

/// A console form post with this session's token; answers (status, location, body).
async fn submit(
    app: &TestApp,
    cookie: &str,
    token: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut form: Vec<(&str, &str)> = vec![("csrf", token)];
    form.extend_from_slice(fields);
    let response = app
        .client
        .post(app.url(path))
        .header("cookie", cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, response.text().await.unwrap())
}

async fn page(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = app
        .client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn console_forms_edit_delete_export_and_reset_passwords() {
    on_each_backend(|app| async move {
        let (cookie, token) = console_session(&app).await;

        // One extension, then a device on it; a bad MAC comes back beside its field.
        let (status, location, _) = submit(
            &app,
            &cookie,
            &token,
            "/ui/extensions",
            &[("extn", "3001"), ("name", "Front")],
        )
        .await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::SEE_OTHER, "/ui/extensions?done=created")
        );
        let device = [
            ("mac", "00:15:65:12:34:56"),
            ("name", "Desk"),
            ("vendor", "yealink"),
            ("type", "T46U"),
            ("extn", "3001"),
        ];
        let (status, _, body) = submit(
            &app,
            &cookie,
            &token,
            "/ui/devices/new",
            &[("mac", "00:15:65:12:34:5Z"), ("vendor", "yealink")],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body.contains("field-error") && body.contains("is not a MAC address"),
            "{body}"
        );
        let (status, _, _) = submit(&app, &cookie, &token, "/ui/devices/new", &device).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, listed) = app.get("/api/device_provisions?mac=001565123456").await;
        let id = listed["data"][0]["id"].as_i64().unwrap();

        // Edit: a new name and a second line.
        submit(&app, &cookie, &token, "/ui/extensions", &[("extn", "3002")]).await;
        let edited = [
            ("mac", "001565123456"),
            ("name", "Reception"),
            ("vendor", "yealink"),
            ("type", "T46U"),
            ("extn", "3001, 3002"),
        ];
        let (status, location, _) = submit(&app, &cookie, &token, &format!("/ui/devices/{id}"), &edited).await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::SEE_OTHER, "/ui/devices?done=updated")
        );
        let (_, record) = app.get(&format!("/api/device_provisions/{id}")).await;
        assert_eq!(record["name"], "Reception");
        let (_, form) = page(&app, &cookie, &format!("/ui/devices/{id}")).await;
        assert!(
            form.contains("value=\"3001, 3002\""),
            "the lines as the form shows them"
        );

        // Export: the import's own CSV, then what the list shows of each phone.
        let export = |view: &'static str| {
            let (app, cookie) = (&app, &cookie);
            async move {
                let response = app
                    .client
                    .get(app.url(&format!("/ui/devices/export.csv{view}")))
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
                response.text().await.unwrap()
            }
        };
        let csv = export("").await;
        assert!(
            csv.starts_with("name,extn,vendor,mac,type,status,last_fetch,last_ip,firmware\n")
                && csv.contains("Reception")
                && csv.contains(",never,,,"),
            "{csv}"
        );
        // "Export this view": the list's state and search, every page.
        let (_, listed) = page(&app, &cookie, "/ui/devices?status=never&field=name&q=Recep").await;
        assert!(
            listed.contains(r#"href="/ui/devices/export.csv?field=name&amp;q=Recep&amp;status=never""#),
            "{listed}"
        );
        assert_eq!(export("?field=name&q=Recep&status=never").await, csv);
        assert_eq!(export("?status=current").await.lines().count(), 1, "only the header");

        // A fetch of a file name no pack knows shows on the pending page.
        let typo = crate::provisioning::fetch(&app, "/prov/y0000000000zz.cfgg", "Yealink SIP-T46U 108.86.0.45").await;
        assert_eq!(typo.status, 404);
        let (_, pending) = page(&app, &cookie, "/ui/pending").await;
        let files = pending.split("id=\"unknown-files\"").nth(1).unwrap_or_default();
        assert!(
            files.contains("y0000000000zz.cfgg") && files.contains("Yealink SIP-T46U 108.86.0.45"),
            "{pending}"
        );

        // Reset a SIP password: shown once, and what the API now holds.
        let extension = extension_id(&app, "3001").await;
        let (_, before) = app.get(&format!("/api/extensions/{extension}")).await;
        let (status, _, body) = submit(&app, &cookie, &token, &format!("/ui/extensions/{extension}/reset"), &[]).await;
        assert_eq!(status, StatusCode::OK);
        let (_, after) = app.get(&format!("/api/extensions/{extension}")).await;
        let password = after["password"].as_str().unwrap();
        assert_ne!(before["password"], after["password"]);
        assert!(body.contains(&format!("<code id=\"shown-password\">{password}</code>")));
        // Edit an extension; a clash comes back with its reason.
        let (status, _, _) = submit(
            &app,
            &cookie,
            &token,
            &format!("/ui/extensions/{extension}"),
            &[
                ("extn", "3001"),
                ("name", "Front desk"),
                ("domain", "xswitch.cn"),
                ("disabled", "0"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, after) = app.get(&format!("/api/extensions/{extension}")).await;
        assert_eq!(after["name"], "Front desk");
        let (status, _, body) = submit(
            &app,
            &cookie,
            &token,
            &format!("/ui/extensions/{extension}"),
            &[("extn", "3002"), ("domain", "xswitch.cn")],
        )
        .await;
        assert!(status.is_client_error(), "{status} {body}");
        assert!(
            body.contains("role=\"alert\"") || body.contains("field-error"),
            "{body}"
        );

        // Delete.
        let (status, location, _) = submit(&app, &cookie, &token, &format!("/ui/devices/{id}/delete"), &[]).await;
        assert_eq!(
            (status, location.as_str()),
            (StatusCode::SEE_OTHER, "/ui/devices?done=deleted")
        );
        assert_eq!(app.get(&format!("/api/device_provisions/{id}")).await.0, 404);

        // Each change is in the operation log with its actor, as an API change is.
        let (_, logged) = app.get("/api/logs?resource=device_provisions&action=DELETE").await;
        let row = &logged["data"][0];
        assert_eq!(logged["rowCount"], 1, "{logged}");
        assert_eq!(
            (row["user_id"].as_str(), row["source_ip"].as_str()),
            (Some("1"), Some("127.0.0.1")),
            "{row}"
        );
        assert_eq!(row["summary"], format!("id {id}"), "{row}");
        let message: Value = serde_json::from_str(row["message"].as_str().unwrap()).unwrap();
        assert_eq!(message["via"], "console", "{message}");
        let (_, logged) = app.get("/api/logs?resource=extensions&action=UPDATE").await;
        let messages: Vec<&str> = logged["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["message"].as_str().unwrap())
            .collect();
        assert!(
            messages.iter().all(|m| m.contains("\"via\":\"console\"")),
            "{messages:?}"
        );
        assert!(
            !messages.iter().any(|m| m.contains(password)),
            "no password in the log: {messages:?}"
        );
    })
    .await;
}

/// A browser logged in to the console as the admin, on the Devices page.
async fn admin_browser(driver: &Driver, app: &TestApp) -> Client {
    let browser = driver.browser("en-US").await;
    browser.goto(&app.url("/ui/login")).await.unwrap();
    fill(&browser, "login", "admin").await;
    fill(&browser, "password", ADMIN_PASSWORD).await;
    click(&browser, "#log-in").await;
    text_of(&browser, "#devices").await;
    browser
}

/// The (operator, resource, action) of each row the Activity page shows, in order.
async fn activity_rows(browser: &Client) -> Vec<(String, String, String)> {
    text_of(browser, "#activity").await;
    let mut rows = Vec::new();
    for row in browser
        .find_all(Locator::Css("#activity tbody tr[data-id]"))
        .await
        .unwrap()
    {
        // Resource and action show by name; their codes are the cells' titles.
        let cells = row.find_all(Locator::Css("td")).await.unwrap();
        let code = |n: usize| {
            let cell = &cells[n];
            async move { cell.attr("title").await.unwrap().unwrap_or_default() }
        };
        rows.push((cells[1].text().await.unwrap(), code(3).await, code(4).await));
    }
    rows
}

/// Sets the Activity page's filters to `given`, the others to any, and applies them.
async fn filter_activity(browser: &Client, given: &[(&str, &str)]) {
    for name in ["operator", "resource", "action", "startDate", "endDate"] {
        let value = given.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| *v);
        if name == "resource" || name == "action" {
            browser
                .find(Locator::Css(&format!("select[name='{name}']")))
                .await
                .unwrap()
                .select_by_value(value)
                .await
                .unwrap();
        } else {
            fill(browser, name, value).await;
        }
    }
    let shown = browser.find(Locator::Css("#activity")).await.unwrap();
    click(browser, "#filter").await;
    // The table goes stale once the filtered page has replaced it.
    for _ in 0..100 {
        if shown.text().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the filtered page did not load");
}

fn row(operator: &str, resource: &str, action: &str) -> (String, String, String) {
    (operator.into(), resource.into(), action.into())
}

#[tokio::test]
async fn the_activity_page_filters_the_operation_log_newest_first() {
    let driver = Driver::start();
    let driver = &driver;
    on_each_backend(|app| async move {
        let browser = admin_browser(driver, &app).await;
        // Changes through the API, and another operator's login.
        app.extension("4001", "xswitch.cn", "activity-Secret9").await;
        let created = assert_done(
            &app.post(
                "/api/device_provisions",
                json!({"mac": "001565004001", "vendor": "yealink", "extn": "4001", "name": "Hall"}),
            )
            .await,
        );
        let device = created.as_str().unwrap().to_string();
        for n in 0..21 {
            let renamed =
                json!({"mac": "001565004001", "vendor": "yealink", "extn": "4001", "name": format!("Hall {n}")});
            assert_done(&app.put(&format!("/api/device_provisions/{device}"), renamed).await);
        }
        assert_done(
            &app.post(
                "/api/users",
                json!({"login": "auditor", "name": "Auditor", "password": "auditor-Passw0rd", "type": "NORMAL"}),
            )
            .await,
        );
        app.login("auditor", "auditor-Passw0rd").await;

        // Everything, newest first.
        browser.goto(&app.url("/ui/activity")).await.unwrap();
        let all = activity_rows(&browser).await;
        assert_eq!(all.len(), 20, "a page of rows: {all:?}");
        assert_eq!(all[0], row("Auditor", "sessions", "LOGIN"));
        let resource = text_of(&browser, "#activity tbody tr[data-id] td:nth-child(4)").await;
        let action = text_of(&browser, "#activity tbody tr[data-id] td:nth-child(5)").await;
        assert_eq!(
            (resource.as_str(), action.as_str()),
            ("Sessions", "Log in"),
            "shown by name"
        );
        assert_eq!(all[1], row("Admin", "users", "CREATE"));
        assert_eq!(all[2], row("Admin", "device_provisions", "UPDATE"));
        assert!(text_of(&browser, "nav a.on").await.contains("Activity"));
        screenshot(&browser, "activity").await;

        // By resource, over two pages, the filter kept by the pager.
        filter_activity(&browser, &[("resource", "device_provisions")]).await;
        let first = activity_rows(&browser).await;
        assert_eq!(first.len(), 20);
        assert!(
            first.iter().all(|r| *r == row("Admin", "device_provisions", "UPDATE")),
            "{first:?}"
        );
        assert!(text_of(&browser, ".pager").await.contains("Page 1 / 2 · 22 rows"));
        click(&browser, "a[rel='next']").await;
        text_when(&browser, ".pager", |t| t.contains("Page 2 / 2")).await;
        assert_eq!(
            activity_rows(&browser).await,
            [
                row("Admin", "device_provisions", "UPDATE"),
                row("Admin", "device_provisions", "CREATE")
            ]
        );

        // By action, across resources, newest first.
        filter_activity(&browser, &[("action", "CREATE")]).await;
        text_when(&browser, ".pager", |t| t.contains("3 rows")).await;
        assert_eq!(
            activity_rows(&browser).await,
            [
                row("Admin", "users", "CREATE"),
                row("Admin", "device_provisions", "CREATE"),
                row("Admin", "extensions", "CREATE"),
            ]
        );

        // By operator, login or name in any case.
        for operator in ["auditor", "AUDITOR"] {
            filter_activity(&browser, &[("operator", operator)]).await;
            text_when(&browser, ".pager", |t| t.contains("1 rows")).await;
            assert_eq!(activity_rows(&browser).await, [row("Auditor", "sessions", "LOGIN")]);
        }

        // By date: a bare end date means its whole day.
        let today = text_of(&browser, "#activity tbody tr[data-id] td").await[..10].to_string();
        assert!(!today.is_empty(), "{today}");
        for (from, until, rows) in [
            (today.as_str(), today.as_str(), "3 rows"),
            ("2000-01-01", "", "3 rows"),
            ("2999-01-01", "", "0 rows"),
            ("", "2000-01-01", "0 rows"),
        ] {
            filter_activity(
                &browser,
                &[("action", "CREATE"), ("startDate", from), ("endDate", until)],
            )
            .await;
            let pager = text_when(&browser, ".pager", |t| t.contains(rows)).await;
            assert!(pager.contains(rows), "{from}..{until}: {pager}");
        }
        assert!(text_of(&browser, "#activity").await.contains("No operations match"));

        // Bad input: a message naming the field, beside it; never a 500.
        filter_activity(&browser, &[("startDate", "2024-13-45")]).await;
        let message = text_of(&browser, "[data-field='startDate']").await;
        assert!(message.starts_with("'2024-13-45' is not a date"), "{message}");
        screenshot(&browser, "activity-bad-date").await;
        browser
            .goto(&app.url("/ui/activity?action=ERASE&resource=phones"))
            .await
            .unwrap();
        let message = text_of(&browser, "[data-field='resource']").await;
        assert!(message.starts_with("'phones' is not one of"), "{message}");
        let (cookie, _) = console_session(&app).await;
        for (uri, field) in [
            ("/ui/activity?endDate=yesterday", "'yesterday' is not a date"),
            ("/ui/activity?action=ERASE", "'ERASE' is not one of CREATE"),
            ("/ui/activity?page=x", "page: 'x' is not a whole number"),
        ] {
            let (status, body) = page(&app, &cookie, uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
            assert!(body.replace("&#39;", "'").contains(field), "{uri}: {body}");
        }

        // The page in Chinese.
        click(&browser, "a[lang='zh']").await;
        assert!(text_of(&browser, "nav").await.contains("操作日志"));
        assert!(text_of(&browser, "h1").await.contains("操作日志"));
        browser.close().await.unwrap();
    })
    .await;
}

async fn fleet_count(browser: &Client, state: &str) -> String {
    text_of(browser, &format!("#fleet li[data-state='{state}'] .count")).await
}

#[tokio::test]
async fn the_devices_page_sums_up_the_fleet() {
    let driver = Driver::start();
    let driver = &driver;
    on_each_backend(|app| async move {
        let browser = admin_browser(driver, &app).await;
        for extn in ["5001", "5002", "5003"] {
            app.extension(extn, "xswitch.cn", "fleet-Secret9").await;
        }
        let record = |mac: &str, extn: &str| json!({"mac": mac, "vendor": "yealink", "extn": extn});
        for (mac, extn) in [
            ("001565005001", "5001"),
            ("001565005002", "5002"),
            ("001565005003", "5003"),
        ] {
            assert_done(&app.post("/api/device_provisions", record(mac, extn)).await);
        }
        // A deleted record counts for nothing, even never fetched.
        let deleted = assert_done(&app.post("/api/device_provisions", record("001565005004", "")).await);
        let deleted = deleted.as_str().unwrap().to_string();
        assert_done(&app.delete(&format!("/api/device_provisions/{deleted}")).await);

        // Two phones fetch; two unknown ones ask, and one of those is then claimed.
        for mac in ["001565005001", "001565005002"] {
            assert_eq!(phone_fetch(&app, mac).await, StatusCode::OK);
        }
        for mac in ["001565005098", "001565005099"] {
            assert_eq!(phone_fetch(&app, mac).await, StatusCode::NOT_FOUND);
        }
        // Fetches reach the database in batches.
        for _ in 0..100 {
            let (_, fetched) = app.get("/api/device_provisions?perPage=10").await;
            let (_, pending) = app.get("/api/device_provisions/pending").await;
            let fetches = fetched["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["last_provisioned_at"].as_str().is_some_and(|t| !t.is_empty()))
                .count();
            if fetches == 2 && pending["rowCount"] == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_done(&app.post("/api/device_provisions", record("001565005098", "")).await);

        // Times are whole seconds: the change lands in a later one than the fetch.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let second_line = extension_id(&app, "5002").await;
        assert_done(
            &app.put(&format!("/api/extensions/{second_line}"), json!({"name": "Renamed"}))
                .await,
        );

        browser.goto(&app.url("/ui/devices")).await.unwrap();
        assert_eq!(fleet_count(&browser, "current").await, "1");
        assert_eq!(fleet_count(&browser, "older").await, "1");
        assert_eq!(fleet_count(&browser, "never").await, "2");
        assert_eq!(fleet_count(&browser, "pending").await, "1");
        // The rows say the same of each phone.
        assert!(
            text_of(&browser, "tr[data-mac='001565005001']")
                .await
                .contains("Has the current config")
        );
        assert!(
            text_of(&browser, "tr[data-mac='001565005002']")
                .await
                .contains("Has an older config")
        );
        assert!(
            text_of(&browser, "tr[data-mac='001565005003']")
                .await
                .contains("Never fetched")
        );
        screenshot(&browser, "devices-fleet").await;

        // Each counter lists its phones.
        click(&browser, "#fleet li[data-state='older'] a").await;
        text_when(&browser, "#status-filter", |t| t.contains("Has an older config")).await;
        let rows = browser
            .find_all(Locator::Css("#devices tbody tr[data-mac]"))
            .await
            .unwrap();
        let mut macs = Vec::new();
        for row in rows {
            macs.push(row.attr("data-mac").await.unwrap().unwrap());
        }
        assert_eq!(macs, ["001565005002"]);
        assert_eq!(path_of(&browser).await, "/ui/devices?status=older");
        screenshot(&browser, "devices-older").await;
        browser.goto(&app.url("/ui/devices?status=newer")).await.unwrap();
        assert!(
            text_of(&browser, "main")
                .await
                .contains("'newer' is not current, older or never")
        );

        // The older phone fetches again and is current.
        assert_eq!(phone_fetch(&app, "001565005002").await, StatusCode::OK);
        let current = text_after_reloads(
            &browser,
            &app.url("/ui/devices"),
            "#fleet li[data-state='current'] .count",
            |t| t == "2",
        )
        .await;
        assert_eq!(
            (current.as_str(), fleet_count(&browser, "older").await.as_str()),
            ("2", "0")
        );
        // A family shows by one name, whichever the record was written with.
        assert_done(
            &app.post(
                "/api/device_provisions",
                json!({"mac": "000b82005009", "vendor": "潮流"}),
            )
            .await,
        );
        browser.goto(&app.url("/ui/devices?mac=000b82005009")).await.unwrap();
        let vendor = text_of(&browser, "tr[data-mac='000b82005009'] td:nth-child(4)").await;
        assert_eq!(vendor, "grandstream");
        browser.close().await.unwrap();
    })
    .await;
}

/// The claim form takes a model only as the API does: one that could start
/// a formula, as a hostile User-Agent might offer, is refused beside its
/// field and nothing is written.
#[tokio::test]
async fn claiming_a_phone_checks_its_model_like_the_api() {
    on_each_backend(|app| async move {
        assert_eq!(phone_fetch(&app, "001565abcd01").await, StatusCode::NOT_FOUND);
        let (cookie, token) = console_session(&app).await;
        let claim = |model: &'static str| {
            app.client
                .post(app.url("/ui/pending/001565abcd01"))
                .header("cookie", &cookie)
                .form(&[
                    ("csrf", token.as_str()),
                    ("name", "Lobby"),
                    ("vendor", "yealink"),
                    ("type", model),
                ])
                .send()
        };
        let refused = claim("=HYPERLINK(\"http://x\")").await.unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let page = refused.text().await.unwrap();
        let beside = page
            .split("id=\"type-error\">")
            .nth(1)
            .expect("an error beside the model");
        let beside = beside.split("</span>").next().unwrap();
        assert!(beside.contains("must begin with a letter or digit"), "{beside}");
        assert_eq!(device_count(&app).await, 0, "nothing was written");
        assert_eq!(claim("T46U").await.unwrap().status(), StatusCode::SEE_OTHER);
        assert_eq!(device_count(&app).await, 1);
    })
    .await;
}

#[tokio::test]
async fn pushing_from_the_console_shows_each_phones_outcome() {
    let driver = Driver::start();
    let driver = &driver;
    on_each_backend(|app| async move {
        let browser = admin_browser(driver, &app).await;
        app.extension("6001", "xswitch.cn", "push-Secret9").await;
        let yealink = assert_done(
            &app.post(
                "/api/device_provisions",
                json!({"mac": "001565006001", "vendor": "yealink", "extn": "6001"}),
            )
            .await,
        );
        let yealink = yealink.as_str().unwrap().to_string();
        assert_done(
            &app.post(
                "/api/device_provisions",
                json!({"mac": "00e0fc006002", "vendor": "huawei"}),
            )
            .await,
        );

        // One phone, from its page: it never fetched, so sipprov does not know where it is.
        browser.goto(&app.url(&format!("/ui/devices/{yealink}"))).await.unwrap();
        click(&browser, "#push").await;
        text_of(&browser, "#push-phones").await;
        let job_page = path_of(&browser).await;
        assert!(job_page.starts_with("/ui/pushes/"), "{job_page}");
        let outcome = text_after_reloads(&browser, &app.url(&job_page), "#push-phones", |t| t.contains("Failed")).await;
        assert!(
            outcome.contains("00:15:65:00:60:01") && outcome.contains("has not fetched"),
            "{outcome}"
        );

        // A selection from the list: the Huawei phone cannot be told, and says so.
        browser.goto(&app.url("/ui/devices")).await.unwrap();
        for mac in ["001565006001", "00e0fc006002"] {
            click(&browser, &format!("tr[data-mac='{mac}'] input[name='id']")).await;
        }
        click(&browser, "#push-selected").await;
        let outcome = text_when(&browser, "#push-phones", |t| t.contains("Cannot be told")).await;
        assert!(outcome.contains("00:E0:FC:00:60:02"), "{outcome}");
        screenshot(&browser, "push").await;

        // Every phone with an older config: none has one yet, and the page says so.
        browser.goto(&app.url("/ui/devices")).await.unwrap();
        click(&browser, "#push-older").await;
        browser.accept_alert().await.unwrap();
        let refused = text_of(&browser, "main").await;
        assert!(refused.contains("status: matches no phone"), "{refused}");
        let (_, logs) = app.get("/api/logs?action=RESYNC").await;
        assert_eq!(logs["rowCount"], json!(2), "{logs}");
        let message = logs["data"][0]["message"].as_str().unwrap();
        assert!(message.contains("\"via\":\"console\""), "{logs}");
    })
    .await;
}

/// The (slot, type) each row of a keys table shows.
async fn key_rows(browser: &Client, table: &str) -> Vec<(String, String)> {
    text_of(browser, table).await;
    let mut rows = Vec::new();
    for row in browser
        .find_all(Locator::Css(&format!("{table} tbody tr")))
        .await
        .unwrap()
    {
        let cells = row.find_all(Locator::Css("td")).await.unwrap();
        rows.push((cells[0].text().await.unwrap(), cells[1].text().await.unwrap()));
    }
    rows
}

/// Fills row `n` (from 1) of the keys table.
async fn key_row(browser: &Client, n: usize, slot: &str, kind: &str, value: &str, label: &str) {
    let row = browser
        .find(Locator::Css(&format!("#keys tbody tr:nth-child({n})")))
        .await
        .unwrap();
    for (name, text) in [("slot", slot), ("value", value), ("label", label)] {
        let field = row.find(Locator::Css(&format!("[name='{name}']"))).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }
    row.find(Locator::Css("select[name='type']"))
        .await
        .unwrap()
        .select_by_value(kind)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_admin_edits_a_key_template_and_a_devices_keys_in_a_real_browser() {
    on_each_backend(|app| async move {
        for extn in ["1001", "1002"] {
            assert_done(
                &app.post(
                    "/api/extensions",
                    json!({"extn": extn, "password": format!("pass-{extn}-x")}),
                )
                .await,
            );
        }
        let record =
            json!({"vendor": "yealink", "type": "T46U", "mac": "00156500ee01", "extn": "1001", "name": "Desk"});
        assert_done(&app.post("/api/device_provisions", record).await);
        let (_, found) = app.get("/api/device_provisions?mac=00156500ee01").await;
        let id = found["data"][0]["id"].as_i64().unwrap();

        let driver = Driver::start();
        let browser = admin_browser(&driver, &app).await;
        // A template, made and given keys.
        browser.goto(&app.url("/ui/key_templates")).await.unwrap();
        fill(&browser, "name", "Reception").await;
        click(&browser, "#create-template").await;
        text_of(&browser, "#keys").await;
        key_row(&browser, 1, "1", "line", "1", "").await;
        key_row(&browser, 2, "2", "blf", "1002", "Ana").await;
        click(&browser, "#save-keys").await;
        text_when(&browser, "[role='status']", |t| t == "Saved.").await;
        screenshot(&browser, "key-template").await;

        // The device takes the template and one key of its own; a slot its
        // model does not have is refused, naming it, and nothing is saved.
        browser.goto(&app.url(&format!("/ui/devices/{id}"))).await.unwrap();
        click(&browser, "#edit-keys").await;
        text_of(&browser, "#keys").await;
        browser
            .find(Locator::Css("#template_id"))
            .await
            .unwrap()
            .select_by_label("Reception")
            .await
            .unwrap();
        key_row(&browser, 1, "208", "speed_dial", "100", "Desk").await;
        click(&browser, "#save-keys").await;
        let refused = text_of(&browser, "#keys-error").await;
        assert!(refused.contains("slot 208: T46U has 27 keys"), "{refused}");
        assert_eq!(
            app.get(&format!("/api/device_provisions/{id}/keys")).await.1["keys"],
            json!([])
        );
        key_row(&browser, 1, "2", "speed_dial", "100", "Desk").await;
        click(&browser, "#save-keys").await;
        text_when(&browser, "[role='status']", |t| t == "Saved.").await;
        assert_eq!(
            key_rows(&browser, "#effective").await,
            [("1".into(), "Line".into()), ("2".into(), "Speed dial".into())]
        );
        screenshot(&browser, "device-keys").await;
        let (_, keys) = app.get(&format!("/api/device_provisions/{id}/keys")).await;
        assert_eq!(keys["keys"][0]["type"], "speed_dial", "{keys}");
        assert!(keys["template_id"].is_i64(), "{keys}");
        browser.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_claim_page_searches_extensions_and_offers_the_free_ones() {
    on_each_backend(|app| async move {
        for extn in ["1001", "1002", "2001"] {
            assert_done(
                &app.post(
                    "/api/extensions",
                    json!({"extn": extn, "password": format!("pass-{extn}-x")}),
                )
                .await,
            );
        }
        assert_done(
            &app.post(
                "/api/device_provisions",
                json!({"vendor": "yealink", "mac": "001565c1a100", "extn": "1001"}),
            )
            .await,
        );
        // The pending phone asks until the batch that records it is written.
        let start = std::time::Instant::now();
        while app.get("/api/device_provisions/pending").await.1["rowCount"] != 1 {
            assert_eq!(phone_fetch(&app, "001565c1a101").await, StatusCode::NOT_FOUND);
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the pending phone was not recorded"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (cookie, _) = console_session(&app).await;
        let offered = |query: &'static str| {
            let (app, cookie) = (&app, &cookie);
            async move {
                let (status, body) = page(app, cookie, &format!("/ui/pending/001565c1a101{query}")).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                body.split("type=\"checkbox\" name=\"extn\" value=\"")
                    .skip(1)
                    .filter_map(|rest| rest.split('"').next())
                    .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(offered("").await, ["1001", "1002", "2001"]);
        assert_eq!(offered("?free=1").await, ["1002", "2001"], "1001 is on a phone");
        assert_eq!(offered("?extn=100&free=1").await, ["1002"]);
        // The API lists them the same way, and names a bad value.
        let (_, free) = app.get("/api/extensions?free=1").await;
        assert_eq!(free["rowCount"], 2, "{free}");
        let (_, used) = app.get("/api/extensions?free=0").await;
        assert_eq!(used["data"][0]["extn"], "1001", "{used}");
        crate::harness::assert_error(&app.get("/api/extensions?free=maybe").await, 400, "free");
    })
    .await;
}
