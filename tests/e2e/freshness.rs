//! A fetch needs no database, yet serves every change: on the node that
//! made it at once, on the other nodes and after another process's change
//! within a second. Changes drop only the files they touch.

use std::collections::BTreeSet;
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

/// A line shows its extension's name, or its number when it has none; a
/// rename is on the phone's next fetch. Yealink's `account.N.label` is the
/// line key's text (fusionpbx resources/templates/provision/yealink/t46u/
/// {$mac}.cfg), `display_name` the caller name.
#[tokio::test]
async fn a_rename_reaches_the_line_label_at_the_next_fetch() {
    on_each_backend(|app| async move {
        two_phones(&app).await;
        let body = config(&app, "00156500000a", UA_A).await;
        assert!(body.contains("account.1.label = 1001\n"), "no name: the number\n{body}");
        assert!(body.contains("account.1.display_name = Anna\n"), "{body}");

        assert_done(&app.put("/api/extensions/1", json!({"name": "Sam Smith"})).await);
        let body = config(&app, "00156500000a", UA_A).await;
        assert!(body.contains("account.1.label = Sam Smith\n"), "{body}");
        assert!(
            body.contains("account.1.display_name = Anna\n"),
            "caller-ID name kept\n{body}"
        );

        // Without a caller-ID name, others see the name too.
        assert_done(&app.put("/api/extensions/1", json!({"cid_name": ""})).await);
        let body = config(&app, "00156500000a", UA_A).await;
        assert!(body.contains("account.1.display_name = Sam Smith\n"), "{body}");

        // A caller-ID name that is the name follows the next rename.
        assert_done(&app.put("/api/extensions/1", json!({"name": "Sam Jones"})).await);
        let body = config(&app, "00156500000a", UA_A).await;
        assert!(body.contains("account.1.label = Sam Jones\n"), "{body}");
        assert!(body.contains("account.1.display_name = Sam Jones\n"), "{body}");
    })
    .await;
}

/// Phone A's company directory, as a Yealink fetches it.
async fn phonebook(app: &TestApp) -> String {
    let got = fetch(app, "/prov/00156500000a-phonebook.xml", UA_A).await;
    assert_eq!(got.status, 200, "{}", got.body);
    got.body
}

/// The company directory is every live, enabled extension's name and
/// number: a new extension, a rename, a disabled one and a change from
/// another process (migration 0011's triggers) each reach the next fetch.
#[tokio::test]
async fn the_directory_follows_every_extension_change() {
    on_each_backend(|app| async move {
        two_phones(&app).await;
        let body = phonebook(&app).await;
        assert!(
            body.contains("<Name>1001</Name>") && body.contains("<Telephone>1002</Telephone>"),
            "{body}"
        );

        let (_, made) = app
            .post(
                "/api/extensions",
                json!({"extn": "1005", "name": "Zoe <Sales> & Co", "password": "pass-1005-x"}),
            )
            .await;
        let body = phonebook(&app).await;
        assert!(
            body.contains("<Name>Zoe &lt;Sales&gt; &amp; Co</Name>"),
            "a new one, escaped: {body}"
        );
        assert_done(
            &app.put(
                &format!("/api/extensions/{}", made["data"].as_str().unwrap()),
                json!({"disabled": 1}),
            )
            .await,
        );
        assert!(
            !phonebook(&app).await.contains("1005"),
            "a disabled extension is not in it"
        );
        assert_done(&app.put("/api/extensions/2", json!({"name": "Bert Brown"})).await);
        assert!(phonebook(&app).await.contains("<Name>Bert Brown</Name>"));

        let app = watching_other_processes(app).await;
        sql_from_outside(&app, "UPDATE extensions SET name = 'Anna Extern' WHERE extn = '1001'").await;
        let start = Instant::now();
        while !phonebook(&app).await.contains("<Name>Anna Extern</Name>") {
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "another process's rename was not served"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

/// `app` restarted to see another process's changes as a node does: on
/// SQLite by data_version alone (the periodic look is a minute away), on
/// PostgreSQL, where such a change announces nothing, by its look.
async fn watching_other_processes(mut app: TestApp) -> TestApp {
    let mut settings = app.settings.clone();
    settings.change_check_interval = if app.is_postgres() {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(60)
    };
    app.settings = settings;
    let app = app.restart().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app
}

/// A change made by another process (an administrator's sqlite3 or psql),
/// which announces nothing: on SQLite the file's data_version shows it; on
/// PostgreSQL only the periodic look finds it.
#[tokio::test]
async fn a_change_by_another_process_is_served_within_a_second() {
    on_each_backend(|app| async move {
        two_phones(&app).await;
        let app = watching_other_processes(app).await;
        assert!(config(&app, "00156500000a", UA_A).await.contains("Anna"));
        sql_from_outside(
            &app,
            "UPDATE extensions SET cid_name = 'Anna Extern' WHERE extn = '1001'",
        )
        .await;
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
        // Pre-rendered for the public URL's host; the directory, as large
        // as the site, waits for a phone to ask.
        let public_host = app
            .settings
            .public_url
            .as_deref()
            .unwrap()
            .trim_start_matches("http://");
        let config_key = FileKey {
            host: public_host.to_string(),
            ..key_of(&app, "00156500000a", UA_A)
        };
        assert!(holds(&app, &config_key));
        let directory_key = FileKey {
            name: "00156500000a-phonebook.xml".into(),
            ..config_key
        };
        assert!(!holds(&app, &directory_key), "the directory was pre-rendered");
        // No query can succeed from here on.
        app.db.close().await;
        let after = config(&app, "00156500000a", UA_A).await;
        assert_eq!(after, before, "the file names the public URL, as the first did");
        assert!(config(&app, "00156500000b", UA_B).await.contains("Bert"));
        // New firmware: a file that was not pre-rendered renders from memory.
        let upgraded = "Yealink SIP-T46G 28.90.0.1 00:15:65:00:00:0b";
        assert!(config(&app, "00156500000b", upgraded).await.contains("Bert"));
        // The directory too renders from memory.
        assert!(phonebook(&app).await.contains("<Telephone>1002</Telephone>"));
        let unknown = fetch(&app, "/prov/00156500ffff.cfg", "").await;
        assert_eq!(unknown.status, 404, "{}", unknown.body);
    })
    .await;
}

/// Runs SQL as another process would: psql or sqlite3 on `app`'s database,
/// on a blocking thread, so the server in the test's runtime can finish
/// the write it may be in the middle of while the client waits its turn.
pub async fn sql_from_outside(app: &TestApp, sql: &str) {
    let (url, db_file, sql) = (
        app.settings.database_url.clone(),
        app.settings.data_dir.join("sipprov.db"),
        sql.to_string(),
    );
    let out = tokio::task::spawn_blocking(move || match url {
        Some(url) => Command::new("psql")
            .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-c", &sql])
            .run(),
        None => Command::new("sqlite3").arg(db_file).args([".timeout 5000", &sql]).run(),
    })
    .await
    .expect("the client's thread");
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
            )
            .await;
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

/// The columns each phone-file query reads, as `table.column`: `alias.column`
/// where the query names its tables with aliases, else every word of the
/// query that is not SQL, read from its one table.
fn columns_read(sql: &str) -> BTreeSet<String> {
    const SQL_WORDS: &[&str] = &[
        "select", "from", "where", "and", "or", "is", "not", "null", "in", "like", "order", "by", "as", "left", "join",
        "on", "asc", "desc",
    ];
    let tables = regex::Regex::new(r"(?i)\b(?:FROM|JOIN)\s+(\w+)(?:\s+(\w+))?").unwrap();
    let mut aliases = Vec::new();
    let mut only_table = None;
    for found in tables.captures_iter(sql) {
        let table = found[1].to_string();
        match found.get(2).map(|a| a.as_str()) {
            Some(alias) if !SQL_WORDS.contains(&alias.to_lowercase().as_str()) => {
                aliases.push((alias.to_string(), table));
            }
            _ => only_table = Some(table),
        }
    }
    let without_literals = regex::Regex::new(r"'[^']*'|\{\w+\}").unwrap().replace_all(sql, " ");
    if !aliases.is_empty() {
        let column = regex::Regex::new(r"\b(\w+)\.(\w+)\b").unwrap();
        return column
            .captures_iter(&without_literals)
            .map(|c| {
                let table = &aliases
                    .iter()
                    .find(|(alias, _)| *alias == c[1])
                    .expect("a known alias")
                    .1;
                format!("{table}.{}", &c[2])
            })
            .collect();
    }
    let table = only_table.expect("a query reads a table");
    regex::Regex::new(r"\b[a-z_]+\b")
        .unwrap()
        .find_iter(&without_literals.to_lowercase())
        .map(|w| w.as_str().to_string())
        .filter(|w| !SQL_WORDS.contains(&w.as_str()) && *w != table)
        .map(|w| format!("{table}.{w}"))
        .collect()
}

/// Read by the phone queries, but changing them is not a change to a
/// phone's file: a row's id only orders and joins rows (sipprov never
/// changes one), and the last User-Agent is written by the phone's own
/// fetch, which must not make a boot storm a storm of changes.
const NOT_CHANGES: &[&str] = &[
    "device_provisions.id",
    "extensions.id",
    "dicts.id",
    "key_templates.id",
    "device_provisions.last_user_agent",
];

/// For every column of every table that a phone's file is made of (as the
/// store's phone-file queries read them), a change made straight in the
/// database by another process reaches the phone's next fetch. A column
/// added to those queries without its change trigger fails here: its
/// change is never seen, or it has no step below and the test says so.
#[tokio::test]
async fn every_column_a_phone_file_reads_reaches_the_phone() {
    on_each_backend(|mut app| async move {
        // A made-up family whose one file shows everything its template sees.
        let pack = app.data_dir.path().join("templates/dump");
        std::fs::create_dir_all(&pack).unwrap();
        std::fs::write(
            pack.join("vendor.toml"),
            "[vendor]\nouis = [\"02d000\"]\n\n[[files]]\nname = \"dump-{mac}.cfg\"\ntemplate = \"phone.cfg\"\nkind = \"config\"\n\n[keys]\ndefault = 10\nempty = \"none\"\n\n[keys.types]\nblf = \"blf\"\n",
        )
        .unwrap();
        std::fs::write(pack.join("phone.cfg"), "{{ __tera_context }}\n").unwrap();
        if app.is_postgres() {
            // Only the periodic look finds another process's change there.
            app.settings.change_check_interval = Duration::from_millis(200);
        }
        let app = app.restart().await;
        for (extn, name) in [("1001", "Anna"), ("1002", "Bert"), ("1003", "Cleo")] {
            let extension = json!({"extn": extn, "name": name, "password": format!("pass-{extn}-x")});
            assert_done(&app.post("/api/extensions", extension).await);
        }
        let lines = r#"[{"extn":"1001"},{"extn":"1002"}]"#;
        for (mac, extn) in [("02d0000000aa", lines), ("02d0000000cc", "")] {
            let record = json!({"vendor": "dump", "mac": mac, "name": "Desk", "type": "D1", "extn": extn});
            assert_done(&app.post("/api/device_provisions", record).await);
        }
        for (realm, v) in [("PROVISION", "ntp1.example.com"), ("PROVISION:02d0000000aa", "own.example.com")] {
            assert_done(&app.post("/api/dicts", json!({"realm": realm, "k": "ntp_server", "v": v})).await);
        }
        let template = json!({"name": "Desk keys", "keys": [{"slot": 2, "type": "blf", "value": "1003"}]});
        assert_done(&app.post("/api/key_templates", template).await);
        let sealed = |extn: &str, domain: &str, password: &str| {
            let aad = sipprov::secrets::password_aad(extn, domain);
            app.state.secrets.encrypt(password, &aad)
        };
        let ext = |extn: &str| format!("(SELECT id FROM extensions WHERE extn = '{extn}')");
        let gone = "'2026-01-01T00:00:00Z'";
        // Each step changes one column; each must change what the phone gets.
        let steps: Vec<(&str, String)> = vec![
            ("device_provisions.name", "UPDATE device_provisions SET name = 'Desk two' WHERE mac = '02d0000000aa'".into()),
            ("device_provisions.type", "UPDATE device_provisions SET type = 'D2' WHERE mac = '02d0000000aa'".into()),
            ("device_provisions.vendor_code", "UPDATE device_provisions SET vendor_code = 'yealink' WHERE mac = '02d0000000aa'".into()),
            ("device_provisions.vendor_code", "UPDATE device_provisions SET vendor_code = 'dump' WHERE mac = '02d0000000aa'".into()),
            ("device_provisions.mac", "UPDATE device_provisions SET mac = '02d0000000bb' WHERE mac = '02d0000000aa'".into()),
            ("device_provisions.mac", "UPDATE device_provisions SET mac = '02d0000000aa' WHERE mac = '02d0000000bb'".into()),
            ("device_provisions.deleted_at", format!("UPDATE device_provisions SET deleted_at = {gone} WHERE mac = '02d0000000aa'")),
            ("device_provisions.deleted_at", "UPDATE device_provisions SET deleted_at = NULL WHERE mac = '02d0000000aa'".into()),
            ("device_provisions.keys", r#"UPDATE device_provisions SET keys = '[{"slot":1,"type":"blf","value":"1002","label":""}]' WHERE mac = '02d0000000aa'"#.into()),
            ("device_provisions.key_template_id", "UPDATE device_provisions SET key_template_id = (SELECT id FROM key_templates WHERE name = 'Desk keys') WHERE mac = '02d0000000aa'".into()),
            ("device_provisions.shown_key_slots", "UPDATE device_provisions SET shown_key_slots = '[1,2,3,4,5,6,7,8,9]' WHERE mac = '02d0000000aa'".into()),
            ("key_templates.keys", r#"UPDATE key_templates SET keys = '[{"slot":3,"type":"blf","value":"1001","label":""}]' WHERE name = 'Desk keys'"#.into()),
            ("key_templates.deleted_at", format!("UPDATE key_templates SET deleted_at = {gone} WHERE name = 'Desk keys'")),
            ("device_provision_lines.position", format!("UPDATE device_provision_lines SET position = 10 WHERE extension_id = {}", ext("1001"))),
            ("device_provision_lines.extension_id", format!("UPDATE device_provision_lines SET extension_id = {} WHERE extension_id = {}", ext("1003"), ext("1002"))),
            ("extensions.cid_name", "UPDATE extensions SET cid_name = '' WHERE extn = '1001'".into()),
            ("extensions.name", "UPDATE extensions SET name = 'Anna two' WHERE extn = '1001'".into()),
            ("extensions.cid_number", "UPDATE extensions SET cid_number = '555' WHERE extn = '1001'".into()),
            ("extensions.password_enc", format!("UPDATE extensions SET password_enc = '{}' WHERE extn = '1001'", sealed("1001", "xswitch.cn", "new-pass-1001"))),
            ("extensions.disabled", "UPDATE extensions SET disabled = 1 WHERE extn = '1001'".into()),
            // Renumbered or moved, the stored password no longer opens (it is
            // bound to number@domain) until it is sealed again.
            ("extensions.extn", "UPDATE extensions SET extn = '1003x' WHERE extn = '1003'".into()),
            ("extensions.password_enc", format!("UPDATE extensions SET password_enc = '{}' WHERE extn = '1003x'", sealed("1003x", "xswitch.cn", "pass-1003-x"))),
            ("extensions.domain", "UPDATE extensions SET domain = 'pbx2.example.com' WHERE extn = '1003x'".into()),
            ("extensions.password_enc", format!("UPDATE extensions SET password_enc = '{}' WHERE extn = '1003x'", sealed("1003x", "pbx2.example.com", "pass-1003-x"))),
            ("extensions.deleted_at", format!("UPDATE extensions SET deleted_at = {gone} WHERE extn = '1001'")),
            ("device_provision_lines.device_id", format!("UPDATE device_provision_lines SET device_id = (SELECT id FROM device_provisions WHERE mac = '02d0000000cc') WHERE extension_id = {}", ext("1003x"))),
            ("dicts.v", "UPDATE dicts SET v = 'own2.example.com' WHERE realm = 'PROVISION:02d0000000aa'".into()),
            ("dicts.realm", "UPDATE dicts SET realm = 'PROVISION:02d0000000ff' WHERE realm = 'PROVISION:02d0000000aa'".into()),
            ("dicts.k", "UPDATE dicts SET k = 'sip_server_host' WHERE realm = 'PROVISION' AND k = 'ntp_server'".into()),
            ("dicts.deleted_at", format!("UPDATE dicts SET deleted_at = {gone} WHERE realm = 'PROVISION' AND k = 'sip_server_host'")),
        ];
        let read: BTreeSet<String> = sipprov::store::changes::PHONE_FILE_QUERIES
            .iter()
            .flat_map(|sql| columns_read(sql))
            .collect();
        let stepped: BTreeSet<String> = steps.iter().map(|(column, _)| column.to_string()).collect();
        for column in &read {
            assert!(
                stepped.contains(column) || NOT_CHANGES.contains(&column.as_str()),
                "{column} is read for phones' files but no step here changes it: add one, and make the change triggers of every backend watch it"
            );
        }
        let ua = "";
        let path = "/prov/dump-02d0000000aa.cfg";
        let mut before = fetch(&app, path, ua).await;
        assert_eq!(before.status, 200, "{}", before.body);
        for (column, sql) in &steps {
            assert!(read.contains(*column), "{column} is not read by the phone queries: {read:?}");
            sql_from_outside(&app, sql).await;
            let start = Instant::now();
            loop {
                let now = fetch(&app, path, ua).await;
                if (now.status, &now.body) != (before.status, &before.body) {
                    before = now;
                    break;
                }
                // Seconds at most; a busy machine (the whole suite at once, on
                // both backends, sharing two cores with PostgreSQL) is given
                // thirty: this asks whether the change arrives, not how fast
                // (another test times that).
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "after `{sql}` the phone still gets what it got before: is {column} in the change triggers?\n{}",
                    now.body
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    })
    .await;
}

async fn in_state(app: &TestApp, state: &str) -> Vec<String> {
    app.device_macs(&format!("status={state}")).await
}

/// Polls until the phones in `state` are `macs`, for up to ten seconds.
async fn until_in_state(app: &TestApp, state: &str, macs: &[&str]) {
    let start = Instant::now();
    while in_state(app, state).await != macs {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{state}: {:?}, not {macs:?}",
            in_state(app, state).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_template_change_makes_only_its_familys_phones_older() {
    on_each_backend(|app| async move {
        two_phones(&app).await;
        let fanvil = json!({"vendor": "fanvil", "mac": "0c383e00000c", "name": "Desk"});
        assert_done(&app.post("/api/device_provisions", fanvil).await);
        config(&app, "00156500000a", UA_A).await;
        assert_eq!(fetch(&app, "/prov/0c383e00000c.cfg", "").await.status, 200);
        until_in_state(&app, "current", &["00156500000a", "0c383e00000c"]).await;

        // A second later, the site overrides one of Yealink's templates.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let built_in =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/yealink/mac.cfg")).unwrap();
        let overrides = app.data_dir.path().join("templates").join("yealink");
        std::fs::create_dir_all(&overrides).unwrap();
        std::fs::write(overrides.join("mac.cfg"), format!("{built_in}\n# site note\n")).unwrap();
        until_in_state(&app, "older", &["00156500000a"]).await;
        assert_eq!(
            in_state(&app, "current").await,
            ["0c383e00000c"],
            "Fanvil's files did not change"
        );
        assert_eq!(in_state(&app, "never").await, ["00156500000b"]);

        // The phone fetches the new file and is current again.
        assert!(config(&app, "00156500000a", UA_A).await.contains("# site note"));
        until_in_state(&app, "current", &["00156500000a", "0c383e00000c"]).await;
    })
    .await;
}

/// Each phone's state three ways: per phone (as a page of the list shows
/// it), the status filter, and the fleet counts. The first tests each cause
/// per record, the other two collect the older phones of the whole fleet at
/// once: they must agree for every cause.
async fn states_agree(app: &TestApp, macs: &[String]) -> Vec<(String, String)> {
    let mut per_phone: Vec<(String, String)> = app
        .db
        .config_states(macs)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.mac, s.state))
        .collect();
    per_phone.sort();
    let mut filtered = Vec::new();
    for state in ["current", "older", "never"] {
        filtered.extend(
            in_state(app, state)
                .await
                .into_iter()
                .map(|mac| (mac, state.to_string())),
        );
    }
    filtered.sort();
    assert_eq!(per_phone, filtered, "per phone, and by the status filter");
    let mut counted: Vec<(String, i64)> = app
        .db
        .config_state_counts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.state, c.phones))
        .collect();
    counted.sort();
    let mut expected: Vec<(String, i64)> = Vec::new();
    for (_, state) in &per_phone {
        match expected.iter_mut().find(|(s, _)| s == state) {
            Some((_, n)) => *n += 1,
            None => expected.push((state.clone(), 1)),
        }
    }
    expected.sort();
    assert_eq!(counted, expected, "the counts");
    per_phone
}

#[tokio::test]
async fn every_cause_of_an_older_config_is_seen_alike_per_phone_in_the_filter_and_in_the_counts() {
    on_each_backend(|app| async move {
        // Six phones, each with a line of its own; the third has a key template.
        let macs: Vec<String> = (1..=6).map(|n| format!("00156577000{n}")).collect();
        let mut ids = Vec::new();
        for (n, mac) in macs.iter().enumerate() {
            let extn = format!("770{n}");
            app.extension(&extn, "xswitch.cn", &format!("pass-{extn}-x")).await;
            let record = json!({"vendor": "yealink", "mac": mac, "extn": extn, "type": "T46U"});
            ids.push(
                assert_done(&app.post("/api/device_provisions", record).await)
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        let template = assert_done(
            &app.post(
                "/api/key_templates",
                json!({"name": "Hall", "keys": [{"slot": 3, "type": "dnd", "value": "", "label": ""}]}),
            )
            .await,
        );
        let template: i64 = template.as_str().unwrap().parse().unwrap();
        assert_done(
            &app.put(
                &format!("/api/device_provisions/{}/keys", ids[2]),
                json!({"template_id": template, "keys": []}),
            )
            .await,
        );
        let own = format!("PROVISION:{}", macs[4]);
        let own_setting = assert_done(
            &app.post(
                "/api/dicts",
                json!({"realm": own, "k": "ntp_server", "v": "a.example.com"}),
            )
            .await,
        );

        // All but the last fetch.
        for mac in &macs[..5] {
            assert_eq!(fetch(&app, &format!("/prov/{mac}.cfg"), "").await.status, 200);
        }
        let start = Instant::now();
        while in_state(&app, "never").await != [macs[5].clone()] {
            assert!(start.elapsed() < Duration::from_secs(10), "fetches not recorded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        states_agree(&app, &macs).await;

        // A second later, one cause each: the record, its line's account,
        // its key template, nothing, its own setting.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_done(
            &app.put(&format!("/api/device_provisions/{}", ids[0]), json!({"name": "Moved"}))
                .await,
        );
        let (_, line) = app.get("/api/extensions?extn=7701").await;
        let line = line["data"][0]["id"].as_i64().unwrap();
        assert_done(
            &app.put(&format!("/api/extensions/{line}"), json!({"name": "Renamed"}))
                .await,
        );
        assert_done(
            &app.put(
                &format!("/api/key_templates/{template}"),
                json!({"keys": [{"slot": 4, "type": "dnd", "value": "", "label": ""}]}),
            )
            .await,
        );
        assert_done(
            &app.put(
                &format!("/api/dicts/{}", own_setting.as_str().unwrap()),
                json!({"v": "b.example.com"}),
            )
            .await,
        );
        let states = states_agree(&app, &macs).await;
        let older: Vec<&str> = states
            .iter()
            .filter(|(_, s)| s == "older")
            .map(|(m, _)| m.as_str())
            .collect();
        assert_eq!(older, [&macs[0], &macs[1], &macs[2], &macs[4]]);

        // A site setting makes every phone that fetched older.
        assert_done(
            &app.post(
                "/api/dicts",
                json!({"realm": "PROVISION", "k": "ntp_server", "v": "c.example.com"}),
            )
            .await,
        );
        let states = states_agree(&app, &macs).await;
        assert_eq!(states.iter().filter(|(_, s)| s == "older").count(), 5, "{states:?}");
    })
    .await;
}
