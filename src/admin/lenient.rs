//! Reading what XSwitch clients send loosely: numbers as strings, flags
//! as 0/1, "0"/"1" or booleans, strings as numbers; and the schemas the API
//! document states for each, so the document is as strict as the typed
//! inputs that use them.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};

/// Numbers sent for text or ids are whole and within JSON's exact range,
/// so every client reads them the same and their text stays short.
pub use crate::domain::MAX_SAFE_INTEGER;

pub fn safe_integer() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(-MAX_SAFE_INTEGER))
        .maximum(Some(MAX_SAFE_INTEGER))
}

fn null() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

/// Optional free text: a string, a whole number kept as written (XSwitch
/// clients and spreadsheets send both), or null for "not given".
pub fn text_schema() -> Schema {
    text_up_to::<{ usize::MAX }>()
}

/// Optional text of at most `MAX` characters.
pub fn text_up_to<const MAX: usize>() -> Schema {
    let mut text = ObjectBuilder::new().schema_type(Type::String);
    if MAX != usize::MAX {
        text = text.max_length(Some(MAX));
    }
    Schema::OneOf(OneOfBuilder::new().item(text).item(safe_integer()).item(null()).build())
}

/// Required text of 1 to `MAX` characters: blank is refused as missing.
pub fn required_text<const MAX: usize>() -> Schema {
    let mut text = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(NOT_BLANK));
    if MAX != usize::MAX {
        text = text.max_length(Some(MAX));
    }
    Schema::OneOf(OneOfBuilder::new().item(text).item(safe_integer()).build())
}

/// Text that may be left out (null) but not blank, as on an update.
pub fn nonblank_or_null<const MAX: usize>() -> Schema {
    with_null(required_text::<MAX>())
}

/// `schema`, or null.
pub fn with_null(schema: Schema) -> Schema {
    match schema {
        Schema::OneOf(mut one_of) => {
            one_of.items.push(null().into());
            Schema::OneOf(one_of)
        }
        other => Schema::OneOf(OneOfBuilder::new().item(other).item(null()).build()),
    }
}

/// Required text of any length.
pub fn required_text_schema() -> Schema {
    required_text::<{ usize::MAX }>()
}

/// Some character that `str::trim` keeps.
pub const NOT_BLANK: &str = r"[^ \t\n\r\x0b\x0c\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// Text that matches `pattern`, or a whole number between `lowest` and
/// `highest` (standing for its digits), or null when `nullable`.
pub fn patterned(pattern: &str, lowest: i64, highest: i64, nullable: bool) -> Schema {
    let mut one_of = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(lowest))
                .maximum(Some(highest)),
        );
    if nullable {
        one_of = one_of.item(null());
    }
    Schema::OneOf(one_of.build())
}

/// An optional whole number: a number, its digits as text, or "" or null
/// for "not given".
pub fn int_schema() -> Schema {
    patterned(r"^\s*(-?[0-9]{1,15})?\s*$", -MAX_SAFE_INTEGER, MAX_SAFE_INTEGER, true)
}

/// A required whole number: a number or its digits as text.
pub fn required_int_schema() -> Schema {
    patterned(r"^\s*-?[0-9]{1,15}\s*$", -MAX_SAFE_INTEGER, MAX_SAFE_INTEGER, false)
}

/// How `flag` fields are documented: 0 or 1, a boolean, the same as text, or null.
pub fn flag_schema() -> Schema {
    Schema::OneOf(
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(1)),
            )
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^\s*(0|1|true|false)?\s*$")),
            )
            .item(null())
            .build(),
    )
}

/// Optional text that must be one of `values` (in any case, around
/// blanks); blank or null is "not given".
pub fn choice_schema(values: &[&str]) -> Schema {
    let mut choices = vec![""];
    choices.extend_from_slice(values);
    Schema::OneOf(
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(choices)),
            )
            .item(null())
            .build(),
    )
}

/// The same when the field is required.
pub fn required_choice_schema(values: &[&str]) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values.iter().copied()))
            .build(),
    )
}

/// A password of `MIN` to 128 printable characters; a number of at least
/// `MIN` digits counts as its digits.
pub fn password_schema<const MIN: usize>(nullable: bool) -> Schema {
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!(r"^[^\x00-\x1f\x7f-\x9f]{{{MIN},128}}$")));
    let digits = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(10_i64.pow(MIN as u32 - 1)))
        .maximum(Some(MAX_SAFE_INTEGER));
    let mut one_of = OneOfBuilder::new().item(text).item(digits);
    if nullable {
        one_of = one_of.item(null());
    }
    Schema::OneOf(one_of.build())
}

pub use crate::domain::number_as_text;

/// A whole number within `MAX_SAFE_INTEGER`, or the error for one outside.
fn safe<E: de::Error>(v: i128) -> Result<i64, E> {
    i64::try_from(v)
        .ok()
        .filter(|v| v.abs() <= MAX_SAFE_INTEGER)
        .ok_or_else(|| E::custom(format!("{v} is out of range (at most {MAX_SAFE_INTEGER} either way)")))
}

fn whole<E: de::Error>(v: f64) -> Result<i64, E> {
    if v.fract() == 0.0 && v.abs() <= MAX_SAFE_INTEGER as f64 {
        Ok(v as i64)
    } else {
        Err(E::custom(format!("expected a whole number, found {v}")))
    }
}

struct IntVisitor;

impl Visitor<'_> for IntVisitor {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        safe(v.into()).map(Some)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        safe(v.into()).map(Some)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        whole(v).map(Some)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let v = v.trim();
        if v.is_empty() {
            return Ok(None);
        }
        let n: i64 = v
            .parse()
            .map_err(|_| E::custom(format!("expected a whole number, found '{v}'")))?;
        safe(n.into()).map(Some)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A number or a numeric string; "" and null are absent.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(IntVisitor)
}

/// 0/1, "0"/"1", true/false.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct FlagVisitor;
    impl Visitor<'_> for FlagVisitor {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("0 or 1")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(i64::from(v)))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            match v {
                0 | 1 => Ok(Some(v)),
                _ => Err(E::custom(format!("expected 0 or 1, found {v}"))),
            }
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            self.visit_i64(whole(v)?)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match v.trim() {
                "0" | "false" => Ok(Some(0)),
                "1" | "true" => Ok(Some(1)),
                "" => Ok(None),
                other => Err(E::custom(format!("expected 0 or 1, found '{other}'"))),
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(FlagVisitor)
}

/// A string, or a number written without quotes (`"extn": 1001`).
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct TextVisitor;
    impl Visitor<'_> for TextVisitor {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            safe(v.into()).map(|v| Some(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            safe(v.into()).map(|v| Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            whole(v).map(|v| Some(v.to_string()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(TextVisitor)
}
