//! XSwitch writes every time as `YYYY-MM-DD HH:MM:SS` (UTC here), and a live
//! row's `deleted_at` as "".

use serde::Serializer;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

const FORMAT: &[FormatItem<'static>] = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
const DATE: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// When a row was made, last changed and (softly) deleted, shown as XSwitch
/// shows them; flattened into each resource's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct RowTimes {
    #[serde(serialize_with = "serialize")]
    #[schema(value_type = String, example = "2022-05-17 15:06:04")]
    pub created_at: OffsetDateTime,
    #[serde(serialize_with = "serialize")]
    #[schema(value_type = String, example = "2022-05-17 15:06:04")]
    pub updated_at: OffsetDateTime,
    #[serde(serialize_with = "serialize_opt")]
    #[schema(value_type = String, example = "")]
    pub deleted_at: Option<OffsetDateTime>,
}

impl RowTimes {
    /// A row made just now.
    pub fn new(now: OffsetDateTime) -> Self {
        RowTimes {
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }
}

pub fn now() -> OffsetDateTime {
    // Whole seconds: the API never shows more, and equal values compare equal.
    OffsetDateTime::now_utc().replace_nanosecond(0).expect("0 ns is valid")
}

pub fn format(t: &OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .expect("formatting a valid date")
}

/// Reads `YYYY-MM-DD HH:MM:SS`, or `YYYY-MM-DD` as the start (`end_of_day`
/// false) or the last second (true) of that day.
pub fn parse(s: &str, end_of_day: bool) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = PrimitiveDateTime::parse(s, FORMAT) {
        return Some(t.assume_utc());
    }
    let date = Date::parse(s, DATE).ok()?;
    let at = if end_of_day {
        Time::from_hms(23, 59, 59).ok()?
    } else {
        Time::MIDNIGHT
    };
    Some(PrimitiveDateTime::new(date, at).assume_utc())
}

pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

/// For `deleted_at` and other optional times: absent is "".
pub fn serialize_opt<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format(t)),
        None => s.serialize_str(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_date_only_bounds() {
        let t = parse("2022-05-17 15:06:04", false).unwrap();
        assert_eq!(format(&t), "2022-05-17 15:06:04");
        assert_eq!(format(&parse("2022-05-17", false).unwrap()), "2022-05-17 00:00:00");
        assert_eq!(format(&parse("2022-05-17", true).unwrap()), "2022-05-17 23:59:59");
        assert!(parse("17/05/2022", false).is_none());
    }
}
