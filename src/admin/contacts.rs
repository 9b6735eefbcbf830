//! Contacts: names and numbers the company directory lists besides the
//! extensions, with their rules and their bound, whichever door asks.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::lenient;
use super::log::{Action, message};
use super::rows::SheetRow;
use super::{Actor, Admin, Error, Result, RowError};
use crate::domain::number::{MAX_DIALABLE_CHARS, is_dialable};
use crate::domain::timestamp;
use crate::store::contacts::{Contact, ContactFields, LIST};
use crate::store::extensions::MAX_DIRECTORY_ENTRIES;
use crate::store::logs::Summary;
use crate::store::{ListParams, Page};

const RESOURCE: &str = "contacts";

/// The most contacts a site keeps: a directory of them and 10,000
/// extensions still renders from memory, and phones list a few thousand.
pub const MAX_CONTACTS: i64 = 10_000;

const MAX_NAME_CHARS: usize = 64;

/// A contact as clients send it; numbers may arrive as JSON numbers.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct ContactInput {
    /// Printable, at most 64 characters.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = name_schema, required = true, example = "Front desk")]
    pub name: Option<String>,
    /// Digits and `+ * # . - _ @` or letters, at most 32.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = number_schema, required = true, example = "+493012345")]
    pub number: Option<String>,
}

fn name_schema() -> utoipa::openapi::schema::Schema {
    lenient::patterned(
        r"^\s*[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?\s*$",
        -lenient::MAX_SAFE_INTEGER,
        lenient::MAX_SAFE_INTEGER,
        false,
    )
}

fn number_schema() -> utoipa::openapi::schema::Schema {
    lenient::patterned(
        r"^\s*[A-Za-z0-9+*#._@-]{1,32}\s*$",
        -lenient::MAX_SAFE_INTEGER,
        lenient::MAX_SAFE_INTEGER,
        false,
    )
}

impl Admin {
    pub async fn list_contacts(&self, params: ListParams) -> Result<Page<Contact>> {
        Ok(self.db.list(&LIST, &params, None).await?)
    }

    pub async fn contact(&self, id: i64) -> Result<Contact> {
        self.db.contact(id).await?.ok_or_else(|| contact_not_found(id))
    }

    pub async fn create_contact(&self, actor: &Actor, input: ContactInput) -> Result<Contact> {
        let log = actor.entry(RESOURCE, Action::Create, Summary::Id, message(&input, &[]));
        let fields = contact_fields(input.name, input.number)?;
        self.room_for(1, "contacts").await?;
        let created = self.db.insert_contacts(vec![fields], timestamp::now(), &log).await?;
        created
            .into_iter()
            .next()
            .ok_or_else(|| Error::Refused("nothing was created".into()))
    }

    /// Changes the fields given of contact `id`.
    pub async fn update_contact(&self, actor: &Actor, id: i64, input: ContactInput) -> Result<()> {
        let log = actor.entry(RESOURCE, Action::Update, Summary::Id, message(&input, &[]));
        let current = self.contact(id).await?;
        let fields = contact_fields(
            input.name.or(Some(current.fields.name)),
            input.number.or(Some(current.fields.number)),
        )?;
        if !self.db.update_contact(id, &fields, timestamp::now(), &log).await? {
            return Err(contact_not_found(id));
        }
        Ok(())
    }

    pub async fn delete_contact(&self, actor: &Actor, id: i64) -> Result<()> {
        let log = actor.entry(RESOURCE, Action::Delete, Summary::Id, format!("{{\"id\":{id}}}"));
        if !self.db.delete_contact(id, timestamp::now(), &log).await? {
            return Err(contact_not_found(id));
        }
        Ok(())
    }

    /// An import of contacts from a spreadsheet, all or nothing, with the
    /// per-row report; a dry run writes nothing.
    pub async fn import_contacts(
        &self,
        actor: &Actor,
        rows: Vec<std::result::Result<ContactRow, RowError>>,
        dry_run: bool,
    ) -> Result<Vec<ContactFields>> {
        if rows.is_empty() {
            return Err(Error::field("file", "no rows to import"));
        }
        let mut errors = Vec::new();
        let mut fields = Vec::with_capacity(rows.len());
        for row in rows {
            let row = match row {
                Ok(row) => row,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            match contact_fields(row.name.clone(), row.number.clone()) {
                Ok(f) => fields.push(f),
                Err(e) => {
                    let column = e.field_name().unwrap_or_default().to_string();
                    let value = if column == "name" { row.name } else { row.number };
                    errors.push(RowError {
                        row: row.row,
                        column,
                        value: value.unwrap_or_default(),
                        reason: e.reason(),
                    });
                }
            }
        }
        if !errors.is_empty() {
            return Err(Error::rows(errors));
        }
        self.room_for(fields.len() as i64, "file").await?;
        if dry_run {
            return Ok(fields);
        }
        let change = serde_json::json!({"rows": fields.len()});
        let log = actor.entry(RESOURCE, Action::Import, Summary::Rows, message(&change, &[]));
        self.db.insert_contacts(fields.clone(), timestamp::now(), &log).await?;
        Ok(fields)
    }

    /// Refuses, naming `field`, what would take the site past its bound of
    /// contacts, or the company directory past its size.
    async fn room_for(&self, more: i64, field: &str) -> Result<()> {
        let stored = self.db.contact_count().await?;
        if stored + more > MAX_CONTACTS {
            return Err(Error::field(
                field,
                format!("the site keeps at most {MAX_CONTACTS} contacts; it has {stored}, and this adds {more}"),
            ));
        }
        let listed = self.db.directory_size().await?;
        if listed + more > MAX_DIRECTORY_ENTRIES {
            return Err(Error::field(
                field,
                format!(
                    "the company directory holds at most {MAX_DIRECTORY_ENTRIES} entries, extensions and contacts; \
                     it has {listed}, and this adds {more}"
                ),
            ));
        }
        Ok(())
    }
}

fn contact_not_found(id: i64) -> Error {
    Error::NotFound(format!("contact {id} not found"))
}

/// A contact's fields checked: a name and a number, each within its rules.
fn contact_fields(name: Option<String>, number: Option<String>) -> Result<ContactFields> {
    let name = super::required_name("name", name, MAX_NAME_CHARS)?;
    let number = number.map(|n| n.trim().to_string()).unwrap_or_default();
    if number.is_empty() {
        return Err(Error::field("number", "required"));
    }
    if !is_dialable(&number) {
        return Err(Error::field(
            "number",
            format!("'{number}' may hold only letters, digits and + * # . - _ @ (at most {MAX_DIALABLE_CHARS})"),
        ));
    }
    Ok(ContactFields { name, number })
}

/// One row of a contact import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactRow {
    pub row: usize,
    pub name: Option<String>,
    pub number: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactColumn {
    Name,
    Number,
}

const CONTACT_COLUMNS: &[(&str, ContactColumn)] = &[
    ("name", ContactColumn::Name),
    ("名称", ContactColumn::Name),
    ("姓名", ContactColumn::Name),
    ("number", ContactColumn::Number),
    ("phone", ContactColumn::Number),
    ("号码", ContactColumn::Number),
    ("电话", ContactColumn::Number),
];

impl SheetRow for ContactRow {
    type Column = ContactColumn;
    const COLUMNS: &'static [(&'static str, ContactColumn)] = CONTACT_COLUMNS;
    const REQUIRED: ContactColumn = ContactColumn::Number;
    const REQUIRED_TEXT: &'static str = "a number column (number, phone, 号码 or 电话)";
    fn at_row(row: usize) -> Self {
        ContactRow {
            row,
            ..Default::default()
        }
    }
    fn set(&mut self, column: ContactColumn, value: String) {
        match column {
            ContactColumn::Name => self.name = Some(value),
            ContactColumn::Number => self.number = Some(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contact_needs_a_printable_name_and_a_dialable_number() {
        let ok = contact_fields(Some(" Front desk ".into()), Some("+4930123".into())).unwrap();
        assert_eq!((ok.name.as_str(), ok.number.as_str()), ("Front desk", "+4930123"));
        for (name, number, field) in [
            (None, Some("1"), "name:"),
            (Some("A\u{7}"), Some("1"), "name:"),
            (Some(&*"x".repeat(65)), Some("1"), "name:"),
            (Some("A"), None, "number:"),
            (Some("A"), Some("030 123"), "number:"),
            (Some("A"), Some(&*"1".repeat(33)), "number:"),
        ] {
            let err = contact_fields(name.map(String::from), number.map(String::from)).unwrap_err();
            assert!(err.to_string().starts_with(field), "{name:?} {number:?}: {err}");
        }
    }
}
