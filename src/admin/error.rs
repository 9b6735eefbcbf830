//! The admin core's one error: what was wrong, as data a door can show
//! (the API as XSwitch's `{code, message}`, the console beside the field).

use crate::store;

/// One bad row of a bulk input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// 1-based: the array index for JSON, the spreadsheet line (header = 1) for CSV.
    pub row: usize,
    pub column: String,
    pub value: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field that is missing or wrong, and why.
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    /// Input wrong as a whole, naming no one field.
    #[error("{0}")]
    Invalid(String),
    /// A bulk input with bad rows: every one is listed, nothing was written.
    #[error("{message}")]
    Rows { message: String, rows: Vec<RowError> },
    /// A value another row holds already, or a change another row forbids.
    #[error("{field}: {reason}")]
    Conflict { field: String, reason: String },
    /// A conflict that names no single field.
    #[error("{0}")]
    Refused(String),
    /// What the change is about does not exist.
    #[error("{0}")]
    NotFound(String),
    /// What the actor may not do.
    #[error("{0}")]
    Forbidden(String),
    /// Too much at once from where the actor is; try again later.
    #[error("{0}")]
    Busy(String),
    /// A proof the actor gave was wrong (an old password).
    #[error("{field}: {reason}")]
    Denied { field: String, reason: String },
    /// The store failed; a list parameter it could not read is a `Field`.
    #[error(transparent)]
    Store(store::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn field(field: &str, reason: impl std::fmt::Display) -> Error {
        Error::Field {
            field: field.to_string(),
            reason: reason.to_string(),
        }
    }

    /// A bulk input's bad rows, in row order: nothing was written.
    pub fn rows(mut errors: Vec<RowError>) -> Error {
        errors.sort_by_key(|e| e.row);
        let rows: std::collections::HashSet<usize> = errors.iter().map(|e| e.row).collect();
        Error::Rows {
            message: format!(
                "{} bad row{}; nothing was written",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" }
            ),
            rows: errors,
        }
    }

    pub fn conflict(field: &str, reason: impl std::fmt::Display) -> Error {
        Error::Conflict {
            field: field.to_string(),
            reason: reason.to_string(),
        }
    }

    /// A single record's row errors as one, named by the first one's field:
    /// `mac: not a MAC; vendor: unknown`.
    pub fn of_one_row(rows: Vec<RowError>) -> Error {
        let parts: Vec<String> = rows
            .iter()
            .map(|e| {
                if e.column.is_empty() {
                    e.reason.clone()
                } else {
                    format!("{}: {}", e.column, e.reason)
                }
            })
            .collect();
        let joined = parts.join("; ");
        match rows.first() {
            Some(first) if !first.column.is_empty() => Error::Field {
                field: first.column.clone(),
                reason: joined[first.column.len() + 2..].to_string(),
            },
            _ => Error::Invalid(joined),
        }
    }

    /// The field the error is about, for a form to show it beside.
    pub fn field_name(&self) -> Option<&str> {
        match self {
            Error::Field { field, .. } | Error::Conflict { field, .. } | Error::Denied { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The reason alone, without the field's name.
    pub fn reason(&self) -> String {
        match self {
            Error::Field { reason, .. } | Error::Conflict { reason, .. } | Error::Denied { reason, .. } => {
                reason.clone()
            }
            other => other.to_string(),
        }
    }

    /// Renames the field an error names, for input that reaches a shared
    /// check under another name (`password` → `extn_password`).
    pub fn renamed_field(self, from: &str, to: &str) -> Error {
        match self {
            Error::Field { field, reason } if field == from => Error::Field {
                field: to.to_string(),
                reason,
            },
            other => other,
        }
    }
}

impl From<store::Error> for Error {
    fn from(err: store::Error) -> Error {
        match err {
            store::Error::Field(field) => field.into(),
            other => Error::Store(other),
        }
    }
}

impl From<store::FieldError> for Error {
    fn from(err: store::FieldError) -> Error {
        Error::Field {
            field: err.field,
            reason: err.reason,
        }
    }
}
