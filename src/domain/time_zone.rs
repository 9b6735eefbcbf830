//! The site's time zone, as admins set it: an IANA name (`Europe/Berlin`),
//! whose daylight-saving rule comes from the time zone database built into
//! sipprov, or a fixed offset from UTC (`+8`, `-3:30`), the form earlier
//! versions took. Phones write it in many ways; this gives each of them.

use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};
use serde::Serialize;

/// A time zone and every form a vendor's file may need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteTimeZone {
    /// The IANA name, or the offset as given (`+8`).
    pub name: String,
    /// The standard offset east of UTC, in minutes.
    pub offset_minutes: i32,
    /// The standard offset as `+1`, `-3:30`.
    pub offset: String,
    /// The standard offset as `GMT+01:00`.
    pub gmt: String,
    /// The POSIX `TZ` rule: `CET-1CEST,M3.5.0,M10.5.0/3`, or `<+08>-8`.
    pub posix: String,
    /// Its standard part alone: `CET-1`.
    pub posix_standard: String,
    /// The daylight-saving rule, when the zone has one.
    pub dst: Option<DaylightSaving>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaylightSaving {
    /// How far clocks go forward, in minutes (usually 60).
    pub save_minutes: i32,
    /// The daylight part of the POSIX rule, its offset always given: `CEST-2`.
    pub posix_daylight: String,
    pub start: Switch,
    pub end: Switch,
}

/// When clocks change, as a yearly rule in the local time before the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Switch {
    pub month: i8,
    /// Which occurrence of the weekday in the month, 1 to 4; 5 is the last.
    pub week: i8,
    /// 0 is Sunday.
    pub weekday: i8,
    pub hour: i8,
    pub minute: i8,
    /// `02:00:00`
    pub time: String,
}

impl SiteTimeZone {
    /// Reads a setting: an IANA name or an offset. The error says what is
    /// accepted.
    pub fn parse(value: &str) -> Result<SiteTimeZone, String> {
        let value = value.trim();
        if let Some(minutes) = offset_minutes(value) {
            return Ok(SiteTimeZone::fixed(value, minutes));
        }
        let zone = (value.contains('/') || value == "UTC")
            .then(|| TimeZone::get(value).ok())
            .flatten()
            .ok_or_else(|| {
                format!("'{value}' is not a time zone: an IANA name such as Europe/Berlin or Asia/Shanghai, or an offset such as +8 or -3:30")
            })?;
        Ok(SiteTimeZone::from_database(value, &zone, Timestamp::now()))
    }

    fn fixed(name: &str, minutes: i32) -> SiteTimeZone {
        SiteTimeZone::standard_only(name, minutes, &format!("<{}>", posix_abbreviation(minutes)))
    }

    fn standard_only(name: &str, minutes: i32, abbreviation: &str) -> SiteTimeZone {
        let posix = format!("{abbreviation}{}", posix_offset(minutes));
        SiteTimeZone {
            name: name.to_string(),
            offset_minutes: minutes,
            offset: short_offset(minutes),
            gmt: gmt(minutes),
            posix_standard: posix.clone(),
            posix,
            dst: None,
        }
    }

    /// The zone's rule as of `now`: the next two clock changes, if it has them.
    fn from_database(name: &str, zone: &TimeZone, now: Timestamp) -> SiteTimeZone {
        let current = zone.to_offset_info(now);
        let changes: Vec<_> = zone.following(now).take(2).collect();
        let (start, end) = match changes.as_slice() {
            [a, b] if a.dst().is_dst() && !b.dst().is_dst() => (a, b),
            [a, b] if !a.dst().is_dst() && b.dst().is_dst() => (b, a),
            _ => {
                let minutes = current.offset().seconds() / 60;
                return SiteTimeZone::standard_only(name, minutes, &quoted(current.abbreviation()));
            }
        };
        let standard = end.offset();
        let daylight = start.offset();
        let minutes = standard.seconds() / 60;
        let save_minutes = (daylight.seconds() - standard.seconds()) / 60;
        let start_switch = switch(start.timestamp(), standard);
        let end_switch = switch(end.timestamp(), daylight);
        let posix_standard = format!("{}{}", quoted(end.abbreviation()), posix_offset(minutes));
        let daylight_name = quoted(start.abbreviation());
        // The daylight offset may be left out when it is an hour ahead.
        let posix = format!(
            "{posix_standard}{daylight_name}{},{},{}",
            if save_minutes == 60 {
                String::new()
            } else {
                posix_offset(minutes + save_minutes)
            },
            posix_rule(&start_switch),
            posix_rule(&end_switch),
        );
        SiteTimeZone {
            name: name.to_string(),
            offset_minutes: minutes,
            offset: short_offset(minutes),
            gmt: gmt(minutes),
            posix,
            posix_standard,
            dst: Some(DaylightSaving {
                save_minutes,
                posix_daylight: format!("{daylight_name}{}", posix_offset(minutes + save_minutes)),
                start: start_switch,
                end: end_switch,
            }),
        }
    }
}

/// `+8`, `-5:30`, `8` → minutes east of UTC.
fn offset_minutes(v: &str) -> Option<i32> {
    let (sign, rest) = match v.as_bytes().first()? {
        b'+' => (1, &v[1..]),
        b'-' => (-1, &v[1..]),
        _ => (1, v),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=14).contains(&h) && [0, 30, 45].contains(&m)).then_some(sign * (h * 60 + m))
}

/// The clock change at `at`, as the wall clock showed it just before (in `before`).
fn switch(at: Timestamp, before: Offset) -> Switch {
    let local = before.to_datetime(at);
    let day = local.day();
    Switch {
        month: local.month(),
        week: if day + 7 > local.days_in_month() {
            5
        } else {
            (day - 1) / 7 + 1
        },
        weekday: local.weekday().to_sunday_zero_offset(),
        hour: local.hour(),
        minute: local.minute(),
        time: format!("{:02}:{:02}:00", local.hour(), local.minute()),
    }
}

fn sign(minutes: i32) -> char {
    if minutes < 0 { '-' } else { '+' }
}

fn short_offset(minutes: i32) -> String {
    let (h, m) = (minutes.abs() / 60, minutes.abs() % 60);
    if m == 0 {
        format!("{}{h}", sign(minutes))
    } else {
        format!("{}{h}:{m:02}", sign(minutes))
    }
}

fn gmt(minutes: i32) -> String {
    format!(
        "GMT{}{:02}:{:02}",
        sign(minutes),
        minutes.abs() / 60,
        minutes.abs() % 60
    )
}

/// POSIX counts hours west of UTC, unsigned when west: UTC+1 is `-1`,
/// UTC-5 is `5`.
fn posix_offset(minutes: i32) -> String {
    short_offset(-minutes).trim_start_matches('+').to_string()
}

/// A made-up abbreviation for a fixed offset: `+08`, `-0330`.
fn posix_abbreviation(minutes: i32) -> String {
    let (h, m) = (minutes.abs() / 60, minutes.abs() % 60);
    if m == 0 {
        format!("{}{h:02}", sign(minutes))
    } else {
        format!("{}{h:02}{m:02}", sign(minutes))
    }
}

/// Abbreviations that are not all letters (`+0530`) go in angle brackets.
fn quoted(abbreviation: &str) -> String {
    if abbreviation.chars().all(|c| c.is_ascii_alphabetic()) {
        abbreviation.to_string()
    } else {
        format!("<{abbreviation}>")
    }
}

/// `M3.5.0`, with `/3` when the change is not at 02:00.
fn posix_rule(s: &Switch) -> String {
    let time = match (s.hour, s.minute) {
        (2, 0) => String::new(),
        (h, 0) => format!("/{h}"),
        (h, m) => format!("/{h}:{m:02}"),
    };
    format!("M{}.{}.{}{time}", s.month, s.week, s.weekday)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str) -> Timestamp {
        format!("{date}T12:00:00Z").parse().unwrap()
    }

    fn zone(name: &str, date: &str) -> SiteTimeZone {
        SiteTimeZone::from_database(name, &TimeZone::get(name).unwrap(), at(date))
    }

    /// The rules as the IANA database (and so `TZ` on any Linux) has them:
    /// tzdata's `europe`, `northamerica`, `australasia` and `asia` files.
    #[test]
    fn rules_from_the_time_zone_database() {
        for date in ["2026-01-15", "2026-07-15"] {
            let berlin = zone("Europe/Berlin", date);
            assert_eq!(berlin.posix, "CET-1CEST,M3.5.0,M10.5.0/3", "{date}");
            assert_eq!((berlin.offset.as_str(), berlin.gmt.as_str()), ("+1", "GMT+01:00"));
            let dst = berlin.dst.unwrap();
            let switch = |month, hour| Switch {
                month,
                week: 5,
                weekday: 0,
                hour,
                minute: 0,
                time: format!("{hour:02}:00:00"),
            };
            assert_eq!(
                (dst.save_minutes, &dst.start, &dst.end),
                (60, &switch(3, 2), &switch(10, 3))
            );
            assert_eq!(
                (berlin.posix_standard.as_str(), dst.posix_daylight.as_str()),
                ("CET-1", "CEST-2")
            );
        }
        assert_eq!(zone("America/New_York", "2026-05-01").posix, "EST5EDT,M3.2.0,M11.1.0");
        assert_eq!(
            zone("Australia/Sydney", "2026-05-01").posix,
            "AEST-10AEDT,M10.1.0,M4.1.0/3"
        );
        let kolkata = zone("Asia/Kolkata", "2026-05-01");
        assert_eq!(
            (kolkata.posix.as_str(), kolkata.offset.as_str(), kolkata.dst),
            ("IST-5:30", "+5:30", None)
        );
        assert_eq!(zone("Asia/Shanghai", "2026-05-01").posix, "CST-8");
    }

    #[test]
    fn offsets_as_earlier_versions_took_them() {
        let fixed = SiteTimeZone::parse("+5:30").unwrap();
        assert_eq!(
            (
                fixed.offset_minutes,
                fixed.gmt.as_str(),
                fixed.posix.as_str(),
                fixed.dst
            ),
            (330, "GMT+05:30", "<+0530>-5:30", None)
        );
        assert_eq!(SiteTimeZone::parse("-5").unwrap().posix, "<-05>5");
        for bad in ["Mars/Olympus", "+15", "Berlin", "", "../etc"] {
            let err = SiteTimeZone::parse(bad).unwrap_err();
            assert!(err.contains("IANA name such as Europe/Berlin"), "{bad}: {err}");
        }
    }
}
