//! A phone's programmable keys as sipprov knows them, whatever the family:
//! the slot (the phone's Nth programmable key, then its expansion modules'),
//! what the key does, its value and its label. Each pack says which types
//! its phones can do and how many slots each model has.

use serde::{Deserialize, Serialize};

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyType {
    /// One of the phone's lines; the value is its number, from 1.
    Line,
    /// Busy lamp field of an extension; the value is its number.
    Blf,
    /// Dials the value.
    SpeedDial,
    /// Parks the call in the orbit the value names.
    Park,
    /// Picks up a call ringing elsewhere (the value's, if any).
    Pickup,
    Dnd,
    /// Forwards calls (to the value, if any).
    Forward,
    /// Calls the voicemail (at the value, if any).
    Voicemail,
    /// Transfers the call (to the value, if any).
    Transfer,
    /// Opens the value, an http(s) URL.
    Url,
}

impl KeyType {
    pub const ALL: [KeyType; 10] = [
        KeyType::Line,
        KeyType::Blf,
        KeyType::SpeedDial,
        KeyType::Park,
        KeyType::Pickup,
        KeyType::Dnd,
        KeyType::Forward,
        KeyType::Voicemail,
        KeyType::Transfer,
        KeyType::Url,
    ];

    /// Its name in the API and in packs (`speed_dial`).
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Line => "line",
            KeyType::Blf => "blf",
            KeyType::SpeedDial => "speed_dial",
            KeyType::Park => "park",
            KeyType::Pickup => "pickup",
            KeyType::Dnd => "dnd",
            KeyType::Forward => "forward",
            KeyType::Voicemail => "voicemail",
            KeyType::Transfer => "transfer",
            KeyType::Url => "url",
        }
    }

    pub fn named(name: &str) -> Option<KeyType> {
        KeyType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether a key of this type means nothing without a value.
    pub fn needs_value(self) -> bool {
        matches!(
            self,
            KeyType::Line | KeyType::Blf | KeyType::SpeedDial | KeyType::Park | KeyType::Url
        )
    }
}

/// One programmable key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PhoneKey {
    /// From 1: the phone's own keys first, then each expansion module's.
    pub slot: u32,
    /// What the key does.
    #[serde(rename = "type")]
    pub kind: KeyType,
    /// A line key's line, the number a key is for, or a URL.
    #[serde(default)]
    pub value: String,
    /// What the key shows; its value when empty.
    #[serde(default)]
    pub label: String,
}

/// Keys as stored: a JSON array. What cannot be read (a hand-edited row)
/// reads as no keys rather than failing the phone's whole file.
pub fn keys_from_json(json: &str) -> Vec<PhoneKey> {
    serde_json::from_str(json).unwrap_or_default()
}

pub fn keys_to_json(keys: &[PhoneKey]) -> String {
    serde_json::to_string(keys).expect("keys serialize")
}

/// A template's keys with a device's own laid over them, slot by slot, in
/// slot order.
pub fn overlay(template: &[PhoneKey], own: &[PhoneKey]) -> Vec<PhoneKey> {
    let mut keys: std::collections::BTreeMap<u32, PhoneKey> = template.iter().map(|k| (k.slot, k.clone())).collect();
    keys.extend(own.iter().map(|k| (k.slot, k.clone())));
    keys.into_values().collect()
}

/// Every slot a phone was given a key in, as stored: a JSON array of slots,
/// in order, each once, that grows with each change of its keys to hold
/// the slots before and after it (before: rows from before it was kept).
/// A slot in it without a key now is one the phone still shows, and its
/// file writes empty.
pub fn slots_shown_after(shown: &str, before: &[PhoneKey], after: &[PhoneKey]) -> String {
    let mut slots: std::collections::BTreeSet<u32> = slots_from_json(shown).into_iter().collect();
    slots.extend(before.iter().chain(after).map(|k| k.slot));
    serde_json::to_string(&slots).expect("slots serialize")
}

/// The slots of a [`slots_shown_after`] list; what cannot be read reads as none.
pub fn slots_from_json(json: &str) -> Vec<u32> {
    serde_json::from_str(json).unwrap_or_default()
}

/// The slots shown once and without a key now: what a phone's file clears.
pub fn cleared_slots(shown: &str, keys: &[PhoneKey]) -> Vec<u32> {
    slots_from_json(shown)
        .into_iter()
        .filter(|slot| !keys.iter().any(|k| k.slot == *slot))
        .collect()
}

/// How many keys a model has: its own, then `modules` expansion modules of
/// `module_keys` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyLayout {
    pub keys: u32,
    pub modules: u32,
    pub module_keys: u32,
}

/// Where a slot is: on the phone (module 0) or on an expansion module,
/// and which key there, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPlace {
    pub module: u32,
    pub index: u32,
}

impl KeyLayout {
    pub fn slots(&self) -> u32 {
        self.keys + self.modules * self.module_keys
    }

    pub fn place(&self, slot: u32) -> Option<KeyPlace> {
        if slot == 0 || slot > self.slots() {
            return None;
        }
        if slot <= self.keys {
            return Some(KeyPlace { module: 0, index: slot });
        }
        let beyond = slot - self.keys - 1;
        Some(KeyPlace {
            module: beyond / self.module_keys + 1,
            index: beyond % self.module_keys + 1,
        })
    }

    /// What the slot count is, in words, for a refusal.
    pub fn describe(&self) -> String {
        let own = format!("{} key{}", self.keys, if self.keys == 1 { "" } else { "s" });
        if self.modules == 0 {
            own
        } else {
            format!(
                "{own}, and {} expansion module{} of {} ({} slots in all)",
                self.modules,
                if self.modules == 1 { "" } else { "s" },
                self.module_keys,
                self.slots()
            )
        }
    }
}

/// A key as a template sees it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub slot: u32,
    /// sipprov's type (`speed_dial`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The family's code for the type, from its `[keys] types`.
    pub code: serde_json::Value,
    pub value: String,
    /// The label; else the value, or nothing for a line key (the phone
    /// shows the line's own label).
    pub label: String,
    /// 0 on the phone itself, else the expansion module, from 1.
    pub module: u32,
    /// The key's number on the phone or on its module, from 1.
    pub index: u32,
    /// The line it works on, from 1: a line key's own, else the first.
    pub line: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_past_the_phone_fall_on_its_expansion_modules() {
        let layout = KeyLayout {
            keys: 27,
            modules: 3,
            module_keys: 40,
        };
        assert_eq!(layout.slots(), 147);
        assert_eq!(layout.place(1), Some(KeyPlace { module: 0, index: 1 }));
        assert_eq!(layout.place(27), Some(KeyPlace { module: 0, index: 27 }));
        assert_eq!(layout.place(28), Some(KeyPlace { module: 1, index: 1 }));
        assert_eq!(layout.place(68), Some(KeyPlace { module: 2, index: 1 }));
        assert_eq!(layout.place(147), Some(KeyPlace { module: 3, index: 40 }));
        assert_eq!(layout.place(148), None);
        assert_eq!(layout.place(0), None);
        let bare = KeyLayout {
            keys: 6,
            ..KeyLayout::default()
        };
        assert_eq!(bare.place(7), None);
        assert_eq!(bare.describe(), "6 keys");
    }

    #[test]
    fn a_device_key_replaces_the_template_key_in_its_slot() {
        let key = |slot, kind, value: &str| PhoneKey {
            slot,
            kind,
            value: value.into(),
            label: String::new(),
        };
        let template = [key(1, KeyType::Line, "1"), key(2, KeyType::Blf, "1002")];
        let own = [key(2, KeyType::SpeedDial, "100"), key(5, KeyType::Dnd, "")];
        let slots: Vec<(u32, KeyType)> = overlay(&template, &own).iter().map(|k| (k.slot, k.kind)).collect();
        assert_eq!(slots, [(1, KeyType::Line), (2, KeyType::SpeedDial), (5, KeyType::Dnd)]);
        assert_eq!(keys_from_json("not json"), Vec::new());
        assert_eq!(keys_from_json(&keys_to_json(&own)), own);
    }

    #[test]
    fn a_slot_once_shown_is_cleared_until_a_key_takes_it_again() {
        let key = |slot| PhoneKey {
            slot,
            kind: KeyType::Dnd,
            value: String::new(),
            label: String::new(),
        };
        // The keys before count: a row from before slots were kept.
        let shown = slots_shown_after("[]", &[key(2), key(5)], &[key(2)]);
        assert_eq!(shown, "[2,5]");
        assert_eq!(cleared_slots(&shown, &[key(2)]), [5]);
        let shown = slots_shown_after(&shown, &[key(2)], &[key(5), key(9)]);
        assert_eq!(shown, "[2,5,9]");
        assert_eq!(cleared_slots(&shown, &[key(5), key(9)]), [2]);
        assert_eq!(cleared_slots("not json", &[]), Vec::<u32>::new());
    }
}
