//! Lists as the API takes and answers them: [`ListParams`] read from the
//! query string, each list's parameters documented from its [`ListSpec`],
//! and XSwitch's bare envelope `{page, pageCount, rowCount, data}`. What a
//! list reads and how it queries is the store's (`store::list`).

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::Serialize;

use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};

use crate::error::ApiError;
use crate::store::list::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use crate::store::{Filter, ListParams, ListSpec, Page, like_pattern};

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
        Ok(ListParams::from_map(raw)?)
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

impl<T> From<Page<T>> for PageBody<T> {
    fn from(page: Page<T>) -> PageBody<T> {
        PageBody {
            page: page.page,
            page_count: page.page_count(),
            row_count: page.total,
            data: page.rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Result<ListParams, crate::store::FieldError> {
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
