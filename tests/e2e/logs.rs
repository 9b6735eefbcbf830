use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{ADMIN_PASSWORD, assert_done, assert_error, on_each_backend};

fn actions(page: &Value) -> Vec<(String, String)> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["resource"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_change_and_login_is_logged_newest_first_without_secrets() {
    on_each_backend(|app| async move {
        let ext = app.extension("1001", "xswitch.cn", "very-secret-sip").await;
        assert_done(
            &app.put(
                &format!("/api/extensions/{ext}"),
                json!({"password": "other-secret-sip"}),
            )
            .await,
        );
        assert_done(
            &app.post(
                "/api/device_provisions/import",
                json!({"devices": [{"mac": "001565000001", "vendor": "yealink", "extn": "1001"}]}),
            )
            .await,
        );
        // A dry run and a refused request change nothing and are not logged.
        let dry = app
            .post(
                "/api/device_provisions/import?dry_run=1",
                json!({"devices": [{"mac": "001565000002", "vendor": "yealink"}]}),
            )
            .await;
        assert_eq!((dry.0.as_u16(), dry.1["code"].clone()), (200, json!(200)));
        assert_error(&app.post("/api/extensions", json!({})).await, 400, "extn");
        let wrong = app
            .send(
                Method::POST,
                "/api/sessions",
                Some(json!({"login": "admin", "password": "wrong-guess"})),
                None,
            )
            .await;
        assert_eq!(wrong.0, 403);
        let token = app.login("admin", ADMIN_PASSWORD).await;
        assert_eq!(
            app.send(Method::DELETE, "/api/sessions", None, Some(&token)).await.0,
            200
        );

        let (status, page) = app.get("/api/logs?perPage=50").await;
        assert_eq!(status, 200);
        assert_eq!(
            actions(&page),
            vec![
                ("sessions".to_string(), "LOGOUT".to_string()),
                ("sessions".into(), "LOGIN".into()),
                ("sessions".into(), "LOGIN".into()),
                ("device_provisions".into(), "IMPORT".into()),
                ("extensions".into(), "UPDATE".into()),
                ("extensions".into(), "CREATE".into()),
                ("sessions".into(), "LOGIN".into()),
                ("users".into(), "UPDATE".into()),
            ]
        );
        let rows = page["data"].as_array().unwrap();
        let failed = &rows[2];
        assert!(
            failed["summary"].as_str().unwrap().starts_with("login failed"),
            "{failed}"
        );
        assert_eq!(failed["user_name"], "admin");
        let create = &rows[5];
        assert_eq!(create["user_id"], "1", "ids are strings, as XSwitch shows them");
        assert_eq!(create["user_name"], "Admin");
        assert_eq!(create["source_ip"], "127.0.0.1");
        assert_eq!(create["summary"], format!("id {ext}"));
        assert_eq!(rows[3]["summary"], "1 rows");
        // sipprov's own change at its first start, named as XSwitch names it.
        let first = &rows[7];
        assert_eq!(
            (first["user_id"].as_str(), first["user_name"].as_str()),
            (Some("0"), Some("SYSTEM")),
            "{first}"
        );
        assert_eq!(first["summary"], "the first admin password set");
        let text = page.to_string();
        for secret in [
            "very-secret-sip",
            "other-secret-sip",
            ADMIN_PASSWORD,
            "wrong-guess",
            &token,
            &app.token,
        ] {
            assert!(!text.contains(secret), "{secret} leaked into the log");
        }
        assert!(create["message"].as_str().unwrap().contains("\"extn\":\"1001\""));
    })
    .await;
}

#[tokio::test]
async fn log_filters() {
    on_each_backend(|app| async move {
        app.extension("1001", "xswitch.cn", "good-pass").await;
        let today = time::OffsetDateTime::now_utc().date();
        for operator in ["admin", "Admin", "ADMIN"] {
            let (_, page) = app.get(&format!("/api/logs?operator={operator}")).await;
            assert_eq!(
                page["rowCount"], 2,
                "operator {operator} matches login or name in any case"
            );
        }
        assert_eq!(app.get("/api/logs?operator=nobody").await.1["rowCount"], 0);
        assert_eq!(
            app.get("/api/logs?resource=extensions&action=create").await.1["rowCount"],
            1
        );
        assert_eq!(app.get("/api/logs?action=LOGIN").await.1["rowCount"], 1);
        // The first admin password, set at the first start, is sipprov's own change.
        assert_eq!(app.get("/api/logs?operator=system").await.1["rowCount"], 1);
        assert_eq!(
            app.get(&format!("/api/logs?startDate={today}&endDate={today}")).await.1["rowCount"],
            3
        );
        let tomorrow = today.next_day().unwrap();
        assert_eq!(
            app.get(&format!("/api/logs?startDate={tomorrow}")).await.1["rowCount"],
            0
        );
        assert_eq!(
            app.get(&format!("/api/logs?endDate={} 00:00:00", today.previous_day().unwrap()))
                .await
                .1["rowCount"],
            0
        );
        assert_error(&app.get("/api/logs?startDate=yesterday").await, 400, "startDate:");
        let (_, first) = app.get("/api/logs?perPage=1").await;
        assert_eq!(
            (first["pageCount"].clone(), first["data"][0]["action"].clone()),
            (json!(3), json!("CREATE"))
        );
    })
    .await;
}

/// Failed logins are counted, not written a row each: one row per login
/// name and network per hour, its count kept up to date; past the hour's
/// 1,000 such rows the rest share one, so nobody without a password adds
/// more than 1,001 rows an hour. Rows past their retention, or past the most
/// rows kept, are pruned.
#[tokio::test]
async fn failed_logins_are_counted_in_bounded_rows_and_old_rows_go() {
    on_each_backend(|app| async move {
        let fail = |login: &'static str, source: &'static str| {
            let client = reqwest::Client::builder()
                .no_proxy()
                .local_address(source.parse::<std::net::IpAddr>().unwrap())
                .build()
                .unwrap();
            let url = app.url("/api/sessions");
            async move {
                let response = client
                    .post(url)
                    .json(&json!({"login": login, "password": "wrong"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 403);
            }
        };
        for _ in 0..3 {
            fail("alice", "127.0.3.1").await;
            fail("bob", "127.0.3.2").await;
        }
        fail("alice", "127.0.4.1").await;
        let (_, page) = app.get("/api/logs?action=LOGIN&perPage=50").await;
        let failed: Vec<(String, String, String)> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["user_id"] == "0")
            .map(|r| {
                let f = |k: &str| r[k].as_str().unwrap().to_string();
                (f("user_name"), f("source_ip"), f("summary"))
            })
            .collect();
        assert_eq!(
            failed,
            [
                ("alice".into(), "127.0.4.0/24".into(), "login failed: 1 attempt this hour (wrong credentials)".into()),
                ("bob".into(), "127.0.3.0/24".into(), "login failed: 3 attempts this hour (wrong credentials)".into()),
                ("alice".into(), "127.0.3.0/24".into(), "login failed: 3 attempts this hour (wrong credentials)".into()),
            ],
        );

        // The hour's rows used up (as a sweep of 1,000 names leaves them):
        // more names share one row.
        let hour = {
            let now = time::OffsetDateTime::now_utc();
            now.replace_minute(0).unwrap().replace_second(0).unwrap().replace_nanosecond(0).unwrap()
        };
        let fill = if app.is_postgres() {
            "INSERT INTO failed_login_rows (hour, login, network, log_id, attempts) SELECT $1, 'n' || i, 'x', 0, 1 FROM generate_series(1, 1000) AS i"
        } else {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) INSERT INTO failed_login_rows (hour, login, network, log_id, attempts) SELECT $1, 'n' || i, 'x', 0, 1 FROM n"
        };
        match &app.db {
            sipprov::store::Db::Sqlite(p) => drop(sqlx::query(fill).bind(hour).execute(p).await.unwrap()),
            sipprov::store::Db::Postgres(p) => drop(sqlx::query(fill).bind(hour).execute(p).await.unwrap()),
        }
        let before = app.get("/api/logs?perPage=1").await.1["rowCount"].as_i64().unwrap();
        fail("carol", "127.0.5.1").await;
        fail("dave", "127.0.6.1").await;
        fail("erin", "127.0.7.1").await;
        let (_, page) = app.get("/api/logs?perPage=1").await;
        assert_eq!(page["rowCount"].as_i64().unwrap(), before + 1, "three names, one row");
        assert_eq!(
            page["data"][0]["summary"],
            "login failed: 3 more attempts this hour, from names and networks past the hour's 1000 rows"
        );
        assert_eq!(page["data"][0]["user_name"], "");

        // Retention: rows past their days, and the oldest past the most kept.
        let old = time::OffsetDateTime::now_utc() - time::Duration::days(400);
        let sql = "UPDATE logs SET created_at = $1 WHERE id = (SELECT MIN(id) FROM logs)";
        match &app.db {
            sipprov::store::Db::Sqlite(p) => drop(sqlx::query(sql).bind(old).execute(p).await.unwrap()),
            sipprov::store::Db::Postgres(p) => drop(sqlx::query(sql).bind(old).execute(p).await.unwrap()),
        }
        let rows = app.get("/api/logs?perPage=1").await.1["rowCount"].as_i64().unwrap();
        // Another node's clean-log job prunes when it starts; each call waits
        // for its own node to have pruned down to `expected`.
        let pruned_to = |max_rows: u64, expected: i64| {
            let mut settings = app.settings.clone();
            settings.log_max_rows = max_rows;
            let app = &app;
            async move {
                let node = app.node(settings).await;
                let mut kept = 0;
                for _ in 0..50 {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    kept = node.get("/api/logs?perPage=1").await.1["rowCount"].as_i64().unwrap();
                    if kept <= expected {
                        break;
                    }
                }
                kept
            }
        };
        assert_eq!(pruned_to(1_000_000, rows - 1).await, rows - 1, "the row 400 days old went");
        assert_eq!(pruned_to(3, 3).await, 3, "the oldest past the most kept went");
    })
    .await;
}
