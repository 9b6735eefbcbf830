//! What a family's keys can be: each model's slots and the types its
//! phones can do, from the pack's `[keys]`, and the keys as its templates
//! see them.

use super::Packs;
use super::manifest::model_key;
use crate::domain::Vendor;
use crate::domain::keys::{KeyLayout, KeyType, KeyView, PhoneKey};

impl Packs {
    /// The keys `model` of `vendor` has; `Err` says why it has none.
    pub fn key_layout(&self, vendor: Vendor, model: &str) -> Result<KeyLayout, String> {
        let pack = self.pack(vendor).ok_or_else(|| format!("no pack for {vendor}"))?;
        let section = &pack.manifest.keys;
        if let Some(reason) = &section.unsupported {
            return Err(format!("{vendor} phones have no keys sipprov sets: {reason}"));
        }
        let key = model_key(model);
        let listed = section
            .models
            .iter()
            .find(|(m, _)| model_key(m) == key)
            .map(|(_, k)| k.layout());
        match listed.or(section.default.map(|d| d.layout())) {
            Some(layout) if layout.slots() > 0 => Ok(layout),
            Some(_) => Err(format!("model '{model}' of {vendor} has no programmable keys")),
            None if model.trim().is_empty() => Err(format!(
                "the device has no model (type), and {vendor} phones' keys depend on it"
            )),
            None => Err(format!("{vendor}'s pack does not know the keys of model '{model}'")),
        }
    }

    /// The family's code for a key type, if its phones can do it.
    fn key_code(&self, vendor: Vendor, kind: KeyType) -> Option<&toml::Value> {
        self.pack(vendor)?.manifest.keys.types.get(kind.name())
    }

    /// Whether each key fits `model` of `vendor`: `Err` names the first
    /// slot that does not, and why.
    pub fn check_keys(&self, vendor: Vendor, model: &str, keys: &[PhoneKey]) -> Result<(), String> {
        let Some(first) = keys.first() else {
            return Ok(());
        };
        let layout = self
            .key_layout(vendor, model)
            .map_err(|why| format!("slot {}: {why}", first.slot))?;
        for key in keys {
            if layout.place(key.slot).is_none() {
                let model = if model.trim().is_empty() { vendor.code() } else { model };
                return Err(format!("slot {}: {model} has {}", key.slot, layout.describe()));
            }
            if self.key_code(vendor, key.kind).is_none() {
                return Err(format!(
                    "slot {}: {vendor} phones cannot do a {} key",
                    key.slot,
                    key.kind.name()
                ));
            }
        }
        Ok(())
    }

    /// The keys as the family's templates see them, in slot order. Each
    /// `cleared` slot goes back to what the phone has there by default: on
    /// a phone with `lines` lines, key N up to that count is line N's key,
    /// and any other is an empty key (type `none`) where the family has a
    /// code for one. A key the model cannot have (its pack changed since)
    /// is left out.
    pub fn key_views(
        &self,
        vendor: Vendor,
        model: &str,
        keys: &[PhoneKey],
        cleared: &[u32],
        lines: usize,
    ) -> Vec<KeyView> {
        let Ok(layout) = self.key_layout(vendor, model) else {
            return Vec::new();
        };
        let code_of = |code: Option<&toml::Value>| code.and_then(|c| serde_json::to_value(c).ok());
        let empty = code_of(self.pack(vendor).and_then(|p| p.manifest.keys.empty.as_ref()));
        let line = code_of(self.key_code(vendor, KeyType::Line));
        let empties = cleared.iter().filter_map(|slot| {
            let place = layout.place(*slot)?;
            let own_line = place.module == 0 && place.index as usize <= lines;
            let (kind, code, value, line) = match (&line, own_line) {
                (Some(code), true) => ("line", code.clone(), place.index.to_string(), place.index),
                _ => ("none", empty.clone()?, String::new(), 1),
            };
            Some(KeyView {
                slot: *slot,
                kind,
                code,
                value,
                label: String::new(),
                module: place.module,
                index: place.index,
                line,
            })
        });
        let mut views: Vec<KeyView> = keys
            .iter()
            .filter_map(|key| {
                let place = layout.place(key.slot)?;
                let code = self.key_code(vendor, key.kind)?;
                let line = match key.kind {
                    KeyType::Line => key.value.parse().ok().filter(|l| *l >= 1)?,
                    _ => 1,
                };
                Some(KeyView {
                    slot: key.slot,
                    kind: key.kind.name(),
                    code: serde_json::to_value(code).ok()?,
                    value: key.value.clone(),
                    label: match (key.label.is_empty(), key.kind) {
                        (false, _) | (true, KeyType::Line) => key.label.clone(),
                        (true, _) => key.value.clone(),
                    },
                    module: place.module,
                    index: place.index,
                    line,
                })
            })
            .chain(empties)
            .collect();
        views.sort_by_key(|v| v.slot);
        views
    }
}
