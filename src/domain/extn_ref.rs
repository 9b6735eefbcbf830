//! The `extn` field of a device record names the phone's lines. XSwitch
//! clients write it four ways: a JSON-string array `[{"extn":"1001"}]`,
//! `1007|domain`, `1007@domain`, and a plain `1001`.

/// One line of a phone: an extension number, with its domain when given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtnRef {
    pub extn: String,
    pub domain: Option<String>,
}

impl std::fmt::Display for ExtnRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.domain {
            Some(d) => write!(f, "{}@{}", self.extn, d),
            None => f.write_str(&self.extn),
        }
    }
}

/// Parses the whole field into its lines, in order. An empty field is a
/// device with no lines yet.
pub fn parse_extn_field(field: &str) -> Result<Vec<ExtnRef>, String> {
    let field = field.trim();
    if field.is_empty() {
        return Ok(Vec::new());
    }
    if field.starts_with('[') {
        let items: Vec<serde_json::Value> = serde_json::from_str(field)
            .map_err(|e| format!("'{field}' is not a JSON array of {{\"extn\": ...}} objects: {e}"))?;
        return items
            .iter()
            .map(|item| {
                let value = match item {
                    serde_json::Value::Object(o) => o.get("extn"),
                    _ => None,
                };
                match value {
                    Some(serde_json::Value::String(s)) => parse_one(s),
                    Some(serde_json::Value::Number(n)) => parse_one(&n.to_string()),
                    _ => Err(format!("'{item}' in '{field}' has no \"extn\" string")),
                }
            })
            .collect();
    }
    Ok(vec![parse_one(field)?])
}

fn parse_one(s: &str) -> Result<ExtnRef, String> {
    let s = s.trim();
    let (extn, domain) = match s.split_once(['|', '@']) {
        Some((e, d)) => (e.trim(), Some(d.trim())),
        None => (s, None),
    };
    let valid_part =
        |p: &str| !p.is_empty() && p.len() <= 64 && !p.contains(|c: char| c.is_whitespace() || "|@\"'<>&".contains(c));
    if !valid_part(extn) || domain.is_some_and(|d| !valid_part(d)) {
        return Err(format!(
            "'{s}' is not an extension: write 1001, 1001@domain or 1001|domain"
        ));
    }
    Ok(ExtnRef {
        extn: extn.to_string(),
        domain: domain.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(extn: &str, domain: Option<&str>) -> ExtnRef {
        ExtnRef {
            extn: extn.into(),
            domain: domain.map(Into::into),
        }
    }

    #[test]
    fn the_four_forms() {
        assert_eq!(parse_extn_field("1001").unwrap(), vec![r("1001", None)]);
        assert_eq!(
            parse_extn_field("1007|demo.xswitch.cn").unwrap(),
            vec![r("1007", Some("demo.xswitch.cn"))]
        );
        assert_eq!(
            parse_extn_field("1007@demo.xswitch.cn").unwrap(),
            vec![r("1007", Some("demo.xswitch.cn"))]
        );
        assert_eq!(
            parse_extn_field(r#"[{"extn":"1001"},{"extn":"1007|demo.xswitch.cn"},{"extn":1002}]"#).unwrap(),
            vec![r("1001", None), r("1007", Some("demo.xswitch.cn")), r("1002", None)]
        );
        assert_eq!(parse_extn_field("  ").unwrap(), vec![]);
    }

    #[test]
    fn malformed_values_name_themselves() {
        for bad in ["[{\"ext\":\"1\"}]", "[1001", "10 01", "1001@", "|x", "[\"1001\"]"] {
            let err = parse_extn_field(bad).unwrap_err();
            assert!(err.contains('\''), "{bad}: {err}");
        }
    }
}
