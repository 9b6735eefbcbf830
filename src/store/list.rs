//! The one list helper: the paging, sorting and filter parameters every
//! list reads ([`ListParams`]), what each resource's list can do
//! ([`ListSpec`]), and the paged query they make: a count and a page of
//! rows from the same `FROM … WHERE …`.

use std::collections::HashMap;

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, FromRow};

use super::{Arg, Backend, Db, Result, bind_args, on_db};
use crate::domain::timestamp;

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 10_000;

/// A list parameter that cannot be read: the parameter and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &str, reason: impl std::fmt::Display) -> FieldError {
        FieldError {
            field: field.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// A list query assembled from static pieces chosen by a [`ListSpec`];
/// user input only ever arrives through `args`.
#[derive(Debug, Clone)]
pub struct ListSql {
    /// Column list, e.g. `id, name, mac`.
    pub columns: &'static str,
    /// Table (and joins).
    pub from: &'static str,
    /// Conditions joined with AND; each uses `$n` numbered into `args`.
    pub conditions: Vec<String>,
    pub args: Vec<Arg>,
    pub order_by: String,
}

/// One page of rows, the total that matched, and where the page is.
#[derive(Debug)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

impl<T> Page<T> {
    /// No rows, as shown for a search that was refused.
    pub fn empty() -> Page<T> {
        Page {
            rows: Vec::new(),
            total: 0,
            page: 1,
            per_page: 1,
        }
    }

    /// The same page with each row shown another way.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            total: self.total,
            page: self.page,
            per_page: self.per_page,
        }
    }

    pub fn page_count(&self) -> i64 {
        (self.total + self.per_page - 1) / self.per_page
    }
}

impl ListSql {
    /// The next placeholder, for a condition about to bind one more value.
    pub fn push(&mut self, condition: impl FnOnce(&str) -> String, arg: Arg) {
        self.args.push(arg);
        let placeholder = format!("${}", self.args.len());
        self.conditions.push(condition(&placeholder));
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }
}

/// Paging, sorting and filter parameters of a list request.
#[derive(Debug, Clone)]
pub struct ListParams {
    pub page: i64,
    pub per_page: i64,
    pub sort: Option<(String, bool)>,
    /// Every other query parameter, for the resource's filters.
    pub filters: HashMap<String, String>,
}

impl ListParams {
    pub fn from_map(mut raw: HashMap<String, String>) -> std::result::Result<Self, FieldError> {
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
                _ => return Err(FieldError::new(name, format!("'{order}' is not asc or desc"))),
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

    pub fn filter(&self, name: &str) -> Option<&str> {
        self.filters.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

/// A whole-number parameter within `range`, removed from `raw`; `None` when absent.
fn whole_number(
    raw: &mut HashMap<String, String>,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
) -> std::result::Result<Option<i64>, FieldError> {
    let Some(text) = raw.remove(name) else {
        return Ok(None);
    };
    let value = text
        .trim()
        .parse::<i64>()
        .map_err(|_| FieldError::new(name, format!("'{text}' is not a whole number")))?;
    if !range.contains(&value) {
        let bound = if *range.end() == i64::MAX {
            format!("must be {} or more", range.start())
        } else {
            format!("must be between {} and {}", range.start(), range.end())
        };
        return Err(FieldError::new(name, bound));
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
        fn(&str, &mut ListSql) -> std::result::Result<(), FieldError>,
        Option<&'static str>,
    ),
}

impl Filter {
    pub fn param(&self) -> &'static str {
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

    fn apply(&self, value: &str, sql: &mut ListSql) -> std::result::Result<(), FieldError> {
        let time = |end_of_day| {
            timestamp::parse(value, end_of_day).ok_or_else(|| {
                FieldError::new(
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
    pub fn query(&self, params: &ListParams) -> std::result::Result<ListSql, FieldError> {
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
                    FieldError::new(
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
}
impl Db {
    /// A page of `spec`'s list for `params`, within one parent when given
    /// (`column = id`: a queue's agents).
    pub async fn list<T>(
        &self,
        spec: &ListSpec,
        params: &ListParams,
        parent: Option<(&'static str, i64)>,
    ) -> Result<Page<T>>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut q = spec.query(params)?;
        if let Some((column, id)) = parent {
            q.push(|p| format!("{column} = {p}"), Arg::Int(id));
        }
        let (limit, offset) = (params.per_page, (params.page - 1).saturating_mul(params.per_page));
        let count_sql = format!("SELECT COUNT(*) FROM {}{}", q.from, q.where_clause());
        let rows_sql = format!(
            "SELECT {} FROM {}{} ORDER BY {} LIMIT {limit} OFFSET {offset}",
            q.columns,
            q.from,
            q.where_clause(),
            q.order_by
        );
        on_db!(self, pool => {
            let total: i64 = bind_args!(sqlx::query_scalar(AssertSqlSafe(count_sql.clone())), &q.args).fetch_one(pool).await?;
            let rows = bind_args!(sqlx::query_as::<_, T>(AssertSqlSafe(rows_sql.clone())), &q.args).fetch_all(pool).await?;
            Ok(Page { rows, total, page: params.page, per_page: params.per_page })
        })
    }

    /// Every matching row, for exports.
    pub async fn fetch_all_matching<T>(&self, q: &ListSql) -> Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let sql = format!(
            "SELECT {} FROM {}{} ORDER BY {}",
            q.columns,
            q.from,
            q.where_clause(),
            q.order_by
        );
        on_db!(self, pool => bind_args!(sqlx::query_as::<_, T>(AssertSqlSafe(sql.clone())), &q.args).fetch_all(pool).await)
    }
}

impl Db {
    /// Runs `sql`, whose `{in}` stands for a subquery yielding `values` as
    /// its column `listed`.
    /// They travel as one JSON parameter, so the statement is the same
    /// whatever their number.
    pub(crate) async fn fetch_where_in<T>(&self, sql: &'static str, values: &[String]) -> Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        // Rows of one value each, read as text alike on both backends.
        let rows: Vec<[&str; 1]> = values.iter().map(|v| [v.as_str()]).collect();
        let values = serde_json::to_string(&rows).expect("strings serialize");
        on_db!(self, pool => {
            let sql = pool.json_rows_sql(&sql.replace("{in}", "SELECT value->>0 AS listed FROM {rows}"));
            Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(values).fetch_all(pool).await?)
        })
    }
}
