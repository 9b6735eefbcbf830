//! A device's timeline: its phone's fetches with their outcome and why a
//! refusal happened, the changes to its record and the pushes to it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{TestApp, assert_done, assert_error, on_each_backend};
use crate::provisioning::{fetch, phone};

const MAC: &str = "001565aa0101";
const UA: &str = "Yealink SIP-T46U 108.86.0.45 00:15:65:aa:01:01";

/// The timeline once it has at least `events` events (fetches are written
/// about once a second).
async fn timeline_with(app: &TestApp, id: &str, events: usize) -> Vec<Value> {
    for _ in 0..100 {
        let (status, body) = app.get(&format!("/api/device_provisions/{id}/timeline")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["mac"], MAC);
        let list = body["events"].as_array().unwrap().clone();
        if list.len() >= events {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the timeline never reached {events} events");
}

/// A Yealink T46U with MAC; its record's id.
async fn yealink_phone(app: &TestApp) -> String {
    phone(app, "yealink", MAC, "T46U").await;
    let (_, page) = app.get(&format!("/api/device_provisions?mac={MAC}")).await;
    page["data"][0]["id"].as_i64().unwrap().to_string()
}

#[tokio::test]
async fn a_phones_fetches_refusals_and_changes_newest_first() {
    on_each_backend(|app| async move {
        let id = yealink_phone(&app).await;

        let served = fetch(&app, &format!("/prov/{MAC}.cfg"), UA).await;
        assert_eq!(served.status, 200);
        // The version is a keyed hash of the bytes the phone got (their
        // ETag): the same for the same file, and no plain hash of a file
        // that holds passwords.
        let plain = hex::encode(&Sha256::digest(served.body.as_bytes())[..16]);
        let version = app.state.secrets.file_version(&format!("\"{plain}\""));
        assert_ne!(version, plain);
        // Times are whole seconds: each step in a second of its own.
        let next_second = || tokio::time::sleep(Duration::from_millis(1100));
        next_second().await;
        let allow = assert_done(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION", "k": "allowed_networks", "v": "10.0.0.0/8"}),
            )
            .await,
        );
        assert_eq!(fetch(&app, &format!("/prov/{MAC}.cfg"), UA).await.status, 403);
        assert_done(&app.delete(&format!("/api/dicts/{}", allow.as_str().unwrap())).await);
        next_second().await;
        assert_done(
            &app.put(&format!("/api/device_provisions/{id}"), json!({"name": "Lobby"}))
                .await,
        );
        // An unknown phone's fetch is on no device's timeline.
        fetch(&app, "/prov/001565aa0202.cfg", UA).await;

        let events = timeline_with(&app, &id, 4).await;
        let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["change", "fetch", "fetch", "change"],
            "newest first: {events:#?}"
        );
        assert_eq!(events[0]["action"], "UPDATE");
        assert!(
            events[0]["message"].as_str().unwrap().contains("Lobby"),
            "{}",
            events[0]
        );
        let refused = &events[1];
        assert_eq!(refused["outcome"], "403");
        assert_eq!(refused["reason"], "its address is outside the allowed networks");
        assert_eq!(refused["version"], "");
        let first = &events[2];
        assert_eq!(first["file"], format!("{MAC}.cfg"));
        assert_eq!(first["outcome"], "served");
        assert_eq!(first["reason"], "");
        assert_eq!(first["version"], version);
        assert_eq!(first["firmware"], "108.86.0.45");
        assert_eq!(first["user_agent"], UA);
        assert_eq!(first["address"], "127.0.0.1");
        assert_eq!(events[3]["action"], "CREATE");
        assert!(
            events.iter().all(|e| !e.to_string().contains("pw-one-1001")),
            "no password"
        );

        assert_error(&app.get("/api/device_provisions/999999/timeline").await, 404, "999999");
        assert_error(&app.get("/api/device_provisions/nine/timeline").await, 400, "id");
    })
    .await;
}

#[tokio::test]
async fn a_phone_keeps_its_newest_hundred_fetches_and_old_ones_go() {
    on_each_backend(|app| async move {
        let id = yealink_phone(&app).await;
        let long_ago = time::OffsetDateTime::now_utc() - time::Duration::days(60);
        let old = |n: usize| sipprov::store::fetches::FetchEvent {
            mac: MAC.into(),
            at: long_ago,
            file: format!("old-{n}.cfg"),
            ip: "192.0.2.1".into(),
            user_agent: UA.into(),
            firmware: String::new(),
            outcome: "served".into(),
            reason: String::new(),
            version: String::new(),
        };
        let history: Vec<_> = (0..150).map(old).collect();
        app.db.record_fetches(&[], &history, &[]).await.unwrap();
        let kept = app.db.fetch_events(MAC, 1000).await.unwrap();
        assert_eq!(kept.len(), 100, "a phone keeps its newest 100");
        assert_eq!(kept[0].file, "old-149.cfg");
        assert_eq!(kept[99].file, "old-50.cfg");
        // Refusals, which anyone who knows the MAC can cause, are kept apart:
        // its newest 20, and the phone's own fetches stay.
        let refusals: Vec<_> = (0..30)
            .map(|n| sipprov::store::fetches::FetchEvent {
                outcome: "403".into(),
                reason: "its address is outside the allowed networks".into(),
                ..old(1000 + n)
            })
            .collect();
        app.db.record_fetches(&[], &refusals, &[]).await.unwrap();
        let kept = app.db.fetch_events(MAC, 1000).await.unwrap();
        let (refused, served): (Vec<_>, Vec<_>) = kept.iter().partition(|e| !e.reason.is_empty());
        assert_eq!((refused.len(), served.len()), (20, 100));
        assert_eq!(refused[19].file, "old-1010.cfg");
        app.db.record_fetches(&[], &history, &[]).await.unwrap();

        // Over the whole table: the newest `keep`, and nothing past its age.
        let recent = time::OffsetDateTime::now_utc() - time::Duration::days(61);
        app.db.trim_fetch_events(recent, 30).await.unwrap();
        let kept = app.db.fetch_events(MAC, 1000).await.unwrap();
        assert_eq!(kept.len(), 30);
        assert_eq!(kept[0].file, "old-149.cfg");
        assert_eq!(kept[29].file, "old-120.cfg");
        let cutoff = time::OffsetDateTime::now_utc() - time::Duration::days(30);
        app.db.trim_fetch_events(cutoff, 1_000_000).await.unwrap();
        assert!(app.db.fetch_events(MAC, 1000).await.unwrap().is_empty());

        // The timeline shows at most 100, the newest: the record's creation,
        // then the phone's newest 99 fetches.
        app.db.record_fetches(&[], &history, &[]).await.unwrap();
        let events = timeline_with(&app, &id, 100).await;
        assert_eq!(events.len(), 100);
        assert_eq!(events[0]["kind"], "change");
        assert_eq!(events[1]["file"], "old-149.cfg");
        assert_eq!(events[99]["file"], "old-51.cfg");
    })
    .await;
}

#[tokio::test]
async fn an_imported_record_shows_the_import_that_made_it() {
    on_each_backend(|app| async move {
        app.extension("1001", "xswitch.cn", "pw-one-1001").await;
        app.extension("1002", "xswitch.cn", "pw-two-1002").await;
        let import = |rows: Value| {
            let app = &app;
            async move {
                assert_done(
                    &app.post("/api/device_provisions/import", json!({"devices": rows}))
                        .await,
                )
            }
        };
        // Two imports in the same second: each record shows its own.
        let first = import(json!([{"名称": "Desk", "分机号": "1001", "供应商": "yealink", "MAC": MAC}])).await;
        let second =
            import(json!([{"名称": "Hall", "分机号": "1002", "供应商": "yealink", "MAC": "001565aa0202"}])).await;
        let (_, log) = app.get("/api/logs?resource=device_provisions").await;
        let imports: Vec<&Value> = log["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row["action"] == "IMPORT")
            .collect();
        assert_eq!(imports.len(), 2, "{log}");
        for (record, other) in [(&first, "001565aa0202"), (&second, MAC)] {
            let id = record[0]["id"].as_i64().unwrap().to_string();
            let (status, body) = app.get(&format!("/api/device_provisions/{id}/timeline")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let events = body["events"].as_array().unwrap();
            assert_eq!(events.len(), 1, "{body}");
            assert_eq!(events[0]["kind"], "change");
            assert_eq!(events[0]["action"], "IMPORT");
            let message = events[0]["message"].as_str().unwrap();
            assert!(message.contains(record[0]["mac"].as_str().unwrap()), "{message}");
            assert!(!message.contains(other), "the other import: {message}");
        }
        // Its later changes come after it, newest first.
        let id = first[0]["id"].as_i64().unwrap();
        assert_done(
            &app.put(&format!("/api/device_provisions/{id}"), json!({"name": "Lobby"}))
                .await,
        );
        let (_, body) = app.get(&format!("/api/device_provisions/{id}/timeline")).await;
        let actions: Vec<&str> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["UPDATE", "IMPORT"]);
    })
    .await;
}
