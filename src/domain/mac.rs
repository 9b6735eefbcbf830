//! A phone's MAC address, parsed strictly.
//!
//! `mac_address`'s own parser is lenient (it accepts `+1+2+3+4+5+6` and mixed
//! separators), so the accepted spellings are checked here first and the crate
//! only holds the bytes.

use std::fmt;
use std::str::FromStr;

use mac_address::MacAddress;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(MacAddress);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a MAC address: write 12 hex digits, as 00:0B:74:61:58:2D, 00-0b-74-61-58-2d, 000B7461582D or 000b.7461.582d"
)]
pub struct InvalidMac(pub String);

impl Mac {
    pub fn bytes(&self) -> [u8; 6] {
        self.0.bytes()
    }

    /// `000b7461582d`: the stored form, and the one most vendors put in file names.
    pub fn lower(&self) -> String {
        hex::encode(self.bytes())
    }

    /// `000B7461582D`: Snom and Cisco file names.
    pub fn upper(&self) -> String {
        hex::encode_upper(self.bytes())
    }

    /// `00:0b:74:61:58:2d`
    pub fn colon_lower(&self) -> String {
        self.join_groups(':', false)
    }

    /// `00:0B:74:61:58:2D`
    pub fn colon_upper(&self) -> String {
        self.join_groups(':', true)
    }

    fn join_groups(&self, sep: char, upper: bool) -> String {
        let mut out = String::with_capacity(17);
        for (i, b) in self.bytes().iter().enumerate() {
            if i > 0 {
                out.push(sep);
            }
            if upper {
                out.push_str(&format!("{b:02X}"));
            } else {
                out.push_str(&format!("{b:02x}"));
            }
        }
        out
    }
}

impl FromStr for Mac {
    type Err = InvalidMac;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        let invalid = || InvalidMac(input.to_string());
        let digits: String = match s.len() {
            12 => s.to_string(),
            // 00:0B:74:61:58:2D or 00-0b-74-61-58-2d, one separator throughout
            17 => {
                let sep = s.as_bytes()[2];
                if sep != b':' && sep != b'-' {
                    return Err(invalid());
                }
                let groups: Vec<&str> = s.split(sep as char).collect();
                if groups.len() != 6 || groups.iter().any(|g| g.len() != 2) {
                    return Err(invalid());
                }
                groups.concat()
            }
            // 000b.7461.582d (Cisco)
            14 => {
                let groups: Vec<&str> = s.split('.').collect();
                if groups.len() != 3 || groups.iter().any(|g| g.len() != 4) {
                    return Err(invalid());
                }
                groups.concat()
            }
            _ => return Err(invalid()),
        };
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let mut bytes = [0u8; 6];
        hex::decode_to_slice(&digits, &mut bytes).map_err(|_| invalid())?;
        Ok(Mac(MacAddress::new(bytes)))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lower())
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({})", self.lower())
    }
}

impl From<Mac> for MacAddress {
    fn from(mac: Mac) -> Self {
        mac.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_four_documented_spellings() {
        for s in [
            "00:0B:74:61:58:2D",
            "00-0b-74-61-58-2d",
            "000B7461582D",
            "000b.7461.582d",
            " 000b7461582d ",
        ] {
            assert_eq!(s.parse::<Mac>().unwrap().lower(), "000b7461582d", "{s}");
        }
    }

    #[test]
    fn rejects_what_the_lenient_crate_parser_accepts() {
        for s in [
            "+1+2+3+4+5+6",
            "0:1:2:3:4:5:6:7:8",
            "00:0b-74:61:58:2d",
            "00a859f6c74i",
            "0a859f6c74o",
            "000b.7461582d",
            "00:0b:74:61:58:2d:11",
            "",
            "000b7461582d00",
            "00 0b 74 61 58 2d",
        ] {
            assert!(s.parse::<Mac>().is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn error_names_the_value() {
        let err = "00a859f6c74i".parse::<Mac>().unwrap_err();
        assert!(err.to_string().contains("'00a859f6c74i'"));
    }

    #[test]
    fn formats() {
        let mac: Mac = "000b7461582d".parse().unwrap();
        assert_eq!(mac.upper(), "000B7461582D");
        assert_eq!(mac.colon_lower(), "00:0b:74:61:58:2d");
        assert_eq!(mac.colon_upper(), "00:0B:74:61:58:2D");
    }

    proptest! {
        #[test]
        fn every_format_round_trips(bytes in any::<[u8; 6]>()) {
            let mac = Mac(MacAddress::new(bytes));
            let dotted = format!("{}.{}.{}", &mac.lower()[0..4], &mac.lower()[4..8], &mac.lower()[8..12]);
            for s in [mac.lower(), mac.upper(), mac.colon_lower(), mac.colon_upper(), mac.colon_lower().replace(':', "-"), dotted] {
                prop_assert_eq!(s.parse::<Mac>().unwrap(), mac);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,40}") {
            let _ = s.parse::<Mac>();
        }

        /// Too few or too many digits, or a stray character, is an error value.
        #[test]
        fn malformed_macs_are_errors(digits in "[0-9a-f]{0,11}|[0-9a-f]{13,20}", bytes in any::<[u8; 6]>(), bad in "[g-zG-Z!#/ ]") {
            prop_assert!(digits.parse::<Mac>().is_err());
            let mut text = hex::encode(bytes);
            text.replace_range(5..6, &bad);
            prop_assert!(text.parse::<Mac>().is_err(), "{}", text);
        }
    }
}
