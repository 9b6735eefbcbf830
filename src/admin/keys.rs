//! Programmable keys: a device's own, and named key templates many devices
//! share, with their rules and bounds, whichever door asks. A device's key
//! overrides its template's in the same slot; what a device ends up with
//! must fit its model (slots) and family (types), checked against its pack.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::lenient;
use super::log::{Action, message};
use super::{Actor, Admin, Error, Result};
use crate::domain::keys::{KeyType, PhoneKey, cleared_slots, keys_from_json, keys_to_json, overlay, slots_shown_after};
use crate::domain::number::{MAX_DIALABLE_CHARS, is_dialable};
use crate::domain::timestamp::{self, RowTimes};
use crate::packs::manifest::MAX_SLOTS;
use crate::store::Constraint;
use crate::store::devices::DeviceFields;
use crate::store::key_templates::{DeviceKeysRow, KeyTemplateRow, LIST};
use crate::store::logs::Summary;
use crate::store::{ListParams, OrTaken, Page};

/// The most key templates a site keeps.
pub const MAX_KEY_TEMPLATES: i64 = 1_000;
const MAX_LABEL_CHARS: usize = 32;
const MAX_URL_CHARS: usize = 512;
const MAX_NAME_CHARS: usize = 64;
/// The most lines a line key can name, before the model's own count.
const MAX_LINE: u32 = 250;

/// One key as clients send it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct KeyInput {
    /// The phone's Nth programmable key, from 1; past the phone's own keys,
    /// its expansion modules' keys in order.
    #[schema(value_type = i64, minimum = 1, maximum = 1000, example = 2)]
    pub slot: Option<serde_json::Number>,
    /// line, blf, speed_dial, park, pickup, dnd, forward, voicemail,
    /// transfer or url; each family does some of them.
    #[serde(rename = "type")]
    #[schema(example = "blf")]
    pub kind: Option<String>,
    /// A line key: the line's number. blf, speed_dial, park: the number.
    /// url: an http(s) URL. Others: a number, or nothing.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_up_to::<512>, example = "1002")]
    pub value: Option<String>,
    /// What the key shows, at most 32 characters; the value when absent.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::text_up_to::<32>, example = "Ana")]
    pub label: Option<String>,
}

/// A device's keys as clients set them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct DeviceKeysInput {
    /// The device's own keys; they replace those it had.
    #[serde(default)]
    pub keys: Vec<KeyInput>,
    /// The key template it takes its other keys from; absent or null for none.
    #[schema(value_type = Option<i64>)]
    pub template_id: Option<i64>,
}

/// A device's keys.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceKeys {
    /// Its own.
    pub keys: Vec<PhoneKey>,
    /// The key template it takes its other keys from, if any.
    pub template_id: Option<i64>,
    /// What its phone gets: the template's, with its own laid over them.
    pub effective: Vec<PhoneKey>,
    /// Slots its phone had a key in and has none now: its file writes
    /// them empty, so the phone lets go of them.
    pub cleared: Vec<u32>,
}

/// A key template as clients send it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct KeyTemplateInput {
    /// Printable, at most 64 characters, unique.
    #[serde(default, deserialize_with = "lenient::text")]
    #[schema(schema_with = lenient::nonblank_or_null::<64>, required = true, example = "Reception")]
    pub name: Option<String>,
    /// Its keys; they replace those it had. At most 1,000, each slot once.
    pub keys: Option<Vec<KeyInput>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyTemplate {
    pub id: i64,
    /// Unique among the live templates.
    pub name: String,
    /// In slot order.
    pub keys: Vec<PhoneKey>,
    #[serde(flatten)]
    pub times: RowTimes,
}

impl From<KeyTemplateRow> for KeyTemplate {
    fn from(row: KeyTemplateRow) -> KeyTemplate {
        KeyTemplate {
            id: row.id,
            name: row.name,
            keys: keys_from_json(&row.keys),
            times: row.times,
        }
    }
}

const DEVICES: &str = "device_provisions";
const TEMPLATES: &str = "key_templates";

impl Admin {
    pub async fn device_keys(&self, id: i64) -> Result<DeviceKeys> {
        let row = self.device_keys_row(id).await?;
        self.keys_of(&row).await
    }

    async fn keys_of(&self, row: &DeviceKeysRow) -> Result<DeviceKeys> {
        let keys = keys_from_json(&row.keys);
        let template = match row.key_template_id {
            Some(t) => self.db.key_template(t).await?.map(|t| keys_from_json(&t.keys)),
            None => None,
        };
        let effective = overlay(template.as_deref().unwrap_or_default(), &keys);
        Ok(DeviceKeys {
            cleared: cleared_slots(&row.shown_key_slots, &effective),
            effective,
            keys,
            template_id: row.key_template_id,
        })
    }

    /// Whether device `id`'s keys, its own and its template's, still fit
    /// it once changed to `changed`: a new family, model or line count must
    /// not leave it keys its phone cannot have. `Err` names the field.
    pub(super) async fn keys_fit_change(&self, id: i64, changed: &DeviceFields) -> Result<()> {
        let Some(row) = self.db.device_keys(id).await? else {
            return Ok(());
        };
        let same_phone = changed.vendor_code == row.vendor_code
            && changed.kind == row.model
            && changed.lines.len() as i64 == row.lines;
        if same_phone {
            return Ok(());
        }
        let effective = self.keys_of(&row).await?.effective;
        if effective.is_empty() {
            return Ok(());
        }
        let field = if changed.vendor_code != row.vendor_code {
            "vendor"
        } else if changed.kind != row.model {
            "type"
        } else {
            "extn"
        };
        let after = DeviceKeysRow {
            vendor_code: changed.vendor_code.clone(),
            model: changed.kind.clone(),
            lines: changed.lines.len() as i64,
            ..row
        };
        self.fits(&after, &effective).map_err(|why| {
            Error::field(
                field,
                format!("the device's keys would not fit: {why}; change its keys or key template first"),
            )
        })
    }

    /// Sets a device's own keys and its template: all are checked, against
    /// the device's model and family too, before any is written.
    pub async fn set_device_keys(&self, actor: &Actor, id: i64, input: DeviceKeysInput) -> Result<DeviceKeys> {
        let log = actor.entry(DEVICES, Action::Update, Summary::Id, message(&input, &[]));
        let row = self.device_keys_row(id).await?;
        let keys = checked_keys(&input.keys)?;
        let template = match input.template_id {
            Some(t) => keys_from_json(
                &self
                    .db
                    .key_template(t)
                    .await?
                    .ok_or_else(|| Error::field("template_id", format!("key template {t} not found")))?
                    .keys,
            ),
            None => Vec::new(),
        };
        let effective = overlay(&template, &keys);
        self.fits(&row, &effective).map_err(|why| Error::field("keys", why))?;
        let before = self.keys_of(&row).await?.effective;
        let shown = slots_shown_after(&row.shown_key_slots, &before, &effective);
        if !self
            .db
            .set_device_keys(
                id,
                &keys_to_json(&keys),
                input.template_id,
                &shown,
                timestamp::now(),
                &log,
            )
            .await?
        {
            return Err(device_not_found(id));
        }
        Ok(DeviceKeys {
            cleared: cleared_slots(&shown, &effective),
            keys,
            template_id: input.template_id,
            effective,
        })
    }

    pub async fn list_key_templates(&self, params: ListParams) -> Result<Page<KeyTemplate>> {
        let page: Page<KeyTemplateRow> = self.db.list(&LIST, &params, None).await?;
        Ok(page.map(KeyTemplate::from))
    }

    pub async fn key_template(&self, id: i64) -> Result<KeyTemplate> {
        Ok(self.key_template_row(id).await?.into())
    }

    /// At most [`MAX_KEY_TEMPLATES`]; past that, a 400 naming the bound.
    pub async fn create_key_template(&self, actor: &Actor, input: KeyTemplateInput) -> Result<i64> {
        let log = actor.entry(TEMPLATES, Action::Create, Summary::Id, message(&input, &[]));
        let name = template_name(input.name)?;
        let keys = checked_keys(input.keys.as_deref().unwrap_or_default())?;
        let stored = self.db.key_template_count().await?;
        if stored >= MAX_KEY_TEMPLATES {
            return Err(Error::field(
                "name",
                format!("the site keeps at most {MAX_KEY_TEMPLATES} key templates"),
            ));
        }
        self.db
            .insert_key_template(&name, &keys_to_json(&keys), timestamp::now(), &log)
            .await
            .or_taken(Constraint::KeyTemplateName, || name_taken(&name))
    }

    /// Changes a template's name or keys; new keys must fit every device
    /// that has the template, with that device's own keys laid over them.
    pub async fn update_key_template(&self, actor: &Actor, id: i64, input: KeyTemplateInput) -> Result<()> {
        let log = actor.entry(TEMPLATES, Action::Update, Summary::Id, message(&input, &[]));
        let current = self.key_template_row(id).await?;
        let name = template_name(input.name.or(Some(current.name)))?;
        let keys = match &input.keys {
            Some(keys) => checked_keys(keys)?,
            None => keys_from_json(&current.keys),
        };
        // Only new keys are checked against the devices: a rename changes none.
        let devices = match input.keys {
            Some(_) => self.db.devices_with_key_template(id).await?,
            None => Vec::new(),
        };
        let before = keys_from_json(&current.keys);
        let mut shown = Vec::with_capacity(devices.len());
        for device in devices {
            let own = keys_from_json(&device.keys);
            let effective = overlay(&keys, &own);
            self.fits(&device, &effective).map_err(|why| {
                Error::field(
                    "keys",
                    format!("{why} (device {}, {}, has this template)", device.id, device.mac),
                )
            })?;
            let slots = slots_shown_after(&device.shown_key_slots, &overlay(&before, &own), &effective);
            shown.push((device.id, slots));
        }
        if !self
            .db
            .update_key_template(id, &name, &keys_to_json(&keys), &shown, timestamp::now(), &log)
            .await
            .or_taken(Constraint::KeyTemplateName, || name_taken(&name))?
        {
            return Err(template_not_found(id));
        }
        Ok(())
    }

    /// Deletes a template; its devices keep their own keys only, and their
    /// phones let go of the template's.
    pub async fn delete_key_template(&self, actor: &Actor, id: i64) -> Result<()> {
        let log = actor.entry(TEMPLATES, Action::Delete, Summary::Id, format!("{{\"id\":{id}}}"));
        let template = keys_from_json(&self.key_template_row(id).await?.keys);
        let shown: Vec<(i64, String)> = self
            .db
            .devices_with_key_template(id)
            .await?
            .into_iter()
            .map(|device| {
                let own = keys_from_json(&device.keys);
                let slots = slots_shown_after(&device.shown_key_slots, &overlay(&template, &own), &own);
                (device.id, slots)
            })
            .collect();
        if !self.db.delete_key_template(id, &shown, timestamp::now(), &log).await? {
            return Err(template_not_found(id));
        }
        Ok(())
    }

    async fn device_keys_row(&self, id: i64) -> Result<DeviceKeysRow> {
        self.db.device_keys(id).await?.ok_or_else(|| device_not_found(id))
    }

    async fn key_template_row(&self, id: i64) -> Result<KeyTemplateRow> {
        self.db.key_template(id).await?.ok_or_else(|| template_not_found(id))
    }

    /// Whether these keys fit the device's model and family: `Err` names
    /// the slot and why not.
    fn fits(&self, device: &DeviceKeysRow, keys: &[PhoneKey]) -> std::result::Result<(), String> {
        let packs = self.packs.current();
        let vendor = packs
            .vendor(&device.vendor_code)
            .map_err(|_| format!("the device's family '{}' has no pack", device.vendor_code))?;
        packs.check_keys(vendor, &device.model, keys)?;
        let lines = device.lines;
        if let Some(key) = keys
            .iter()
            .find(|k| k.kind == KeyType::Line && k.value.parse::<i64>().is_ok_and(|l| l > lines))
        {
            return Err(format!(
                "slot {}: line {}: the device has {lines} line{}",
                key.slot,
                key.value,
                if lines == 1 { "" } else { "s" }
            ));
        }
        Ok(())
    }
}

fn device_not_found(id: i64) -> Error {
    Error::NotFound(format!("device {id} not found"))
}

fn template_not_found(id: i64) -> Error {
    Error::NotFound(format!("key template {id} not found"))
}

fn name_taken(name: &str) -> Error {
    Error::conflict("name", format!("a key template named '{name}' exists"))
}

fn template_name(name: Option<String>) -> Result<String> {
    super::required_name("name", name, MAX_NAME_CHARS)
}

/// Keys checked on their own, whatever the phone: each slot once and in
/// range, a known type, a value and label within their rules. Every
/// refusal names the slot (or the key's place, when it has no slot).
pub fn checked_keys(input: &[KeyInput]) -> Result<Vec<PhoneKey>> {
    if input.len() > MAX_SLOTS as usize {
        return Err(Error::field("keys", format!("at most {MAX_SLOTS} keys")));
    }
    let mut keys: Vec<PhoneKey> = Vec::with_capacity(input.len());
    for (at, key) in input.iter().enumerate() {
        let slot = key
            .slot
            .as_ref()
            .and_then(serde_json::Number::as_u64)
            .and_then(|s| u32::try_from(s).ok())
            .filter(|s| (1..=MAX_SLOTS).contains(s))
            .ok_or_else(|| {
                let given = key.slot.as_ref().map_or("none".to_string(), ToString::to_string);
                Error::field(
                    "keys",
                    format!(
                        "key {}: slot must be a whole number from 1 to {MAX_SLOTS} (given: {given})",
                        at + 1
                    ),
                )
            })?;
        let refuse = |why: String| Error::field("keys", format!("slot {slot}: {why}"));
        if keys.iter().any(|k| k.slot == slot) {
            return Err(refuse("given twice".into()));
        }
        let kind = key.kind.as_deref().unwrap_or_default().trim();
        let kind = KeyType::named(kind).ok_or_else(|| {
            let known: Vec<&str> = KeyType::ALL.iter().map(|t| t.name()).collect();
            refuse(format!("type '{kind}' is not one of {}", known.join(", ")))
        })?;
        // Lengths as sent, before trimming: what the API's schema says.
        let raw_value = key.value.as_deref().unwrap_or_default();
        if raw_value.chars().count() > MAX_URL_CHARS {
            return Err(refuse(format!("the value is longer than {MAX_URL_CHARS} characters")));
        }
        let value = raw_value.trim().to_string();
        if let Err(why) = check_value(kind, &value) {
            return Err(refuse(why));
        }
        let raw_label = key.label.as_deref().unwrap_or_default();
        let label = raw_label.trim().to_string();
        if raw_label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
            return Err(refuse(format!(
                "the label must be printable and at most {MAX_LABEL_CHARS} characters"
            )));
        }
        keys.push(PhoneKey {
            slot,
            kind,
            value,
            label,
        });
    }
    keys.sort_by_key(|k| k.slot);
    Ok(keys)
}

/// What a key of this type may hold.
fn check_value(kind: KeyType, value: &str) -> std::result::Result<(), String> {
    let name = kind.name();
    if value.is_empty() {
        return match kind {
            KeyType::Line => Err("a line key's value is the line's number, from 1".into()),
            KeyType::Url => Err("a url key's value is an http:// or https:// URL".into()),
            _ if kind.needs_value() => Err(format!("a {name} key needs the number it is for")),
            _ => Ok(()),
        };
    }
    match kind {
        KeyType::Line => match value.parse::<u32>() {
            Ok(line) if (1..=MAX_LINE).contains(&line) => Ok(()),
            _ => Err(format!(
                "a line key's value is the line's number, from 1 (given: '{value}')"
            )),
        },
        KeyType::Url => {
            let scheme = value.starts_with("http://") || value.starts_with("https://");
            if scheme && value.len() <= MAX_URL_CHARS && !value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Ok(())
            } else {
                Err(format!(
                    "a url key's value is an http:// or https:// URL without spaces, at most {MAX_URL_CHARS} characters"
                ))
            }
        }
        _ if is_dialable(value) => Ok(()),
        _ => Err(format!(
            "'{value}': a {name} key's value may hold only letters, digits and + * # . - _ @ (at most {MAX_DIALABLE_CHARS})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(slot: serde_json::Value, kind: &str, value: &str) -> KeyInput {
        KeyInput {
            slot: serde_json::from_value(slot).ok(),
            kind: Some(kind.into()),
            value: Some(value.into()),
            label: None,
        }
    }

    #[test]
    fn every_refusal_names_the_slot_and_the_reason() {
        let ok = checked_keys(&[key(3.into(), "speed_dial", "100"), key(1.into(), "line", "1")]).unwrap();
        assert_eq!(ok.iter().map(|k| k.slot).collect::<Vec<_>>(), [1, 3], "in slot order");
        for (keys, expected) in [
            (
                vec![key(0.into(), "blf", "1")],
                "keys: key 1: slot must be a whole number from 1 to 1000 (given: 0)",
            ),
            (
                vec![key(1001.into(), "blf", "1")],
                "keys: key 1: slot must be a whole number",
            ),
            (
                vec![key(2.5.into(), "blf", "1")],
                "keys: key 1: slot must be a whole number",
            ),
            (
                vec![key(2.into(), "blf", "1"), key(2.into(), "dnd", "")],
                "keys: slot 2: given twice",
            ),
            (
                vec![key(4.into(), "intercom", "1")],
                "keys: slot 4: type 'intercom' is not one of line, blf",
            ),
            (
                vec![key(5.into(), "blf", "")],
                "keys: slot 5: a blf key needs the number",
            ),
            (
                vec![key(5.into(), "park", "")],
                "keys: slot 5: a park key needs the number",
            ),
            (
                vec![key(5.into(), "blf", "10 02")],
                "keys: slot 5: '10 02': a blf key's value may hold only",
            ),
            (
                vec![key(6.into(), "line", "0")],
                "keys: slot 6: a line key's value is the line's number",
            ),
            (
                vec![key(7.into(), "url", "javascript:x")],
                "keys: slot 7: a url key's value is an http",
            ),
            // Lengths count what was sent, as the schema does, spaces too.
            (
                vec![key(9.into(), "blf", &format!("1002{}", " ".repeat(510)))],
                "keys: slot 9: the value is longer than 512 characters",
            ),
        ] {
            let err = checked_keys(&keys).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{err}");
        }
        let mut long = key(8.into(), "dnd", "");
        long.label = Some(format!("{} ", "x".repeat(32)));
        assert!(
            checked_keys(&[long])
                .unwrap_err()
                .to_string()
                .starts_with("keys: slot 8: the label")
        );
        let many: Vec<KeyInput> = (1..=1001).map(|s| key(s.into(), "dnd", "")).collect();
        assert_eq!(checked_keys(&many).unwrap_err().to_string(), "keys: at most 1000 keys");
    }
}
