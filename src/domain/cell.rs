//! Spreadsheet cells that cannot run as formulas (OWASP, "CSV Injection"):
//! a cell that begins with `=`, `+`, `-`, `@`, a tab or a line break gets a
//! leading `'`, which spreadsheets show as text and do not evaluate. The
//! import takes that `'` off again, so an export imports back unchanged.

use std::borrow::Cow;

/// What a spreadsheet may read as the start of a formula.
const FORMULA_STARTS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\n'];

/// Whether a cell beginning with `c` needs the `'` (a `'` itself too, so
/// that one a value really began with survives the way back).
fn guarded_start(c: char) -> bool {
    FORMULA_STARTS.contains(&c) || c == '\''
}

/// The cell as written to a file: `'` before anything that would start a
/// formula, and before a `'` that [`restore`] would otherwise take off.
pub fn neutralise(value: &str) -> Cow<'_, str> {
    let mut chars = value.chars();
    let needs = match chars.next() {
        Some('\'') => chars.next().is_some_and(guarded_start),
        Some(c) => FORMULA_STARTS.contains(&c),
        None => false,
    };
    if needs {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// The value a cell [`neutralise`] wrote stands for.
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(guarded_start) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formulas_become_text() {
        // OWASP's list: equals, plus, minus, at, tab, carriage return.
        for value in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "\n=1"] {
            assert_eq!(neutralise(value), format!("'{value}"), "{value:?}");
        }
        for value in [
            "Front desk",
            "1001",
            "yealink",
            "001565aabbcc",
            "T46G",
            "",
            "'quoted",
            "a=b",
        ] {
            assert_eq!(neutralise(value), value, "{value:?}");
        }
        assert_eq!(neutralise("'=1"), "''=1", "a quote before a formula is kept");
    }

    proptest! {
        #[test]
        fn every_value_comes_back(value in "['=+@\\-\t\r\n a-z0-9]{0,8}") {
            let written = neutralise(&value);
            prop_assert_eq!(restore(&written), value.as_str());
            prop_assert!(!written.starts_with(FORMULA_STARTS));
        }
    }
}
