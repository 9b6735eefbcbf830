//! Numbers sent where text is meant (XSwitch clients send `"extn": 1001`):
//! read as their text only when whole and within JSON's exact range, so
//! every client reads them alike and their text stays short.

/// The largest whole number every JSON reader keeps exactly (2^53 − 1).
pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// A number's text where it stands for text: whole and within
/// `MAX_SAFE_INTEGER` either way, else `None`.
pub fn number_as_text(n: &serde_json::Number) -> Option<String> {
    let whole = match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(v), _, _) => Some(v),
        (_, Some(v), _) => i64::try_from(v).ok(),
        (_, _, Some(v)) if v.fract() == 0.0 && v.abs() <= MAX_SAFE_INTEGER as f64 => Some(v as i64),
        _ => None,
    };
    whole.filter(|v| v.abs() <= MAX_SAFE_INTEGER).map(|v| v.to_string())
}

/// The longest number a phone is given to dial.
pub const MAX_DIALABLE_CHARS: usize = 32;

/// Whether a phone can dial this: letters, digits and `+ * # . - _ @`, at
/// most [`MAX_DIALABLE_CHARS`].
pub fn is_dialable(number: &str) -> bool {
    !number.is_empty()
        && number.len() <= MAX_DIALABLE_CHARS
        && number
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+*#.-_@".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_numbers_within_range_read_as_text() {
        let n = |text: &str| serde_json::from_str::<serde_json::Number>(text).unwrap();
        assert_eq!(number_as_text(&n("1001")), Some("1001".into()));
        assert_eq!(number_as_text(&n("1001.0")), Some("1001".into()));
        assert_eq!(number_as_text(&n("-5")), Some("-5".into()));
        assert_eq!(number_as_text(&n("1.5")), None);
        assert_eq!(number_as_text(&n("9007199254740992")), None);
        assert_eq!(number_as_text(&n("18446744073709551615")), None);
    }
}
