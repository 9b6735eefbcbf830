//! Programmable keys: a device's own and a shared key template's, the
//! rules that refuse what its model or family cannot have, and the change
//! reaching the phone's next fetch.

use serde_json::{Value, json};

use crate::harness::{TestApp, assert_done, assert_error, on_each_backend};

const UA: &str = "Yealink SIP-T41S 66.86.0.15 00:15:65:00:00:0b";

/// A Yealink T41S (15 keys, two lines here) and its record id.
async fn phone(app: &TestApp) -> i64 {
    for extn in ["1001", "1002", "1003"] {
        assert_done(
            &app.post(
                "/api/extensions",
                json!({"extn": extn, "password": format!("pass-{extn}-x")}),
            )
            .await,
        );
    }
    let lines = "[{\"extn\":\"1001\"},{\"extn\":\"1002\"}]";
    let record = json!({"vendor": "yealink", "type": "T41S", "mac": "00156500000b", "extn": lines});
    assert_done(&app.post("/api/device_provisions", record).await);
    let (_, list) = app.get("/api/device_provisions?mac=00156500000b").await;
    list["data"][0]["id"].as_i64().unwrap()
}

async fn config(app: &TestApp) -> String {
    let got = crate::provisioning::fetch(app, "/prov/00156500000b.cfg", UA).await;
    assert_eq!(got.status, 200, "{}", got.body);
    got.body
}

fn key(slot: u32, kind: &str, value: &str, label: &str) -> Value {
    json!({"slot": slot, "type": kind, "value": value, "label": label})
}

/// The (slot, type) pairs of a key list.
fn slots(keys: &Value) -> Vec<(u64, String)> {
    keys.as_array()
        .unwrap()
        .iter()
        .map(|k| (k["slot"].as_u64().unwrap(), k["type"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn a_device_takes_its_templates_keys_and_its_own_win_in_their_slot() {
    on_each_backend(|app| async move {
        let id = phone(&app).await;
        let path = format!("/api/device_provisions/{id}/keys");
        let template = assert_done(
            &app.post(
                "/api/key_templates",
                json!({"name": "Reception", "keys": [key(1, "line", "1", ""), key(2, "blf", "1002", "Ana")]}),
            )
            .await,
        );
        let template: i64 = template.as_str().unwrap().parse().unwrap();
        let set = assert_done(
            &app.put(
                &path,
                json!({"template_id": template, "keys": [key(2, "speed_dial", "100", "Desk"), key(3, "dnd", "", "")]}),
            )
            .await,
        );
        assert_eq!(
            slots(&set["effective"]),
            [(1, "line".into()), (2, "speed_dial".into()), (3, "dnd".into())]
        );
        let (_, got) = app.get(&path).await;
        assert_eq!(got["template_id"], json!(template));
        assert_eq!(slots(&got["keys"]), [(2, "speed_dial".into()), (3, "dnd".into())]);

        // The phone's next fetch has them in Yealink's syntax (codes: the
        // type list of fusionpbx yealink/t46s/{$mac}.cfg: 15 line, 13 speed
        // dial, 5 DND).
        let body = config(&app).await;
        for line in [
            "linekey.1.type = 15",
            "linekey.1.line = 1",
            "linekey.2.type = 13",
            "linekey.2.value = 100",
            "linekey.2.label = Desk",
            "linekey.3.type = 5",
        ] {
            assert!(body.lines().any(|l| l == line), "{line} in\n{body}");
        }

        // A template change reaches every phone that has it, and makes it older.
        let start = std::time::Instant::now();
        while app.get("/api/device_provisions?status=current").await.1["rowCount"] != 1 {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "fetch not recorded"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_done(
            &app.put(
                &format!("/api/key_templates/{template}"),
                json!({"keys": [key(1, "line", "1", ""), key(4, "voicemail", "", "VM")]}),
            )
            .await,
        );
        let (_, older) = app.get("/api/device_provisions?status=older").await;
        assert_eq!(
            older["rowCount"], 1,
            "a template change makes its phones older: {older}"
        );
        let body = config(&app).await;
        assert!(body.contains("linekey.4.type = 12\n"), "{body}");
        assert!(!body.contains("linekey.2.type = 16"), "{body}");

        // Deleting the template leaves the device its own keys.
        assert_done(&app.delete(&format!("/api/key_templates/{template}")).await);
        let (_, got) = app.get(&path).await;
        assert_eq!(got["template_id"], Value::Null);
        assert_eq!(slots(&got["effective"]), [(2, "speed_dial".into()), (3, "dnd".into())]);
        // The template's keys are taken away: key 1 is line 1's again (15,
        // Line), key 4, no line's, is written N/A (Yealink T4 Administrator
        // Guide, linekey.X.type 0; wazo wazo_yealink v87 _format_funckey_null).
        assert_eq!(got["cleared"], json!([1, 4]), "{got}");
        let body = config(&app).await;
        assert!(body.contains("linekey.1.type = 15\nlinekey.1.line = 1\n"), "{body}");
        assert!(body.contains("linekey.4.type = 0\n"), "{body}");
    })
    .await;
}

#[tokio::test]
async fn keys_a_model_or_family_cannot_have_are_refused_naming_the_slot() {
    on_each_backend(|app| async move {
        let id = phone(&app).await;
        let path = format!("/api/device_provisions/{id}/keys");
        // T41S: 15 keys, no expansion module (wazo wazo_yealink/common/common.py).
        assert_error(
            &app.put(
                &path,
                json!({"keys": [key(1, "blf", "1002", ""), key(16, "blf", "1003", "")]}),
            )
            .await,
            400,
            "keys: slot 16: T41S has 15 keys",
        );
        assert_error(
            &app.put(&path, json!({"keys": [key(3, "line", "3", "")]})).await,
            400,
            "keys: slot 3: line 3: the device has 2 lines",
        );
        assert_error(
            &app.put(&path, json!({"keys": [key(4, "intercom", "1", "")]})).await,
            400,
            "keys: slot 4: type 'intercom' is not one of",
        );
        assert_error(
            &app.put(&path, json!({"keys": [key(5, "blf", "", "")]})).await,
            400,
            "keys: slot 5: a blf key needs the number",
        );
        assert_error(
            &app.put(&path, json!({"keys": [key(6, "dnd", "", ""), key(6, "park", "", "")]}))
                .await,
            400,
            "keys: slot 6: given twice",
        );
        assert_error(
            &app.put(&path, json!({"template_id": 999, "keys": []})).await,
            400,
            "template_id: key template 999 not found",
        );
        let (_, got) = app.get(&path).await;
        assert_eq!(got["keys"], json!([]), "nothing was written");

        // A family without a type: Grandstream has no pickup mode.
        let gs = json!({"vendor": "grandstream", "type": "GXP2170", "mac": "000b82000001", "extn": "1003"});
        assert_done(&app.post("/api/device_provisions", gs).await);
        let (_, list) = app.get("/api/device_provisions?mac=000b82000001").await;
        let gs_id = list["data"][0]["id"].as_i64().unwrap();
        assert_error(
            &app.put(
                &format!("/api/device_provisions/{gs_id}/keys"),
                json!({"keys": [key(2, "pickup", "1001", "")]}),
            )
            .await,
            400,
            "keys: slot 2: grandstream phones cannot do a pickup key",
        );

        // A template must fit every device that has it.
        let template = assert_done(
            &app.post(
                "/api/key_templates",
                json!({"name": "Small", "keys": [key(1, "line", "1", "")]}),
            )
            .await,
        );
        let template: i64 = template.as_str().unwrap().parse().unwrap();
        assert_done(&app.put(&path, json!({"template_id": template})).await);
        assert_error(
            &app.put(
                &format!("/api/key_templates/{template}"),
                json!({"keys": [key(20, "dnd", "", "")]}),
            )
            .await,
            400,
            &format!("keys: slot 20: T41S has 15 keys (device {id}, 00156500000b, has this template)"),
        );
        assert_error(
            &app.post("/api/key_templates", json!({"name": "Small"})).await,
            409,
            "name: a key template named 'Small' exists",
        );
        let many: Vec<Value> = (1..=1001).map(|s| key(s, "dnd", "", "")).collect();
        assert_error(
            &app.post("/api/key_templates", json!({"name": "Huge", "keys": many}))
                .await,
            400,
            "keys: at most 1000 keys",
        );
    })
    .await;
}

#[tokio::test]
async fn a_record_cannot_change_into_a_phone_its_keys_do_not_fit() {
    on_each_backend(|app| async move {
        let id = phone(&app).await;
        let keys = json!({"keys": [key(2, "line", "2", ""), key(14, "blf", "1003", "Bo")]});
        assert_done(&app.put(&format!("/api/device_provisions/{id}/keys"), keys).await);
        let record = format!("/api/device_provisions/{id}");
        // T31P: 2 keys (wazo wazo_yealink/common/common.py _NB_LINEKEY).
        assert_error(
            &app.put(&record, json!({"type": "T31P"})).await,
            400,
            "type: the device's keys would not fit: slot 14: T31P has 2 keys",
        );
        assert_error(
            &app.put(&record, json!({"extn": "1001"})).await,
            400,
            "extn: the device's keys would not fit: slot 2: line 2: the device has 1 line",
        );
        assert_error(
            &app.put(&record, json!({"vendor": "gigaset", "type": "N510"})).await,
            400,
            "vendor: the device's keys would not fit: slot 2: gigaset phones have no keys",
        );
        let (_, got) = app.get(&record).await;
        assert_eq!(got["type"], "T41S", "nothing was written: {got}");
        // A model with the keys, and then any model once the keys are gone.
        assert_done(&app.put(&record, json!({"type": "T42S"})).await);
        assert_done(&app.put(&format!("{record}/keys"), json!({"keys": []})).await);
        assert_done(&app.put(&record, json!({"type": "T31P", "extn": "1001"})).await);
    })
    .await;
}
