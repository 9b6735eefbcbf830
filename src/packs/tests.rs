//! The built-in packs, and packs a data dir adds or changes.

use std::path::Path;

use proptest::prelude::*;

use super::*;

fn builtin() -> &'static Packs {
    static PACKS: std::sync::LazyLock<Packs> = std::sync::LazyLock::new(Packs::builtin);
    &PACKS
}

fn v(code: &str) -> Vendor {
    Vendor::intern(code)
}

#[test]
fn every_builtin_pack_loads_renders_and_gives_well_formed_xml() {
    let packs = builtin();
    assert_eq!(packs.vendors().count(), 12, "{:?}", packs.vendors().collect::<Vec<_>>());
    assert_eq!(packs.check_renders(), Vec::<Problem>::new());
    for vendor in packs.vendors() {
        let manifest = &packs.pack(vendor).unwrap().manifest;
        assert_eq!(super::uncapped_models(manifest), None, "{vendor}");
        if !manifest.models.is_empty() {
            assert!(
                manifest.vendor.max_lines.is_some(),
                "{vendor} caps models it does not list"
            );
        }
    }
}

#[test]
fn names_resolve_in_any_case_and_language() {
    let packs = builtin();
    assert_eq!(packs.vendor("潮流").unwrap(), v("grandstream"));
    assert_eq!(packs.vendor("GS").unwrap(), v("grandstream"));
    assert_eq!(packs.vendor(" Yealink ").unwrap(), v("yealink"));
    assert_eq!(packs.vendor("华为").unwrap(), v("huawei"));
    assert_eq!(packs.vendor("poly").unwrap(), v("polycom"));
    let err = packs.vendor("acme").unwrap_err().to_string();
    assert!(
        err.contains("'acme'") && err.contains("yealink") && err.contains("潮流"),
        "{err}"
    );
}

#[test]
fn guesses_by_oui() {
    let mac = |s: &str| s.parse::<Mac>().unwrap();
    let packs = builtin();
    assert_eq!(packs.vendor_of_oui(&mac("00:15:65:12:34:56")), Some(v("yealink")));
    assert_eq!(packs.vendor_of_oui(&mac("000B82AABBCC")), Some(v("grandstream")));
    assert_eq!(packs.vendor_of_oui(&mac("0c1105aabbcc")), Some(v("akuvox")));
    assert_eq!(packs.vendor_of_oui(&mac("020000000001")), None);
}

fn agent(ua: &str) -> (String, String, String, Option<String>) {
    let a = builtin()
        .parse_user_agent(ua)
        .unwrap_or_else(|| panic!("not parsed: {ua}"));
    (
        a.vendor.to_string(),
        a.model.clone(),
        a.firmware.clone(),
        a.mac.map(|m| m.lower()),
    )
}

#[test]
fn real_user_agents() {
    let cases: &[(&str, &str, &str, &str, Option<&str>)] = &[
        (
            "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37",
            "yealink",
            "T46G",
            "28.72.0.1",
            Some("0015654aa937"),
        ),
        (
            "Yealink SIP-T56A 58.80.0.25 001565f429a4",
            "yealink",
            "T56A",
            "58.80.0.25",
            Some("001565f429a4"),
        ),
        (
            "Yealink SIP VP-T49G 51.80.0.10 00:15:65:11:22:33",
            "yealink",
            "T49G",
            "51.80.0.10",
            Some("001565112233"),
        ),
        (
            "Yealink W90DM 130.87.0.10 80:5e:c0:d9:c7:44",
            "yealink",
            "W90DM",
            "130.87.0.10",
            Some("805ec0d9c744"),
        ),
        (
            "Yealink-T46G 28.71.0.81 28.1.0.128.0.0.0",
            "yealink",
            "T46G",
            "28.71.0.81",
            None,
        ),
        (
            "Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b828aa872",
            "grandstream",
            "GXP2135",
            "1.0.7.97",
            Some("000b828aa872"),
        ),
        (
            "Grandstream Model HW GXV3350  V1.3A SW 1.0.1.8 DevId c074ad150b88",
            "grandstream",
            "GXV3350",
            "1.0.1.8",
            Some("c074ad150b88"),
        ),
        (
            "Fanvil X4 2.10.2.6887 0c383e07e16c",
            "fanvil",
            "X4",
            "2.10.2.6887",
            Some("0c383e07e16c"),
        ),
        (
            "Fanvil X6U Pro 0.0.10 0c383e2cd782",
            "fanvil",
            "X6U Pro",
            "0.0.10",
            Some("0c383e2cd782"),
        ),
        (
            "FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430 Type/Application",
            "polycom",
            "VVX_400",
            "4.1.4.7430",
            None,
        ),
        (
            "FileTransport PolyCCX-CCX_500-UA/9.4.1.0508 (SN:64167f9f4c90) Type/Application",
            "polycom",
            "CCX_500",
            "9.4.1.0508",
            Some("64167f9f4c90"),
        ),
        (
            "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)",
            "snom",
            "D785",
            "10.1.33.33",
            Some("000413922d24"),
        ),
        (
            "Mozilla/4.0 (compatible; snom320-SIP 8.4.18 1.1.3-s)",
            "snom",
            "320",
            "8.4.18",
            None,
        ),
        (
            "Cisco-CP-7832-3PCC/11.0.1 (00562b043615)",
            "cisco",
            "7832-3PCC",
            "11.0.1",
            Some("00562b043615"),
        ),
        (
            "Cisco/SPA508G-7.4.4 (0002FDFF2103)(CBT141400UK)",
            "cisco",
            "508G",
            "7.4.4",
            Some("0002fdff2103"),
        ),
        ("Cisco/SPA525G-7.4.7 (CBT141900G7)", "cisco", "525G", "7.4.7", None),
        (
            "Htek UC903 2.0.4.2 00:1f:c1:1c:22:a9",
            "htek",
            "UC903",
            "2.0.4.2",
            Some("001fc11c22a9"),
        ),
        (
            "Flyingvoice FIP13G V0.6.24 00:21:F2:22:AE:F1",
            "flyingvoice",
            "FIP13G",
            "V0.6.24",
            Some("0021f222aef1"),
        ),
        (
            "Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605",
            "gigaset",
            "N870",
            "83.V2.11.0+build.a546b91",
            Some("7c2f80e0d605"),
        ),
        // The forms wazo-provd-plugins' parsers take (wazo_yealink,
        // wazo_snom and wazo_gigaset common.py).
        (
            "yealink SIP-T19P_E2  53.84.0.15 00:15:65:aa:bb:cc",
            "yealink",
            "T19P_E2",
            "53.84.0.15",
            Some("001565aabbcc"),
        ),
        (
            "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 000413922D24 SXM:0 UXM:0)",
            "snom",
            "D785",
            "10.1.33.33",
            Some("000413922d24"),
        ),
        (
            "N510 IP PRO/42.245.00.000.000;7C2F804DF9A9",
            "gigaset",
            "N510",
            "42.245.00.000.000",
            Some("7c2f804df9a9"),
        ),
    ];
    for (ua, vendor, model, fw, mac) in cases {
        assert_eq!(
            agent(ua),
            (
                vendor.to_string(),
                model.to_string(),
                fw.to_string(),
                mac.map(str::to_string)
            ),
            "{ua}"
        );
    }
}

#[test]
fn browsers_and_tools_are_not_phones() {
    for ua in [
        "curl/8.5.0",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        "",
        "Wget/1.21",
    ] {
        assert_eq!(builtin().parse_user_agent(ua), None, "{ua}");
    }
}

#[test]
fn a_phones_own_files_resolve_back_to_it() {
    let packs = builtin();
    let mac: Mac = "000413aabbcc".parse().unwrap();
    let names = |vendor: &str| {
        packs
            .phone_files(v(vendor), mac)
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    };
    assert_eq!(names("snom"), vec!["000413AABBCC.xml", "000413AABBCC-phonebook.xml"]);
    assert_eq!(
        names("polycom"),
        vec![
            "000413aabbcc.cfg",
            "000413aabbcc-sipprov.cfg",
            "000413aabbcc-phone.cfg",
            "000413aabbcc-directory.xml"
        ]
    );
    assert_eq!(
        names("akuvox"),
        vec!["000413aabbcc.cfg", "000413aabbcc-phonebook.xml"],
        "one name per template"
    );
    assert_eq!(
        packs.config_file(v("polycom"), mac).as_deref(),
        Some("000413aabbcc-sipprov.cfg")
    );
    assert_eq!(
        packs.config_file(v("yealink"), mac).as_deref(),
        Some("000413aabbcc.cfg")
    );
    assert_eq!(
        packs.config_file(v("flyingvoice"), mac).as_deref(),
        Some("000413aabbcc.cfg")
    );
    for vendor in packs.vendors().filter(|v| v.code() != "xyt") {
        assert!(packs.config_file(vendor, mac).is_some(), "{vendor}");
        for (name, _) in packs.phone_files(vendor, mac) {
            let m = packs.resolve(&name).unwrap();
            assert!(
                m.entry(vendor, &name).is_some() && m.mac == Some(mac),
                "{vendor} {name}"
            );
        }
    }
}

#[test]
fn names_resolve_to_families_mac_and_kind() {
    let packs = builtin();
    let m = packs.resolve("001565aabbcc.cfg").unwrap();
    assert_eq!(
        (m.kind, m.mac.unwrap().lower()),
        (FileKind::Config, "001565aabbcc".to_string())
    );
    assert!(m.entry(v("yealink"), "001565aabbcc.cfg").is_some());
    assert!(m.entry(v("polycom"), "001565aabbcc.cfg").is_some());
    assert!(m.entry(v("snom"), "001565aabbcc.cfg").is_none());
    assert_eq!(packs.resolve("000000000000.cfg").unwrap().route, "000000000000.cfg");
    assert_eq!(
        packs.resolve("y000000000028.cfg").unwrap().model.as_deref(),
        Some("028")
    );
    assert_eq!(
        packs.resolve("cfggrp2614.xml").unwrap().model.as_deref(),
        Some("grp2614")
    );
    assert_eq!(packs.resolve("cfg0012.xml").unwrap().model.as_deref(), Some("0012"));
    assert_eq!(
        packs.resolve("0004f2aabbcc-phone.cfg").unwrap().kind,
        FileKind::WrittenBack
    );
    let snom = packs.resolve("000413922D24.xml").unwrap();
    assert!(snom.entry(v("snom"), "000413922D24.xml").is_some());
    let lower = packs.resolve("000413922d24.xml").unwrap();
    assert!(
        lower.entry(v("snom"), "000413922d24.xml").is_none(),
        "Snom asks in upper case"
    );
    assert!(lower.entry(v("cisco"), "000413922d24.xml").is_some());
    assert_eq!(
        packs.resolve("snomD785-000413922D24.htm").unwrap().mac.unwrap().upper(),
        "000413922D24"
    );
    for unknown in [
        "",
        "index.html",
        "../etc/passwd",
        "cfg000b82aabbcc",
        "001565aabbcc.cfg.bak",
        "001565AaBBCC.cfg",
    ] {
        assert_eq!(packs.resolve(unknown), None, "{unknown}");
    }
}

#[test]
fn only_a_phones_own_logs_overrides_and_contacts_are_uploadable() {
    let packs = builtin();
    let mac: Mac = "0004f2aabbcc".parse().unwrap();
    for name in [
        "0004f2aabbcc-app.log",
        "0004f2aabbcc-boot.log",
        "0004f2aabbcc-phone.cfg",
        "0004f2aabbcc-directory.xml",
        "0004f2aabbcc-calls.xml",
    ] {
        assert_eq!(packs.uploadable(name), Some((mac, vec![v("polycom")])), "{name}");
    }
    for name in [
        "0004f2aabbcc.cfg",
        "0004f2aabbcc-sipprov.cfg",
        "000000000000.cfg",
        "0004F2AABBCC-app.log",
        "../0004f2aabbcc-app.log",
        "0004f2aabbcc-app.log/x",
    ] {
        assert_eq!(packs.uploadable(name).filter(|(_, v)| !v.is_empty()), None, "{name}");
    }
}

#[test]
fn models_give_lines_and_format_generations() {
    let packs = builtin();
    assert_eq!(packs.line_limit(v("grandstream"), "GXP2170"), Some(6));
    let mut ctx = RenderContext::fixture();
    let format = |packs: &Packs, vendor: &str, model: &str, ctx: &mut RenderContext| {
        ctx.device.model = model.into();
        Packs::pack_values(packs.pack(v(vendor)).unwrap(), ctx)["format"].clone()
    };
    assert_eq!(format(packs, "grandstream", "GRP2614", &mut ctx), "grp");
    assert_eq!(format(packs, "grandstream", "GXP2170", &mut ctx), "gxp");
    assert_eq!(format(packs, "gigaset", "N510 IP PRO", &mut ctx), "n510");
    assert_eq!(format(packs, "fanvil", "X3S", &mut ctx), "voip_config_file");
    assert_eq!(format(packs, "fanvil", "X3U", &mut ctx), "sysconf");
    assert_eq!(format(packs, "yealink", "T28P", &mut ctx), "v73");
    assert_eq!(
        format(packs, "flyingvoice", "FIP13G", &mut ctx),
        "v80",
        "taken from yealink"
    );
}

#[test]
fn the_fixture_escapes_in_every_format() {
    let packs = builtin();
    let ctx = RenderContext::fixture();
    let text = packs.render(v("yealink"), "mac.cfg", &ctx).unwrap().body;
    assert!(
        text.contains("account.1.display_name = Ops & \"Sales\" <1> 'x'next = line"),
        "{text}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("next = line")),
        "a value cannot start a new line"
    );
    let xml = packs.render(v("grandstream"), "cfgmac.xml", &ctx).unwrap().body;
    assert!(
        xml.contains("<P3>Ops &amp; &quot;Sales&quot; &lt;1&gt; &apos;x&apos;"),
        "{xml}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever an admin names a phone or a line, every built-in XML file
    /// stays well-formed, and no text file gets a line the name smuggled in.
    #[test]
    fn any_name_is_escaped_in_every_format(name in "\\PC{0,24}|[<>&'\"\\-]{0,8}|.*\n[a-z.]+ = 1") {
        let packs = builtin();
        for pack in &packs.packs {
            for template in pack.templates.names() {
                let mut ctx = RenderContext::fixture();
                ctx.device.name = name.clone();
                for line in &mut ctx.lines {
                    line.display_name = name.clone();
                }
                let rendered = packs.render(pack.vendor, template, &ctx).unwrap();
                if rendered.content_type.starts_with("text/xml") {
                    prop_assert!(well_formed(&rendered.body).is_ok(), "{}/{}: {:?}", pack.vendor, template, well_formed(&rendered.body));
                } else if let Some((_, smuggled)) = name.split_once('\n') {
                    let injected = smuggled.trim();
                    prop_assert!(!rendered.body.lines().any(|l| l.trim() == injected), "{}/{} has the line {:?}", pack.vendor, template, injected);
                }
            }
        }
    }

    #[test]
    fn every_mac_round_trips_through_its_family_names(bytes in any::<[u8; 6]>()) {
        let packs = builtin();
        let mac: Mac = hex::encode(bytes).parse().unwrap();
        for (name, vendor) in [
            (format!("{}.cfg", mac.lower()), "yealink"),
            (format!("cfg{}.xml", mac.lower()), "grandstream"),
            (format!("{}.xml", mac.upper()), "snom"),
            (format!("{}.xml", mac.lower()), "cisco"),
            (format!("snomD785-{}.htm", mac.upper()), "snom"),
        ] {
            // The all-zero MAC is Polycom's master file name, never a phone.
            if mac.lower() == "000000000000" && name.ends_with(".cfg") {
                continue;
            }
            let m = packs.resolve(&name).unwrap();
            prop_assert_eq!(m.mac, Some(mac));
            prop_assert!(m.entry(v(vendor), &name).is_some(), "{} for {}", name, vendor);
        }
    }

    #[test]
    fn arbitrary_names_and_user_agents_never_panic(text in ".{0,200}") {
        let _ = builtin().resolve(&text);
        let _ = builtin().parse_user_agent(&text);
        let _ = builtin().uploadable(&text);
    }
}

/// Writes a pack folder under `root/templates/<family>/`.
fn pack_dir(root: &Path, family: &str, files: &[(&str, &str)]) {
    let dir = root.join("templates").join(family);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

const ACME: &str = r#"
[vendor]
names = ["acme phones"]
ouis = ["02acme"]
"#;

#[test]
fn a_made_up_family_in_the_data_dir_joins_the_built_in_ones() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "[vendor]\nnames = [\"Acme Phones\"]\nouis = [\"02ac3e\"]\n\n[[user_agents]]\npattern = '^AcmePhone (?P<model>[A-Z0-9]+)/(?P<fw>[0-9.]+) {mac}'\nsamples = [\"AcmePhone A1/1.2 02:ac:3e:00:00:01\"]\n\n[[files]]\nname = \"acme-{MAC}.ini\"\ntemplate = \"phone.ini\"\nkind = \"config\"\n\n[values.transport]\nudp = \"U\"\ntls = \"S\"\n\n[models]\nA1 = 2\n";
    pack_dir(
        dir.path(),
        "acme",
        &[
            ("vendor.toml", manifest),
            (
                "phone.ini",
                "{% for line in lines %}line{{ line.index }}={{ line.extn }}@{{ settings.sip_server_host }};{{ pack.transport }}\n{% endfor %}",
            ),
        ],
    );
    let loaded = Packs::load(&dir.path().join("templates"));
    assert_eq!(loaded.problems, Vec::<Problem>::new());
    let packs = loaded.packs;
    let acme = packs.vendor("ACME PHONES").unwrap();
    assert_eq!(acme.code(), "acme");
    let mac: Mac = "02ac3e000001".parse().unwrap();
    assert_eq!(packs.vendor_of_oui(&mac), Some(acme));
    assert_eq!(
        packs
            .parse_user_agent("AcmePhone A1/1.2 02:ac:3e:00:00:01")
            .unwrap()
            .mac,
        Some(mac)
    );
    assert_eq!(packs.config_file(acme, mac).as_deref(), Some("acme-02AC3E000001.ini"));
    let m = packs.resolve("acme-02AC3E000001.ini").unwrap();
    let entry = m.entry(acme, "acme-02AC3E000001.ini").unwrap();
    let mut ctx = RenderContext::fixture();
    ctx.settings.transport = "tls".into();
    let body = packs.render(acme, &entry.template, &ctx).unwrap().body;
    assert!(body.starts_with("line1=1001@pbx.example.com;S\n"), "{body}");
    assert_eq!(packs.line_limit(acme, "A1"), Some(2));
    assert!(packs.vendor("yealink").is_ok(), "the built-in packs are still there");
}

#[test]
fn problems_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    // A route that takes a built-in one's names, a bad OUI and a taken name.
    pack_dir(
        dir.path(),
        "acme",
        &[(
            "vendor.toml",
            "[vendor]\nnames = [\"poly\"]\n\n[[files]]\nname = \"{mac}-sipprov.cfg\"\ntemplate = \"missing.cfg\"\nkind = \"config\"\n\n[[user_agents]]\npattern = '^Acme'\nsamples = [\"Yealink SIP-T46G 28.72.0.1\"]\n",
        )],
    );
    pack_dir(dir.path(), "broken", &[("vendor.toml", ACME)]);
    pack_dir(dir.path(), "Bad Name", &[("vendor.toml", "")]);
    pack_dir(dir.path(), "yealink", &[("mac.cfg", "{% for x in %}")]);
    let loaded = Packs::load(&dir.path().join("templates"));
    let shown: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    let has = |needle: &str| assert!(shown.iter().any(|p| p.contains(needle)), "{needle} not in {shown:#?}");
    let acme = dir.path().join("templates/acme/vendor.toml").display().to_string();
    has(&format!("{acme}:2: the name 'poly' is taken by polycom"));
    has(&format!(
        "{acme}:6: file '{{mac}}-sipprov.cfg': no template 'missing.cfg' in the pack"
    ));
    has(&format!(
        "{}:4: OUI '02acme': must be six lower-case hex digits",
        dir.path().join("templates/broken/vendor.toml").display()
    ));
    has(&format!(
        "{acme}:11: User-Agent sample 'Yealink SIP-T46G 28.72.0.1' is read as yealink"
    ));
    has("Bad Name: a pack folder's name is its code");
    has(&format!(
        "{}:1: Found `%}}`",
        dir.path().join("templates/yealink/mac.cfg").display()
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(
        runtime.block_on(PackShelf::open(dir.path())).is_err(),
        "a server does not start with a broken pack"
    );
}

#[test]
fn an_override_manifest_changes_only_what_it_names() {
    let dir = tempfile::tempdir().unwrap();
    pack_dir(
        dir.path(),
        "snom",
        &[(
            "vendor.toml",
            "[values.language]\nde = \"Deutsch (Schweiz)\"\n[models]\nD785 = 1\n",
        )],
    );
    let loaded = Packs::load(&dir.path().join("templates"));
    assert_eq!(loaded.problems, Vec::<Problem>::new());
    let packs = loaded.packs;
    assert_eq!(packs.line_limit(v("snom"), "D785"), Some(1));
    assert!(
        packs
            .resolve("000413AABBCC.xml")
            .unwrap()
            .entry(v("snom"), "000413AABBCC.xml")
            .is_some(),
        "its files stay"
    );
    let ctx = RenderContext::fixture();
    let values = Packs::pack_values(packs.pack(v("snom")).unwrap(), &ctx);
    assert_eq!(values["language"], "Deutsch (Schweiz)");
}

#[tokio::test]
async fn a_changed_pack_is_taken_and_a_broken_change_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let shelf = PackShelf::open(dir.path()).await.unwrap();
    assert!(shelf.current().vendor("acme").is_err());
    let manifest = "[vendor]\nouis = [\"02ac3e\"]\n";
    pack_dir(dir.path(), "acme", &[("vendor.toml", manifest)]);
    shelf.look().await;
    assert!(shelf.current().vendor("acme").is_ok(), "a new pack is taken");
    pack_dir(
        dir.path(),
        "acme",
        &[("vendor.toml", "[vendor]\nouis = [\"nothex\"]\n")],
    );
    shelf.look().await;
    assert!(
        shelf.current().vendor("acme").is_ok(),
        "a broken change leaves the packs before it"
    );
    // A template whose sample render loops past its budget is not taken.
    let bomb = "{% for i in range(end=100000) %}{% for j in range(end=100000) %}{% endfor %}{% endfor %}";
    pack_dir(dir.path(), "yealink", &[("mac.cfg", bomb)]);
    let started = std::time::Instant::now();
    shelf.look().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let packs = shelf.current();
    let ctx = RenderContext::fixture();
    assert!(
        packs.render(v("yealink"), "mac.cfg", &ctx).is_ok(),
        "the packs before it stay"
    );
}

#[test]
fn keys_must_fit_the_model_and_the_family() {
    use crate::domain::keys::{KeyType, PhoneKey};
    let packs = builtin();
    let key = |slot, kind| PhoneKey {
        slot,
        kind,
        value: "1002".into(),
        label: String::new(),
    };
    // T46U: 27 keys and three EXP43 modules of 60.
    assert_eq!(
        packs.check_keys(v("yealink"), "T46U", &[key(27, KeyType::Blf), key(207, KeyType::Blf)]),
        Ok(())
    );
    assert_eq!(
        packs.check_keys(v("yealink"), "T46U", &[key(208, KeyType::Blf)]),
        Err("slot 208: T46U has 27 keys, and 3 expansion modules of 60 (207 slots in all)".into())
    );
    assert_eq!(
        packs.check_keys(v("grandstream"), "GXP2170", &[key(1, KeyType::Pickup)]),
        Err("slot 1: grandstream phones cannot do a pickup key".into())
    );
    assert_eq!(
        packs.check_keys(v("yealink"), "W60B", &[key(1, KeyType::Blf)]),
        Err("slot 1: model 'W60B' of yealink has no programmable keys".into())
    );
    assert_eq!(
        packs.check_keys(v("yealink"), "", &[key(1, KeyType::Blf)]),
        Err("slot 1: the device has no model (type), and yealink phones' keys depend on it".into())
    );
    // Flyingvoice lists its own types: Yealink's url is not among them.
    assert!(
        packs
            .check_keys(v("flyingvoice"), "FIP13G", &[key(1, KeyType::Url)])
            .is_err()
    );
    assert_eq!(
        packs.check_keys(v("flyingvoice"), "FIP13G", &[key(9, KeyType::Blf)]),
        Ok(())
    );
    // Slots 2, 3 and 29 had keys once: on two lines, 2 is line 2's key
    // again, 3 and the module's second key are written empty; 400 is past
    // the model.
    let views = packs.key_views(
        v("yealink"),
        "T46U",
        &[key(1, KeyType::Blf), key(28, KeyType::SpeedDial)],
        &[2, 3, 29, 400],
        2,
    );
    let places: Vec<(u32, u32, &str, serde_json::Value, u32)> = views
        .iter()
        .map(|k| (k.module, k.index, k.kind, k.code.clone(), k.line))
        .collect();
    assert_eq!(
        places,
        [
            (0, 1, "blf", 16.into(), 1),
            (0, 2, "line", 15.into(), 2),
            (0, 3, "none", 0.into(), 1),
            (1, 1, "speed_dial", 13.into(), 1),
            (1, 2, "none", 0.into(), 1)
        ]
    );
}

#[test]
fn grandstream_fills_the_keys_before_a_set_one_with_its_lines_then_none() {
    use crate::domain::keys::{KeyType, PhoneKey};
    let packs = builtin();
    let mut ctx = RenderContext::fixture();
    ctx.device.vendor = "grandstream".into();
    ctx.device.model = "GRP2614".into();
    let blf = PhoneKey {
        slot: 4,
        kind: KeyType::Blf,
        value: "1002".into(),
        label: String::new(),
    };
    ctx.keys = packs.key_views(v("grandstream"), "GRP2614", &[blf], &[], 2);
    let xml = packs.render(v("grandstream"), "cfgmac.xml", &ctx).unwrap().body;
    // The fixture has two lines: keys 1 and 2 stay theirs, 3 is None.
    for item in [
        r#"<item name="pks.vpk.1.keyMode">Line</item>"#,
        r#"<item name="pks.vpk.2.account">Account2</item>"#,
        r#"<item name="pks.vpk.3.keyMode">None</item>"#,
        r#"<item name="pks.vpk.4.keyMode">BLF</item>"#,
    ] {
        assert!(xml.contains(item), "{item} in {xml}");
    }
}

#[test]
fn a_model_a_pack_accepts_needs_a_line_count() {
    let manifest = |source: &str| -> Manifest { toml::from_str(source).unwrap() };
    let uncapped = manifest("[models]\nA1 = 2\n[formats]\nnew = [\"B*\", \"A-1\"]\n[keys.models]\nA1 = 4\nC3 = 6\n");
    assert_eq!(
        super::uncapped_models(&uncapped).as_deref(),
        Some("[models] has no line count for C3, which the pack accepts: give each its lines")
    );
    assert_eq!(
        super::uncapped_models(&manifest("[models]\nA1 = 2\nc-3 = 1\n[keys.models]\nC3 = 6\n")),
        None
    );
}

/// The value a family writes for a zone of its own list, between `before`
/// and `after` in its file; `None` when it writes none.
fn zone_value(family: &str, model: &str, template: &str, zone: &str, (before, after): (&str, &str)) -> Option<String> {
    let packs = builtin();
    let mut ctx = RenderContext::fixture();
    ctx.device.vendor = family.into();
    ctx.device.model = model.into();
    ctx.settings.tz = crate::domain::time_zone::SiteTimeZone::parse(zone).unwrap();
    let body = packs.render(v(family), template, &ctx).unwrap().body;
    body.split_once(before)
        .and_then(|(_, rest)| rest.split_once(after))
        .map(|(value, _)| value.to_string())
}

/// Families that name a zone from their own list, for zones on every
/// continent, both hemispheres, half- and quarter-hour offsets and zones
/// without daylight saving, each value as its source maps the zone; a zone
/// no value fits gets none, and the phone keeps its own (or, on Yealink and
/// Akuvox, the offset and daylight-saving rule written beside it).
#[test]
fn families_name_zones_around_the_world_as_their_sources_do() {
    // Snom: nethesis/nethvoice-wizard-ui snomservice.js (each code and its
    // rule), matched to zones as tancredi snom.macros and VoIP-Domain's
    // equipments-snom client.php do where their rule is the zone's.
    let snom = [
        ("Europe/London", "GBR-0"),
        ("Europe/Berlin", "GER+1"),
        ("Europe/Moscow", "RUS+3"),
        ("America/New_York", "USA-5"),
        ("America/Los_Angeles", "USA-8"),
        ("America/Phoenix", "USA2-7"),
        ("Pacific/Honolulu", "USA-10"),
        ("America/Sao_Paulo", "BRA2-3"),
        ("America/Santiago", "CHL-4"),
        ("America/St_Johns", "CAN-3.5"),
        ("Asia/Kolkata", "IND+5.5"),
        ("+5:30", "IND+5.5"),
        ("Asia/Shanghai", "CHN+8"),
        ("Asia/Tokyo", "JPN+9"),
        ("Asia/Dubai", "UAE+4"),
        ("Africa/Johannesburg", "CAT+2"),
        ("Africa/Lagos", "WAT+1"),
        ("Australia/Sydney", "AUS+10"),
        ("Australia/Brisbane", "AUS2+10"),
        ("Australia/Adelaide", "AUS+9.5"),
        ("Australia/Darwin", "AUS2+9.5"),
        ("Australia/Perth", "AUS+8"),
        ("Pacific/Auckland", "NZL+12"),
        ("Asia/Kathmandu", ""),
        ("Europe/Istanbul", ""),
    ];
    // Yealink and Akuvox: tancredi data/templates/yealink.macros and
    // akuvox.macros (Yealink's own names, "Melboume" included).
    let named = [
        ("Europe/London", "United Kingdom(London)"),
        ("Europe/Berlin", "Germany(Berlin)"),
        ("America/New_York", "United States-Eastern Time"),
        ("America/Santiago", "Chile(Santiago)"),
        ("America/Argentina/Buenos_Aires", "Argentina(Buenos Aires)"),
        ("America/St_Johns", "Canada-New Foundland(St.Johns)"),
        ("Asia/Kolkata", "India(Calcutta)"),
        ("Asia/Kathmandu", "Nepal(Katmandu)"),
        ("Asia/Shanghai", "China(Beijing)"),
        ("Asia/Tokyo", "Japan(Tokyo)"),
        ("Asia/Jerusalem", "Israel(Tel Aviv)"),
        ("Australia/Sydney", "Australia(Sydney,Melboume,Canberra)"),
        ("Australia/Brisbane", "Australia(Brisbane)"),
        ("Australia/Adelaide", "Australia(Adelaide)"),
        ("Australia/Darwin", "Australia(Darwin)"),
        ("Australia/Perth", "Australia(Perth)"),
        ("Pacific/Auckland", "New Zealand(Wellington,Auckland)"),
        ("America/Phoenix", ""),
        ("Africa/Johannesburg", ""),
        ("Europe/Paris", "France(Paris)"),
        ("Europe/Moscow", "Russia(Moscow)"),
        ("America/Chicago", "United States-Central Time"),
    ];
    // Htek: tancredi sangoma.macros (Berlin 50, London 39), fusionpbx
    // app/htek/app_config.php (18 EST, 14 CST, 6 PST), the rest by offset
    // as wazo-provd-plugins wazo_htek common.py maps them.
    let htek = [
        ("Europe/Berlin", "50"),
        ("Europe/London", "39"),
        ("America/New_York", "18"),
        ("America/Chicago", "14"),
        ("America/Los_Angeles", "6"),
        ("America/St_Johns", "26"),
        ("Asia/Kolkata", "84"),
        ("Asia/Shanghai", "89"),
        ("Asia/Tokyo", "93"),
        ("Australia/Adelaide", "94"),
        ("Australia/Sydney", "96"),
        ("Pacific/Auckland", "102"),
        ("America/Sao_Paulo", ""),
        ("Australia/Brisbane", ""),
        ("America/Toronto", "18"),
        ("America/Anchorage", "3"),
        ("America/Halifax", "20"),
        ("Europe/Paris", "49"),
        ("Asia/Seoul", "93"),
        ("Asia/Dubai", "77"),
        ("Asia/Kathmandu", ""),
        ("Africa/Johannesburg", ""),
    ];
    // Gigaset N510: amooma/GS5 config_gigaset_controller.rb (Berlin 27),
    // the rest by offset as wazo-provd-plugins wazo_gigaset common.py and
    // N510/templates/base.tpl map them.
    let gigaset = [
        ("Europe/Berlin", "27"),
        ("Europe/London", "26"),
        ("America/New_York", "13"),
        ("America/Los_Angeles", "4"),
        ("Pacific/Honolulu", "2"),
        ("Asia/Kolkata", "48"),
        ("Asia/Kathmandu", "49"),
        ("Asia/Shanghai", "56"),
        ("Asia/Tokyo", "61"),
        ("Australia/Adelaide", "64"),
        ("Australia/Sydney", "67"),
        ("Pacific/Auckland", "72"),
        ("America/Sao_Paulo", ""),
        ("Africa/Cairo", ""),
        ("Europe/Paris", "27"),
        ("America/Chicago", "9"),
        ("America/Denver", "7"),
        ("America/Anchorage", "3"),
        ("Asia/Seoul", "61"),
        ("Asia/Hong_Kong", "56"),
        ("Australia/Perth", "56"),
    ];
    /// Family, model, template, what surrounds the value, and the zones.
    type Zones<'a> = (&'a str, &'a str, &'a str, (&'a str, &'a str), &'a [(&'a str, &'a str)]);
    let families: [Zones; 5] = [
        ("snom", "D785", "mac.xml", (r#"<timezone perm="R">"#, "<"), &snom),
        (
            "yealink",
            "T46S",
            "mac.cfg",
            ("local_time.time_zone_name = ", "\n"),
            &named,
        ),
        (
            "akuvox",
            "SP-R50P",
            "mac.cfg",
            ("Config.Settings.SNTP.Name = ", "\n"),
            &named,
        ),
        ("htek", "UC926", "cfgmac.xml", (r#"<P64 para="Time Zone">"#, "<"), &htek),
        (
            "gigaset",
            "N510",
            "mac.xml",
            (r#"uiI_TIME_TIMEZONE" class="symb_item" value=""#, "\""),
            &gigaset,
        ),
    ];
    for (family, model, template, around, zones) in families {
        for (zone, value) in zones {
            let expected = (!value.is_empty()).then(|| value.to_string());
            assert_eq!(
                zone_value(family, model, template, zone, around),
                expected,
                "{family} {zone}"
            );
        }
    }
}

/// What a family writes for a zone, read back from its file by `read`.
fn zone_written(family: &str, model: &str, template: &str, zone: &str, read: fn(&str) -> String) -> String {
    let packs = builtin();
    let mut ctx = RenderContext::fixture();
    ctx.device.vendor = family.into();
    ctx.device.model = model.into();
    ctx.settings.tz = crate::domain::time_zone::SiteTimeZone::parse(zone).unwrap();
    read(&packs.render(v(family), template, &ctx).unwrap().body)
}

/// The text between `before` and `after`, or `-`.
fn between(body: &str, before: &str, after: &str) -> String {
    body.split_once(before)
        .and_then(|(_, rest)| rest.split_once(after))
        .map_or("-".to_string(), |(value, _)| value.to_string())
}

/// An XML element's text, unescaped.
fn xml_text(body: &str, element: &str) -> String {
    let text = between(body, &format!("<{element}>"), "<");
    quick_xml::escape::unescape(&text).unwrap().into_owned()
}

fn grandstream_zone(body: &str) -> String {
    xml_text(body, "P64")
}

fn cisco_zone(body: &str) -> String {
    let rule = xml_text(body, r#"Daylight_Saving_Time_Rule ua="na""#);
    format!("{}|{rule}", xml_text(body, r#"Time_Zone ua="na""#))
}

fn polycom_zone(body: &str) -> String {
    let key = |k: &str| between(body, &format!("tcpIpApp.sntp.{k}=\""), "\"");
    let change = |s: &str| {
        let day = |k: &str| key(&format!("daylightSavings.{s}.{k}"));
        let date = if day("dayOfWeek.lastInMonth") == "1" {
            "last".to_string()
        } else {
            day("date")
        };
        format!("{},{date},{},{}", day("month"), day("dayOfWeek"), day("time"))
    };
    match key("daylightSavings.enable").as_str() {
        "1" => format!("{}|{}|{}", key("gmtOffset"), change("start"), change("stop")),
        _ => format!("{}|-", key("gmtOffset")),
    }
}

fn fanvil_zone(body: &str) -> String {
    let key = |k: &str| xml_text(body, k);
    let change = |s: &str| {
        let part = |k: &str| key(&format!("DST_{s}_{k}"));
        format!(
            "{}.{}.{}.{}:{}",
            part("Mon"),
            part("Week"),
            part("Wday"),
            part("Hour"),
            part("Min")
        )
    };
    let zone = format!("{}|{}", key("Time_Zone"), key("Time_Zone_Name"));
    match key("Enable_DST").as_str() {
        "2" => format!("{zone}|{}|{}", change("Start"), change("End")),
        _ => format!("{zone}|-"),
    }
}

fn yealink_zone(body: &str) -> String {
    let key = |k: &str| between(body, &format!("local_time.{k} = "), "\n");
    match key("summer_time").as_str() {
        "1" => format!("{}|{}|{}", key("time_zone"), key("start_time"), key("end_time")),
        _ => format!("{}|-", key("time_zone")),
    }
}

/// Families that write a zone as its offset and daylight-saving rule, over
/// zones on every continent: both hemispheres, offsets of half and quarter
/// hours, zones without daylight saving, and the US, EU, Australian and
/// Chilean rules. Each zone's rule is tzdata's (the footer of its file in
/// /usr/share/zoneinfo, tzdata 2025b, given in each row); each family writes
/// it in the form its sources give:
/// - Grandstream P64: the POSIX rule with its offsets and times spelled out,
///   as the Grandstream GXP admin guide's self-defined time zone
///   (`MTZ+6MDT+5,M3.2.0,M11.1.0`) and tzset(3) read it; tzdata's hours past
///   24 are POSIX's extension (RFC 8536 §3.3.1).
/// - Cisco: `GMT±hh:mm` and `start=month/day/weekday/hour;end=…;save=h`,
///   the weekday (1 Monday … 7 Sunday) on or after the day, -1 the last
///   (Cisco SPA/MPP admin guide, Daylight_Saving_Time_Rule; wazo-provd-plugins
///   wazo_cisco_spa common.py _format_dst_change: -1 for the last week,
///   (week-1)*7+1 otherwise, time as h:m).
/// - Polycom: gmtOffset in seconds; month, date (the weekday on or after it)
///   or lastInMonth, dayOfWeek (1 Sunday … 7 Saturday), time in whole hours
///   (Polycom SoundPoint IP admin guide addendum 2.0.3B, "Mapping (on or
///   after)"; wazo-provd-plugins wazo_polycom common.py _format_dst_change).
/// - Fanvil: Time_Zone in quarter hours and Time_Zone_Name `UTC±h`; month,
///   week (5 the last), weekday (0 Sunday), hour and minute (fusionpbx
///   fanvil/x4 template; wazo-provd-plugins wazo_fanvil common.py
///   _extract_dst_change and X7C.tpl's DST_Start_Min).
/// - Yealink: `local_time.time_zone` and `month/week/weekday/hour` (7 Sunday;
///   Yealink admin guide's daylight-saving parameters).
///
/// Where the week form cannot say a rule (Chile, Israel, Egypt), Fanvil and
/// Yealink get the week nearest it; Cisco's and Polycom's on-or-after form
/// says every rule.
#[test]
fn families_write_the_rules_of_zones_around_the_world() {
    /// Zone (tzdata's rule), then Grandstream, Cisco, Polycom, Fanvil, Yealink.
    const ZONES: [[&str; 6]; 26] = [
        // CET-1CEST,M3.5.0,M10.5.0/3
        [
            "Europe/Berlin",
            "CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00",
            "GMT+01:00|start=3/-1/7/2;end=10/-1/7/3;save=1",
            "3600|3,last,1,2|10,last,1,3",
            "4|UTC+1|3.5.0.2:0|10.5.0.3:0",
            "+1|3/5/7/2|10/5/7/3",
        ],
        // GMT0BST,M3.5.0/1,M10.5.0
        [
            "Europe/London",
            "GMT0BST-1,M3.5.0/01:00:00,M10.5.0/02:00:00",
            "GMT|start=3/-1/7/1;end=10/-1/7/2;save=1",
            "0|3,last,1,1|10,last,1,2",
            "0|UTC+0|3.5.0.1:0|10.5.0.2:0",
            "+0|3/5/7/1|10/5/7/2",
        ],
        // IST-1GMT0,M10.5.0,M3.5.0/1: winter as negative daylight saving;
        // phones take tzdata's rearguard form, GMT0IST,M3.5.0/1,M10.5.0.
        [
            "Europe/Dublin",
            "GMT0IST-1,M3.5.0/01:00:00,M10.5.0/02:00:00",
            "GMT|start=3/-1/7/1;end=10/-1/7/2;save=1",
            "0|3,last,1,1|10,last,1,2",
            "0|UTC+0|3.5.0.1:0|10.5.0.2:0",
            "+0|3/5/7/1|10/5/7/2",
        ],
        // MSK-3
        ["Europe/Moscow", "MSK-3", "GMT+03:00|-", "10800|-", "12|UTC+3|-", "+3|-"],
        // EST5EDT,M3.2.0,M11.1.0
        [
            "America/New_York",
            "EST5EDT4,M3.2.0/02:00:00,M11.1.0/02:00:00",
            "GMT-05:00|start=3/8/7/2;end=11/1/7/2;save=1",
            "-18000|3,8,1,2|11,1,1,2",
            "-20|UTC-5|3.2.0.2:0|11.1.0.2:0",
            "-5|3/2/7/2|11/1/7/2",
        ],
        // MST7
        [
            "America/Phoenix",
            "MST7",
            "GMT-07:00|-",
            "-25200|-",
            "-28|UTC-7|-",
            "-7|-",
        ],
        // NST3:30NDT,M3.2.0,M11.1.0
        [
            "America/St_Johns",
            "NST3:30NDT2:30,M3.2.0/02:00:00,M11.1.0/02:00:00",
            "GMT-03:30|start=3/8/7/2;end=11/1/7/2;save=1",
            "-12600|3,8,1,2|11,1,1,2",
            "-14|UTC-3:30|3.2.0.2:0|11.1.0.2:0",
            "-3:30|3/2/7/2|11/1/7/2",
        ],
        // CST5CDT,M3.2.0/0,M11.1.0/1
        [
            "America/Havana",
            "CST5CDT4,M3.2.0/00:00:00,M11.1.0/01:00:00",
            "GMT-05:00|start=3/8/7/0;end=11/1/7/1;save=1",
            "-18000|3,8,1,0|11,1,1,1",
            "-20|UTC-5|3.2.0.0:0|11.1.0.1:0",
            "-5|3/2/7/0|11/1/7/1",
        ],
        // <-03>3
        [
            "America/Sao_Paulo",
            "<-03>3",
            "GMT-03:00|-",
            "-10800|-",
            "-12|UTC-3|-",
            "-3|-",
        ],
        // <-04>4<-03>,M9.1.6/24,M4.1.6/24: the Sunday after the first
        // Saturday, on or after the 2nd; as a week, the first Sunday.
        [
            "America/Santiago",
            "<-04>4<-03>3,M9.1.6/24:00:00,M4.1.6/24:00:00",
            "GMT-04:00|start=9/2/7/0;end=4/2/7/0;save=1",
            "-14400|9,2,1,0|4,2,1,0",
            "-16|UTC-4|9.1.0.0:0|4.1.0.0:0",
            "-4|9/1/7/0|4/1/7/0",
        ],
        // <-02>2<-01>,M3.5.0/-1,M10.5.0/0: 23:00 the Saturday before the
        // last Sunday of March.
        [
            "America/Nuuk",
            "<-02>2<-01>1,M3.5.0/-01:00:00,M10.5.0/00:00:00",
            "GMT-02:00|start=3/24/6/23;end=10/-1/7/0;save=1",
            "-7200|3,24,7,23|10,last,1,0",
            "-8|UTC-2|3.5.6.23:0|10.5.0.0:0",
            "-2|3/5/6/23|10/5/7/0",
        ],
        // IST-5:30
        [
            "Asia/Kolkata",
            "IST-5:30",
            "GMT+05:30|-",
            "19800|-",
            "22|UTC+5:30|-",
            "+5:30|-",
        ],
        // <+0545>-5:45
        [
            "Asia/Kathmandu",
            "<+0545>-5:45",
            "GMT+05:45|-",
            "20700|-",
            "23|UTC+5:45|-",
            "+5:45|-",
        ],
        // <+0330>-3:30
        [
            "Asia/Tehran",
            "<+0330>-3:30",
            "GMT+03:30|-",
            "12600|-",
            "14|UTC+3:30|-",
            "+3:30|-",
        ],
        // CST-8
        ["Asia/Shanghai", "CST-8", "GMT+08:00|-", "28800|-", "32|UTC+8|-", "+8|-"],
        // IST-2IDT,M3.4.4/26,M10.5.0: the Friday on or after 23 March; as
        // a week, the fourth Friday.
        [
            "Asia/Jerusalem",
            "IST-2IDT-3,M3.4.4/26:00:00,M10.5.0/02:00:00",
            "GMT+02:00|start=3/23/5/2;end=10/-1/7/2;save=1",
            "7200|3,23,6,2|10,last,1,2",
            "8|UTC+2|3.4.5.2:0|10.5.0.2:0",
            "+2|3/4/5/2|10/5/7/2",
        ],
        // EET-2EEST,M4.5.5/0,M10.5.4/24: the end, the Friday after the last
        // Thursday of October, on or after the 26th (1 November at the
        // latest); as a week, the last Friday.
        [
            "Africa/Cairo",
            "EET-2EEST-3,M4.5.5/00:00:00,M10.5.4/24:00:00",
            "GMT+02:00|start=4/-1/5/0;end=10/26/5/0;save=1",
            "7200|4,last,6,0|10,26,6,0",
            "8|UTC+2|4.5.5.0:0|10.5.5.0:0",
            "+2|4/5/5/0|10/5/5/0",
        ],
        // SAST-2
        [
            "Africa/Johannesburg",
            "SAST-2",
            "GMT+02:00|-",
            "7200|-",
            "8|UTC+2|-",
            "+2|-",
        ],
        // AEST-10AEDT,M10.1.0,M4.1.0/3
        [
            "Australia/Sydney",
            "AEST-10AEDT-11,M10.1.0/02:00:00,M4.1.0/03:00:00",
            "GMT+10:00|start=10/1/7/2;end=4/1/7/3;save=1",
            "36000|10,1,1,2|4,1,1,3",
            "40|UTC+10|10.1.0.2:0|4.1.0.3:0",
            "+10|10/1/7/2|4/1/7/3",
        ],
        // ACST-9:30ACDT,M10.1.0,M4.1.0/3
        [
            "Australia/Adelaide",
            "ACST-9:30ACDT-10:30,M10.1.0/02:00:00,M4.1.0/03:00:00",
            "GMT+09:30|start=10/1/7/2;end=4/1/7/3;save=1",
            "34200|10,1,1,2|4,1,1,3",
            "38|UTC+9:30|10.1.0.2:0|4.1.0.3:0",
            "+9:30|10/1/7/2|4/1/7/3",
        ],
        // ACST-9:30
        [
            "Australia/Darwin",
            "ACST-9:30",
            "GMT+09:30|-",
            "34200|-",
            "38|UTC+9:30|-",
            "+9:30|-",
        ],
        // <+1030>-10:30<+11>-11,M10.1.0,M4.1.0: half an hour saved.
        [
            "Australia/Lord_Howe",
            "<+1030>-10:30<+11>-11,M10.1.0/02:00:00,M4.1.0/02:00:00",
            "GMT+10:30|start=10/1/7/2;end=4/1/7/2;save=0:30",
            "37800|10,1,1,2|4,1,1,2",
            "42|UTC+10:30|10.1.0.2:0|4.1.0.2:0",
            "+10:30|10/1/7/2|4/1/7/2",
        ],
        // NZST-12NZDT,M9.5.0,M4.1.0/3
        [
            "Pacific/Auckland",
            "NZST-12NZDT-13,M9.5.0/02:00:00,M4.1.0/03:00:00",
            "GMT+12:00|start=9/-1/7/2;end=4/1/7/3;save=1",
            "43200|9,last,1,2|4,1,1,3",
            "48|UTC+12|9.5.0.2:0|4.1.0.3:0",
            "+12|9/5/7/2|4/1/7/3",
        ],
        // <+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45
        [
            "Pacific/Chatham",
            "<+1245>-12:45<+1345>-13:45,M9.5.0/02:45:00,M4.1.0/03:45:00",
            "GMT+12:45|start=9/-1/7/2:45;end=4/1/7/3:45;save=1",
            "45900|9,last,1,2|4,1,1,3",
            "51|UTC+12:45|9.5.0.2:45|4.1.0.3:45",
            "+12:45|9/5/7/2|4/1/7/3",
        ],
        // An offset, as earlier versions took the setting.
        [
            "+5:30",
            "<+0530>-5:30",
            "GMT+05:30|-",
            "19800|-",
            "22|UTC+5:30|-",
            "+5:30|-",
        ],
        // UTC0
        ["UTC", "UTC0", "GMT|-", "0|-", "0|UTC+0|-", "+0|-"],
    ];
    type Family = (&'static str, &'static str, &'static str, fn(&str) -> String);
    let families: [Family; 5] = [
        ("grandstream", "GXP2170", "cfgmac.xml", grandstream_zone),
        ("cisco", "SPA504G", "mac.xml", cisco_zone),
        ("polycom", "VVX411", "mac-sipprov.cfg", polycom_zone),
        ("fanvil", "X4", "mac.cfg", fanvil_zone),
        ("yealink", "T46S", "mac.cfg", yealink_zone),
    ];
    for [zone, expected @ ..] in ZONES {
        for ((family, model, template, read), expected) in families.iter().zip(expected) {
            assert_eq!(
                zone_written(family, model, template, zone, *read),
                expected,
                "{family} {zone}"
            );
        }
    }
}

/// Every template of every pack renders for the settings an admin may
/// choose, not only the fixture's: zones that save half an hour, change at
/// 2:45, on the day after a weekday or before midnight, offsets of quarter
/// hours, and re-check intervals that are not whole hours.
#[test]
fn every_template_renders_for_each_zone_and_interval_an_admin_may_set() {
    let packs = builtin();
    let zones = [
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "America/Santiago",
        "America/Nuuk",
        "Europe/Dublin",
        "+5:45",
        "-3:30",
        "UTC",
    ];
    for pack in &packs.packs {
        for model in pack.generation_models() {
            for template in pack.templates.names() {
                for (zone, minutes) in zones.iter().zip([5, 90, 10080].iter().cycle()) {
                    let mut ctx = RenderContext::fixture();
                    ctx.device.vendor = pack.vendor.code().into();
                    ctx.device.model = model.clone();
                    ctx.settings.tz = crate::domain::time_zone::SiteTimeZone::parse(zone).unwrap();
                    ctx.settings.resync_interval_minutes = *minutes;
                    if let Err(e) = packs.render(pack.vendor, template, &ctx) {
                        panic!(
                            "{} {template} model '{model}', {zone}, every {minutes} minutes: {e}",
                            pack.vendor
                        );
                    }
                }
            }
        }
    }
}

/// Fanvil's 2.3 firmware (the C58 and C62, and any model on 2.3) names the
/// zone by its own index, whole hours only (wazo-provd-plugins wazo_fanvil
/// v2_3 entry.py _TZ_INFO); an offset it has no index for gets none, and
/// the phone keeps its own.
#[test]
fn fanvil_2_3_names_zones_by_its_index() {
    let zones = [
        ("Europe/Berlin", "27|MET_001"),
        ("Europe/London", "25|UCT_000"),
        ("America/New_York", "12|UCT_-05"),
        ("America/Sao_Paulo", "19|UCT_-03"),
        ("Asia/Shanghai", "56|CST_008"),
        ("Asia/Tokyo", "61|JST_009"),
        ("Australia/Sydney", "66|UCT_010"),
        ("Pacific/Auckland", "72|UCT_012"),
        ("Asia/Kolkata", "-|-"),
        ("America/St_Johns", "-|-"),
    ];
    let read = |body: &str| format!("{}|{}", xml_text(body, "Time_Zone"), xml_text(body, "Time_Zone_Name"));
    for (zone, expected) in zones {
        assert_eq!(zone_written("fanvil", "C62", "mac.cfg", zone, read), expected, "{zone}");
        assert_eq!(
            zone_written("fanvil", "C62", "model.cfg", zone, read),
            expected,
            "{zone}"
        );
    }
}
