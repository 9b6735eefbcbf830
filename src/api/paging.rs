//! The one list helper: every list endpoint reads the same paging and
//! sorting parameters and answers with XSwitch's bare envelope
//! `{page, pageCount, rowCount, data}`.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::Serialize;
use sqlx::FromRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};

use crate::domain::timestamp;
use crate::error::ApiError;
use crate::store::{Arg, Db, ListSql};

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 10_000;

/// Paging, sorting and filter parameters of a list request.
#[derive(Debug, Clone)]
pub struct ListParams {
    pub page: i64,
    pub per_page: i64,
    pub sort: Option<(String, bool)>,
    /// Every other query parameter, for the resource's filters.
    pub filters: HashMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A parameter given twice would be read as only one of its values.
        let mut seen = std::collections::HashSet::new();
        for (name, _) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
            if !seen.insert(name.clone()) {
                return Err(ApiError::field(&name, "given more than once"));
            }
        }
        let Query(raw) = Query::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        ListParams::from_map(raw)
    }
}

impl ListParams {
    pub fn from_map(mut raw: HashMap<String, String>) -> Result<Self, ApiError> {
        let page = whole_number(&mut raw, "page", 1..=i64::MAX)?.unwrap_or(1);
        // Every spelling given is checked; the first one given counts.
        let mut per_page = None;
        for name in ["perPage", "page_size", "pageSize"] {
            let value = whole_number(&mut raw, name, 1..=MAX_PAGE_SIZE)?;
            per_page = per_page.or(value);
        }
        let per_page = per_page.unwrap_or(DEFAULT_PAGE_SIZE);
        // An empty sort parameter means none; an empty number is an error.
        let field = ["sort_field", "sortField"]
            .map(|name| raw.remove(name).filter(|v| !v.trim().is_empty()))
            .into_iter()
            .flatten()
            .next();
        // Every spelling given is checked; the first one given counts.
        let mut descending = None;
        for name in ["sort_order", "sortOrder"] {
            let Some(order) = raw.remove(name) else { continue };
            let given = match order.trim().to_lowercase().as_str() {
                "" => continue,
                "asc" | "ascend" | "ascending" => false,
                "desc" | "descend" | "descending" => true,
                _ => return Err(ApiError::field(name, format!("'{order}' is not asc or desc"))),
            };
            descending = descending.or(Some(given));
        }
        let descending = descending.unwrap_or(false);
        Ok(ListParams {
            page,
            per_page,
            sort: field.map(|f| (f, descending)),
            filters: raw,
        })
    }

    fn filter(&self, name: &str) -> Option<&str> {
        self.filters.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

/// A whole-number parameter within `range`, removed from `raw`; `None` when absent.
fn whole_number(
    raw: &mut HashMap<String, String>,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, ApiError> {
    let Some(text) = raw.remove(name) else {
        return Ok(None);
    };
    let value = text
        .trim()
        .parse::<i64>()
        .map_err(|_| ApiError::field(name, format!("'{text}' is not a whole number")))?;
    if !range.contains(&value) {
        let bound = if *range.end() == i64::MAX {
            format!("must be {} or more", range.start())
        } else {
            format!("must be between {} and {}", range.start(), range.end())
        };
        return Err(ApiError::field(name, bound));
    }
    Ok(Some(value))
}

/// How one query parameter narrows a list.
#[derive(Clone, Copy)]
pub enum Filter {
    /// Case-insensitive substring of a column.
    Contains(&'static str, &'static str),
    /// Exact match.
    Equals(&'static str, &'static str),
    /// Exact match, ignoring case.
    EqualsIgnoreCase(&'static str, &'static str),
    /// Rows at or after a time (`YYYY-MM-DD[ HH:MM:SS]`).
    From(&'static str, &'static str),
    /// Rows at or before a time; a bare date means its whole day.
    Until(&'static str, &'static str),
    /// A vendor by any of its names (`vendor_named` turns it into the code
    /// first), matched against a column of codes.
    Vendor(&'static str, &'static str),
    /// Anything else: the parameter name, a function that adds conditions,
    /// and the pattern of the values it takes (`None`: any text).
    Custom(
        &'static str,
        fn(&str, &mut ListSql) -> Result<(), ApiError>,
        Option<&'static str>,
    ),
}

impl Filter {
    fn param(&self) -> &'static str {
        match self {
            Filter::Contains(p, _)
            | Filter::Equals(p, _)
            | Filter::EqualsIgnoreCase(p, _)
            | Filter::From(p, _)
            | Filter::Until(p, _)
            | Filter::Vendor(p, _)
            | Filter::Custom(p, _, _) => p,
        }
    }

    fn apply(&self, value: &str, sql: &mut ListSql) -> Result<(), ApiError> {
        let time = |end_of_day| {
            timestamp::parse(value, end_of_day).ok_or_else(|| {
                ApiError::field(
                    self.param(),
                    format!("'{value}' is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)"),
                )
            })
        };
        match *self {
            Filter::Contains(_, col) => sql.push(
                |p| format!("lower({col}) LIKE {p} ESCAPE '\\'"),
                Arg::Text(like_pattern(value)),
            ),
            Filter::Equals(_, col) | Filter::Vendor(_, col) => {
                sql.push(|p| format!("{col} = {p}"), Arg::Text(value.to_string()))
            }
            Filter::EqualsIgnoreCase(_, col) => {
                sql.push(|p| format!("lower({col}) = lower({p})"), Arg::Text(value.to_string()))
            }
            Filter::From(_, col) => sql.push(|p| format!("{col} >= {p}"), Arg::Time(time(false)?)),
            Filter::Until(_, col) => sql.push(|p| format!("{col} <= {p}"), Arg::Time(time(true)?)),
            Filter::Custom(_, f, _) => f(value, sql)?,
        }
        Ok(())
    }
}

/// `%value%`, lower-cased, with LIKE's own wildcards escaped.
pub fn like_pattern(value: &str) -> String {
    let escaped = value
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// What a resource's list can do.
pub struct ListSpec {
    pub columns: &'static str,
    pub from: &'static str,
    /// Always applied, e.g. `deleted_at IS NULL`.
    pub always: &'static [&'static str],
    pub filters: &'static [Filter],
    /// Sortable fields as clients name them, and their columns.
    pub sortable: &'static [(&'static str, &'static str)],
    pub default_order: &'static str,
}

impl ListSpec {
    /// The query for these parameters, before paging.
    pub fn query(&self, params: &ListParams) -> Result<ListSql, ApiError> {
        let mut sql = ListSql {
            columns: self.columns,
            from: self.from,
            conditions: self.always.iter().map(|c| c.to_string()).collect(),
            args: Vec::new(),
            order_by: self.default_order.to_string(),
        };
        for filter in self.filters {
            if let Some(value) = params.filter(filter.param()) {
                filter.apply(value, &mut sql)?;
            }
        }
        if let Some((field, descending)) = &params.sort {
            let column = self
                .sortable
                .iter()
                .find(|(name, _)| name == field)
                .map(|(_, col)| *col)
                .ok_or_else(|| {
                    let names: Vec<&str> = self.sortable.iter().map(|(n, _)| *n).collect();
                    ApiError::field(
                        "sort_field",
                        format!("cannot sort by '{field}'; use one of {}", names.join(", ")),
                    )
                })?;
            let direction = if *descending { "DESC" } else { "ASC" };
            // The default order follows as a tie-breaker, so pages are stable.
            sql.order_by = format!("{column} {direction}, {}", self.default_order);
        }
        Ok(sql)
    }

    /// Runs the list and wraps it in XSwitch's envelope.
    pub async fn fetch<T>(&self, db: &Db, params: &ListParams) -> Result<PageBody<T>, ApiError>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.fetch_within(db, params, None).await
    }

    /// Like `fetch`, within one parent: `column = id` (a queue's agents).
    pub async fn fetch_within<T>(
        &self,
        db: &Db,
        params: &ListParams,
        parent: Option<(&'static str, i64)>,
    ) -> Result<PageBody<T>, ApiError>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut sql = self.query(params)?;
        if let Some((column, id)) = parent {
            sql.push(|p| format!("{column} = {p}"), Arg::Int(id));
        }
        let offset = (params.page - 1).saturating_mul(params.per_page);
        let page = db.fetch_page::<T>(&sql, params.per_page, offset).await?;
        Ok(PageBody {
            page: params.page,
            page_count: (page.total + params.per_page - 1) / params.per_page,
            row_count: page.total,
            data: page.rows,
        })
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`, or blank for no bound. Days past
/// a month's end are left out, so every value the pattern allows is a date.
const DATE_PATTERN: &str =
    r"^\s*([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])( ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9])?)?\s*$";

/// The sort orders `ListParams` reads, in any case.
const SORT_ORDERS: &[&str] = &["asc", "desc", "ascend", "descend", "ascending", "descending"];

/// A pattern matching `word` in any case: `[aA][sS][cC]`.
fn any_case(word: &str) -> String {
    word.chars()
        .map(|c| format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase()))
        .collect()
}

impl ListSpec {
    /// The query parameters this list reads, as the API document states
    /// them: what `ListParams` and `query` accept, no more and no less.
    pub fn parameters(&self) -> Vec<Parameter> {
        let number = |name: &str, max: i64, default: i64| {
            query_param(
                name,
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(max))
                    .default(Some(default.into())),
                None,
            )
        };
        let mut params = vec![number("page", i64::MAX, 1)];
        let size = Some("rows per page (all three spellings are read; the first given counts)");
        for name in ["perPage", "page_size", "pageSize"] {
            params.push(number(name, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE).description(size));
        }
        // Blank (spaces only) is the default order; a field is named
        // exactly, an order in any case. The camelCase spellings (sortField,
        // sortOrder) are read too, and left out here so a generated request
        // never gives two sorts.
        let fields: Vec<&str> = self.sortable.iter().map(|(name, _)| *name).collect();
        let escaped: Vec<String> = fields.iter().map(|f| regex::escape(f)).collect();
        let orders: Vec<String> = SORT_ORDERS.iter().map(|o| any_case(o)).collect();
        let text = |pattern: String| ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern));
        let described = format!("blank: the default order; one of: {}", fields.join(", "));
        params.push(query_param(
            "sort_field",
            text(format!(r"^(\s*|{})$", escaped.join("|"))),
            Some(&described),
        ));
        params.push(query_param(
            "sort_order",
            text(format!(r"^\s*({})?\s*$", orders.join("|"))),
            Some("asc or desc (or ascend, descending…), any case; blank: ascending"),
        ));
        let mut params: Vec<Parameter> = params.into_iter().map(ParameterBuilder::build).collect();
        params.extend(self.filters.iter().map(Filter::parameter));
        params
    }
}

impl Filter {
    fn parameter(&self) -> Parameter {
        let text = || ObjectBuilder::new().schema_type(Type::String);
        let (schema, what) = match self {
            Filter::Contains(..) => (text(), "part of it, any case".to_string()),
            Filter::Equals(..) => (text(), "exactly".to_string()),
            Filter::EqualsIgnoreCase(..) => (text(), "exactly, any case".to_string()),
            Filter::From(..) => (text().pattern(Some(DATE_PATTERN)), "at or after (UTC)".to_string()),
            Filter::Until(..) => (
                text().pattern(Some(DATE_PATTERN)),
                "at or before (UTC); a bare date means its whole day".to_string(),
            ),
            Filter::Vendor(..) => {
                let names = crate::packs::builtin_vendor_names();
                let mut choices = vec![""];
                choices.extend(names.iter().map(String::as_str));
                (choice(&choices), "any name of a family".to_string())
            }
            Filter::Custom(_, _, pattern) => (text().pattern(*pattern), "see the resource".to_string()),
        };
        query_param(self.param(), schema, Some(&format!("{what}; blank: no filter"))).build()
    }
}

fn choice(values: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
}

fn query_param(name: &str, schema: ObjectBuilder, description: Option<&str>) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(description)
        .schema(Some(schema))
}

/// Documents a list's query parameters from its `ListSpec`, so the document
/// cannot drift from what the list reads: `list_query!(DeviceQuery, LIST)`,
/// then `params(DeviceQuery)` on the route.
macro_rules! list_query {
    ($name:ident, $spec:expr) => {
        pub struct $name;
        impl utoipa::IntoParams for $name {
            fn into_params(
                _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
            ) -> Vec<utoipa::openapi::path::Parameter> {
                $spec.parameters()
            }
        }
    };
}
pub(crate) use list_query;

/// XSwitch's list envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageBody<T> {
    pub page: i64,
    #[serde(rename = "pageCount")]
    pub page_count: i64,
    #[serde(rename = "rowCount")]
    pub row_count: i64,
    pub data: Vec<T>,
}

impl<T> PageBody<T> {
    /// The same page with each row shown another way.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> PageBody<U> {
        PageBody {
            page: self.page,
            page_count: self.page_count,
            row_count: self.row_count,
            data: self.data.into_iter().map(f).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Result<ListParams, ApiError> {
        ListParams::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn every_spelling_given_is_checked_and_empty_numbers_are_errors() {
        let err = params(&[("perPage", "20"), ("page_size", "-5")]).unwrap_err();
        assert_eq!(err.to_string(), "page_size: must be between 1 and 10000");
        let err = params(&[("perPage", "")]).unwrap_err();
        assert_eq!(err.to_string(), "perPage: '' is not a whole number");
        assert_eq!(params(&[("page_size", "30"), ("pageSize", "40")]).unwrap().per_page, 30);
        assert_eq!(params(&[("sort_field", "")]).unwrap().sort, None);
    }

    #[test]
    fn both_spellings_of_page_size_and_sort() {
        let p = params(&[
            ("page", "2"),
            ("page_size", "50"),
            ("sortField", "name"),
            ("sortOrder", "descend"),
        ])
        .unwrap();
        assert_eq!(
            (p.page, p.per_page, p.sort.clone()),
            (2, 50, Some(("name".to_string(), true)))
        );
        let p = params(&[
            ("perPage", "5"),
            ("sort_field", "id"),
            ("sort_order", "asc"),
            ("name", "x"),
        ])
        .unwrap();
        assert_eq!(
            (p.per_page, p.sort.clone(), p.filters.get("name").cloned()),
            (5, Some(("id".to_string(), false)), Some("x".into()))
        );
        let p = params(&[]).unwrap();
        assert_eq!((p.page, p.per_page), (1, DEFAULT_PAGE_SIZE));
    }

    #[test]
    fn bad_paging_names_the_parameter() {
        assert!(params(&[("page", "0")]).unwrap_err().to_string().starts_with("page:"));
        assert!(params(&[("page", "x")]).unwrap_err().to_string().starts_with("page:"));
        assert!(
            params(&[("perPage", "100000")])
                .unwrap_err()
                .to_string()
                .starts_with("perPage:")
        );
        assert!(
            params(&[("sort_order", "up")])
                .unwrap_err()
                .to_string()
                .starts_with("sort_order:")
        );
    }

    #[test]
    fn every_sort_order_given_is_checked_and_the_first_counts() {
        let err = params(&[("sort_order", "asc"), ("sortOrder", "up")]).unwrap_err();
        assert_eq!(err.to_string(), "sortOrder: 'up' is not asc or desc");
        let p = params(&[("sort_field", "id"), ("sort_order", ""), ("sortOrder", "DESC")]).unwrap();
        assert_eq!(p.sort, Some(("id".to_string(), true)));
        let p = params(&[("sortField", "name"), ("sort_order", "asc"), ("sortOrder", "desc")]).unwrap();
        assert_eq!(p.sort, Some(("name".to_string(), false)));
    }

    /// What the document states for a list is what `query` accepts: every
    /// sort field it lists sorts, and a date the pattern allows parses.
    #[test]
    fn documented_parameters_are_accepted() {
        let spec = ListSpec {
            columns: "id",
            from: "t",
            always: &[],
            filters: &[
                Filter::From("startDate", "created_at"),
                Filter::Contains("name", "name"),
            ],
            sortable: &[("id", "id"), ("name", "name")],
            default_order: "id",
        };
        let documented = serde_json::to_value(spec.parameters()).unwrap();
        let schema_of = |name: &str| {
            documented
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{name} is documented"))["schema"]
                .clone()
        };
        let fields = regex::Regex::new(schema_of("sort_field")["pattern"].as_str().unwrap()).unwrap();
        for field in ["id", "name", "", " \x0c"] {
            assert!(fields.is_match(field), "{field:?}");
            spec.query(&params(&[("sort_field", field)]).unwrap()).unwrap();
        }
        for refused in ["secret", " id", "ID"] {
            assert!(!fields.is_match(refused), "{refused:?}");
            assert!(spec.query(&params(&[("sort_field", refused)]).unwrap()).is_err());
        }
        let orders = regex::Regex::new(schema_of("sort_order")["pattern"].as_str().unwrap()).unwrap();
        for order in ["asc", " DESC ", "Descending", ""] {
            assert!(orders.is_match(order), "{order:?}");
            params(&[("sort_order", order)]).unwrap();
        }
        assert!(!orders.is_match("up") && params(&[("sort_order", "up")]).is_err());
        let pattern = regex::Regex::new(schema_of("startDate")["pattern"].as_str().unwrap()).unwrap();
        for date in ["2026-02-28", " 2026-12-31 23:59:59 ", "", "2026-11-30 00:00:00"] {
            if pattern.is_match(date) {
                spec.query(&params(&[("startDate", date)]).unwrap()).unwrap();
            }
        }
        assert!(!pattern.is_match("2026-13-01") && !pattern.is_match("yesterday"));
        assert!(spec.query(&params(&[("startDate", "yesterday")]).unwrap()).is_err());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("A_b%"), "%a\\_b\\%%");
    }

    #[test]
    fn unknown_sort_field_is_refused() {
        let spec = ListSpec {
            columns: "id",
            from: "t",
            always: &[],
            filters: &[],
            sortable: &[("id", "id")],
            default_order: "id",
        };
        let err = spec
            .query(&params(&[("sort_field", "secret")]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("'secret'") && err.contains("id"), "{err}");
    }
}
