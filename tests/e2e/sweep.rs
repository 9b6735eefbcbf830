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

/// Where line `n`'s password sits in a file of `family`: the text that
/// opens the line's block ("" where the key numbers the line itself), and
/// the text right before the password, in the file's generation. The keys
/// are those the conformance tables check against their sources for three
/// lines: Yealink admin guide and wazo yealink base.tpl (Flyingvoice FIP
/// takes Yealink's); tancredi akuvox.macros; Polycom UC admin guide
/// (`reg.N.auth.password`); Cisco MPP admin guide (`Password_N_`); snom
/// settings (`user_pass` by `idx`); fusionpbx grandstream gxp2170 (P34,
/// P406, P506, P606, P1706, P1806) and grp26xx (`account.N.sip.subscriber.
/// password`); wazo htek (P34, P734, …); wazo fanvil base.tpl
/// (`SIP_Line_List_Entry` by `ID` SIPn) and base-new.tpl (`line index`); an
/// exported eSpace 7910 configuration (`UserCfg/AccountN/Auth@Passwd`);
/// wazo gigaset N510 base.tpl (`aucS_SIP_PASSWORD`, `_N` from 2) and the
/// N870's `SipAccount.0000N.AuthPassword`.
fn password_key(family: &str, body: &str, n: usize) -> (String, String) {
    const GXP: [u32; 6] = [34, 406, 506, 606, 1706, 1806];
    const HTEK: [u32; 6] = [34, 734, 506, 606, 1706, 1806];
    let numbered = |before: String| (String::new(), before);
    match family {
        "yealink" | "flyingvoice" => numbered(format!("account.{n}.password = ")),
        "akuvox" => numbered(format!("Config.Account{n}.GENERAL.Pwd = ")),
        "polycom" => numbered(format!("reg.{n}.auth.password=\"")),
        "cisco" => numbered(format!("<Password_{n}_ ua=\"na\">")),
        "snom" => numbered(format!("<user_pass idx=\"{n}\" perm=\"R\">")),
        "grandstream" if body.contains("<config version=\"2\">") => {
            numbered(format!("<item name=\"account.{n}.sip.subscriber.password\">"))
        }
        "grandstream" => numbered(format!("<P{}>", GXP[n - 1])),
        "htek" => numbered(format!("<P{} para=\"Account{n}.Password\">", HTEK[n - 1])),
        "fanvil" if body.contains("<VOIP_CONFIG_FILE>") => (format!("<ID>SIP{n}</ID>"), "<Register_Pswd>".into()),
        "fanvil" => (format!("<line index=\"{n}\">"), "<RegisterPswd>".into()),
        "huawei" => (format!("<Account{n} "), "Passwd=\"".into()),
        "gigaset" if body.contains("SipAccount.") => numbered(format!("SipAccount.{n:05}.AuthPassword\" value=\"")),
        "gigaset" => {
            let suffix = if n == 1 { String::new() } else { format!("_{n}") };
            numbered(format!("aucS_SIP_PASSWORD{suffix}\" class=\"symb_item\" value='\""))
        }
        other => panic!("the sweep knows no keys of {other}"),
    }
}

/// Whether line `n`'s password `password` sits under its key in `body`.
fn under_its_key(family: &str, body: &str, n: usize, password: &str) -> bool {
    let (block, before) = password_key(family, body, n);
    let Some(start) = body.find(&block) else {
        return false;
    };
    body[start..]
        .find(&before)
        .is_some_and(|at| body[start + at + before.len()..].starts_with(password))
}

/// Fetches each of a phone's files; each line's password must be in them
/// as often as the first line's, and in each file with passwords, under
/// its line's key.
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
        if got.body.contains("sweep-pass-5000") {
            for n in 1..=lines {
                let password = format!("sweep-pass-{}", 4999 + n);
                assert!(
                    under_its_key(family, &got.body, n, &password),
                    "{family} {model} {name}: line {n}'s password is not under {:?}\n{}",
                    password_key(family, &got.body, n),
                    got.body
                );
            }
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
