use reqwest::Method;
use serde_json::json;
use sipprov::admin::Actor;

use crate::harness::{assert_done, assert_error, on_each_backend};

#[tokio::test]
async fn dicts_crud_bare_arrays_and_for_administrators_only() {
    on_each_backend(|app| async move {
        let id = assert_done(
            &app.post(
                "/api/dicts",
                json!({"realm": "EXTENSION_TYPE", "k": "SIP", "v": "SIP", "d": "SIP phone", "o": 1}),
            )
            .await,
        );
        let id = id.as_str().unwrap().to_string();
        assert_done(
            &app.post(
                "/api/dicts",
                json!({"realm": "EXTENSION_TYPE", "k": "VERTO", "v": "VERTO", "o": 2}),
            )
            .await,
        );
        let (status, rows) = app.get("/api/dicts?realm=EXTENSION_TYPE").await;
        assert_eq!(status, 200);
        assert_eq!(
            rows.as_array()
                .unwrap()
                .iter()
                .map(|r| r["k"].as_str().unwrap())
                .collect::<Vec<_>>(),
            vec!["SIP", "VERTO"]
        );
        assert_eq!(app.get("/api/dicts/realm/EXTENSION_TYPE").await.1, rows);
        assert_eq!(app.get(&format!("/api/dicts/{id}")).await.1["d"], "SIP phone");
        assert_done(&app.put(&format!("/api/dicts/{id}"), json!({"v": "SIP-2"})).await);
        assert_eq!(app.get(&format!("/api/dicts/{id}")).await.1["v"], "SIP-2");
        assert_error(
            &app.post("/api/dicts", json!({"realm": "EXTENSION_TYPE", "k": "SIP"}))
                .await,
            409,
            "already exists",
        );
        assert_error(&app.post("/api/dicts", json!({"k": "x"})).await, 400, "realm: required");
        assert_done(&app.delete(&format!("/api/dicts/{id}")).await);
        assert_error(&app.get(&format!("/api/dicts/{id}")).await, 404, "not found");

        // Users who are not administrators neither read nor change them.
        app.admin()
            .add_user(
                &Actor::command_line(),
                "operator",
                "Operator",
                "operator-pass".into(),
                false,
            )
            .await
            .unwrap();
        let operator = app.login("operator", "operator-pass").await;
        assert_error(
            &app.send(Method::GET, "/api/dicts", None, Some(&operator)).await,
            403,
            "needs an administrator",
        );
        let refused = app
            .send(
                Method::POST,
                "/api/dicts",
                Some(json!({"realm": "X", "k": "y"})),
                Some(&operator),
            )
            .await;
        assert_error(&refused, 403, "administrator");
    })
    .await;
}

#[tokio::test]
async fn provisioning_settings_apply_on_the_next_fetch_with_per_phone_overrides() {
    on_each_backend(|app| async move {
        app.extension("1001", "xswitch.cn", "line-pass-1").await;
        for mac in ["001565000001", "001565000002"] {
            assert_done(
                &app.post(
                    "/api/device_provisions",
                    json!({"vendor": "yealink", "mac": mac, "extn": "1001"}),
                )
                .await,
            );
        }
        let fetch = |mac: &'static str| {
            let client = app.client.clone();
            let url = app.url(&format!("/prov/{mac}.cfg"));
            async move { client.get(url).send().await.unwrap().text().await.unwrap() }
        };
        assert!(
            fetch("001565000001")
                .await
                .contains(&format!("account.1.sip_server.1.address = {}", app.addr.ip()))
        );

        for (k, v) in [
            ("sip_server_host", "pbx.example.com"),
            ("sip_server_port", "5080"),
            ("transport", "tcp"),
            ("time_zone", "-5"),
            ("ntp_server", "ntp.example.com"),
            ("phone_admin_password", "phone-admin-9"),
        ] {
            assert_done(
                &app.post("/api/dicts", json!({"realm": "PROVISION", "k": k, "v": v}))
                    .await,
            );
        }
        assert_done(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION:001565000002", "k": "sip_server_host", "v": "pbx.branch.example.com"}),
            )
            .await,
        );

        let site = fetch("001565000001").await;
        for expected in [
            "account.1.sip_server.1.address = pbx.example.com",
            "account.1.sip_server.1.port = 5080",
            "account.1.sip_server.1.transport_type = 1",
            "local_time.time_zone = -5",
            "local_time.ntp_server1 = ntp.example.com",
            "static.security.user_password = admin:phone-admin-9",
        ] {
            assert!(site.contains(expected), "missing {expected:?} in\n{site}");
        }
        assert!(
            fetch("001565000002")
                .await
                .contains("account.1.sip_server.1.address = pbx.branch.example.com"),
            "the phone's own setting wins"
        );

        // The phone admin password is sealed at rest and masked when read back.
        let (_, rows) = app.get("/api/dicts?realm=PROVISION").await;
        let admin = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["k"] == "phone_admin_password")
            .unwrap()
            .clone();
        assert_eq!(admin["v"], "********");
        let stored = app
            .stored_text("SELECT v FROM dicts WHERE id = $1", admin["id"].as_i64().unwrap())
            .await
            .remove(0)
            .unwrap();
        assert!(stored.starts_with("v1:") && !stored.contains("phone-admin-9"));
        let (_, preview) = app.get("/api/device_provisions/1/preview").await;
        assert!(!preview.to_string().contains("phone-admin-9"));

        // Bad settings are refused with the key and the reason.
        assert_error(
            &app.post("/api/dicts", json!({"realm": "PROVISION", "k": "colour", "v": "blue"}))
                .await,
            400,
            "k: 'colour' is not a provisioning setting",
        );
        assert_error(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION:001565000001", "k": "sip_server_port", "v": "0"}),
            )
            .await,
            400,
            "v: sip_server_port: '0' is not a port",
        );
        assert_error(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION:nonsense", "k": "transport", "v": "udp"}),
            )
            .await,
            400,
            "realm:",
        );
        assert_error(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION:001565000001", "k": "time_zone"}),
            )
            .await,
            400,
            "v: required",
        );

        // Removing a setting takes effect at once too.
        let port_id = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["k"] == "sip_server_port")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        assert_done(&app.delete(&format!("/api/dicts/{port_id}")).await);
        assert!(
            fetch("001565000001")
                .await
                .contains("account.1.sip_server.1.port = 5060")
        );
    })
    .await;
}
