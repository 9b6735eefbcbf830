//! Extensions: the SIP accounts phones register with. Passwords are kept
//! encrypted; ha1/ha1b are recomputed on every change. The rules of every
//! create, range, update and delete, whichever door asks.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;

use super::lenient::{self, MAX_SAFE_INTEGER};
use super::log::{Action, message};
use super::rows::SheetRow;
use super::{Actor, Admin, Error, Result, RowError};
use crate::domain::timestamp;
use crate::secrets::{self, SecretBox, password_aad};
use crate::store::extensions::{Extension, ExtensionFields};
use crate::store::logs::Summary;
use crate::store::{Constraint, ListParams, OrTaken, Page};

const RESOURCE: &str = "extensions";

impl Admin {
    pub async fn create_extension(&self, actor: &Actor, input: ExtensionInput) -> Result<Extension> {
        let log = actor.entry(RESOURCE, Action::Create, Summary::Id, message(&input, &[]));
        let fields = new_fields(self, input).await?;
        let created = self.insert_extensions(vec![fields], &log).await?;
        created
            .into_iter()
            .next()
            .ok_or_else(|| Error::Refused("nothing was created".into()))
    }

    /// A range of numbers sharing one password (or each its own random one).
    pub async fn create_extension_range(&self, actor: &Actor, input: RangeInput) -> Result<Vec<Extension>> {
        let log = actor.entry(RESOURCE, Action::Create, Summary::Rows, message(&input, &[]));
        let numbers = range_numbers(input.extns_start.as_deref(), input.extns_end.as_deref())?;
        let domain = input
            .domain
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_DOMAIN.into());
        let taken = self.db.existing_extns(domain.trim(), &numbers).await?;
        if !taken.is_empty() {
            let shown: Vec<&str> = taken.iter().take(20).map(String::as_str).collect();
            return Err(Error::conflict(
                "extns_start",
                format!(
                    "{} of the range already exist in domain {domain}: {}",
                    taken.len(),
                    shown.join(", ")
                ),
            ));
        }
        let mut rows = Vec::with_capacity(numbers.len());
        for extn in numbers {
            let one = ExtensionInput {
                extn: Some(extn),
                password: input.password.clone(),
                context: input.context.clone(),
                domain: Some(domain.clone()),
                ..Default::default()
            };
            rows.push(new_fields(self, one).await?);
        }
        self.insert_extensions(rows, &log).await
    }

    /// An import of extensions from a spreadsheet, all or nothing: every
    /// row is checked alone, against the other rows and against what is
    /// stored, then all are written in one transaction with their log row.
    /// A dry run reports what it would create and writes nothing.
    pub async fn import_extensions(
        &self,
        actor: &Actor,
        rows: Vec<std::result::Result<ExtensionRow, RowError>>,
        dry_run: bool,
    ) -> Result<ImportedExtensions> {
        if rows.is_empty() {
            return Err(Error::field("file", "no rows to import"));
        }
        let mut errors = Vec::new();
        let mut planned: Vec<(usize, ExtensionFields)> = Vec::with_capacity(rows.len());
        let mut first_row: HashMap<(String, String), usize> = HashMap::new();
        for row in rows {
            let row = match row {
                Ok(row) => row,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let given = ExtensionInput {
                extn: row.extn.clone(),
                name: row.name.clone(),
                password: row.password.clone().filter(|p| !p.is_empty()),
                ..Default::default()
            };
            let fields = match new_fields(self, given).await {
                Ok(fields) => fields,
                Err(e) => {
                    let column = e.field_name().unwrap_or_default().to_string();
                    // A password is never echoed back, not even a bad one.
                    let value = match column.as_str() {
                        "extn" => row.extn.clone().unwrap_or_default(),
                        "name" => row.name.clone().unwrap_or_default(),
                        _ => String::new(),
                    };
                    errors.push(RowError {
                        row: row.row,
                        column,
                        value,
                        reason: e.reason(),
                    });
                    continue;
                }
            };
            let key = (fields.extn.clone(), fields.domain.clone());
            if let Some(first) = first_row.get(&key) {
                errors.push(RowError {
                    row: row.row,
                    column: "extn".into(),
                    value: fields.extn.clone(),
                    reason: format!("also on row {first}; each extension once per file"),
                });
                continue;
            }
            first_row.insert(key, row.row);
            planned.push((row.row, fields));
        }
        let numbers: Vec<String> = planned.iter().map(|(_, f)| f.extn.clone()).collect();
        let taken: HashSet<String> = self
            .db
            .existing_extns(DEFAULT_DOMAIN, &numbers)
            .await?
            .into_iter()
            .collect();
        for (row, fields) in &planned {
            if taken.contains(&fields.extn) {
                errors.push(RowError {
                    row: *row,
                    column: "extn".into(),
                    value: fields.extn.clone(),
                    reason: format!("already exists in domain {}", fields.domain),
                });
            }
        }
        if !errors.is_empty() {
            return Err(Error::rows(errors));
        }
        let fields: Vec<ExtensionFields> = planned.into_iter().map(|(_, f)| f).collect();
        if dry_run {
            return Ok(ImportedExtensions::Planned(fields));
        }
        // The log keeps how many rows and which numbers, never a password.
        let extns: Vec<&str> = fields.iter().map(|f| f.extn.as_str()).collect();
        let change = serde_json::json!({"rows": fields.len(), "extns": extns});
        let log = actor.entry(RESOURCE, Action::Import, Summary::Rows, message(&change, &[]));
        Ok(ImportedExtensions::Created(self.insert_extensions(fields, &log).await?))
    }

    /// A page of extensions.
    pub async fn list_extensions(&self, params: ListParams) -> Result<Page<Extension>> {
        Ok(self.db.list(&crate::store::extensions::LIST, &params, None).await?)
    }

    /// Changes the fields given of extension `id`.
    pub async fn update_extension(&self, actor: &Actor, id: i64, input: ExtensionInput) -> Result<()> {
        let log = actor.entry(RESOURCE, Action::Update, Summary::Id, message(&input, &[]));
        let current = self.extension(id).await?;
        let password = match input.password.as_deref() {
            Some(p) => p.to_string(),
            None => extension_password(&self.secrets, &current)?,
        };
        let renamed = input.extn.as_deref().is_some_and(|e| e.trim() != current.fields.extn)
            || input
                .domain
                .as_deref()
                .is_some_and(|d| d.trim() != current.fields.domain);
        if renamed && let Some(first) = self.db.extension_users(id).await?.first() {
            return Err(Error::conflict(
                "extn",
                format!(
                    "extension {} is a line of device {} (MAC {}); remove it there before renumbering it",
                    current.fields.extn, first.device_id, first.mac
                ),
            ));
        }
        // A caller-ID name left at its default, the name, follows a rename.
        let cid_name = match input.cid_name {
            None if current.fields.cid_name == current.fields.name => input.name.clone(),
            given => given,
        };
        let merged = ExtensionInput {
            extn: input.extn.or(Some(current.fields.extn)),
            name: input.name.or(Some(current.fields.name)),
            password: Some(password),
            domain: input.domain.or(Some(current.fields.domain)),
            context: input.context.or(Some(current.fields.context)),
            kind: input.kind.or(Some(current.fields.kind)),
            cid_name: cid_name.or(Some(current.fields.cid_name)),
            cid_number: input.cid_number.or(Some(current.fields.cid_number)),
            description: input.description.or(Some(current.fields.description)),
            user_id: input.user_id.or(Some(current.fields.user_id)),
            disabled: input.disabled.or(Some(current.fields.disabled)),
        };
        let fields = new_fields(self, merged).await?;
        let conflict = taken(&fields);
        if !self
            .db
            .update_extension(id, &fields, timestamp::now(), &log)
            .await
            .or_taken(Constraint::ExtensionNumber, || conflict)?
        {
            return Err(extension_not_found(id));
        }
        Ok(())
    }

    /// Deletes an extension no device has as a line.
    pub async fn delete_extension(&self, actor: &Actor, id: i64) -> Result<()> {
        let log = actor.entry(RESOURCE, Action::Delete, Summary::Id, format!("{{\"id\":{id}}}"));
        let current = self.extension(id).await?;
        let users = self.db.extension_users(id).await?;
        if !users.is_empty() {
            let devices: Vec<String> = users
                .iter()
                .map(|u| format!("{} (MAC {})", u.device_id, u.mac))
                .collect();
            return Err(Error::Refused(format!(
                "extension {} is a line of device {}; remove it there first",
                current.fields.extn,
                devices.join(", ")
            )));
        }
        if !self.db.delete_extension(id, timestamp::now(), &log).await? {
            return Err(extension_not_found(id));
        }
        Ok(())
    }

    /// A live extension.
    pub async fn extension(&self, id: i64) -> Result<Extension> {
        self.db.extension(id).await?.ok_or_else(|| extension_not_found(id))
    }

    async fn insert_extensions(
        &self,
        rows: Vec<ExtensionFields>,
        log: &crate::store::logs::NewLogEntry,
    ) -> Result<Vec<Extension>> {
        let conflict = rows.first().map(taken);
        self.db
            .insert_extensions(rows, timestamp::now(), log)
            .await
            .or_taken(Constraint::ExtensionNumber, || {
                conflict.unwrap_or_else(|| Error::Refused("an extension already exists".into()))
            })
    }
}

/// What an extension import did, or would do in a dry run.
#[derive(Debug)]
pub enum ImportedExtensions {
    Created(Vec<Extension>),
    Planned(Vec<ExtensionFields>),
}

/// One row of an extension import: its number, name and, when given, its
/// password (generated otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionRow {
    pub row: usize,
    pub extn: Option<String>,
    pub name: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionColumn {
    Extn,
    Name,
    Password,
}

/// The header names of an extension import, English and Chinese, as
/// XSwitch's console labels the fields.
const EXTENSION_COLUMNS: &[(&str, ExtensionColumn)] = &[
    ("extn", ExtensionColumn::Extn),
    ("number", ExtensionColumn::Extn),
    ("分机号", ExtensionColumn::Extn),
    ("name", ExtensionColumn::Name),
    ("名称", ExtensionColumn::Name),
    ("姓名", ExtensionColumn::Name),
    ("password", ExtensionColumn::Password),
    ("密码", ExtensionColumn::Password),
];

impl SheetRow for ExtensionRow {
    type Column = ExtensionColumn;
    const COLUMNS: &'static [(&'static str, ExtensionColumn)] = EXTENSION_COLUMNS;
    const REQUIRED: ExtensionColumn = ExtensionColumn::Extn;
    const REQUIRED_TEXT: &'static str = "an extension column (extn, number or 分机号)";
    fn at_row(row: usize) -> Self {
        ExtensionRow {
            row,
            ..Default::default()
        }
    }
    fn set(&mut self, column: ExtensionColumn, value: String) {
        let slot = match column {
            ExtensionColumn::Extn => &mut self.extn,
            ExtensionColumn::Name => &mut self.name,
            ExtensionColumn::Password => &mut self.password,
        };
        *slot = Some(value);
    }
}

/// An extension's SIP password, opened.
pub fn extension_password(secrets: &SecretBox, e: &Extension) -> Result<String> {
    Ok(secrets.decrypt(&e.fields.password_enc, &password_aad(&e.fields.extn, &e.fields.domain))?)
}

fn extension_not_found(id: i64) -> Error {
    Error::NotFound(format!("extension {id} not found"))
}

fn taken(f: &ExtensionFields) -> Error {
    Error::conflict("extn", format!("{} already exists in domain {}", f.extn, f.domain))
}

pub const DEFAULT_DOMAIN: &str = "xswitch.cn";

pub const DEFAULT_CONTEXT: &str = "default";

const TYPES: &[&str] = &["SIP", "VERTO", "WEBRTC", "TDM"];

const MIN_PASSWORD: usize = 6;

/// The largest range `muti_add` creates at once.
pub const MAX_RANGE: i64 = 10_000;

/// Fields of an extension as clients send them; every one is optional on
/// update, and numbers may arrive as strings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct ExtensionInput {
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = extn_schema, required = true, example = "1001")]
    pub extn: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub name: Option<String>,
    /// Plaintext; stored encrypted. Generated when absent on create.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = sip_password_schema)]
    pub password: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = domain_schema, example = "xswitch.cn")]
    pub domain: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema, example = "default")]
    pub context: Option<String>,
    /// SIP, VERTO, WEBRTC or TDM.
    #[serde(default, rename = "type", deserialize_with = "lenient::text")]
    #[schema(schema_with = extension_type, example = "SIP")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub cid_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub cid_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    #[schema(schema_with = lenient::int_schema)]
    pub user_id: Option<i64>,
    /// 0 or 1.
    #[serde(default, deserialize_with = "lenient::flag")]
    #[schema(schema_with = lenient::flag_schema)]
    pub disabled: Option<i64>,
}

/// The rules a SIP password must meet, each named when broken.
pub fn check_sip_password(password: &str, extn: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(Error::field(
            "password",
            format!("too short: at least {MIN_PASSWORD} characters"),
        ));
    }
    if password == extn {
        return Err(Error::field("password", "must not equal the extension number"));
    }
    if password.chars().any(char::is_control) || password.chars().count() > 128 {
        return Err(Error::field("password", "must be printable and at most 128 characters"));
    }
    Ok(())
}

/// An extension number: letters, digits and `-_.+*#!$@`, at most 32.
fn extn_schema() -> Schema {
    lenient::patterned(
        r"^\s*[A-Za-z0-9_.+*#!$@-]{1,32}\s*$",
        -MAX_SAFE_INTEGER,
        MAX_SAFE_INTEGER,
        false,
    )
}

/// The same where blank or null means "none" (a user's own extension).
pub fn extn_or_none_schema() -> Schema {
    lenient::patterned(
        r"^\s*([A-Za-z0-9_.+*#!$@-]{1,32})?\s*$",
        -MAX_SAFE_INTEGER,
        MAX_SAFE_INTEGER,
        true,
    )
}

/// A host name or address; blank means the default domain.
fn domain_schema() -> Schema {
    lenient::patterned(
        r"^\s*[A-Za-z0-9.-]{0,253}\s*$",
        -MAX_SAFE_INTEGER,
        MAX_SAFE_INTEGER,
        true,
    )
}

/// One end of a range: digits, leading zeros kept.
fn range_end_schema() -> Schema {
    lenient::patterned(r"^\s*[0-9]{1,15}\s*$", 0, MAX_SAFE_INTEGER, false)
}

pub fn sip_password_schema() -> Schema {
    lenient::password_schema::<MIN_PASSWORD>(true)
}

/// SIP, VERTO, WEBRTC or TDM; blank is SIP.
fn extension_type() -> Schema {
    lenient::choice_schema(TYPES)
}

/// A range of extensions sharing one password (XSwitch spells it `muti_add`).
/// `extns_end` is at or above `extns_start`, and the range holds at most
/// 10,000 extensions: a relation between two fields that a JSON schema
/// cannot state.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct RangeInput {
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = range_end_schema, required = true, example = "1000")]
    pub extns_start: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = range_end_schema, required = true, example = "1019")]
    pub extns_end: Option<String>,
    /// Shared by the whole range; when absent each extension gets its own random one.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = sip_password_schema)]
    pub password: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub context: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub domain: Option<String>,
}

/// Validates an input, fills the defaults, encrypts the password and
/// computes ha1/ha1b.
pub async fn new_fields(admin: &Admin, input: ExtensionInput) -> Result<ExtensionFields> {
    let extn = input
        .extn
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| Error::field("extn", "required"))?;
    if extn.len() > 32
        || !extn
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+*#!$@".contains(c))
    {
        return Err(Error::field(
            "extn",
            format!("'{extn}' may hold only letters, digits and - _ . + * # ! $ @ (at most 32)"),
        ));
    }
    let domain = text_or(input.domain, DEFAULT_DOMAIN);
    if domain.len() > 253
        || !domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(Error::field(
            "domain",
            format!("'{domain}' is not a host name or IP address"),
        ));
    }
    let context = text_or(input.context, DEFAULT_CONTEXT);
    let kind = text_or(input.kind, "SIP").to_uppercase();
    if !TYPES.contains(&kind.as_str()) {
        return Err(Error::field(
            "type",
            format!("'{kind}' is not one of {}", TYPES.join(", ")),
        ));
    }
    let password = match input.password {
        None => secrets::random_password(16),
        Some(p) => {
            check_sip_password(&p, &extn)?;
            p
        }
    };
    // Unowned extensions belong to user 0, which always exists.
    let user_id = input.user_id.unwrap_or(0);
    if input.user_id.is_some() && !admin.db.user_exists(user_id).await? {
        return Err(Error::field("user_id", format!("no user has id {user_id}")));
    }
    let name = text_or(input.name, &extn);
    Ok(ExtensionFields {
        cid_name: text_or(input.cid_name, &name),
        cid_number: text_or(input.cid_number, &extn),
        password_enc: admin.secrets.encrypt(&password, &password_aad(&extn, &domain)),
        ha1: secrets::ha1(&extn, &domain, &password),
        ha1b: secrets::ha1b(&extn, &domain, &password),
        user_id,
        disabled: input.disabled.unwrap_or(0),
        description: input.description.unwrap_or_default(),
        name,
        extn,
        domain,
        context,
        kind,
    })
}

pub fn text_or(value: Option<String>, default: &str) -> String {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// The numbers from `start` to `end`, keeping leading zeros (`0100`…`0199`).
fn range_numbers(start: Option<&str>, end: Option<&str>) -> Result<Vec<String>> {
    let parse = |name: &str, v: Option<&str>| -> Result<(i64, usize)> {
        let v = v
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::field(name, "required"))?;
        let n = v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0 && v.chars().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| Error::field(name, format!("'{v}' is not an extension number")))?;
        Ok((n, v.len()))
    };
    let (first, width) = parse("extns_start", start)?;
    let (last, _) = parse("extns_end", end)?;
    if last < first {
        return Err(Error::field("extns_end", "must not be below extns_start"));
    }
    if last - first + 1 > MAX_RANGE {
        return Err(Error::field(
            "extns_end",
            format!("a range holds at most {MAX_RANGE} extensions"),
        ));
    }
    Ok((first..=last).map(|n| format!("{n:0width$}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_keep_leading_zeros_and_check_bounds() {
        assert_eq!(
            range_numbers(Some("0098"), Some("0101")).unwrap(),
            vec!["0098", "0099", "0100", "0101"]
        );
        assert_eq!(range_numbers(Some("1000"), Some("1000")).unwrap(), vec!["1000"]);
        assert!(
            range_numbers(Some("1001"), Some("1000"))
                .unwrap_err()
                .to_string()
                .starts_with("extns_end:")
        );
        assert!(
            range_numbers(None, Some("1000"))
                .unwrap_err()
                .to_string()
                .starts_with("extns_start:")
        );
        assert!(
            range_numbers(Some("1a"), Some("1000"))
                .unwrap_err()
                .to_string()
                .starts_with("extns_start:")
        );
        assert!(range_numbers(Some("1"), Some("20000")).is_err());
    }
}
