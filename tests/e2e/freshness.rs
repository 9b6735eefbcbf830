//! A fetch needs no database, yet serves every change: on the node that
//! made it at once, on the other nodes and after another process's change
//! within a second. Changes drop only the files they touch.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use sipprov::provision::cache::FileKey;

use crate::clients::RunClient;
use crate::harness::{TestApp, assert_done, on_each_backend};
use crate::provisioning::fetch;

const UA_A: &str = "Yealink SIP-T46G 28.83.0.50 00:15:65:00:00:0a";
const UA_B: &str = "Yealink SIP-T46G 28.83.0.50 00:15:65:00:00:0b";

/// Two Yealink phones, A on extension 1001 and B on 1002.
async fn two_phones(app: &TestApp) {
    for (extn, name) in [("1001", "Anna"), ("1002", "Bert")] {
        assert_done(
            &app.post(
                "/api/extensions",
                json!({"extn": extn, "password": format!("pass-{extn}-x"), "cid_name": name}),
            )
            .await,
        );
    }
    for (mac, extn) in [("00156500000a", "1001"), ("00156500000b", "1002")] {
        let record = json!({"vendor": "yealink", "mac": mac, "name": "Desk", "extn": extn});
        assert_done(&app.post("/api/device_provisions", record).await);
    }
}

async fn config(app: &TestApp, mac: &str, ua: &str) -> String {
    let got = fetch(app, &format!("/prov/{mac}.cfg"), ua).await;
    assert_eq!(got.status, 200, "{}", got.body);
    got.body
}

/// The cache key of a phone's config as `app` serves it to a fetch.
fn key_of(app: &TestApp, mac: &str, ua: &str) -> FileKey {
    FileKey {
        name: format!("{mac}.cfg"),
        vendor_hint: None,
        host: app.addr.to_string(),
        scheme: "http".into(),
        agent: app.state.packs.current().parse_user_agent(ua),
    }
}

fn holds(app: &TestApp, key: &FileKey) -> bool {
    let print = app.state.packs.current().print();
    app.state.provisioner.cache.holds(print, key)
}

/// Waits up to `limit` for `app` to serve A a config containing `wanted`;
/// returns how long it took.
async fn served_within(app: &TestApp, wanted: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let body = config(app, "00156500000a", UA_A).await;
        if body.contains(wanted) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "still not served {wanted:?} after {limit:?}:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_change_is_served_at_once_on_its_node_and_drops_only_what_it_touches() {
    on_each_backend(|app| async move {
        two_phones(&app).await;
        assert!(config(&app, "00156500000a", UA_A).await.contains("Anna"));
        assert!(config(&app, "00156500000b", UA_B).await.contains("Bert"));
        let (key_a, key_b) = (key_of(&app, "00156500000a", UA_A), key_of(&app, "00156500000b", UA_B));
        assert!(holds(&app, &key_a) && holds(&app, &key_b));
        let cache = || app.state.provisioner.cache.stats();

        // One extension: only the phone with it as a line loses its files.
        let before = cache();
        assert_done(&app.put("/api/extensions/1", json!({"cid_name": "Anna Neu"})).await);
        assert!(holds(&app, &key_b), "B has no line on 1001: its file stays");
        assert!(cache().dropped > before.dropped, "A's file was dropped");
        assert!(config(&app, "00156500000a", UA_A).await.contains("Anna Neu"));

        // One phone's record: only that phone.
        let before = cache();
        assert_done(&app.put("/api/device_provisions/1", json!({"name": "Reception"})).await);
        assert!(holds(&app, &key_b), "B's record did not change");
        assert!(cache().dropped > before.dropped);
        assert!(config(&app, "00156500000a", UA_A).await.contains("Reception"));

        // A site setting: every phone.
        let before = cache();
        assert_done(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION", "k": "ntp_server", "v": "ntp.example.net"}),
            )
            .await,
        );
        assert!(
            cache().dropped >= before.dropped + 2,
            "both phones' files were dropped: {before:?} then {:?}",
            cache()
        );
        assert!(config(&app, "00156500000b", UA_B).await.contains("ntp.example.net"));
        assert!(config(&app, "00156500000a", UA_A).await.contains("ntp.example.net"));
    })
    .await;
}

/// Another node learns of a change by PostgreSQL's notification or SQLite's
/// data_version, not by its periodic look, which this test sets to a minute.
#[tokio::test]
async fn another_node_serves_a_change_within_a_second() {
    on_each_backend(|app| async move {
        two_phones(&app).await;
        let mut settings = app.settings.clone();
        settings.change_check_interval = Duration::from_secs(60);
        let other = app.node(settings).await;
        // Let the other node's watch start before the change.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(config(&other, "00156500000a", UA_A).await.contains("pass-1001-x"));
        assert_done(&app.put("/api/extensions/1", json!({"password": "pass-1001-y"})).await);
        let took = served_within(&other, "pass-1001-y", Duration::from_secs(1)).await;
        eprintln!("the other node served the change after {took:?}");
    })
    .await;
}

/// A change made by another process (an administrator's sqlite3 or psql),
/// which announces nothing: on SQLite the file's data_version shows it; on
/// PostgreSQL only the periodic look finds it.
#[tokio::test]
async fn a_change_by_another_process_is_served_within_a_second() {
    on_each_backend(|mut app| async move {
        two_phones(&app).await;
        let mut settings = app.settings.clone();
        settings.change_check_interval = if app.is_postgres() {
            Duration::from_millis(500)
        } else {
            // data_version alone must do it.
            Duration::from_secs(60)
        };
        app.settings = settings;
        let app = app.restart().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(config(&app, "00156500000a", UA_A).await.contains("Anna"));
        sql_from_outside(
            &app,
            "UPDATE extensions SET cid_name = 'Anna Extern' WHERE extn = '1001'",
        );
        let took = served_within(&app, "Anna Extern", Duration::from_secs(1)).await;
        eprintln!("served the other process's change after {took:?}");
    })
    .await;
}

/// After a restart the phones' files are pre-rendered; with the database
/// gone, phones are still served, even a file that was not pre-rendered,
/// and unknown MACs still get a plain 404.
#[tokio::test]
async fn after_a_restart_phones_are_served_from_memory_without_the_database() {
    on_each_backend(|mut app| async move {
        two_phones(&app).await;
        // Pre-rendering renders for each phone's last User-Agent.
        let before = config(&app, "00156500000a", UA_A).await;
        config(&app, "00156500000b", UA_B).await;
        app.state.provisioner.fetches.flush(&app.db).await;
        let mut settings = app.settings.clone();
        settings.public_url = Some(format!("http://{}", app.addr));
        app.settings = settings;
        let app = app.restart().await;
        let start = Instant::now();
        while !app.state.provisioner.prerendered() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "pre-rendering did not finish"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let prerendered = app.state.provisioner.cache.stats().kept;
        assert!(
            prerendered >= 2,
            "both phones' configs were pre-rendered: {prerendered}"
        );
        // No query can succeed from here on.
        app.db.close().await;
        let after = config(&app, "00156500000a", UA_A).await;
        assert_eq!(after, before, "the file names the public URL, as the first did");
        assert!(config(&app, "00156500000b", UA_B).await.contains("Bert"));
        // New firmware: a file that was not pre-rendered renders from memory.
        let upgraded = "Yealink SIP-T46G 28.90.0.1 00:15:65:00:00:0b";
        assert!(config(&app, "00156500000b", upgraded).await.contains("Bert"));
        let unknown = fetch(&app, "/prov/00156500ffff.cfg", "").await;
        assert_eq!(unknown.status, 404, "{}", unknown.body);
    })
    .await;
}

/// Runs SQL as another process would: psql or sqlite3 on `app`'s database.
fn sql_from_outside(app: &TestApp, sql: &str) {
    let out = match &app.settings.database_url {
        Some(url) => Command::new("psql")
            .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-c", sql])
            .run(),
        None => Command::new("sqlite3")
            .arg(app.settings.data_dir.join("sipprov.db"))
            .args([".timeout 5000", sql])
            .run(),
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Waits until `app` has kept no new file for a second; returns how many
/// files it has kept so far.
async fn quiet_cache(app: &TestApp) -> u64 {
    let mut kept = app.state.provisioner.cache.stats().kept;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = app.state.provisioner.cache.stats().kept;
        if now == kept {
            return kept;
        }
        kept = now;
    }
}

/// A flood of all-phone changes from another process, 20 a second for two
/// seconds, is pre-rendered once after it, not once per change: the phones'
/// files are rendered about as often as for one change.
#[tokio::test]
async fn a_flood_of_changes_is_pre_rendered_once() {
    on_each_backend(|mut app| async move {
        let rows: Vec<_> = (0..300)
            .map(|n| json!({"vendor": "yealink", "mac": format!("00156501{n:04x}"), "name": format!("desk {n}")}))
            .collect();
        assert_done(
            &app.post("/api/device_provisions/import", json!({"devices": rows}))
                .await,
        );
        let mut settings = app.settings.clone();
        settings.public_url = Some(format!("http://{}", app.addr));
        app.settings = settings;
        let app = app.restart().await;
        let first_pass = quiet_cache(&app).await;
        assert!(
            first_pass >= 600,
            "every phone's two files were pre-rendered: {first_pass}"
        );
        assert_done(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION", "k": "ntp_server", "v": "ntp0.example.com"}),
            )
            .await,
        );
        let after_one = quiet_cache(&app).await - first_pass;
        for n in 1..=40 {
            sql_from_outside(
                &app,
                &format!("UPDATE dicts SET v = 'ntp{n}.example.com' WHERE realm = 'PROVISION' AND k = 'ntp_server'"),
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let after_flood = quiet_cache(&app).await - first_pass - after_one;
        assert!(
            after_flood <= 2 * after_one,
            "one change: {after_one} files rendered; 40 changes: {after_flood}"
        );
        assert!(config(&app, "001565010007", "").await.contains("ntp40.example.com"));
    })
    .await;
}
