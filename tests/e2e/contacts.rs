//! Contacts: a small resource the company directory lists besides the
//! extensions, with its rules, its bound and an all-or-nothing import.

use serde_json::json;

use crate::harness::{TestApp, assert_done, assert_error, on_each_backend};

/// A Yealink phone on extension 1001, and the directory it fetches.
async fn phone(app: &TestApp) {
    assert_done(
        &app.post(
            "/api/extensions",
            json!({"extn": "1001", "name": "Anna", "password": "pass-1001-x"}),
        )
        .await,
    );
    let record = json!({"vendor": "yealink", "mac": "00156500000a", "extn": "1001"});
    assert_done(&app.post("/api/device_provisions", record).await);
}

async fn directory(app: &TestApp) -> String {
    let got = crate::provisioning::fetch(
        app,
        "/prov/00156500000a-phonebook.xml",
        "Yealink SIP-T46G 28.83.0.50 00:15:65:00:00:0a",
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.body);
    got.body
}

async fn import(app: &TestApp, csv: String, query: &str) -> (reqwest::StatusCode, serde_json::Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/contacts/import{query}")))
        .header("X-XTRA-AUTH-ID", &app.token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn contacts_are_listed_in_the_directory_and_follow_each_change() {
    on_each_backend(|app| async move {
        phone(&app).await;
        let made = assert_done(
            &app.post("/api/contacts", json!({"name": "Front desk", "number": 4930123}))
                .await,
        );
        let id = made.as_str().unwrap();
        let (_, one) = app.get(&format!("/api/contacts/{id}")).await;
        assert_eq!(
            (one["name"].as_str(), one["number"].as_str()),
            (Some("Front desk"), Some("4930123"))
        );
        let body = directory(&app).await;
        assert!(
            body.contains("<Name>Front desk</Name>") && body.contains("<Telephone>4930123</Telephone>"),
            "{body}"
        );
        assert!(
            body.find("<Name>Anna</Name>") < body.find("<Name>Front desk</Name>"),
            "by name: {body}"
        );

        assert_done(
            &app.put(&format!("/api/contacts/{id}"), json!({"name": "Reception"}))
                .await,
        );
        let body = directory(&app).await;
        assert!(
            body.contains("<Name>Reception</Name>") && !body.contains("Front desk"),
            "{body}"
        );
        assert_done(&app.delete(&format!("/api/contacts/{id}")).await);
        assert!(!directory(&app).await.contains("Reception"));
        assert_error(&app.get(&format!("/api/contacts/{id}")).await, 404, "contact");

        // Bad input names the field and the reason.
        assert_error(
            &app.post("/api/contacts", json!({"number": "1"})).await,
            400,
            "name: required",
        );
        assert_error(
            &app.post("/api/contacts", json!({"name": "A", "number": "030 123"}))
                .await,
            400,
            "number: '030 123' may hold only",
        );
        assert_error(
            &app.put("/api/contacts/99", json!({"name": "A"})).await,
            404,
            "contact 99 not found",
        );
        let (_, page) = app.get("/api/contacts?name=zz").await;
        assert_eq!(page["rowCount"], 0);
    })
    .await;
}

/// An import is all or nothing, row by row; the site keeps at most 10,000
/// contacts, and past that the import or the create is refused, naming the
/// bound, while what is stored still serves.
/// One more contact, created or imported, is a 400 for `why`.
async fn one_more_is_refused(app: &TestApp, why: &str) {
    assert_error(
        &app.post("/api/contacts", json!({"name": "One more", "number": "2"}))
            .await,
        400,
        &format!("contacts: {why}"),
    );
    let (status, refused) = import(app, "name,number\nMore,3\n".into(), "").await;
    assert_eq!(status, 400);
    assert_eq!(refused["message"], format!("file: {why}"), "{refused}");
}

#[tokio::test]
async fn contacts_import_all_or_nothing_within_the_sites_bound() {
    on_each_backend(|app| async move {
        phone(&app).await;
        let (status, refused) = import(&app, "name,number\nA,1\n,2\nC,3 3\n".into(), "").await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(refused["message"], "2 bad rows; nothing was written");
        assert_eq!(refused["errors"][0]["row"], 3);
        assert_eq!(refused["errors"][0]["column"], "name");
        assert_eq!(refused["errors"][1]["column"], "number");
        assert_eq!(app.get("/api/contacts").await.1["rowCount"], 0);

        let mut csv = String::from("姓名,电话\n");
        for n in 0..9_999 {
            csv.push_str(&format!("Contact {n:05},{}\n", 5_000_000 + n));
        }
        let (status, dry) = import(&app, csv.clone(), "?dry_run=1").await;
        assert_eq!(status, 200);
        assert_eq!(
            dry["message"],
            "dry run: 9999 contacts would be created; nothing was written"
        );
        let (status, done) = import(&app, csv, "").await;
        assert_eq!(status, 200, "{}", done["message"]);
        assert_eq!(app.get("/api/contacts").await.1["rowCount"], 9_999);
        let body = directory(&app).await;
        assert!(body.contains("<Name>Contact 09998</Name>"), "10,000 entries serve");
        assert_eq!(body.matches("<DirectoryEntry>").count(), 10_000);

        assert_done(&app.post("/api/contacts", json!({"name": "Last", "number": "1"})).await);
        one_more_is_refused(
            &app,
            "the site keeps at most 10000 contacts; it has 10000, and this adds 1",
        )
        .await;
    })
    .await;
}

/// The company directory holds at most 20,000 entries: contacts past it
/// are refused, naming the bound; extensions never are, and come first,
/// so the last contact by name is what a full directory leaves out.
#[tokio::test]
async fn the_directory_is_bounded_and_keeps_extensions_first() {
    on_each_backend(|app| async move {
        phone(&app).await;
        assert_done(
            &app.post(
                "/api/extensions/muti_add",
                json!({"extns_start": "5000", "extns_end": "14999", "password": "range-pass"}),
            )
            .await,
        );
        let mut csv = String::from("name,number\n");
        for n in 0..9_998 {
            csv.push_str(&format!("Zz {n:05},{}\n", 5_000_000 + n));
        }
        let (status, done) = import(&app, csv, "").await;
        assert_eq!(status, 200, "{}", done["message"]);
        assert_done(
            &app.post("/api/contacts", json!({"name": "Zz last", "number": "9"}))
                .await,
        );
        one_more_is_refused(
            &app,
            "the company directory holds at most 20000 entries, extensions and contacts; it has 20000, and this adds 1",
        )
        .await;

        assert_done(
            &app.post("/api/extensions", json!({"extn": "15000", "password": "pass-15000-x"}))
                .await,
        );
        let body = directory(&app).await;
        assert_eq!(body.matches("<DirectoryEntry>").count(), 20_000);
        assert!(body.contains("<Telephone>15000</Telephone>"), "extensions come first");
        assert!(body.contains("<Name>Zz 09997</Name>"));
        assert!(!body.contains("Zz last"), "the last contact by name is left out");
    })
    .await;
}
