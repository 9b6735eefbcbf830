use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestApp, assert_done, assert_error, on_each_backend};

/// The seed's row keys, and the fetch-tracking keys sipprov adds.
const ROW_KEYS: [&str; 14] = [
    "created_at",
    "deleted_at",
    "extn",
    "firmware",
    "id",
    "last_file",
    "last_ip",
    "last_provisioned_at",
    "last_user_agent",
    "mac",
    "name",
    "type",
    "updated_at",
    "vendor",
];

fn keys(row: &Value) -> Vec<String> {
    let mut k: Vec<String> = row.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

async fn count(app: &TestApp) -> i64 {
    app.get("/api/device_provisions").await.1["rowCount"].as_i64().unwrap()
}

#[tokio::test]
async fn seed_examples_create_list_get_update_delete() {
    on_each_backend(|app| async move {
        for extn in ["1001", "1006"] {
            app.extension(extn, "xswitch.cn", "good-pass").await;
        }
        app.extension("1007", "demo.xswitch.cn", "good-pass").await;

        // 新建话机配置
        let created = app.post("/api/device_provisions", json!({"name": "我在测试", "vendor": "gs", "mac": "000B7461582D", "extn": "[{\"extn\":\"1001\"}]"})).await;
        let id = assert_done(&created);
        assert!(id.is_string(), "data is the id as a string: {id}");
        // The curl example: extn|domain inside the array.
        let curl = app.post("/api/device_provisions", json!({"extn": "[{\"extn\":\"1007|demo.xswitch.cn\"}]", "name": "kf1", "vendor": "huawei", "mac": "000B7461582E"})).await;
        assert_done(&curl);

        // 查看话机信息
        let (status, list) = app.get("/api/device_provisions").await;
        assert_eq!(status, StatusCode::OK);
        let mut top: Vec<&str> = list.as_object().unwrap().keys().map(String::as_str).collect();
        top.sort();
        assert_eq!(top, vec!["data", "page", "pageCount", "rowCount"]);
        assert_eq!((list["rowCount"].clone(), list["pageCount"].clone(), list["page"].clone()), (json!(2), json!(1), json!(1)));
        let first = &list["data"][0];
        assert_eq!(keys(first), ROW_KEYS);
        assert_eq!(first["name"], "我在测试");
        assert_eq!(first["vendor"], "gs");
        assert_eq!(first["mac"], "000b7461582d");
        assert_eq!(first["extn"], "[{\"extn\":\"1001\"}]", "echoed as stored");
        assert_eq!(first["deleted_at"], "");
        assert_eq!(first["type"], "");

        let (status, one) = app.get(&format!("/api/device_provisions/{}", id.as_str().unwrap())).await;
        assert_eq!(status, 200);
        assert_eq!(&one, first);

        // 修改话机配置信息: the id in the body is ignored.
        let updated = app.put(&format!("/api/device_provisions/{}", id.as_str().unwrap()), json!({"extn": "1006", "id": 1})).await;
        assert_eq!(assert_done(&updated), id);
        let (_, one) = app.get(&format!("/api/device_provisions/{}", id.as_str().unwrap())).await;
        assert_eq!((one["extn"].clone(), one["name"].clone(), one["vendor"].clone()), (json!("1006"), json!("我在测试"), json!("gs")));

        // 删除话机配置
        let deleted = app.delete(&format!("/api/device_provisions/{}", id.as_str().unwrap())).await;
        assert_eq!(assert_done(&deleted), id);
        assert_error(&app.delete(&format!("/api/device_provisions/{}", id.as_str().unwrap())).await, 404, "not found");
        assert_error(&app.get(&format!("/api/device_provisions/{}", id.as_str().unwrap())).await, 404, "not found");
        assert_eq!(count(&app).await, 1);
    })
    .await;
}

#[tokio::test]
async fn seed_import_with_chinese_keys_and_a_shared_mac() {
    on_each_backend(|app| async move {
        for extn in ["1000", "1001", "1002"] {
            app.extension(extn, "xswitch.cn", "good-pass").await;
        }
        let body = json!({"devices": [
            {"名称": "我在测试", "分机号": "1002", "供应商": "潮流", "MAC": "000B7461582D"},
            {"名称": "admin", "分机号": "1000", "供应商": "gs", "MAC": "000b82d74615"},
            {"名称": "我在测试", "分机号": "1001", "供应商": "gs", "MAC": "000B7461582D"}
        ]});
        let rows = assert_done(&app.post("/api/device_provisions/import", body).await);
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 3);
        for row in rows {
            assert_eq!(keys(row), ROW_KEYS);
        }
        assert_eq!(
            (
                rows[0]["extn"].clone(),
                rows[0]["vendor"].clone(),
                rows[0]["mac"].clone()
            ),
            (json!("1002"), json!("潮流"), json!("000b7461582d"))
        );
        assert_eq!(rows[2]["mac"], rows[0]["mac"], "one phone, two records, two lines");
        assert!(rows[0]["id"].is_i64());
        assert_eq!(count(&app).await, 3);

        // The same line again is refused, and so is the MAC as another vendor.
        let again = app
            .post(
                "/api/device_provisions/import",
                json!({"data": [{"mac": "00:0b:74:61:58:2d", "vendor": "潮流", "extn": "1002"}]}),
            )
            .await;
        assert_error(&again, 400, "1 bad row");
        assert!(
            again.1["errors"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("already a line of MAC 000b7461582d"),
            "{}",
            again.1
        );
        let other_vendor = app
            .post(
                "/api/device_provisions",
                json!({"mac": "000b7461582d", "vendor": "yealink", "extn": "1000"}),
            )
            .await;
        assert_error(&other_vendor, 400, "already registered as a grandstream phone");
    })
    .await;
}

#[tokio::test]
async fn seed_bulk_create_with_bad_macs_lists_every_row_and_writes_nothing() {
    on_each_backend(|app| async move {
        app.extension("1031", "xswitch.cn", "good-pass").await;
        // The seed's curl example posts rows to the create route; its MACs are not valid.
        let body = json!({"data": [
            {"extn": "1031", "mac": "00a859f6c74i", "vendor": "xyt", "name": "lili"},
            {"extn": "1032", "mac": "0a859f6c74o", "vendor": "xyt", "name": "zhangsan"},
            {"extn": "1031", "mac": "00a859f6c74p", "vendor": "xyt", "name": "lisi"}
        ]});
        let refused = app.post("/api/device_provisions", body).await;
        assert_error(&refused, 400, "3 bad rows; nothing was written");
        let errors = refused.1["errors"].as_array().unwrap();
        let described: Vec<(u64, &str, &str)> = errors
            .iter()
            .map(|e| {
                (
                    e["row"].as_u64().unwrap(),
                    e["column"].as_str().unwrap(),
                    e["value"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            described,
            vec![
                (1, "mac", "00a859f6c74i"),
                (2, "mac", "0a859f6c74o"),
                (2, "extn", "1032"),
                (3, "mac", "00a859f6c74p")
            ]
        );
        assert!(
            errors[2]["reason"]
                .as_str()
                .unwrap()
                .contains("extension 1032 does not exist")
        );
        assert_eq!(count(&app).await, 0);

        // Fixed, the same rows go in.
        app.extension("1032", "xswitch.cn", "good-pass").await;
        let fixed = json!({"data": [
            {"extn": "1031", "mac": "00a859f6c741", "vendor": "xyt", "name": "lili"},
            {"extn": "1032", "mac": "0a859f6c7400", "vendor": "xyt", "name": "zhangsan"},
            {"extn": "1031", "mac": "00a859f6c742", "vendor": "xyt", "name": "lisi"}
        ]});
        assert_eq!(
            assert_done(&app.post("/api/device_provisions", fixed).await)
                .as_array()
                .unwrap()
                .len(),
            3
        );
    })
    .await;
}

#[tokio::test]
async fn extn_forms_mac_spellings_and_vendor_names() {
    on_each_backend(|app| async move {
        app.extension("1001", "xswitch.cn", "good-pass").await;
        app.extension("1001", "b.example.com", "good-pass").await;
        app.extension("1002", "xswitch.cn", "good-pass").await;
        app.extension("1003", "xswitch.cn", "good-pass").await;

        assert_error(
            &app.post(
                "/api/device_provisions",
                json!({"vendor": "yealink", "mac": "001565000001", "extn": "1001"}),
            )
            .await,
            400,
            "several domains",
        );
        for (mac, extn) in [
            ("00:15:65:00:00:01", "1001@xswitch.cn"),
            ("00-15-65-00-00-02", "1001|b.example.com"),
            ("0015.6500.0003", "[{\"extn\":\"1002\"},{\"extn\":\"1003\"}]"),
        ] {
            let r = app
                .post(
                    "/api/device_provisions",
                    json!({"vendor": "亿联", "mac": mac, "extn": extn}),
                )
                .await;
            assert_done(&r);
        }
        let (_, list) = app.get("/api/device_provisions?sort_field=mac").await;
        let macs: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["mac"].as_str().unwrap())
            .collect();
        assert_eq!(macs, vec!["001565000001", "001565000002", "001565000003"]);
        assert_eq!(list["data"][1]["extn"], "1001|b.example.com");

        assert_error(
            &app.post(
                "/api/device_provisions",
                json!({"vendor": "acme", "mac": "001565000009"}),
            )
            .await,
            400,
            "unknown vendor 'acme'; accepted: akuvox, cisco, fanvil, 方位,",
        );
        assert_error(
            &app.post(
                "/api/device_provisions",
                json!({"vendor": "snom", "mac": "+1+2+3+4+5+6"}),
            )
            .await,
            400,
            "'+1+2+3+4+5+6' is not a MAC address",
        );
        assert_error(
            &app.post("/api/device_provisions", json!({"vendor": "snom"})).await,
            400,
            "mac: required",
        );
        assert_error(
            &app.post("/api/device_provisions", json!({"mac": "001565000009"})).await,
            400,
            "vendor: required",
        );
        assert_error(
            &app.post(
                "/api/device_provisions",
                json!({"vendor": "snom", "mac": "001565000009", "extn": "9999"}),
            )
            .await,
            400,
            "extension 9999 does not exist",
        );
        assert_error(
            &app.post(
                "/api/device_provisions",
                json!({"vendor": "snom", "mac": "001565000009", "extn": "[{\"extn\":\"1002\"},{\"extn\":\"1002\"}]"}),
            )
            .await,
            400,
            "already a line",
        );
        assert_error(
            &app.put("/api/device_provisions/1", json!({"mac": "nope"})).await,
            400,
            "mac:",
        );
        assert_error(
            &app.put("/api/device_provisions/777", json!({"name": "x"})).await,
            404,
            "not found",
        );

        // A phone without lines yet is allowed: it gets only common files.
        assert_done(
            &app.post(
                "/api/device_provisions",
                json!({"vendor": "snom", "mac": "000413000001", "type": "D785"}),
            )
            .await,
        );
    })
    .await;
}

#[tokio::test]
async fn list_filters() {
    on_each_backend(|app| async move {
        // A parameter given twice is refused, not read as one of its values.
        assert_error(
            &app.get("/api/device_provisions?page=&page=x").await,
            400,
            "page: given more than once",
        );
        for e in ["1001", "1002", "2001"] {
            app.extension(e, "xswitch.cn", "good-pass").await;
        }
        let rows = json!({"devices": [
            {"name": "Reception", "vendor": "潮流", "mac": "000b82000001", "extn": "1001"},
            {"name": "Sales", "vendor": "yealink", "mac": "001565000002", "extn": "1002"},
            {"name": "Sales 2", "vendor": "gs", "mac": "000b82000003", "extn": "2001"}
        ]});
        assert_done(&app.post("/api/device_provisions/import", rows).await);
        let names = |v: &Value| {
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&app.get("/api/device_provisions?vendor=grandstream").await.1),
            vec!["Reception", "Sales 2"]
        );
        assert_eq!(
            names(&app.get("/api/device_provisions?name=sales").await.1),
            vec!["Sales", "Sales 2"]
        );
        assert_eq!(
            names(&app.get("/api/device_provisions?mac=00:15:65").await.1),
            vec!["Sales"]
        );
        assert_eq!(
            names(&app.get("/api/device_provisions?extn=200").await.1),
            vec!["Sales 2"]
        );
        assert_eq!(
            names(
                &app.get("/api/device_provisions?vendor=gs&name=sales&sortField=id&sortOrder=descend")
                    .await
                    .1
            ),
            vec!["Sales 2"]
        );
        assert_error(&app.get("/api/device_provisions?vendor=acme").await, 400, "vendor:");
        assert_error(&app.get("/api/device_provisions?mac=zz").await, 400, "mac:");
    })
    .await;
}

#[tokio::test]
async fn csv_import_dry_run_and_download_round_trip() {
    on_each_backend(|app| async move {
        for e in ["1001", "1002"] {
            app.extension(e, "xswitch.cn", "good-pass").await;
        }
        let bad_csv =
            "name,extn,vendor,mac\nFront,1001,yealink,00:15:65:aa:bb:01\nBack,1002,yealink,00:15:65:aa:bb:zz\n";
        let r = app
            .client
            .post(app.url("/api/device_provisions/import"))
            .header("X-XTRA-AUTH-ID", &app.token)
            .header("content-type", "text/csv")
            .body(bad_csv)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["row"], 3, "spreadsheet line of the bad row: {body}");
        assert_eq!(body["errors"][0]["column"], "mac");
        assert_eq!(count(&app).await, 0);

        let good_csv = bad_csv.replace("bb:zz", "bb:02");
        let dry = app
            .post_csv("/api/device_provisions/import?dry_run=1", good_csv.clone())
            .await;
        assert_eq!(dry.status(), 200);
        let dry: Value = dry.json().await.unwrap();
        assert!(dry["message"].as_str().unwrap().contains("dry run: 2 rows"), "{dry}");
        assert_eq!(dry["data"][1]["mac"], "001565aabb02");
        assert_eq!(count(&app).await, 0, "a dry run writes nothing");

        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(good_csv.into_bytes()).file_name("phones.csv"),
        );
        let up = app
            .client
            .post(app.url("/api/device_provisions/import"))
            .header("X-XTRA-AUTH-ID", &app.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(up.status(), 200);
        assert_eq!(count(&app).await, 2);

        let (status, table) = app.get("/api/device_provisions/download").await;
        assert_eq!(status, 200);
        assert_eq!(
            table,
            json!([
                ["name", "extn", "vendor", "mac"],
                ["Front", "1001", "yealink", "001565aabb01"],
                ["Back", "1002", "yealink", "001565aabb02"]
            ])
        );
        let (_, zh) = app
            .get("/api/device_provisions/download?language=zh-CN&name=back")
            .await;
        assert_eq!(
            zh,
            json!([
                ["名称", "分机号", "供应商", "MAC"],
                ["Back", "1002", "yealink", "001565aabb02"]
            ])
        );

        // Blank parameters are "not given", as forms send them.
        let (status, blank) = app
            .get("/api/device_provisions/download?format=&vendor=&sort_order=&name=back")
            .await;
        assert_eq!(status, 200, "{blank}");
        assert_eq!(blank[1], json!(["Back", "1002", "yealink", "001565aabb02"]));

        // The CSV export imports back (after the records are gone).
        let csv = app
            .client
            .get(app.url("/api/device_provisions/download?format=csv"))
            .header("X-XTRA-AUTH-ID", &app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let exported = csv.text().await.unwrap();
        for id in [1, 2] {
            assert_done(&app.delete(&format!("/api/device_provisions/{id}")).await);
        }
        assert_eq!(app.import_csv(exported).await.status(), 200);
        assert_eq!(count(&app).await, 2);
        assert_error(
            &app.get("/api/device_provisions/download?format=xml").await,
            400,
            "format:",
        );
    })
    .await;
}

#[tokio::test]
async fn import_refuses_empty_and_malformed_bodies() {
    on_each_backend(|app| async move {
        assert_error(
            &app.post("/api/device_provisions/import", json!({"devices": []})).await,
            400,
            "no rows",
        );
        assert_error(
            &app.post("/api/device_provisions/import", json!({"rows": [1]})).await,
            400,
            "devices: required",
        );
        assert_error(
            &app.post("/api/device_provisions/import", json!({"devices": "x"})).await,
            400,
            "devices: invalid type: string \"x\", expected an array of rows",
        );
        let r = app
            .post("/api/device_provisions/import", json!({"devices": [42]}))
            .await;
        assert_error(&r, 400, "1 bad row");
        assert_eq!(r.1["errors"][0]["reason"], "each row must be a JSON object");
        let r = app
            .client
            .post(app.url("/api/device_provisions/import"))
            .header("X-XTRA-AUTH-ID", &app.token)
            .header("content-type", "text/csv")
            .body("name,extn\nx,1\n")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    })
    .await;
}

/// An XLSX workbook as a spreadsheet program saves it: a header row, then
/// one device per row; the extension as a number cell.
fn workbook(rows: &[(&str, f64, &str, &str)]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (col, header) in ["名称", "分机号", "供应商", "MAC"].iter().enumerate() {
        sheet.write_string(0, col as u16, *header).unwrap();
    }
    for (i, (name, extn, vendor, mac)) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string(row, 0, *name).unwrap();
        sheet.write_number(row, 1, *extn).unwrap();
        sheet.write_string(row, 2, *vendor).unwrap();
        sheet.write_string(row, 3, *mac).unwrap();
    }
    book.save_to_buffer().unwrap()
}

#[tokio::test]
async fn xlsx_import_reports_sheet_rows_and_is_all_or_nothing() {
    on_each_backend(|app| async move {
        for e in ["1001", "1002"] {
            app.extension(e, "xswitch.cn", "good-pass").await;
        }
        let send = |bytes: Vec<u8>| {
            let form = reqwest::multipart::Form::new()
                .part("file", reqwest::multipart::Part::bytes(bytes).file_name("phones.xlsx"));
            app.client
                .post(app.url("/api/device_provisions/import"))
                .header("X-XTRA-AUTH-ID", &app.token)
                .multipart(form)
                .send()
        };
        let bad = workbook(&[
            ("前台", 1001.0, "亿联", "00:15:65:aa:bb:01"),
            ("后台", 1002.0, "yealink", "00:15:65:aa:bb:zz"),
        ]);
        let r = send(bad).await.unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
        assert_eq!(body["errors"][0]["row"], 3, "the sheet's row number: {body}");
        assert_eq!(body["errors"][0]["column"], "mac");
        assert_eq!(count(&app).await, 0);

        let good = workbook(&[
            ("前台", 1001.0, "亿联", "00:15:65:aa:bb:01"),
            ("后台", 1002.0, "yealink", "00:15:65:aa:bb:02"),
        ]);
        let r = send(good).await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["data"][0]["extn"], "1001",
            "a number cell reads as the number: {body}"
        );
        assert_eq!(body["data"][1]["mac"], "001565aabb02");
        assert_eq!(count(&app).await, 2);

        // A ZIP that is not a workbook is refused with the reason.
        let r = send(b"PK\x03\x04 not really a workbook".to_vec()).await.unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("file: cannot read the XLSX workbook"),
            "{body}"
        );
    })
    .await;
}

/// A workbook with one part replaced: what a hostile spreadsheet looks like.
fn with_part(workbook: &[u8], part: &str, body: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut source = zip::ZipArchive::new(std::io::Cursor::new(workbook)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for index in 0..source.len() {
        let mut file = source.by_index(index).unwrap();
        let name = file.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        out.start_file(name.as_str(), options).unwrap();
        out.write_all(if name == part { body } else { &bytes }).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// Spreadsheets that declare or unpack to more than sipprov reads get a 400
/// naming the limit, before anything is allocated by what they claim; CSV
/// and JSON bodies have their row count and field length bounded too.
#[tokio::test]
async fn hostile_spreadsheets_get_a_400_naming_the_limit() {
    on_each_backend(|app| async move {
        let send = |bytes: Vec<u8>, name: &'static str| {
            let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name));
            app.client
                .post(app.url("/api/device_provisions/import?dry_run=1"))
                .header("X-XTRA-AUTH-ID", &app.token)
                .multipart(form)
                .send()
        };
        let refused = |bytes: Vec<u8>, name: &'static str, needle: &'static str| {
            let sent = send(bytes, name);
            async move {
                let r = sent.await.unwrap();
                let status = r.status();
                let body: Value = r.json().await.unwrap();
                assert_eq!(status, 400, "{body}");
                assert!(body.to_string().contains(needle), "{needle} not in {body}");
            }
        };
        app.extension("1001", "xswitch.cn", "good-pass").await;
        let good = workbook(&[("前台", 1001.0, "亿联", "00:15:65:aa:bb:01")]);
        // One cell far out: XFD200000 (a sheet that size would take terabytes).
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "mac").unwrap();
        sheet.write_string(199_999, 16_383, "x").unwrap();
        refused(
            book.save_to_buffer().unwrap(),
            "far.xlsx",
            "at most 64 columns are read",
        )
        .await;
        // A shared-strings part that declares 100 billion strings.
        let sst = br#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="100000000000" uniqueCount="100000000000"><si><t>mac</t></si></sst>"#;
        refused(
            with_part(&good, "xl/sharedStrings.xml", sst),
            "sst.xlsx",
            "at most 1000000 are read",
        )
        .await;
        // A part that unpacks to far more than it weighs.
        let mut bomb = br#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>"#.to_vec();
        bomb.extend(std::iter::repeat_n(b'a', 16 * 1024 * 1024));
        bomb.extend(b"</t></si></sst>");
        refused(
            with_part(&good, "xl/sharedStrings.xml", &bomb),
            "bomb.xlsx",
            "times its packed size are read",
        )
        .await;
        // The good workbook still goes through.
        assert_eq!(send(good, "good.xlsx").await.unwrap().status(), 200);

        // CSV: too many rows, and a value too long.
        let mut csv = String::from("mac,vendor\n");
        for n in 0..200_001u32 {
            csv.push_str(&format!("02{n:010x},yealink\n"));
        }
        refused(csv.into_bytes(), "many.csv", "import at most 200000 at once").await;
        let long = format!("mac,name\n001565aabb01,{}\n", "n".repeat(5000));
        refused(long.into_bytes(), "long.csv", "longer than 4096 characters").await;
        // JSON: the same bounds.
        let rows: Vec<Value> = (0..200_001u32).map(|n| json!({"mac": format!("02{n:010x}")})).collect();
        let r = app
            .client
            .post(app.url("/api/device_provisions/import?dry_run=1"))
            .header("X-XTRA-AUTH-ID", &app.token)
            .json(&rows)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("import at most 200000 at once"));
    })
    .await;
}

/// No export starts a formula in a spreadsheet (OWASP's CSV-injection
/// rule: `=`, `+`, `-`, `@`, tab and line breaks get a leading `'`), and an
/// export still imports back to the same values. A model is refused when it
/// is not what phones call themselves, so a User-Agent cannot put one there.
#[tokio::test]
async fn exports_neutralise_formulas_and_import_back_unchanged() {
    on_each_backend(|app| async move {
        // What a hostile User-Agent could offer as a model is refused.
        for model in ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "T46G\tx"] {
            let refused = app
                .post(
                    "/api/device_provisions",
                    json!({"vendor": "yealink", "mac": "001565000099", "type": model}),
                )
                .await;
            assert_error(&refused, 400, "type: ");
        }
        // Names may be anything; the cells that could run are guarded.
        let names = ["=1+1", "+SUM(A1)", "-2+3", "@x", "'=kept", "'plain", "Front desk"];
        for (n, name) in names.iter().enumerate() {
            let mac = format!("0015650000{n:02}");
            assert_done(
                &app.post(
                    "/api/device_provisions",
                    json!({"name": name, "vendor": "yealink", "mac": mac, "type": "T46G"}),
                )
                .await,
            );
        }
        let csv = crate::clients::curl(vec![
            "-s".into(),
            "--fail".into(),
            "-H".into(),
            format!("X-XTRA-AUTH-ID: {}", app.token),
            app.url("/api/device_provisions/download?format=csv&sort_field=id"),
        ])
        .await;
        assert!(csv.status.success());
        let mut reader = csv::Reader::from_reader(csv.stdout.as_slice());
        let cells: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_string()).collect();
        assert_eq!(
            cells,
            ["'=1+1", "'+SUM(A1)", "'-2+3", "'@x", "''=kept", "'plain", "Front desk"]
        );

        // The export imports back into an empty table as the same names.
        for id in 1..=names.len() {
            assert_done(&app.delete(&format!("/api/device_provisions/{id}")).await);
        }
        assert_eq!(app.import_csv(csv.stdout).await.status(), 200);
        let (_, list) = app.get("/api/device_provisions?perPage=50&sort_field=mac").await;
        let got: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, names);
    })
    .await;
}

#[tokio::test]
async fn the_list_filters_by_config_state_and_refuses_other_states() {
    on_each_backend(|app| async move {
        for mac in ["001565360001", "001565360002", "001565360003"] {
            assert_done(
                &app.post("/api/device_provisions", json!({"vendor": "yealink", "mac": mac}))
                    .await,
            );
        }
        // Two fetch; then one of them is changed after its fetch.
        for mac in ["001565360001", "001565360002"] {
            let got = crate::provisioning::fetch(&app, &format!("/prov/{mac}.cfg"), "").await;
            assert_eq!(got.status, 200, "{}", got.body);
        }
        let listed = |query: &'static str| app.device_macs(query);
        let start = std::time::Instant::now();
        while listed("status=current").await.len() < 2 {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "fetches not recorded"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let (_, found) = app.get("/api/device_provisions?mac=001565360002").await;
        let id = found["data"][0]["id"].as_i64().unwrap();
        assert_done(
            &app.put(&format!("/api/device_provisions/{id}"), json!({"name": "moved desk"}))
                .await,
        );

        assert_eq!(listed("status=current").await, ["001565360001"]);
        assert_eq!(listed("status=older").await, ["001565360002"]);
        assert_eq!(listed("status=never").await, ["001565360003"]);
        assert_eq!(listed("status=never&mac=0003").await, ["001565360003"]);
        assert_eq!(listed("").await.len(), 3, "without the parameter the list is XSwitch's");
        assert_error(
            &app.get("/api/device_provisions?status=newer").await,
            400,
            "status: 'newer' is not current, older or never",
        );
    })
    .await;
}

#[tokio::test]
async fn a_dry_run_says_what_each_row_does_and_what_to_look_at() {
    on_each_backend(|app| async move {
        for extn in ["1001", "1002", "1003"] {
            app.extension(extn, "xswitch.cn", &format!("pass-{extn}-x")).await;
        }
        // A phone on the books already, with 1001.
        assert_done(
            &app.post(
                "/api/device_provisions",
                json!({"vendor": "yealink", "mac": "001565dd0001", "extn": "1001"}),
            )
            .await,
        );
        let csv = "name,extn,vendor,mac,type\n\
                   Stored,1003,yealink,00:15:65:dd:00:01,T46U\n\
                   Taken,1001,yealink,00:15:65:dd:00:02,T46U\n\
                   Twice,1002,yealink,00:15:65:dd:00:03,T46U\n\
                   Twice too,,yealink,00:15:65:dd:00:03,\n\
                   Shared,1002,fanvil,0c:38:3e:dd:00:04,\n";
        let dry = app.post_csv("/api/device_provisions/import?dry_run=1", csv).await;
        assert_eq!(dry.status(), 200);
        let dry: Value = dry.json().await.unwrap();
        let rows = dry["data"].as_array().unwrap();
        let said: Vec<(&str, Vec<&str>)> = rows
            .iter()
            .map(|r| {
                let warnings = r["warnings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w.as_str().unwrap())
                    .collect();
                (r["action"].as_str().unwrap(), warnings)
            })
            .collect();
        assert_eq!(
            said,
            [
                ("more_lines", vec![]),
                (
                    "new_phone",
                    vec!["extension 1001 is already a line of MAC 001565dd0001"]
                ),
                ("new_phone", vec![]),
                (
                    "more_lines",
                    vec!["MAC 001565dd0003 is also in row 4: this row's lines go to the same phone"]
                ),
                ("new_phone", vec!["extension 1002 is also on MAC 001565dd0003 in row 4"]),
            ],
            "{dry}"
        );
        assert_eq!(app.device_macs("").await, ["001565dd0001"], "a dry run writes nothing");

        // Errors, by row: a model its pack does not list (Yealink's pack
        // lists its models: vendor.toml [models]); a phone's rows that
        // disagree on its model; more lines on one phone, over its rows,
        // than its model takes (a GRP2612 has 2 accounts: fusionpbx's
        // grandstream/grp2612 template).
        let csv = "name,extn,vendor,mac,type\n\
                   Typo,1002,yealink,00:15:65:dd:00:05,T99Z\n\
                   Desk,1002,grandstream,00:0b:82:dd:00:06,GRP2612\n\
                   Desk,1003,grandstream,00:0b:82:dd:00:06,\n\
                   Desk,1001,grandstream,00:0b:82:dd:00:06,\n\
                   Desk,,grandstream,00:0b:82:dd:00:06,GXP2170\n";
        let dry = app.post_csv("/api/device_provisions/import?dry_run=1", csv).await;
        assert_eq!(dry.status(), 400);
        let body: Value = dry.json().await.unwrap();
        assert_eq!(body["message"], "3 bad rows; nothing was written", "{body}");
        let errors: Vec<(u64, &str, &str, &str)> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["row"].as_u64().unwrap(),
                    e["column"].as_str().unwrap(),
                    e["value"].as_str().unwrap(),
                    e["reason"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            errors,
            [
                (2, "type", "T99Z", "yealink's pack does not list model 'T99Z'; leave it empty for the family's defaults, or add the model to the pack's [models]"),
                (5, "extn", "1001", "MAC 000b82dd0006 would have 3 lines with its other rows and records; a GRP2612 takes at most 2"),
                (6, "type", "GXP2170", "MAC 000b82dd0006 is a GRP2612 in row 3"),
            ],
            "{body}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_dry_run_says_when_a_pack_cannot_check_a_model() {
    on_each_backend(|app| async move {
        // A family from the data dir whose pack lists no models.
        let pack = app.data_dir.path().join("templates/plain");
        std::fs::create_dir_all(&pack).unwrap();
        std::fs::write(
            pack.join("vendor.toml"),
            "[vendor]\nouis = [\"02e000\"]\n\n[[files]]\nname = \"plain-{mac}.cfg\"\ntemplate = \"phone.cfg\"\nkind = \"config\"\n",
        )
        .unwrap();
        std::fs::write(pack.join("phone.cfg"), "{{ device.model }}\n").unwrap();
        let app = app.restart().await;
        let csv = "name,extn,vendor,mac,type\nDesk,,plain,02:e0:00:00:00:01,P1\nHall,,plain,02:e0:00:00:00:02,\n";
        let dry = app.post_csv("/api/device_provisions/import?dry_run=1", csv).await;
        assert_eq!(dry.status(), 200);
        let dry: Value = dry.json().await.unwrap();
        let warnings: Vec<&Value> = dry["data"].as_array().unwrap().iter().map(|r| &r["warnings"]).collect();
        assert_eq!(
            warnings,
            [
                &json!(["plain's pack lists no models, so 'P1' is not checked: its phone gets the family's defaults"]),
                &json!([]),
            ],
            "{dry}"
        );
    })
    .await;
}

/// An import larger than one insert statement (10,000 rows each) lands
/// whole: every record, each with its line, and the phones on both sides
/// of the boundary are served. On PostgreSQL the planner is given fresh
/// statistics, or its next read of every phone joins 100,000 rows in a
/// nested loop.
#[tokio::test]
async fn an_import_larger_than_one_statement_lands_whole_and_is_served() {
    on_each_backend(|app| async move {
        app.extension("1001", "xswitch.cn", "pw-one-1001").await;
        app.extension("1002", "xswitch.cn", "pw-two-1002").await;
        const ROWS: usize = 12_001;
        let mut csv = String::from("name,extn,vendor,mac\n");
        for i in 0..ROWS {
            csv.push_str(&format!("desk {i},{},yealink,001565{i:06x}\n", 1001 + i % 2));
        }
        let response = app.import_csv(csv).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        let created = body["data"].as_array().unwrap();
        assert_eq!(created.len(), ROWS);
        let ids: Vec<i64> = created.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "ids in row order");
        assert_eq!(count(&app).await, ROWS as i64);
        let lines = app
            .stored_text(
                "SELECT CAST(COUNT(*) AS TEXT) FROM device_provision_lines WHERE device_id >= $1",
                ids[0],
            )
            .await;
        assert_eq!(lines, [Some(ROWS.to_string())]);
        for i in [0, 9_999, 10_000, ROWS - 1] {
            let mac = format!("001565{i:06x}");
            let ua = format!("Yealink SIP-T46G 28.83.0.50 {mac}");
            let fetched = crate::provisioning::fetch(&app, &format!("/prov/{mac}.cfg"), &ua).await;
            assert_eq!(fetched.status, 200, "row {i}: {}", fetched.body);
            let user = format!("account.1.user_name = {}", 1001 + i % 2);
            assert!(fetched.body.contains(&user), "row {i} has its line: {}", fetched.body);
        }
        if app.is_postgres() {
            let analyzed = app
                .stored_text(
                    "SELECT relname::text FROM pg_stat_user_tables
                     WHERE last_analyze IS NOT NULL AND relname::text LIKE 'device_provision%' AND $1 > 0
                     ORDER BY relname",
                    1,
                )
                .await;
            assert_eq!(
                analyzed,
                [Some("device_provision_lines".into()), Some("device_provisions".into())]
            );
        }
    })
    .await;
}

/// Phones on the same extension share one copy of it in memory; a line
/// whose extension is deleted has none.
#[tokio::test]
async fn phones_on_one_extension_share_it_and_a_deleted_one_is_gone() {
    on_each_backend(|app| async move {
        let shared = app.extension("1001", "xswitch.cn", "pw-one-1001").await;
        let alone = app.extension("1002", "xswitch.cn", "pw-two-1002").await;
        for (mac, extn) in [
            ("001565000a01", "1001"),
            ("001565000a02", "1001"),
            ("001565000a03", "1002"),
        ] {
            let row = json!({"vendor": "yealink", "mac": mac, "extn": extn});
            assert_done(&app.post("/api/device_provisions", row).await);
        }
        let lines = app.db.all_phones_lines().await.unwrap();
        let extension = |mac: &str| {
            lines
                .iter()
                .find(|l| l.mac == mac)
                .and_then(|l| l.extension.clone())
                .expect("a line with its extension")
        };
        let (first, second) = (extension("001565000a01"), extension("001565000a02"));
        assert_eq!(first.id, shared);
        assert!(std::sync::Arc::ptr_eq(&first, &second), "one copy for both phones");
        assert_eq!(extension("001565000a03").id, alone);
        // The API refuses to delete an extension on a line; SQL does not.
        crate::freshness::sql_from_outside(
            &app,
            "UPDATE extensions SET deleted_at = created_at WHERE extn = '1002'",
        )
        .await;
        let lines = app.db.phone_lines("001565000a03").await.unwrap();
        assert_eq!(lines.len(), 1, "the record stays");
        assert!(lines[0].extension.is_none(), "its line's extension is gone");
        let read_together = app
            .db
            .phones_lines(&["001565000a01".into(), "001565000a02".into()])
            .await
            .unwrap();
        assert!(std::sync::Arc::ptr_eq(
            read_together[0].extension.as_ref().unwrap(),
            read_together[1].extension.as_ref().unwrap()
        ));
    })
    .await;
}
