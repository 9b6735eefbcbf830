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
        assert_eq!(
            app.get(&format!("/api/logs?startDate={today}&endDate={today}")).await.1["rowCount"],
            2
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
            (json!(2), json!("CREATE"))
        );
    })
    .await;
}
