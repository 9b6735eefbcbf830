//! Every model every built-in pack lists: a record with the model's most
//! lines gets each of its files, fetched as its phone fetches them, well
//! formed, with every line's password in them as often as the first line's:
//! no line past what a template writes is dropped.

use serde_json::json;

use crate::harness::{TestApp, assert_done, on_each_backend};

/// (family, model, lines) for every `[models]` entry of the built-in packs.
fn listed_models() -> Vec<(String, String, usize)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut models = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let dir = entry.unwrap().path();
        let family = dir.file_name().unwrap().to_string_lossy().to_string();
        let Ok(text) = std::fs::read_to_string(dir.join("vendor.toml")) else {
            continue;
        };
        let manifest: toml::Table = toml::from_str(&text).unwrap();
        if let Some(toml::Value::Table(listed)) = manifest.get("models") {
            for (model, lines) in listed {
                models.push((family.clone(), model.clone(), lines.as_integer().unwrap() as usize));
            }
        }
    }
    models.sort();
    models
}

/// A User-Agent as the family's phones send it (the packs' samples).
fn user_agent(family: &str, model: &str, mac: &str) -> String {
    let colon: Vec<&str> = (0..6).map(|i| &mac[2 * i..2 * i + 2]).collect();
    let colon = colon.join(":");
    match family {
        "yealink" => format!("Yealink SIP-{model} 66.86.0.15 {colon}"),
        "flyingvoice" => format!("Flyingvoice {model} V0.6.24 {}", colon.to_uppercase()),
        "grandstream" => format!("Grandstream Model HW {model} SW 1.0.11.79 DevId {mac}"),
        // Firmware of each line as wazo-provd-plugins wazo_fanvil lists it:
        // 2.12 builds for the U, X7 and X210 phones (serie_x), 2.3 for the
        // C58 and C62 (v2_3), 2.10 for the others (X3S's).
        "fanvil" => {
            let firmware = if model.contains('U') || model.starts_with("X7") || model.starts_with("X210") {
                "2.12.16.17"
            } else if model.starts_with('C') {
                "2.3.0.5100"
            } else {
                "2.10.2.6887"
            };
            format!("Fanvil {model} {firmware} {mac}")
        }
        "snom" => format!(
            "Mozilla/4.0 (compatible; snom{model}-SIP 10.1.33.33 2010.12-00004-g9ba52f5 {} SXM:0 UXM:0)",
            mac.to_uppercase()
        ),
        "cisco" => format!("Cisco-CP-{model}-3PCC/11.0.1 ({mac})"),
        "polycom" => format!("FileTransport PolycomVVX-{model}-UA/6.4.0.2 (SN:{mac})"),
        "htek" => format!("Htek {model} 2.0.4.2 {colon}"),
        "akuvox" => format!("Akuvox {model} 63.0.1.2 {mac}"),
        "gigaset" => format!("{model}/42.245.00.000.000;{}", mac.to_uppercase()),
        _ => String::new(),
    }
}

fn well_formed(name: &str, body: &str) {
    if !body.trim_start().starts_with('<') {
        return;
    }
    let mut reader = quick_xml::Reader::from_str(body);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("{name} is not well-formed XML: {e}\n{body}"),
        }
    }
}

#[tokio::test]
async fn every_model_of_every_pack_gets_each_of_its_lines() {
    on_each_backend(|app| async move {
        let models = listed_models();
        assert!(models.len() > 150, "{} models", models.len());
        let most = models.iter().map(|(_, _, lines)| *lines).max().unwrap();
        for n in 0..most {
            let extn = format!("{}", 5000 + n);
            assert_done(
                &app.post(
                    "/api/extensions",
                    json!({"extn": extn, "password": format!("sweep-pass-{extn}")}),
                )
                .await,
            );
        }
        for (i, (family, model, lines)) in models.iter().enumerate() {
            let mac = format!("02c0de{i:06x}");
            let extn: Vec<serde_json::Value> = (0..*lines).map(|n| json!({"extn": format!("{}", 5000 + n)})).collect();
            let record =
                json!({"vendor": family, "type": model, "mac": mac, "extn": serde_json::to_string(&extn).unwrap()});
            assert_done(&app.post("/api/device_provisions", record).await);
            sweep_phone(&app, family, model, &mac, *lines).await;
        }
    })
    .await;
}

/// Fetches each of a phone's files; each line's password must be in them
/// as often as the first line's.
async fn sweep_phone(app: &TestApp, family: &str, model: &str, mac: &str, lines: usize) {
    let (_, found) = app.get(&format!("/api/device_provisions?mac={mac}")).await;
    let id = found["data"][0]["id"].as_i64().unwrap();
    let (status, preview) = app.get(&format!("/api/device_provisions/{id}/preview")).await;
    assert_eq!(status, 200, "{family} {model}: {preview}");
    let ua = user_agent(family, model, mac);
    let mut counts = vec![0; lines];
    for file in preview["files"].as_array().unwrap() {
        let name = file["name"].as_str().unwrap();
        let got = crate::provisioning::fetch(app, &format!("/prov/{name}"), &ua).await;
        assert_eq!(got.status, 200, "{family} {model} {name}: {}", got.body);
        well_formed(&format!("{family} {model} {name}"), &got.body);
        for (n, count) in counts.iter_mut().enumerate() {
            *count += got.body.matches(&format!("sweep-pass-{}", 5000 + n)).count();
        }
    }
    assert!(counts[0] > 0, "{family} {model}: no file holds line 1's password");
    for (n, count) in counts.iter().enumerate() {
        assert_eq!(
            *count,
            counts[0],
            "{family} {model} with {lines} lines: line {} is written {count} times, line 1 {} times",
            n + 1,
            counts[0]
        );
    }
}
