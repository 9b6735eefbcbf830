use reqwest::StatusCode;
use serde_json::json;

use crate::clients::curl;
use crate::harness::{assert_done, assert_error, on_each_backend};

fn md5_hex(s: &str) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(s.as_bytes()))
}

#[tokio::test]
async fn create_read_and_defaults() {
    on_each_backend(|app| async move {
        let created = app
            .post(
                "/api/extensions",
                json!({"extn": "1001", "name": "Front desk", "password": "s3cret-pw", "user_id": "1"}),
            )
            .await;
        let id: i64 = assert_done(&created).as_str().unwrap().parse().unwrap();

        let (status, row) = app.get(&format!("/api/extensions/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(row["extn"], "1001");
        assert_eq!(row["name"], "Front desk");
        assert_eq!(row["domain"], "xswitch.cn");
        assert_eq!(row["context"], "default");
        assert_eq!(row["type"], "SIP");
        assert_eq!(row["cid_name"], "Front desk");
        assert_eq!(row["cid_number"], "1001");
        assert_eq!(row["user_id"], 1);
        assert_eq!(row["disabled"], 0);
        assert_eq!(row["deleted_at"], "");
        assert_eq!(row["password"], "s3cret-pw");
        assert_eq!(row["ha1"], md5_hex("1001:xswitch.cn:s3cret-pw"));
        assert_eq!(row["ha1b"], md5_hex("1001@xswitch.cn:xswitch.cn:s3cret-pw"));
        let created_at = row["created_at"].as_str().unwrap();
        assert!(
            time::PrimitiveDateTime::parse(
                created_at,
                time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")
            )
            .is_ok(),
            "{created_at}"
        );

        // At rest the password is ciphertext.
        let stored = app
            .stored_text("SELECT password_enc FROM extensions WHERE id = $1", id)
            .await
            .remove(0)
            .unwrap();
        assert!(stored.starts_with("v1:") && !stored.contains("s3cret"), "{stored}");

        // No password given: a random one is made.
        let id2: i64 = assert_done(&app.post("/api/extensions", json!({"extn": 1002})).await)
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let (_, row2) = app.get(&format!("/api/extensions/{id2}")).await;
        assert_eq!(row2["extn"], "1002");
        assert_eq!(row2["password"].as_str().unwrap().len(), 16);

        // The list never carries passwords.
        let (_, list) = app.get("/api/extensions").await;
        assert!(
            list["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r.get("password").is_none() && r.get("password_enc").is_none())
        );
    })
    .await;
}

#[tokio::test]
async fn list_pages_filters_and_sorts() {
    on_each_backend(|app| async move {
        assert_done(
            &app.post(
                "/api/extensions/muti_add",
                json!({"extns_start": "3000", "extns_end": "3024", "password": "range-pass", "context": "ctx"}),
            )
            .await,
        );
        let (status, page) = app.get("/api/extensions?page=2&page_size=10").await;
        assert_eq!(status, 200);
        assert_eq!(
            (
                page["page"].clone(),
                page["pageCount"].clone(),
                page["rowCount"].clone()
            ),
            (json!(2), json!(3), json!(25))
        );
        assert_eq!(page["data"].as_array().unwrap().len(), 10);
        assert_eq!(page["data"][0]["extn"], "3010");
        assert_eq!(page["data"][0]["context"], "ctx");

        let (_, desc) = app
            .get("/api/extensions?perPage=3&sort_field=extn&sort_order=desc")
            .await;
        let extns: Vec<&str> = desc["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["extn"].as_str().unwrap())
            .collect();
        assert_eq!(extns, vec!["3024", "3023", "3022"]);
        let (_, filtered) = app.get("/api/extensions?extn=301").await;
        assert_eq!(filtered["rowCount"], 10);
        let (_, by_name) = app.get("/api/extensions?name=3007").await;
        assert_eq!(by_name["rowCount"], 1);

        assert_error(
            &app.get("/api/extensions?sort_field=password_enc").await,
            400,
            "sort_field",
        );
        assert_error(&app.get("/api/extensions?page=0").await, 400, "page:");
        assert_error(&app.get("/api/extensions?perPage=abc").await, 400, "perPage:");
        assert_error(&app.get("/api/extensions?perPage=1000000").await, 400, "perPage:");
    })
    .await;
}

#[tokio::test]
async fn update_changes_only_given_fields_and_recomputes_hashes() {
    on_each_backend(|app| async move {
        let id = app.extension("1001", "xswitch.cn", "first-pass").await;
        assert_eq!(
            assert_done(
                &app.put(&format!("/api/extensions/{id}"), json!({"name": "Lobby", "id": 999}))
                    .await
            ),
            json!(id.to_string())
        );
        let (_, row) = app.get(&format!("/api/extensions/{id}")).await;
        assert_eq!(
            (row["name"].clone(), row["password"].clone(), row["domain"].clone()),
            (json!("Lobby"), json!("first-pass"), json!("xswitch.cn"))
        );
        assert_eq!(row["id"], id);

        assert_done(
            &app.put(&format!("/api/extensions/{id}"), json!({"password": "second-pass"}))
                .await,
        );
        let (_, row) = app.get(&format!("/api/extensions/{id}")).await;
        assert_eq!(row["ha1"], md5_hex("1001:xswitch.cn:second-pass"));

        assert_done(
            &app.put(
                &format!("/api/extensions/{id}"),
                json!({"domain": "pbx.example.com", "disabled": true}),
            )
            .await,
        );
        let (_, row) = app.get(&format!("/api/extensions/{id}")).await;
        assert_eq!(
            row["password"], "second-pass",
            "password still opens after the domain changed"
        );
        assert_eq!(row["ha1"], md5_hex("1001:pbx.example.com:second-pass"));
        assert_eq!(row["ha1b"], md5_hex("1001@pbx.example.com:pbx.example.com:second-pass"));
        assert_eq!(row["disabled"], 1);
        assert_eq!(row["name"], "Lobby");

        assert_error(
            &app.put("/api/extensions/99999", json!({"name": "x"})).await,
            404,
            "extension 99999 not found",
        );
    })
    .await;
}

#[tokio::test]
async fn bad_input_gets_a_400_naming_the_field() {
    on_each_backend(|app| async move {
        assert_error(
            &app.post("/api/extensions", json!({"name": "no number"})).await,
            400,
            "extn: required",
        );
        assert_error(
            &app.post("/api/extensions", json!({"extn": "10 01"})).await,
            400,
            "extn:",
        );
        assert_error(
            &app.post("/api/extensions", json!({"extn": "1001", "type": "FAX"}))
                .await,
            400,
            "type:",
        );
        assert_error(
            &app.post("/api/extensions", json!({"extn": "1001", "password": "123"}))
                .await,
            400,
            "password: too short",
        );
        assert_error(
            &app.post("/api/extensions", json!({"extn": "100100", "password": "100100"}))
                .await,
            400,
            "password: must not equal",
        );
        assert_error(
            &app.post("/api/extensions", json!({"extn": "1001", "user_id": 77}))
                .await,
            400,
            "user_id: no user has id 77",
        );
        assert_error(
            &app.post("/api/extensions", json!({"extn": "1001", "user_id": "seven"}))
                .await,
            400,
            "user_id:",
        );
        assert_error(
            &app.post("/api/extensions", json!({"extn": "1001", "disabled": "yes"}))
                .await,
            400,
            "disabled:",
        );
        assert_error(
            &app.post("/api/extensions", json!({"extn": "1001", "domain": "bad domain!"}))
                .await,
            400,
            "domain:",
        );
        assert_error(
            &app.post("/api/extensions", json!(["not", "an", "object"])).await,
            400,
            "request body",
        );
        assert_error(&app.get("/api/extensions/abc").await, 400, "path:");
        assert_error(&app.get("/api/extensions/424242").await, 404, "not found");
        assert_error(&app.get("/api/no_such_thing").await, 404, "no such API route");

        app.extension("1001", "xswitch.cn", "good-pass").await;
        assert_error(
            &app.post("/api/extensions", json!({"extn": "1001"})).await,
            409,
            "extn: 1001 already exists in domain xswitch.cn",
        );
        app.extension("1001", "other.example.com", "good-pass").await;
    })
    .await;
}

#[tokio::test]
async fn ranges_are_all_or_nothing() {
    on_each_backend(|app| async move {
        let rows = assert_done(
            &app.post(
                "/api/extensions/muti_add",
                json!({"extns_start": 2000, "extns_end": "2004", "password": "shared-pw"}),
            )
            .await,
        );
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[4]["extn"], "2004");
        assert!(rows[0].get("password").is_none());
        let (_, one) = app.get(&format!("/api/extensions/{}", rows[0]["id"])).await;
        assert_eq!(one["password"], "shared-pw");

        assert_error(
            &app.post(
                "/api/extensions/muti_add",
                json!({"extns_start": "2003", "extns_end": "2010"}),
            )
            .await,
            409,
            "2003, 2004",
        );
        let (_, all) = app.get("/api/extensions").await;
        assert_eq!(all["rowCount"], 5, "nothing of the refused range was written");
        assert_error(
            &app.post(
                "/api/extensions/muti_add",
                json!({"extns_start": "9", "extns_end": "1"}),
            )
            .await,
            400,
            "extns_end:",
        );
        assert_error(
            &app.post("/api/extensions/muti_add", json!({"extns_end": "1"})).await,
            400,
            "extns_start: required",
        );
        assert_error(
            &app.post(
                "/api/extensions/muti_add",
                json!({"extns_start": "1", "extns_end": "99999"}),
            )
            .await,
            400,
            "at most",
        );
    })
    .await;
}

#[tokio::test]
async fn delete_is_soft_and_refused_while_a_phone_uses_the_extension() {
    on_each_backend(|app| async move {
        let id = app.extension("1001", "xswitch.cn", "good-pass").await;
        let used = app.extension("1002", "xswitch.cn", "good-pass").await;
        assert_done(
            &app.post(
                "/api/device_provisions",
                json!({"name": "p", "vendor": "yealink", "mac": "001565aabbcc", "extn": "1002"}),
            )
            .await,
        );
        assert_error(
            &app.delete(&format!("/api/extensions/{used}")).await,
            409,
            "is a line of device",
        );
        assert_error(
            &app.put(&format!("/api/extensions/{used}"), json!({"extn": "1003"}))
                .await,
            409,
            "remove it there",
        );

        assert_eq!(
            assert_done(&app.delete(&format!("/api/extensions/{id}")).await),
            json!(id.to_string())
        );
        assert_error(&app.get(&format!("/api/extensions/{id}")).await, 404, "not found");
        assert_error(&app.delete(&format!("/api/extensions/{id}")).await, 404, "not found");
        let deleted_at = app
            .stored_text("SELECT CAST(deleted_at AS TEXT) FROM extensions WHERE id = $1", id)
            .await
            .remove(0);
        assert!(deleted_at.is_some(), "the row stays, marked deleted");
        // The number is free again.
        app.extension("1001", "xswitch.cn", "good-pass").await;
    })
    .await;
}

#[tokio::test]
async fn an_oversized_body_is_a_413_with_a_json_body() {
    on_each_backend(|app| async move {
        let huge = "x".repeat(3 * 1024 * 1024);
        let r = app
            .post("/api/extensions", json!({"extn": "1001", "description": huge}))
            .await;
        assert_error(&r, 413, "request body");
    })
    .await;
}

/// Extensions come from a spreadsheet, all or nothing: number, name and an
/// optional password (generated when blank). A dry run writes nothing; a
/// bad file lists every bad row, naming the column and the reason, never
/// echoing a password; the operation log holds the numbers, not passwords.
#[tokio::test]
async fn extensions_import_from_a_spreadsheet_all_or_nothing() {
    on_each_backend(|app| async move {
        let import = |body: &'static str, query: &'static str| {
            let app = &app;
            async move {
                let response = app
                    .client
                    .post(app.url(&format!("/api/extensions/import{query}")))
                    .header("X-XTRA-AUTH-ID", &app.token)
                    .header("content-type", "text/csv")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                (response.status(), response.json::<serde_json::Value>().await.unwrap())
            }
        };
        let good = "number,name,password\n2001,Sam Smith,\n2002,Ana Lima,Ana-pass-9\n2003,,\n";

        let (status, dry) = import(good, "?dry_run=1").await;
        assert_eq!(status, 200, "{dry}");
        assert_eq!(
            dry["message"],
            "dry run: 3 extensions would be created; nothing was written"
        );
        assert_eq!(
            dry["data"][0],
            json!({"extn": "2001", "name": "Sam Smith", "domain": "xswitch.cn"})
        );
        assert_eq!(
            app.get("/api/extensions").await.1["rowCount"],
            0,
            "a dry run writes nothing"
        );

        // One bad row refuses the file: a number twice, one that exists, a
        // short password (not echoed), a row without a number.
        assert_done(
            &app.post("/api/extensions", json!({"extn": "2009", "password": "pass-2009"}))
                .await,
        );
        let bad = "extn,name,password\n2001,A,\n2001,B,\n2009,C,\n2004,D,abc\n,E,\n";
        let (status, refused) = import(bad, "").await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(refused["message"], "4 bad rows; nothing was written", "{refused}");
        let rows: Vec<(u64, String, String, String)> = refused["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap().to_string();
                (
                    e["row"].as_u64().unwrap(),
                    text("column"),
                    text("value"),
                    text("reason"),
                )
            })
            .collect();
        assert_eq!(
            rows[0],
            (
                3,
                "extn".into(),
                "2001".into(),
                "also on row 2; each extension once per file".into()
            )
        );
        assert_eq!(
            rows[1],
            (
                4,
                "extn".into(),
                "2009".into(),
                "already exists in domain xswitch.cn".into()
            )
        );
        assert_eq!(rows[2].0, 5);
        assert_eq!(
            (rows[2].1.as_str(), rows[2].2.as_str()),
            ("password", ""),
            "never echoed"
        );
        assert!(rows[2].3.contains("too short"), "{:?}", rows[2]);
        assert_eq!(
            (rows[3].0, rows[3].1.as_str(), rows[3].3.as_str()),
            (6, "extn", "required")
        );
        assert_eq!(
            app.get("/api/extensions").await.1["rowCount"],
            1,
            "nothing of the file was written"
        );

        let (status, headless) = import("name,password\nA,\n", "").await;
        assert_eq!(status, 400);
        assert!(
            headless["message"]
                .as_str()
                .unwrap()
                .starts_with("file: the header row must name an extension column"),
            "{headless}"
        );

        // The real import, as a multipart upload from curl.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("staff.csv");
        std::fs::write(&path, good).unwrap();
        let out = curl(vec![
            "-sS".into(),
            "-H".into(),
            format!("X-XTRA-AUTH-ID: {}", app.token),
            "-F".into(),
            format!("file=@{}", path.display()),
            app.url("/api/extensions/import"),
        ])
        .await;
        let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(created["code"], 200, "{created}");
        assert_eq!(created["data"].as_array().unwrap().len(), 3);
        let (_, list) = app.get("/api/extensions?sort=extn").await;
        let by_number = |extn: &str| {
            list["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["extn"] == extn)
                .unwrap()
                .clone()
        };
        assert_eq!(by_number("2001")["name"], "Sam Smith");
        assert_eq!(by_number("2003")["name"], "2003", "no name: the number");
        let ana = app.get(&format!("/api/extensions/{}", by_number("2002")["id"])).await.1;
        assert_eq!(ana["password"], "Ana-pass-9");
        let sam = app.get(&format!("/api/extensions/{}", by_number("2001")["id"])).await.1;
        assert_eq!(sam["password"].as_str().unwrap().len(), 16, "generated: {sam}");

        let (_, logs) = app.get("/api/logs").await;
        let text = logs.to_string();
        assert!(
            text.contains(r#"\"extns\":[\"2001\",\"2002\",\"2003\"]"#) && text.contains("IMPORT"),
            "{text}"
        );
        assert!(!text.contains("Ana-pass-9"), "no password in the log: {text}");
    })
    .await;
}
