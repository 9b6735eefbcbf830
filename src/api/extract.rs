//! Extractors that turn bad input into `ApiError`s naming the field, instead
//! of axum's plain-text rejections.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::store::users::SessionUser;

/// A request body read as JSON, or as a form when the client says so:
/// XSwitch accepts both. Unknown fields are ignored.
pub struct Input<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Input<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_body(&bytes, is_form).map(Input)
    }
}

/// The body as bytes; one too large is a 413 with a JSON body.
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(body_rejection)
    }
}

/// A body that could not be read: too large (413), or broken off (400).
fn body_rejection(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    let message = format!("request body: {}", rejection.body_text());
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(message)
    } else {
        ApiError::BadRequest(message)
    }
}

/// JSON unless the client declared a form and the body is not a JSON object
/// (curl `-d` without `-H` sends JSON under a form content type).
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8], is_form: bool) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ApiError::bad("request body: not UTF-8"))?;
    let looks_like_json = text.trim_start().starts_with(['{', '[']);
    if is_form && !looks_like_json {
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
        return serde_path_to_error::deserialize(de).map_err(|e| field_error(e.path().to_string(), e.inner()));
    }
    if !text.trim_start().starts_with('{') {
        return Err(ApiError::bad("request body: send a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad(format!("request body: not valid JSON ({inner})"))
        } else {
            field_error(e.path().to_string(), inner)
        }
    })
}

fn field_error(path: String, inner: impl std::fmt::Display) -> ApiError {
    // serde's own wording ends with a position that means nothing to a client.
    let reason = inner.to_string();
    let reason = reason.split(" at line ").next().unwrap_or(&reason).to_string();
    if path == "." || path.is_empty() {
        ApiError::bad(format!("request body: {reason}"))
    } else {
        ApiError::field(&path, reason)
    }
}

/// A path parameter; a malformed one is a 400 naming the path.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query parameters; malformed ones are a 400 naming the parameter.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// The logged-in user, put in place by the session layer that guards every
/// `/api` route but login.
#[derive(Debug, Clone)]
pub struct AuthUser(pub SessionUser);

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<SessionUser>()
            .cloned()
            .map(AuthUser)
            .ok_or_else(|| ApiError::Forbidden("not logged in".into()))
    }
}

/// Deserializers for what XSwitch clients send loosely: numbers as strings,
/// flags as 0/1, "0"/"1" or booleans, strings as numbers.
pub mod lenient {
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};

    /// Numbers sent for text or ids are whole and within JSON's exact range,
    /// so every client reads them the same and their text stays short.
    pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

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

    /// A number's text where it stands for text: whole and within
    /// `MAX_SAFE_INTEGER`, else `None`.
    pub fn number_as_text(n: &serde_json::Number) -> Option<String> {
        let whole = match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(v), _, _) => safe::<serde_json::Error>(v.into()).ok(),
            (_, Some(v), _) => safe::<serde_json::Error>(v.into()).ok(),
            (_, _, Some(v)) => whole::<serde_json::Error>(v).ok(),
            _ => None,
        };
        whole.map(|v| v.to_string())
    }

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(default, deserialize_with = "lenient::int")]
        user_id: Option<i64>,
        #[serde(default, deserialize_with = "lenient::flag")]
        disabled: Option<i64>,
        #[serde(default, deserialize_with = "lenient::text")]
        extn: Option<String>,
    }

    #[test]
    fn loose_values_are_accepted() {
        let s: Sample = parse_body(br#"{"user_id":"7","disabled":true,"extn":1001,"unknown":1}"#, false).unwrap();
        assert_eq!(
            (s.user_id, s.disabled, s.extn.as_deref()),
            (Some(7), Some(1), Some("1001"))
        );
        let s: Sample = parse_body(b"user_id=3&disabled=0&extn=1002", true).unwrap();
        assert_eq!(
            (s.user_id, s.disabled, s.extn.as_deref()),
            (Some(3), Some(0), Some("1002"))
        );
        // JSON sent under a form content type, as curl -d does.
        let s: Sample = parse_body(br#"{"user_id":1}"#, true).unwrap();
        assert_eq!(s.user_id, Some(1));
    }

    /// Numbers stand for text only when whole and exact in JSON, as the
    /// document's `integer` branches say.
    #[test]
    fn numbers_for_text_are_whole_and_within_the_safe_range() {
        let s: Sample = parse_body(br#"{"extn":1001.0,"user_id":9007199254740991,"disabled":1.0}"#, false).unwrap();
        assert_eq!(
            (s.extn.as_deref(), s.user_id, s.disabled),
            (Some("1001"), Some(9007199254740991), Some(1))
        );
        for body in [
            &br#"{"extn":1.5}"#[..],
            br#"{"extn":9007199254740992}"#,
            br#"{"user_id":-9007199254740992}"#,
            br#"{"user_id":"99999999999999999"}"#,
        ] {
            let err = parse_body::<Sample>(body, false).unwrap_err().to_string();
            assert!(err.starts_with("extn: ") || err.starts_with("user_id: "), "{err}");
        }
        let big = serde_json::Number::from(u64::MAX);
        assert_eq!(lenient::number_as_text(&big), None);
        assert_eq!(
            lenient::number_as_text(&serde_json::Number::from(-42)).as_deref(),
            Some("-42")
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse_body::<Sample>(br#"{"disabled":"yes"}"#, false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("disabled: ") && err.contains("'yes'"), "{err}");
        let err = parse_body::<Sample>(br#"{"user_id":"x1"}"#, false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("user_id: "), "{err}");
        let err = parse_body::<Sample>(b"{not json", false).unwrap_err().to_string();
        assert!(err.contains("not valid JSON"), "{err}");
        for not_an_object in [&b""[..], br#"["1001"]"#] {
            let err = parse_body::<Sample>(not_an_object, false).unwrap_err().to_string();
            assert!(err.contains("send a JSON object"), "{err}");
        }
    }
}
