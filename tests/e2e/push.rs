//! Pushing a change now: SIPp plays the phones, each on a loopback address
//! of its own, and takes the NOTIFY sipprov sends it. Each family's event is
//! checked against the mature implementation or vendor guide cited beside
//! it; the job shows each phone's answer, then its confirmation once it
//! fetches.

use std::net::{IpAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::clients::RunClient;
use crate::harness::{TestApp, assert_done, assert_error, on_each_backend};

/// SIPp playing one phone (or several behind one address).
struct Sipp {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sipp {
    /// Listens on `address`:5060 (UDP) with `scenario` (a file in tests/sip)
    /// for up to `calls` NOTIFYs; `edit` changes the scenario's text first.
    fn start(scenario: &str, address: &str, calls: u32, edit: impl Fn(String) -> String) -> Sipp {
        Sipp::start_on(scenario, address, "udp", calls, edit)
    }

    /// As `start`, over `transport`: `udp` or `tcp`. (Debian's SIPp is built
    /// without OpenSSL, so TLS phones are played by `tls_phone`.)
    fn start_on(scenario: &str, address: &str, transport: &str, calls: u32, edit: impl Fn(String) -> String) -> Sipp {
        let (flag, port) = if transport == "tcp" { ("t1", 5060) } else { ("u1", 5060) };
        let taken = |address: &str| match transport {
            "udp" => UdpSocket::bind((address, port)).is_err(),
            _ => std::net::TcpListener::bind((address, port)).is_err(),
        };
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(format!("{}/tests/sip/{scenario}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let path = dir.path().join(scenario);
        std::fs::write(&path, edit(text)).unwrap();
        let log = dir.path().join("messages.log");
        assert!(!taken(address), "{address}:{port} is taken already");
        let child = Command::new("sipp")
            .current_dir(dir.path())
            .args(["-sf", path.to_str().unwrap(), "-i", address, "-p", &port.to_string()])
            .args(["-t", flag, "-m", &calls.to_string(), "-timeout", "180s", "-nostdin"])
            .args(["-trace_msg", "-message_file", log.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .start();
        // Ready once its port is taken.
        let start = Instant::now();
        while !taken(address) {
            let waited = start.elapsed();
            assert!(waited < Duration::from_secs(10), "sipp did not bind {address}:{port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Sipp { child, log, _dir: dir }
    }

    /// Waits for SIPp to finish its calls (it writes its log as it exits),
    /// then gives the NOTIFYs it took, each with the time of day it came (s).
    fn finish(&mut self) -> Vec<(f64, String)> {
        let start = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "sipp is still waiting for calls"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.notifies()
    }

    fn notifies(&self) -> Vec<(f64, String)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut found: Vec<(f64, String)> = Vec::new();
        for entry in text.split("----------------------------------------------- ").skip(1) {
            let Some((stamp, rest)) = entry.split_once('\n') else {
                continue;
            };
            if !rest.contains("message received") {
                continue;
            }
            let message = rest.split_once("\n\n").map_or("", |(_, m)| m).trim_start().to_string();
            if message.starts_with("NOTIFY ") {
                found.push((seconds_of_day(stamp), message));
            }
        }
        found
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many different values of `name` the messages carry.
fn distinct(messages: &[(f64, String)], name: &str) -> usize {
    let mut values: Vec<String> = messages.iter().filter_map(|(_, m)| header(m, name)).collect();
    values.sort();
    values.dedup();
    values.len()
}

/// `HH:MM:SS.ffffff` anywhere in SIPp's separator line, as seconds.
fn seconds_of_day(stamp: &str) -> f64 {
    stamp
        .split_whitespace()
        .find_map(|part| {
            let mut fields = part.split(':');
            let (h, m, s) = (fields.next()?, fields.next()?, fields.next()?);
            Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
        })
        .unwrap_or_else(|| panic!("no time in SIPp's line {stamp:?}"))
}

fn header(message: &str, name: &str) -> Option<String> {
    message.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_string())
    })
}

/// A phone: its record (with one line) and a fetch of its config from
/// `address`, so sipprov knows where it is. Returns the record's id.
async fn phone(app: &TestApp, vendor: &str, model: &str, mac: &str, extn: &str, address: &str) -> i64 {
    app.extension(extn, "xswitch.cn", &format!("{extn}-secret-x")).await;
    let record = json!({"vendor": vendor, "mac": mac, "extn": extn, "type": model});
    let created = assert_done(&app.post("/api/device_provisions", record).await);
    let id = created
        .as_str()
        .map_or_else(|| created.as_i64().unwrap(), |s| s.parse().unwrap());
    fetch_from(app, vendor, mac, address).await;
    id
}

/// The phone's config, fetched from `address` as the phone would.
async fn fetch_from(app: &TestApp, vendor: &str, mac: &str, address: &str) {
    let packs = app.state.packs.current();
    let family = packs.vendor(vendor).unwrap();
    let (file, _) = packs
        .phone_files(family, mac.parse().unwrap())
        .into_iter()
        .find(|(_, kind)| kind.label() == "config")
        .unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let got = client.get(app.url(&format!("/prov/{file}"))).send().await.unwrap();
    assert_eq!(got.status(), 200, "{vendor} {file}: {}", got.text().await.unwrap());
}

/// Sets a setting; returns its row's id.
async fn setting(app: &TestApp, realm: &str, key: &str, value: &str) -> String {
    let id = assert_done(
        &app.post("/api/dicts", json!({"realm": realm, "k": key, "v": value}))
            .await,
    );
    id.as_str().map_or_else(|| id.to_string(), str::to_string)
}

/// Waits until each phone's address is recorded, then past the second of
/// the fetch, so a push begun now is not confirmed by the fetch before it.
async fn fetches_recorded(app: &TestApp, ids: &[i64]) {
    let start = Instant::now();
    for id in ids {
        loop {
            let (_, body) = app.get(&format!("/api/device_provisions/{id}")).await;
            if !body["last_ip"].as_str().unwrap_or_default().is_empty() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "fetch of {id} not recorded: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

/// Polls the job until `done` holds for its report, or `limit`.
async fn report_until(app: &TestApp, job: i64, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let report = assert_done(&app.get(&format!("/api/device_provisions/resync/{job}")).await);
        if done(&report) {
            return report;
        }
        assert!(start.elapsed() < limit, "job {job} after {limit:?}: {report}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn states(report: &Value) -> Vec<(String, String)> {
    report["phones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["mac"].as_str().unwrap().to_string(),
                p["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn all_in(report: &Value, wanted: &[&str]) -> bool {
    states(report).iter().all(|(_, s)| wanted.contains(&s.as_str()))
}

/// `count` Yealink phones that fetched from 127.0.<net>.1, .2, …, each
/// taking SIP at 127.0.<net>.200 (`phone_sip_address`), where one SIPp answers.
async fn phones_behind(app: &TestApp, net: u8, count: u8) -> Vec<i64> {
    let mut ids = Vec::new();
    for n in 1..=count {
        let mac = format!("001565{net}00{n:02}");
        let address = format!("127.0.{net}.{n}");
        ids.push(phone(app, "yealink", "T46G", &mac, &format!("{net}{n:02}"), &address).await);
        let sip = format!("127.0.{net}.200:5060");
        setting(app, &format!("PROVISION:{mac}"), "phone_sip_address", &sip).await;
    }
    fetches_recorded(app, &ids).await;
    ids
}

async fn fast_rates(app: &TestApp) {
    setting(app, "PROVISION", "push_rate", "6000").await;
    setting(app, "PROVISION", "push_network_rate", "6000").await;
}

#[tokio::test]
async fn each_family_is_told_with_its_event_and_confirmed_by_its_next_fetch() {
    // (vendor, model, MAC, the Event it must get, source)
    let families: &[(&str, &str, &str, &str, &str)] = &[
        // FusionPBX app/switch/resources/scripts/app/event_notify/index.lua: Yealink and Snom.
        (
            "yealink",
            "T46G",
            "001565260001",
            "check-sync;reboot=false",
            "FusionPBX event_notify",
        ),
        // Asterisk configs/samples/pjsip_notify.conf.sample, snom-check-cfg.
        (
            "snom",
            "D765",
            "000413260002",
            "check-sync;reboot=false",
            "Asterisk pjsip_notify snom-check-cfg",
        ),
        // FusionPBX event_notify: Polycom and Cisco take check-sync.
        (
            "polycom",
            "VVX400",
            "0004f2260003",
            "check-sync",
            "FusionPBX event_notify",
        ),
        (
            "cisco",
            "8841-3PCC",
            "00562b260004",
            "check-sync",
            "FusionPBX event_notify",
        ),
        // wazo-provd synchronize.py: plugins send check-sync unless they say otherwise (Fanvil does not).
        ("fanvil", "X4", "0c383e260005", "check-sync", "wazo-provd synchronize"),
        // FusionPBX event_notify: Grandstream and Htek take resync (PR #3014).
        (
            "grandstream",
            "GXP2170",
            "000b82260006",
            "resync",
            "FusionPBX event_notify",
        ),
        ("htek", "UC926", "001fc1260007", "resync", "FusionPBX event_notify"),
        // Gigaset pro wiki, "SIP: Check-sync message": no reboot= parameter.
        ("gigaset", "N870", "7c2f80260008", "check-sync", "Gigaset pro wiki"),
    ];
    on_each_backend(|app| async move {
        fast_rates(&app).await;
        let mut ids = Vec::new();
        let mut phones = Vec::new();
        for (n, (vendor, model, mac, event, source)) in families.iter().enumerate() {
            let address = format!("127.0.26.{}", n + 1);
            ids.push(phone(&app, vendor, model, mac, &format!("26{n:02}"), &address).await);
            let sipp = Sipp::start("phone-takes-notify.xml", &address, 1, |s| s);
            phones.push((sipp, *vendor, *mac, *event, *source));
        }
        // A family no guide says how to tell: listed, not sent.
        let huawei = phone(&app, "huawei", "eSpace7910", "00e0fc260009", "2699", "127.0.26.9").await;
        ids.push(huawei);
        fetches_recorded(&app, &ids).await;

        let started = assert_done(&app.post("/api/device_provisions/resync", json!({"ids": ids})).await);
        assert_eq!(started["phones"], json!(ids.len()), "{started}");
        let job = started["job"].as_i64().unwrap();
        let report = report_until(&app, job, Duration::from_secs(30), |r| {
            all_in(r, &["answered", "unsupported"])
        })
        .await;
        for (sipp, vendor, mac, event, source) in &mut phones {
            let got = sipp.finish();
            assert_eq!(got.len(), 1, "{vendor}: {got:?}");
            assert_eq!(
                header(&got[0].1, "Event").as_deref(),
                Some(*event),
                "{vendor} ({source})"
            );
            let line = states(&report).into_iter().find(|(m, _)| m == mac).unwrap();
            assert_eq!(line.1, "answered", "{vendor}: {report}");
        }
        let huawei_row = report["phones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == json!(huawei))
            .unwrap();
        assert_eq!(huawei_row["state"], "unsupported", "{report}");
        assert!(huawei_row["detail"].as_str().unwrap().contains("Huawei"), "{report}");

        // Each phone fetches its files: confirmed.
        for (n, (vendor, _, mac, _, _)) in families.iter().enumerate() {
            fetch_from(&app, vendor, mac, &format!("127.0.26.{}", n + 1)).await;
        }
        let report = report_until(&app, job, Duration::from_secs(15), |r| {
            all_in(r, &["confirmed", "unsupported"])
        })
        .await;
        assert_eq!(report["counts"]["confirmed"], json!(families.len()), "{report}");

        // The metrics count what happened, by outcome.
        let metrics = &app.state.provisioner.metrics;
        let phones = app.state.provisioner.clone();
        let registry = metrics.registry(move || phones.counted());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let count = |outcome: &str| {
            let series = format!("sipprov_push_notifies_total{{outcome=\"{outcome}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(series.as_str()))
                .map_or(0, |n| n.parse::<u64>().unwrap())
        };
        let told = families.len() as u64;
        assert_eq!(
            [
                count("sent"),
                count("answered"),
                count("unsupported"),
                count("confirmed")
            ],
            [told, told, 0, told],
            "{text}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_cisco_spa_challenge_gets_a_retry_whose_digest_verifies() {
    on_each_backend(|app| async move {
        fast_rates(&app).await;
        let right = phone(&app, "cisco", "SPA504G", "0002fd280001", "2801", "127.0.28.1").await;
        let wrong = phone(&app, "cisco", "SPA504G", "0002fd280002", "2802", "127.0.28.2").await;
        // The phone's own line credentials; the second phone expects others.
        let mut spa_right = Sipp::start("spa-challenges-notify.xml", "127.0.28.1", 1, |s| {
            s.replace("@USER@", "2801").replace("@PASSWORD@", "2801-secret-x")
        });
        let spa_wrong = Sipp::start("spa-challenges-notify.xml", "127.0.28.2", 1, |s| {
            s.replace("@USER@", "2802")
                .replace("@PASSWORD@", "not-the-line-password")
        });
        fetches_recorded(&app, &[right, wrong]).await;
        let started = assert_done(
            &app.post("/api/device_provisions/resync", json!({"ids": [right, wrong]}))
                .await,
        );
        let job = started["job"].as_i64().unwrap();
        let report = report_until(&app, job, Duration::from_secs(30), |r| {
            !all_in(r, &["queued", "sent"]) && states(r).iter().all(|(_, s)| s != "queued" && s != "sent")
        })
        .await;
        let state_of = |mac: &str| states(&report).into_iter().find(|(m, _)| m == mac).unwrap().1;
        assert_eq!(state_of("0002fd280001"), "answered", "{report}");
        assert_eq!(state_of("0002fd280002"), "rejected", "{report}");
        let got = spa_right.finish();
        assert_eq!(got.len(), 2, "a NOTIFY, then its authenticated retry: {got:?}");
        // Linksys SPA Provisioning Guide / Asterisk sipura-check-cfg: Event resync.
        assert_eq!(header(&got[0].1, "Event").as_deref(), Some("resync"));
        assert!(header(&got[0].1, "Authorization").is_none());
        let retry = header(&got[1].1, "Authorization").expect("the retry carries a digest");
        assert!(
            retry.contains("username=\"2801\"") && retry.contains("realm=\"spa-test\""),
            "{retry}"
        );
        assert_eq!(header(&got[0].1, "Call-ID"), header(&got[1].1, "Call-ID"));
        drop(spa_wrong);
    })
    .await;
}

#[tokio::test]
async fn twenty_phones_on_one_network_are_spaced_by_its_rate() {
    on_each_backend(|app| async move {
        // 120 a minute to one network: one every 0.5 s, so 20 phones take
        // 9.5 s at least; overall the rate is high enough not to matter.
        setting(&app, "PROVISION", "push_rate", "6000").await;
        setting(&app, "PROVISION", "push_network_rate", "120").await;
        let mut sipp = Sipp::start("phone-takes-notify.xml", "127.0.27.200", 20, |s| s);
        let ids = phones_behind(&app, 27, 20).await;
        let started = assert_done(&app.post("/api/device_provisions/resync", json!({"ids": ids})).await);
        let job = started["job"].as_i64().unwrap();
        report_until(&app, job, Duration::from_secs(40), |r| all_in(r, &["answered"])).await;
        let times: Vec<f64> = sipp.finish().iter().map(|(t, _)| *t).collect();
        assert_eq!(times.len(), 20, "{times:?}");
        for pair in times.windows(2) {
            // The gap, less what timestamps and scheduling may shave.
            assert!(
                pair[1] - pair[0] >= 0.45,
                "two NOTIFYs {:.3} s apart: {times:?}",
                pair[1] - pair[0]
            );
        }
        assert!(times[19] - times[0] >= 9.4, "{times:?}");
    })
    .await;
}

#[tokio::test]
async fn two_nodes_send_each_notify_once() {
    on_each_backend(|app| async move {
        fast_rates(&app).await;
        let other = app.node(app.settings.clone()).await;
        let mut sipp = Sipp::start("phone-takes-notify.xml", "127.0.29.200", 20, |s| s);
        let ids = phones_behind(&app, 29, 20).await;
        let started = assert_done(&app.post("/api/device_provisions/resync", json!({"ids": ids})).await);
        let job = started["job"].as_i64().unwrap();
        report_until(&app, job, Duration::from_secs(30), |r| all_in(r, &["answered"])).await;
        // SIPp ends after 20 calls: a second NOTIFY to a phone would have
        // been one of them, leaving a phone out.
        let got = sipp.finish();
        assert_eq!(distinct(&got, "Call-ID"), 20, "{got:?}");
        assert_eq!(distinct(&got, "To"), 20, "each phone once: {got:?}");
        // Nor does one come after, from either node.
        let late = UdpSocket::bind(("127.0.29.200", 5060)).unwrap();
        late.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 2048];
        assert!(
            late.recv(&mut buf).is_err(),
            "a NOTIFY came after every phone had its one"
        );
        drop(other);
    })
    .await;
}

#[tokio::test]
async fn push_requests_name_their_phones_or_are_refused_with_the_field() {
    on_each_backend(|app| async move {
        let id = phone(&app, "yealink", "T46G", "001565300001", "3001", "127.0.30.1").await;
        let refused = app.post("/api/device_provisions/resync", json!({})).await;
        assert_error(&refused, 400, "exactly one of ids, macs, vendor or status");
        let refused = app
            .post("/api/device_provisions/resync", json!({"status": "newer"}))
            .await;
        assert_error(&refused, 400, "status");
        let refused = app
            .post("/api/device_provisions/resync", json!({"ids": [id, 999_999]}))
            .await;
        assert_error(&refused, 404, "ids: device 999999 does not exist");
        let refused = app
            .post(
                "/api/device_provisions/resync",
                json!({"macs": ["00:15:65:30:00:01", "zz"]}),
            )
            .await;
        assert_error(&refused, 400, "macs[1]");
        let refused = app
            .post("/api/device_provisions/resync", json!({"vendor": "acme"}))
            .await;
        assert_error(&refused, 400, "vendor");
        assert_error(
            &app.get("/api/device_provisions/resync/999999").await,
            404,
            "push 999999",
        );
        assert_error(
            &app.post("/api/device_provisions/999999/resync", json!({})).await,
            404,
            "",
        );
        // Nothing was queued by the refusals; a MAC in any spelling works.
        let started = assert_done(
            &app.post("/api/device_provisions/resync", json!({"macs": ["00-15-65-30-00-01"]}))
                .await,
        );
        assert_eq!(started["phones"], json!(1));
        let one = assert_done(
            &app.post(&format!("/api/device_provisions/{id}/resync"), json!({}))
                .await,
        );
        assert_eq!(one["phones"], json!(1));
        // A phone named twice, or by two spellings, is told once.
        let twice = assert_done(
            &app.post("/api/device_provisions/resync", json!({"ids": [id, id]}))
                .await,
        );
        assert_eq!(twice["phones"], json!(1));
        let spellings = json!({"macs": ["001565300001", "00:15:65:30:00:01"]});
        let twice = assert_done(&app.post("/api/device_provisions/resync", spellings).await);
        assert_eq!(twice["phones"], json!(1));
        // The pushes are in the operation log, with their actor.
        let (_, logs) = app.get("/api/logs?action=RESYNC").await;
        assert_eq!(logs["rowCount"], json!(4), "{logs}");
    })
    .await;
}

#[tokio::test]
async fn the_command_line_pushes_and_shows_each_outcome() {
    on_each_backend(|app| async move {
        fast_rates(&app).await;
        let told = phone(&app, "yealink", "T46G", "001565310001", "3101", "127.0.31.1").await;
        let not = phone(&app, "huawei", "eSpace7910", "00e0fc310002", "3102", "127.0.31.2").await;
        let mut sipp = Sipp::start("phone-takes-notify.xml", "127.0.31.1", 1, |s| s);
        fetches_recorded(&app, &[told, not]).await;
        let (dir, url) = (app.settings.data_dir.clone(), app.settings.database_url());
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_sipprov"))
                .arg("--data-dir")
                .arg(dir)
                .args(["--database-url", &url, "resync", "00:15:65:31:00:01", "00E0FC310002"])
                .env_remove("SIPPROV_ADMIN_PASSWORD")
                .env_remove("DATABASE_URL")
                .env_remove("SIPPROV_DATABASE_URL")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("queued for 2 phones"), "{stdout}");
        assert!(stdout.contains("00e0fc310002 unsupported: no Huawei guide"), "{stdout}");
        assert!(stdout.contains("answered 1, unsupported 1"), "{stdout}");
        let got = sipp.finish();
        assert_eq!(got.len(), 1, "{got:?}");
        // The command line's push is in the operation log with its actor.
        let (_, logs) = app.get("/api/logs?action=RESYNC").await;
        assert!(
            logs["data"][0]["user_name"]
                .as_str()
                .unwrap()
                .starts_with("command line"),
            "{logs}"
        );
    })
    .await;
}

/// A FreeSWITCH event socket scripted from mod_event_socket's documented
/// exchange (FreeSWITCH cannot be installed here): it greets with
/// `auth/request`, takes `auth <password>`, answers each command with a
/// `command/reply`, and hands the test each command it was sent.
async fn scripted_event_socket(password: &'static str) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (commands, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let commands = commands.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                stream
                    .get_mut()
                    .write_all(b"Content-Type: auth/request\n\n")
                    .await
                    .unwrap();
                let mut first = true;
                loop {
                    let mut block = String::new();
                    loop {
                        let mut line = String::new();
                        if stream.read_line(&mut line).await.unwrap() == 0 {
                            return;
                        }
                        if line.trim().is_empty() {
                            break;
                        }
                        block.push_str(&line);
                    }
                    let reply = if first {
                        first = false;
                        if block.trim() == format!("auth {password}") {
                            "+OK accepted"
                        } else {
                            "-ERR invalid"
                        }
                    } else if block.starts_with("exit") {
                        return;
                    } else {
                        commands.send(block).unwrap();
                        "+OK 7f4de4bc-17d7-11dd-b7a0-db4edd065621"
                    };
                    let answer = format!("Content-Type: command/reply\nReply-Text: {reply}\n\n");
                    stream.get_mut().write_all(answer.as_bytes()).await.unwrap();
                    if reply.starts_with("-ERR") {
                        return;
                    }
                }
            });
        }
    });
    (address, received)
}

#[tokio::test]
async fn through_freeswitch_each_phone_is_told_by_its_registration() {
    on_each_backend(|app| async move {
        fast_rates(&app).await;
        let (address, mut received) = scripted_event_socket("esl-Secret7").await;
        setting(&app, "PROVISION", "push_via", "freeswitch").await;
        setting(&app, "PROVISION", "freeswitch_esl", &address).await;
        let password = setting(&app, "PROVISION", "freeswitch_esl_password", "esl-Secret7").await;
        // Behind NAT: neither phone has fetched from an address sipprov could reach.
        app.extension("3201", "xswitch.cn", "3201-secret-x").await;
        app.extension("3202", "xswitch.cn", "3202-secret-x").await;
        let mut ids = Vec::new();
        for (vendor, mac, extn) in [("yealink", "001565320001", "3201"), ("grandstream", "000b82320002", "3202")] {
            let record = json!({"vendor": vendor, "mac": mac, "extn": extn});
            let id = assert_done(&app.post("/api/device_provisions", record).await);
            ids.push(id.as_str().unwrap().parse::<i64>().unwrap());
        }
        let started = assert_done(&app.post("/api/device_provisions/resync", json!({"ids": ids})).await);
        let job = started["job"].as_i64().unwrap();
        let report = report_until(&app, job, Duration::from_secs(20), |r| all_in(r, &["sent"])
            && r["phones"].as_array().unwrap().iter().all(|p| p["detail"].as_str().unwrap().contains("took it")))
        .await;
        assert!(report.to_string().contains("FreeSWITCH (internal) took it for 3201@xswitch.cn"), "{report}");
        let mut commands = [received.recv().await.unwrap(), received.recv().await.unwrap()];
        commands.sort();
        // FusionPBX app/switch/resources/scripts/app/event_notify/index.lua: the
        // NOTIFY event's headers profile, event-string, user, host, content-type.
        assert_eq!(
            commands[0],
            "sendevent NOTIFY\nprofile: internal\nevent-string: check-sync;reboot=false\nuser: 3201\nhost: xswitch.cn\ncontent-type: application/simple-message-summary\n",
        );
        assert!(commands[1].contains("event-string: resync\nuser: 3202\n"), "{}", commands[1]);

        // A wrong password: FreeSWITCH's refusal is the phone's outcome.
        assert_done(&app.put(&format!("/api/dicts/{password}"), json!({"v": "not-the-password"})).await);
        let started = assert_done(&app.post(&format!("/api/device_provisions/{}/resync", ids[0]), json!({})).await);
        let job = started["job"].as_i64().unwrap();
        let report = report_until(&app, job, Duration::from_secs(20), |r| all_in(r, &["failed"])).await;
        assert!(report.to_string().contains("refused: login: -ERR invalid"), "{report}");
        // The password is kept from the operation log.
        let (_, logs) = app.get("/api/logs?resource=dicts").await;
        assert!(!logs.to_string().contains("esl-Secret7") && !logs.to_string().contains("not-the-password"), "{logs}");
    })
    .await;
}

#[tokio::test]
async fn pushes_are_bounded_in_phones_jobs_at_once_and_jobs_kept() {
    on_each_backend(|app| async move {
        // Phones per push: refused before anything is looked up.
        let ids: Vec<i64> = (1..=10_001).collect();
        let refused = app.post("/api/device_provisions/resync", json!({"ids": ids})).await;
        assert_error(&refused, 400, "ids: names 10001 phones; a push tells at most 10000");

        // Pushes at once: at one NOTIFY a minute, pushes wait their turn, and
        // past 20 waiting the next is refused until one is done.
        setting(&app, "PROVISION", "push_rate", "1").await;
        setting(&app, "PROVISION", "push_network_rate", "1").await;
        let id = phone(&app, "yealink", "T46G", "001565330001", "3301", "127.0.33.1").await;
        let mut started = Vec::new();
        let refusal = loop {
            let got = app
                .post(&format!("/api/device_provisions/{id}/resync"), json!({}))
                .await;
            if got.0 != 200 {
                break got;
            }
            started.push(got.1["data"]["job"].as_i64().unwrap());
            assert!(started.len() <= 21, "never refused");
        };
        // The first may have been sent already, leaving 20 waiting.
        assert!((20..=21).contains(&started.len()), "{}", started.len());
        assert_error(&refusal, 409, "20 pushes are still telling their phones");

        // Jobs kept: pruning keeps the newest and drops the rest with their phones.
        let dropped = app
            .db
            .prune_push_jobs(sipprov::domain::timestamp::now() - Duration::from_secs(3600), 2)
            .await
            .unwrap();
        assert_eq!(dropped as usize, started.len() - 2);
        assert_error(
            &app.get(&format!("/api/device_provisions/resync/{}", started[0])).await,
            404,
            "does not exist",
        );
        assert_done(
            &app.get(&format!("/api/device_provisions/resync/{}", started.last().unwrap()))
                .await,
        );
    })
    .await;
}

#[tokio::test]
async fn with_push_on_change_a_change_tells_the_phones_it_touches() {
    on_each_backend(|app| async move {
        fast_rates(&app).await;
        setting(&app, "PROVISION", "push_on_change", "on").await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let touched = phone(&app, "yealink", "T46G", "001565340001", "3401", "127.0.34.1").await;
        let untouched = phone(&app, "yealink", "T46G", "001565340002", "3402", "127.0.34.2").await;
        let mut sipp = Sipp::start("phone-takes-notify.xml", "127.0.34.1", 1, |s| s);
        fetches_recorded(&app, &[touched, untouched]).await;

        // The name on 3401 changes: its phone alone is told, by sipprov itself.
        let (_, listed) = app.get("/api/extensions?extn=3401").await;
        let extension = listed["data"][0]["id"].as_i64().unwrap();
        assert_done(
            &app.put(
                &format!("/api/extensions/{extension}"),
                json!({"cid_name": "Reception"}),
            )
            .await,
        );
        let start = Instant::now();
        let job = loop {
            let (_, logs) = app.get("/api/logs?action=RESYNC").await;
            if logs["rowCount"] == json!(1) {
                assert_eq!(logs["data"][0]["user_name"], "SYSTEM", "{logs}");
                break logs["data"][0]["summary"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("id ")
                    .parse::<i64>()
                    .unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "no push after the change: {logs}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let report = report_until(&app, job, Duration::from_secs(20), |r| all_in(r, &["answered"])).await;
        assert_eq!(
            states(&report),
            vec![("001565340001".to_string(), "answered".to_string())]
        );
        assert_eq!(sipp.finish().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_phone_whose_line_uses_tcp_or_tls_is_told_over_it() {
    on_each_backend(|app| async move {
        fast_rates(&app).await;
        let tcp = phone(&app, "yealink", "T46G", "001565350001", "3501", "127.0.35.1").await;
        let tls = phone(&app, "yealink", "T46G", "001565350002", "3502", "127.0.35.2").await;
        setting(&app, "PROVISION:001565350001", "transport", "tcp").await;
        setting(&app, "PROVISION:001565350002", "transport", "tls").await;
        let mut over_tcp = Sipp::start_on("phone-takes-notify.xml", "127.0.35.1", "tcp", 1, |s| s);
        let over_tls = tls_phone("127.0.35.2");
        fetches_recorded(&app, &[tcp, tls]).await;
        let started = assert_done(
            &app.post("/api/device_provisions/resync", json!({"ids": [tcp, tls]}))
                .await,
        );
        let job = started["job"].as_i64().unwrap();
        let report = report_until(&app, job, Duration::from_secs(30), |r| all_in(r, &["answered"])).await;
        assert!(report.to_string().contains("127.0.35.2:5061 over tls"), "{report}");
        let got = over_tcp.finish();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(header(&got[0].1, "Via").unwrap().starts_with("SIP/2.0/TCP"), "{got:?}");
        let notify = tokio::task::spawn_blocking(move || over_tls.join().unwrap())
            .await
            .unwrap();
        assert!(header(&notify, "Via").unwrap().starts_with("SIP/2.0/TLS"), "{notify}");
        assert_eq!(header(&notify, "Event").as_deref(), Some("check-sync;reboot=false"));
    })
    .await;
}

/// Whether a TCP socket listens on the IPv4 `address`:`port`, as
/// /proc/net/tcp lists it (address and port in hex, the address's bytes in
/// the host's order; state 0A is LISTEN).
fn listening_on(address: &str, port: u16) -> bool {
    let ip: std::net::Ipv4Addr = address.parse().unwrap();
    let local = format!("{:08X}:{port:04X}", u32::from_ne_bytes(ip.octets()));
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A")
        })
}

/// A phone on TLS at `address`:5061: OpenSSL's `s_server` holds the TLS
/// session with a self-signed certificate, as a phone's would be; the
/// thread reads the NOTIFY it hands over, answers 200 OK, and returns it.
fn tls_phone(address: &str) -> std::thread::JoinHandle<String> {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=phone",
        ])
        .args(["-keyout", "key.pem", "-out", "cert.pem"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .run_status();
    assert!(made.success(), "openssl could not make the phone's certificate");
    let accept = format!("{address}:5061");
    let mut server = Command::new("openssl")
        .args([
            "s_server", "-quiet", "-naccept", "1", "-accept", &accept, "-cert", "cert.pem", "-key", "key.pem",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .start();
    // Watched in the kernel's socket table: a probe that binds the port
    // itself could take it in the moment s_server does, and s_server quits.
    let start = Instant::now();
    while !listening_on(address, 5061) {
        assert!(
            server.try_wait().unwrap().is_none(),
            "s_server quit before listening on {accept}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "s_server did not listen on {accept}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::spawn(move || {
        let _dir = dir;
        let mut lines = BufReader::new(server.stdout.take().unwrap());
        let mut notify = String::new();
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            notify.push_str(&line);
        }
        let echo = |name: &str| format!("{name}: {}\r\n", header(&notify, name).unwrap_or_default());
        let answer = format!(
            "SIP/2.0 200 OK\r\n{}{}{};tag=phone\r\n{}{}Content-Length: 0\r\n\r\n",
            echo("Via"),
            echo("From"),
            echo("To").trim_end(),
            echo("Call-ID"),
            echo("CSeq"),
        );
        server.stdin.as_mut().unwrap().write_all(answer.as_bytes()).unwrap();
        server.stdin.as_mut().unwrap().flush().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let _ = server.kill();
        let _ = server.wait();
        notify
    })
}

#[tokio::test]
async fn a_push_goes_on_after_a_restart() {
    on_each_backend(|app| async move {
        // Three phones on one network, 3 s apart: the push outlives its server.
        setting(&app, "PROVISION", "push_rate", "6000").await;
        setting(&app, "PROVISION", "push_network_rate", "20").await;
        let mut sipp = Sipp::start("phone-takes-notify.xml", "127.0.37.200", 3, |s| s);
        let ids = phones_behind(&app, 37, 3).await;
        let started = assert_done(&app.post("/api/device_provisions/resync", json!({"ids": ids})).await);
        let job = started["job"].as_i64().unwrap();
        let app = app.restart().await;
        report_until(&app, job, Duration::from_secs(30), |r| all_in(r, &["answered"])).await;
        let got = sipp.finish();
        assert_eq!(distinct(&got, "To"), 3, "{got:?}");
    })
    .await;
}

#[tokio::test]
async fn a_phone_told_that_does_not_fetch_in_time_is_listed_as_not_confirmed() {
    on_each_backend(|app| async move {
        fast_rates(&app).await;
        let id = phone(&app, "yealink", "T46G", "001565380001", "3801", "127.0.38.1").await;
        let mut sipp = Sipp::start("phone-takes-notify.xml", "127.0.38.1", 1, |s| s);
        fetches_recorded(&app, &[id]).await;
        let started = assert_done(
            &app.post(&format!("/api/device_provisions/{id}/resync"), json!({}))
                .await,
        );
        let job = started["job"].as_i64().unwrap();
        report_until(&app, job, Duration::from_secs(20), |r| all_in(r, &["answered"])).await;
        assert_eq!(sipp.finish().len(), 1);
        // Its answer was long ago (push_confirm_minutes is 10), and it never fetched.
        let long_ago = if app.is_postgres() {
            "'2000-01-01 00:00:00+00'"
        } else {
            "'2000-01-01 00:00:00+00:00'"
        };
        crate::freshness::sql_from_outside(&app, &format!("UPDATE resync_phones SET sent_at = {long_ago}")).await;
        let report = report_until(&app, job, Duration::from_secs(10), |r| {
            r["phones"][0]["detail"].as_str().unwrap().starts_with("not confirmed")
        })
        .await;
        assert_eq!(report["phones"][0]["state"], "answered", "{report}");
        assert!(
            report
                .to_string()
                .contains("has not fetched its files within 10 minutes"),
            "{report}"
        );
        // Once it fetches, it is confirmed.
        fetch_from(&app, "yealink", "001565380001", "127.0.38.1").await;
        report_until(&app, job, Duration::from_secs(10), |r| all_in(r, &["confirmed"])).await;
    })
    .await;
}
