//! The phones a node knows, held in memory so a fetch needs no database,
//! even to render: every MAC with a live record, its lines (passwords still
//! sealed), its last User-Agent, and the settings it is served under,
//! resolved once per change.

use std::collections::HashMap;
use std::sync::Arc;

use super::settings::{Resolved, SITE_REALM, phone_realm};
use crate::domain::Mac;
use crate::secrets::{SecretBox, secret_aad};
use crate::store::Db;
use crate::store::devices::PhoneLine;
use crate::store::extensions::{DirectoryEntry, MAX_DIRECTORY_ENTRIES};

/// A phone with a live record.
#[derive(Debug, Clone)]
pub struct KnownPhone {
    /// Its records joined with their lines, as [`Db::phone_lines`] gives them.
    pub lines: Arc<[PhoneLine]>,
}

impl KnownPhone {
    pub fn vendor_code(&self) -> &str {
        &self.lines[0].vendor_code
    }

    /// The User-Agent of its last fetch, which pre-rendering renders for.
    pub fn user_agent(&self) -> &str {
        &self.lines[0].last_user_agent
    }
}

#[derive(Debug)]
pub struct Fleet {
    site_rows: Vec<(String, String, String)>,
    pub site: Arc<Resolved>,
    /// The settings of each MAC with its own (record or not): the site's
    /// and its own together.
    own_settings: HashMap<Mac, Arc<Resolved>>,
    pub phones: HashMap<Mac, KnownPhone>,
    /// The company directory, by name.
    pub directory: Arc<Vec<DirectoryEntry>>,
}

type Rows = Vec<(String, String, String)>;

/// The company directory, said aloud when it is full: entries past its
/// bound (contacts first, since extensions come first) are left out of
/// the phones' files.
pub async fn read_directory(db: &Db) -> crate::store::Result<Arc<Vec<DirectoryEntry>>> {
    let directory = db.directory().await?;
    if directory.len() as i64 >= MAX_DIRECTORY_ENTRIES && db.directory_size().await? > MAX_DIRECTORY_ENTRIES {
        tracing::warn!(
            bound = MAX_DIRECTORY_ENTRIES,
            "the company directory is full: entries past its bound (contacts first) are left out of it"
        );
    }
    Ok(Arc::new(directory))
}

impl Fleet {
    /// Reads every phone and setting.
    pub async fn load(db: &Db, secrets: &SecretBox) -> crate::store::Result<Fleet> {
        let mut fleet = Fleet {
            site_rows: Vec::new(),
            site: Arc::new(resolve(secrets, Vec::new())),
            own_settings: HashMap::new(),
            phones: HashMap::new(),
            directory: read_directory(db).await?,
        };
        let phones = db.all_phones_lines().await?;
        fleet.admit(secrets, phones, Vec::new());
        fleet.reset_settings(secrets, db.all_provision_settings().await?);
        Ok(fleet)
    }

    /// Puts every setting, the site's and each phone's own, in place of
    /// what was known; the phones stay.
    pub fn reset_settings(&mut self, secrets: &SecretBox, settings: Rows) {
        let (site_rows, own): (Rows, Rows) = settings.into_iter().partition(|(realm, _, _)| realm == SITE_REALM);
        self.site = Arc::new(resolve(secrets, site_rows.clone()));
        self.site_rows = site_rows;
        self.own_settings.clear();
        self.admit(secrets, Vec::new(), own);
    }

    /// Puts what the database now says of a patch's phones in place of
    /// what was known; returns those of them that have a record.
    pub fn apply(&mut self, secrets: &SecretBox, patch: Patch) -> Vec<Mac> {
        for mac in &patch.macs {
            self.phones.remove(mac);
            self.own_settings.remove(mac);
        }
        self.admit(secrets, patch.phones, patch.own);
        patch.macs.into_iter().filter(|m| self.phones.contains_key(m)).collect()
    }

    /// Adds phones, the first record of a MAC serving it, and the
    /// settings of MACs with their own.
    fn admit(&mut self, secrets: &SecretBox, phones: Vec<PhoneLine>, own: Rows) {
        let mut own_by_mac: HashMap<Mac, Rows> = HashMap::new();
        for row in own {
            if let Some(mac) = row.0.strip_prefix("PROVISION:").and_then(|m| m.parse::<Mac>().ok()) {
                own_by_mac.entry(mac).or_default().push(row);
            }
        }
        for (mac, own) in own_by_mac {
            let rows = self.site_rows.iter().chain(&own).cloned().collect();
            self.own_settings.insert(mac, Arc::new(resolve(secrets, rows)));
        }
        let mut lines: HashMap<Mac, Vec<PhoneLine>> = HashMap::new();
        for row in phones {
            if let Ok(mac) = row.mac.parse::<Mac>() {
                lines.entry(mac).or_default().push(row);
            }
        }
        for (mac, lines) in lines {
            self.phones.insert(mac, KnownPhone { lines: lines.into() });
        }
    }

    /// The settings a request for `mac` (or for a common file) is served under.
    pub fn settings_for(&self, mac: Option<Mac>) -> Arc<Resolved> {
        mac.and_then(|m| self.own_settings.get(&m))
            .map_or_else(|| self.site.clone(), Arc::clone)
    }
}

fn resolve(secrets: &SecretBox, rows: Rows) -> Resolved {
    Resolved::new(rows, |realm, k, sealed| {
        secrets.decrypt(sealed, &secret_aad(realm, k)).ok()
    })
}

/// Some phones as the database has them now.
pub struct Patch {
    macs: Vec<Mac>,
    phones: Vec<PhoneLine>,
    own: Rows,
}

impl Patch {
    pub async fn read(db: &Db, macs: Vec<Mac>) -> crate::store::Result<Patch> {
        let lower: Vec<String> = macs.iter().map(Mac::lower).collect();
        let realms: Vec<String> = macs.iter().map(|m| phone_realm(*m)).collect();
        Ok(Patch {
            phones: db.phones_lines(&lower).await?,
            own: db.provision_settings_of(&realms).await?,
            macs,
        })
    }
}
