//! Settings: XSwitch's realm/key/value rows (dicts). The provisioning realms
//! (`PROVISION` for the site, `PROVISION:<mac>` for one phone) are checked
//! key by key, and a secret setting's value is kept encrypted and never
//! logged.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::lenient;
use super::log::{Action, message};
use super::{Actor, Admin, Error, Result};
use crate::domain::timestamp;
use crate::provision::{MASK, settings};
use crate::secrets::SecretBox;
use crate::store::dicts::{Dict, DictFields};
use crate::store::logs::Summary;
use crate::store::{Constraint, OrTaken};

/// A setting's fields as given; on an update, those left out keep theirs.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[schema(as = DictInput)]
pub struct SettingInput {
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::required_text::<64>, required = true, example = "PROVISION")]
    pub realm: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::required_text::<128>, required = true, example = "ntp_server")]
    pub k: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema, example = "ntp.example.com")]
    pub v: Option<String>,
    /// Description.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_schema)]
    pub d: Option<String>,
    /// Order within the realm.
    #[serde(default, deserialize_with = "lenient::int")]
    #[schema(schema_with = lenient::int_schema)]
    pub o: Option<i64>,
}

const RESOURCE: &str = "dicts";

impl Admin {
    pub async fn create_setting(&self, actor: &Actor, input: SettingInput) -> Result<i64> {
        let log = actor.entry(RESOURCE, Action::Create, Summary::Id, logged(&input));
        let fields = checked(&self.secrets, input, None)?;
        let conflict = taken(&fields);
        self.db
            .insert_dict(&fields, timestamp::now(), &log)
            .await
            .or_taken(Constraint::SettingKey, || conflict)
    }

    pub async fn update_setting(&self, actor: &Actor, id: i64, input: SettingInput) -> Result<()> {
        let current = self.setting(id).await?;
        let log = actor.entry(RESOURCE, Action::Update, Summary::Id, logged(&input));
        let fields = checked(&self.secrets, input, Some(current))?;
        let conflict = taken(&fields);
        if !self
            .db
            .update_dict(id, &fields, timestamp::now(), &log)
            .await
            .or_taken(Constraint::SettingKey, || conflict)?
        {
            return Err(setting_not_found(id));
        }
        Ok(())
    }

    pub async fn delete_setting(&self, actor: &Actor, id: i64) -> Result<()> {
        let log = actor.entry(RESOURCE, Action::Delete, Summary::Id, format!("{{\"id\":{id}}}"));
        if !self.db.delete_dict(id, timestamp::now(), &log).await? {
            return Err(setting_not_found(id));
        }
        Ok(())
    }

    /// A live row, its value as stored (a secret one sealed).
    pub async fn setting(&self, id: i64) -> Result<Dict> {
        self.db.dict(id).await?.ok_or_else(|| setting_not_found(id))
    }

    /// A live row as people see it: a secret value masked.
    pub async fn shown_setting(&self, id: i64) -> Result<Dict> {
        Ok(shown(self.setting(id).await?))
    }

    /// The rows of `realm` (all realms when `None`), secret values masked.
    pub async fn settings(&self, realm: Option<&str>) -> Result<Vec<Dict>> {
        Ok(self.db.dicts(realm).await?.into_iter().map(shown).collect())
    }
}

/// A row as people see it: a secret value masked.
fn shown(mut dict: Dict) -> Dict {
    if settings::is_secret_setting(&dict.realm, &dict.k) {
        dict.v = MASK.into();
    }
    dict
}

fn setting_not_found(id: i64) -> Error {
    Error::NotFound(format!("dict {id} not found"))
}

fn taken(fields: &DictFields) -> Error {
    Error::conflict("k", format!("'{}' already exists in realm {}", fields.k, fields.realm))
}

/// The change as the log keeps it: a secret setting's value left out.
fn logged(input: &SettingInput) -> String {
    let secret = match (&input.realm, &input.k) {
        (Some(realm), Some(k)) => settings::is_secret_setting(realm.trim(), k.trim()),
        // A value given without its realm and key may still be a secret.
        _ => true,
    };
    message(input, if secret { &["v"] } else { &[] })
}

/// Merges an input over the current row, checks it, and seals a secret.
fn checked(secrets: &SecretBox, input: SettingInput, current: Option<Dict>) -> Result<DictFields> {
    let keep = |given: Option<String>, old: Option<&String>| {
        given
            .or_else(|| old.cloned())
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let realm = keep(input.realm, current.as_ref().map(|c| &c.realm));
    let k = keep(input.k, current.as_ref().map(|c| &c.k));
    if realm.is_empty() || realm.chars().count() > 64 {
        return Err(Error::field("realm", "required, at most 64 characters"));
    }
    if k.is_empty() || k.chars().count() > 128 {
        return Err(Error::field("k", "required, at most 128 characters"));
    }
    if settings::is_settings_realm(&realm) && !settings::KEYS.iter().any(|(known, _)| *known == k) {
        let keys: Vec<&str> = settings::KEYS.iter().map(|(k, _)| *k).collect();
        return Err(Error::field(
            "k",
            format!("'{k}' is not a provisioning setting; use one of {}", keys.join(", ")),
        ));
    }
    let secret = settings::is_secret_setting(&realm, &k);
    let v = match (input.v, &current) {
        (Some(v), _) => {
            if settings::is_settings_realm(&realm) {
                settings::validate(&k, &v).map_err(|reason| Error::field("v", format!("{k}: {reason}")))?;
            }
            if secret {
                secrets.encrypt(v.trim(), &crate::secrets::secret_aad(&realm, &k))
            } else {
                v.trim().to_string()
            }
        }
        (None, Some(c)) if c.realm == realm && c.k == k => c.v.clone(),
        (None, _) => {
            if settings::is_settings_realm(&realm) {
                return Err(Error::field("v", "required"));
            }
            String::new()
        }
    };
    if realm.starts_with("PROVISION") && !settings::is_settings_realm(&realm) {
        return Err(Error::field(
            "realm",
            format!("'{realm}' is not PROVISION or PROVISION:<mac> (12 lower-case hex digits)"),
        ));
    }
    Ok(DictFields {
        realm,
        k,
        v,
        d: input
            .d
            .or_else(|| current.as_ref().map(|c| c.d.clone()))
            .unwrap_or_default(),
        o: input.o.or(current.map(|c| c.o)).unwrap_or(0),
    })
}
