//! What a phone's User-Agent says: vendor, model, firmware and, for most
//! vendors, the MAC. Shapes from each vendor's phones (see vendors.md).

use std::sync::LazyLock;

use regex::Regex;

use crate::domain::{Mac, Vendor};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneAgent {
    pub vendor: Vendor,
    pub model: String,
    pub firmware: String,
    pub mac: Option<Mac>,
}

const MAC: &str = r"(?P<mac>[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{12})";

static PARSERS: LazyLock<Vec<(Vendor, Regex)>> = LazyLock::new(|| {
    let rules: &[(Vendor, String)] = &[
        // Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37 · Yealink SIP VP-T49G … · Yealink W90DM 130.87.0.10 80:5e:c0:d9:c7:44
        // · yealink SIP-T19P_E2  53.84.0.15 … (wazo plugins/wazo_yealink/common/common.py: lower case, two spaces, E2 models)
        (Vendor::Yealink, format!(r"^(?i:yealink)[ -](?:SIP[ -](?:VP-)?)?(?P<model>[A-Za-z0-9_-]+) +(?P<fw>[0-9][0-9.]*)(?: {MAC})?\b")),
        // Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b828aa872
        (Vendor::Grandstream, r"^Grandstream (?:Model HW )?(?P<model>[A-Z]{2,4}[0-9]{3,4}[A-Z]*)(?:.*? SW (?P<fw>[0-9.]+))?.*?DevId (?P<mac>[0-9a-fA-F]{12})".into()),
        // Fanvil X6U Pro 0.0.10 0c383e2cd782
        (Vendor::Fanvil, r"^Fanvil (?P<model>.+?) (?P<fw>[0-9][0-9.]*) (?P<mac>[0-9a-fA-F]{12})$".into()),
        // FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430 Type/Application · PolyCCX-CCX_500-UA/9.4.1.0508 (SN:64167f9f4c90)
        (Vendor::Polycom, r"Poly(?:com)?[A-Za-z]*-(?P<model>[A-Za-z0-9_]+)-UA/(?P<fw>[0-9.]+)(?: \(SN:(?P<mac>[0-9a-fA-F]{12})\))?".into()),
        // Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)
        // The build token may be missing; the MAC is still found.
        (Vendor::Snom, r"snom(?P<model>[A-Za-z0-9]+)-SIP (?P<fw>[0-9.]+)(?:(?: \S+)? (?P<mac>[0-9A-F]{12})\b)?".into()),
        // Cisco-CP-7832-3PCC/11.0.1 (00562b043615)
        (Vendor::Cisco, r"^Cisco-CP-(?P<model>[0-9]{4}-3PCC)/(?P<fw>[0-9.]+)(?: \((?P<mac>[0-9a-fA-F]{12})\))?".into()),
        // Cisco/SPA508G-7.4.4 (0002FDFF2103)(CBT141400UK); the SPA525G sends only a serial
        (Vendor::Cisco, r"^Cisco/SPA(?P<model>[0-9]{3}[A-Z]?)-(?P<fw>[0-9][0-9a-z.()]*)(?: \((?P<mac>[0-9A-F]{12})\))?".into()),
        // Htek UC903 2.0.4.2 00:1f:c1:1c:22:a9
        (Vendor::Htek, format!(r"^Htek (?P<model>[A-Z0-9]+) (?P<fw>[0-9][0-9.]*)(?: {MAC})?")),
        // Flyingvoice FIP13G V0.6.24 00:21:F2:22:AE:F1
        (Vendor::Flyingvoice, format!(r"^Flyingvoice (?P<model>[A-Za-z0-9]+) (?P<fw>V?[0-9][0-9.]*)(?: {MAC})?")),
        // Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605 · N510 IP PRO/42.245.00.000.000;7C2F804DF9A9
        // (the N510 and N720 leave out "Gigaset"; wazo plugins/wazo_gigaset/common/common.py)
        (Vendor::Gigaset, r#"^"?(?:Gigaset )?(?P<model>N[0-9]{3}[A-Za-z]?)[^/]*/(?P<fw>[^;"]+)(?:;(?P<mac>[0-9A-Fa-f]{12}))?"#.into()),
        // Unverified on hardware: Akuvox and Huawei put their name and model first.
        (Vendor::Akuvox, format!(r"^Akuvox (?P<model>\S+) (?P<fw>[0-9][0-9.]*)(?: {MAC})?")),
        (Vendor::Huawei, r"^Huawei[ -](?P<model>[A-Za-z0-9-]+)(?: (?P<fw>[0-9][0-9.]*))?".into()),
    ];
    rules
        .iter()
        .map(|(v, re)| (*v, Regex::new(re).expect("user agent patterns compile")))
        .collect()
});

/// Reads a phone's User-Agent; None for anything that is not a known phone.
pub fn parse(user_agent: &str) -> Option<PhoneAgent> {
    PARSERS.iter().find_map(|(vendor, re)| {
        let c = re.captures(user_agent)?;
        Some(PhoneAgent {
            vendor: *vendor,
            model: c.name("model").map_or("", |m| m.as_str()).to_string(),
            firmware: c.name("fw").map_or("", |m| m.as_str()).to_string(),
            mac: c.name("mac").and_then(|m| m.as_str().parse().ok()),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn agent(ua: &str) -> (Vendor, String, String, Option<String>) {
        let a = parse(ua).unwrap_or_else(|| panic!("not parsed: {ua}"));
        (a.vendor, a.model, a.firmware, a.mac.map(|m| m.lower()))
    }

    #[test]
    fn real_user_agents() {
        let cases: &[(&str, Vendor, &str, &str, Option<&str>)] = &[
            (
                "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37",
                Vendor::Yealink,
                "T46G",
                "28.72.0.1",
                Some("0015654aa937"),
            ),
            (
                "Yealink SIP-T56A 58.80.0.25 001565f429a4",
                Vendor::Yealink,
                "T56A",
                "58.80.0.25",
                Some("001565f429a4"),
            ),
            (
                "Yealink SIP VP-T49G 51.80.0.10 00:15:65:11:22:33",
                Vendor::Yealink,
                "T49G",
                "51.80.0.10",
                Some("001565112233"),
            ),
            (
                "Yealink W90DM 130.87.0.10 80:5e:c0:d9:c7:44",
                Vendor::Yealink,
                "W90DM",
                "130.87.0.10",
                Some("805ec0d9c744"),
            ),
            (
                "Yealink-T46G 28.71.0.81 28.1.0.128.0.0.0",
                Vendor::Yealink,
                "T46G",
                "28.71.0.81",
                None,
            ),
            (
                "Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b828aa872",
                Vendor::Grandstream,
                "GXP2135",
                "1.0.7.97",
                Some("000b828aa872"),
            ),
            (
                "Grandstream Model HW GXV3350  V1.3A SW 1.0.1.8 DevId c074ad150b88",
                Vendor::Grandstream,
                "GXV3350",
                "1.0.1.8",
                Some("c074ad150b88"),
            ),
            (
                "Fanvil X4 2.10.2.6887 0c383e07e16c",
                Vendor::Fanvil,
                "X4",
                "2.10.2.6887",
                Some("0c383e07e16c"),
            ),
            (
                "Fanvil X6U Pro 0.0.10 0c383e2cd782",
                Vendor::Fanvil,
                "X6U Pro",
                "0.0.10",
                Some("0c383e2cd782"),
            ),
            (
                "FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430 Type/Application",
                Vendor::Polycom,
                "VVX_400",
                "4.1.4.7430",
                None,
            ),
            (
                "FileTransport PolyCCX-CCX_500-UA/9.4.1.0508 (SN:64167f9f4c90) Type/Application",
                Vendor::Polycom,
                "CCX_500",
                "9.4.1.0508",
                Some("64167f9f4c90"),
            ),
            (
                "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)",
                Vendor::Snom,
                "D785",
                "10.1.33.33",
                Some("000413922d24"),
            ),
            (
                "Mozilla/4.0 (compatible; snom320-SIP 8.4.18 1.1.3-s)",
                Vendor::Snom,
                "320",
                "8.4.18",
                None,
            ),
            (
                "Cisco-CP-7832-3PCC/11.0.1 (00562b043615)",
                Vendor::Cisco,
                "7832-3PCC",
                "11.0.1",
                Some("00562b043615"),
            ),
            (
                "Cisco/SPA508G-7.4.4 (0002FDFF2103)(CBT141400UK)",
                Vendor::Cisco,
                "508G",
                "7.4.4",
                Some("0002fdff2103"),
            ),
            (
                "Cisco/SPA525G-7.4.7 (CBT141900G7)",
                Vendor::Cisco,
                "525G",
                "7.4.7",
                None,
            ),
            (
                "Htek UC903 2.0.4.2 00:1f:c1:1c:22:a9",
                Vendor::Htek,
                "UC903",
                "2.0.4.2",
                Some("001fc11c22a9"),
            ),
            (
                "Flyingvoice FIP13G V0.6.24 00:21:F2:22:AE:F1",
                Vendor::Flyingvoice,
                "FIP13G",
                "V0.6.24",
                Some("0021f222aef1"),
            ),
            (
                "Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605",
                Vendor::Gigaset,
                "N870",
                "83.V2.11.0+build.a546b91",
                Some("7c2f80e0d605"),
            ),
            // The forms wazo-provd-plugins' parsers take (wazo_yealink,
            // wazo_snom and wazo_gigaset common.py).
            (
                "yealink SIP-T19P_E2  53.84.0.15 00:15:65:aa:bb:cc",
                Vendor::Yealink,
                "T19P_E2",
                "53.84.0.15",
                Some("001565aabbcc"),
            ),
            (
                "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 000413922D24 SXM:0 UXM:0)",
                Vendor::Snom,
                "D785",
                "10.1.33.33",
                Some("000413922d24"),
            ),
            (
                "N510 IP PRO/42.245.00.000.000;7C2F804DF9A9",
                Vendor::Gigaset,
                "N510",
                "42.245.00.000.000",
                Some("7c2f804df9a9"),
            ),
        ];
        for (ua, vendor, model, fw, mac) in cases {
            assert_eq!(
                agent(ua),
                (*vendor, model.to_string(), fw.to_string(), mac.map(str::to_string)),
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
            assert_eq!(parse(ua), None, "{ua}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_user_agents_never_panic(ua in ".{0,200}") {
            let _ = parse(&ua);
        }

        /// What a phone says comes back out: vendor, model, firmware, MAC.
        #[test]
        fn vendor_formats_round_trip(
            bytes in any::<[u8; 6]>(),
            model in "[A-Z][0-9]{2,3}[A-Z]?",
            firmware in "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        ) {
            let mac: Mac = hex::encode(bytes).parse().unwrap();
            for (ua, vendor) in [
                (format!("Yealink SIP-{model} {firmware} {}", mac.colon_lower()), Vendor::Yealink),
                (format!("Htek {model} {firmware} {}", mac.colon_lower()), Vendor::Htek),
                (format!("Flyingvoice {model} {firmware} {}", mac.colon_upper()), Vendor::Flyingvoice),
            ] {
                let agent = parse(&ua).unwrap();
                prop_assert_eq!(agent.vendor, vendor, "{}", ua);
                prop_assert_eq!(&agent.model, &model, "{}", ua);
                prop_assert_eq!(&agent.firmware, &firmware, "{}", ua);
                prop_assert_eq!(agent.mac, Some(mac), "{}", ua);
            }
        }
    }
}
