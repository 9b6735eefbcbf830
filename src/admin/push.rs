//! Pushing a change to phones now: which phones, each one's time within
//! the site's rates, and the job's progress. The sender (`crate::push`)
//! does the telling.

use serde::Serialize;

use super::log::Action;
use super::{Actor, Admin, Error, Result};
use crate::domain::network::source_network;
use crate::domain::{Mac, timestamp};
use crate::packs::Notify;
use crate::provision::settings::{SITE_REALM, push_settings};
use crate::push::pacing::{self, schedule};
use crate::store::logs::Summary;
use crate::store::resync::{NewPushPhone, Pick, PushPhone};

/// The most phones one push tells.
pub const MAX_PHONES: usize = 10_000;
/// The most pushes with phones still to tell at once.
pub const MAX_JOBS: i64 = 20;

/// What a push started: its job and how many phones it tells.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Started {
    pub job: i64,
    pub phones: usize,
}

/// A push and each phone's outcome so far.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobReport {
    pub job: i64,
    #[schema(value_type = String, example = "2026-12-06 08:01:02")]
    #[serde(serialize_with = "timestamp::serialize")]
    pub created_at: time::OffsetDateTime,
    /// Who started it.
    pub actor: String,
    /// Phones per state.
    pub counts: std::collections::BTreeMap<String, usize>,
    /// Phones still to be told (queued, or being sent); 0 once every phone
    /// has an outcome.
    pub waiting: i64,
    pub phones: Vec<PushPhone>,
}

impl Admin {
    /// Tells the phones `pick` names to re-check now, paced. Every named
    /// phone must exist; a family that cannot be told is listed as
    /// `unsupported`, not skipped.
    pub async fn push(&self, actor: &Actor, pick: Pick) -> Result<Started> {
        self.push_with(actor, pick, None).await
    }

    /// A push on change: the phones changes `from`..`to` made older, by
    /// SYSTEM; the changes' mark moves in the same transaction as the push
    /// is made, so another node does not queue them again.
    pub async fn push_changes(&self, from: i64, to: i64, pick: Pick) -> Result<Started> {
        self.push_with(&Actor::system(), pick, Some((from, to))).await
    }

    async fn push_with(&self, actor: &Actor, pick: Pick, on_change: Option<(i64, i64)>) -> Result<Started> {
        let field = match &pick {
            Pick::Ids(ids) if ids.is_empty() => return Err(Error::field("ids", "names no device")),
            Pick::Macs(macs) if macs.is_empty() => return Err(Error::field("macs", "names no MAC")),
            Pick::Ids(_) => "ids",
            Pick::Macs(_) => "macs",
            Pick::Vendor(_) => "vendor",
            Pick::Older => "status",
            Pick::Changed(_) | Pick::OlderUntold => "changes",
        };
        let named = match &pick {
            Pick::Ids(ids) => ids.len(),
            Pick::Macs(macs) | Pick::Changed(macs) => macs.len(),
            _ => 0,
        };
        if named > MAX_PHONES {
            return Err(Error::field(
                field,
                format!("names {named} phones; a push tells at most {MAX_PHONES}: push them in parts"),
            ));
        }
        let pick = self.resolve_pick(pick)?;
        let mut found = self.db.push_candidates(&pick, MAX_PHONES as i64 + 1).await?;
        // A phone named twice is told once.
        found.dedup_by_key(|c| c.id);
        let mut on_change = on_change;
        if found.len() > MAX_PHONES && on_change.is_some() {
            // Changes that touch more phones than a push holds are pushed in
            // parts: this part's phones are then queued, so the next sweep
            // takes the next part, and the mark moves with the last.
            found.truncate(MAX_PHONES);
            on_change = on_change.map(|(from, _)| (from, from));
        }
        if found.len() > MAX_PHONES {
            return Err(Error::field(
                field,
                format!("names more than {MAX_PHONES} phones; a push tells at most {MAX_PHONES}: push them in parts"),
            ));
        }
        match &pick {
            Pick::Ids(ids) => {
                if let Some(missing) = ids.iter().find(|id| !found.iter().any(|c| c.id == **id)) {
                    return Err(Error::NotFound(format!("ids: device {missing} does not exist")));
                }
            }
            Pick::Macs(macs) => {
                if let Some(missing) = macs.iter().find(|m| !found.iter().any(|c| &c.mac == *m)) {
                    return Err(Error::NotFound(format!("macs: no device has the MAC {missing}")));
                }
            }
            _ if found.is_empty() => return Err(Error::NotFound(format!("{field}: matches no phone"))),
            _ => {}
        }
        let rates = push_settings(&self.db.provision_settings_of(&[SITE_REALM.to_string()]).await?).rates;
        let packs = self.packs.current();
        let mut rows: Vec<NewPushPhone> = found
            .iter()
            .map(|c| {
                let notify = packs
                    .vendor(&c.vendor_code)
                    .map(|v| packs.notify(v, &c.kind))
                    .unwrap_or_else(|e| Notify::Unsupported(e.to_string()));
                let network = c
                    .last_ip
                    .parse()
                    .map(|ip| source_network(ip).to_string())
                    .unwrap_or_else(|_| format!("mac {}", c.mac));
                let (state, detail) = match notify {
                    Notify::Event(_) => ("queued", String::new()),
                    Notify::Unsupported(why) => ("unsupported", why),
                };
                NewPushPhone {
                    device_id: c.id,
                    mac: c.mac.clone(),
                    network,
                    state,
                    detail,
                    due_ms: 0,
                }
            })
            .collect();
        let message = serde_json::json!({ "phones": rows.len(), "pick": field }).to_string();
        let log = actor.entry("device_provisions", Action::Resync, Summary::Id, message);
        let now = timestamp::now();
        let now_ms = pacing::now_ms();
        let made = self
            .db
            .insert_push_job(&actor.name, now, now_ms, &log, on_change, |waiting, jobs| {
                if jobs >= MAX_JOBS {
                    return Err(format!(
                        "{jobs} pushes are still telling their phones; start this one when one of them is done"
                    ));
                }
                let queued: Vec<usize> = (0..rows.len()).filter(|i| rows[*i].state == "queued").collect();
                let networks: Vec<String> = queued.iter().map(|i| rows[*i].network.clone()).collect();
                let first = now_ms + pacing::FIRST_AFTER_MS;
                let due = schedule(waiting, &networks, first, rates, |n| {
                    let [a, b, c, d] = crate::secrets::random_bytes::<4>();
                    i64::from(u32::from_le_bytes([a, b, c, d])) % n
                });
                for (i, at) in queued.into_iter().zip(due) {
                    rows[i].due_ms = at;
                }
                Ok(std::mem::take(&mut rows))
            })
            .await?
            .map_err(Error::Refused)?;
        let (job, rows) = made;
        Ok(Started {
            job,
            phones: rows.len(),
        })
    }

    /// A push's progress, phone by phone.
    pub async fn push_report(&self, job: i64) -> Result<JobReport> {
        let found = self
            .db
            .push_job(job)
            .await?
            .ok_or_else(|| Error::NotFound(format!("push {job} does not exist")))?;
        let phones = self.db.push_phones(job).await?;
        let mut counts = std::collections::BTreeMap::new();
        for p in &phones {
            *counts.entry(p.state.clone()).or_insert(0) += 1;
        }
        let waiting = self.db.push_waiting(job).await?;
        Ok(JobReport {
            waiting,
            job: found.id,
            created_at: found.created_at,
            actor: found.actor,
            counts,
            phones,
        })
    }

    /// MACs written any way become the stored spelling, each once; ids too
    /// are each taken once; a vendor name becomes its family's code.
    fn resolve_pick(&self, pick: Pick) -> Result<Pick> {
        Ok(match pick {
            Pick::Macs(macs) => {
                let mut macs = macs
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        m.parse::<Mac>()
                            .map(|mac| mac.lower())
                            .map_err(|e| Error::field(&format!("macs[{i}]"), e))
                    })
                    .collect::<Result<Vec<_>>>()?;
                macs.sort();
                macs.dedup();
                Pick::Macs(macs)
            }
            Pick::Ids(mut ids) => {
                ids.sort_unstable();
                ids.dedup();
                Pick::Ids(ids)
            }
            Pick::Vendor(name) => Pick::Vendor(
                self.packs
                    .current()
                    .vendor(&name)
                    .map_err(|e| Error::field("vendor", e))?
                    .code()
                    .to_string(),
            ),
            other => other,
        })
    }
}
