//! Telling phones to re-check now: the sender that works through the push
//! queue. Each node runs one; a row due is taken by one node only, sent as a
//! SIP NOTIFY straight to the phone (its `[notify]` event), and its outcome
//! written back. A phone is confirmed when it fetches after its job began.
//!
//! The admin core makes the jobs (`admin::push`); this is the phone side of
//! it, and answers nothing that reaches it.

pub mod esl;
pub mod pacing;
pub mod sip;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::admin::Admin;
use crate::admin::push::MAX_PHONES;
use crate::domain::timestamp;
use crate::metrics::Metrics;
use crate::packs::{Notify, PackShelf};
use crate::provision::settings::{SITE_REALM, push_settings};
use crate::secrets::{SecretBox, password_aad, secret_aad};
use crate::store::Db;
use crate::store::resync::{Claimed, Outcome, Pick};

/// Rows one node takes at a time, and NOTIFYs it has out at once.
const CLAIM: i64 = 32;
/// How long a taken row is this node's: past it, another node may take it
/// again (this one stopped). Longer than a NOTIFY with its retry can last.
const CLAIM_FOR: Duration = Duration::from_secs(120);
/// How often the queue is looked at when nothing is due sooner.
const LOOK_EVERY: Duration = Duration::from_millis(pacing::LOOK_EVERY_MS as u64);
/// Push on change waits for changes to be quiet this long, so an import or
/// a script makes one push; past the longest wait it pushes anyway.
const ON_CHANGE_QUIET: Duration = Duration::from_secs(10);
const ON_CHANGE_LONGEST: Duration = Duration::from_secs(60);
/// How long jobs are kept, and how many at most.
const KEEP_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
pub const KEEP_JOBS: i64 = 1_000;

/// The sender.
pub struct Pusher {
    /// Pushes on change are made through the admin core, as SYSTEM.
    admin: Admin,
    db: Db,
    packs: Arc<PackShelf>,
    secrets: SecretBox,
    metrics: Metrics,
    /// A job of its own (the command line), or 0: every job, push on change.
    only_job: i64,
}

impl Pusher {
    pub fn new(admin: Admin, metrics: Metrics) -> Pusher {
        Pusher {
            db: admin.db.clone(),
            packs: admin.packs.clone(),
            secrets: admin.secrets.clone(),
            admin,
            metrics,
            only_job: 0,
        }
    }

    /// A sender for one job's rows only.
    pub fn only(mut self, job: i64) -> Pusher {
        self.only_job = job;
        self
    }

    /// Works through the queue until the task is aborted.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut sending = JoinSet::new();
            let mut last_sweep = tokio::time::Instant::now() - Duration::from_secs(60);
            loop {
                if last_sweep.elapsed() >= Duration::from_secs(1) {
                    last_sweep = tokio::time::Instant::now();
                    if let Err(e) = self.sweep().await {
                        tracing::warn!(error = %e, "push: sweeping the queue failed");
                    }
                }
                while sending.try_join_next().is_some() {}
                let room = CLAIM - sending.len() as i64;
                if room > 0 {
                    let now = pacing::now_ms();
                    let claim = hex::encode(crate::secrets::random_bytes::<8>());
                    let until = now + CLAIM_FOR.as_millis() as i64;
                    match self.db.claim_due_pushes(now, until, room, self.only_job, &claim).await {
                        Ok(rows) => {
                            for row in rows {
                                let me = self.clone();
                                sending.spawn(async move { me.send(row).await });
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "push: taking due rows failed"),
                    }
                }
                let next = self.db.next_push_due().await.ok().flatten();
                let wait = next
                    .map(|due| {
                        Duration::from_millis((due - pacing::now_ms()).clamp(0, LOOK_EVERY.as_millis() as i64) as u64)
                    })
                    .unwrap_or(LOOK_EVERY);
                tokio::select! {
                    _ = tokio::time::sleep(wait.max(Duration::from_millis(20))) => {}
                    Some(_) = sending.join_next(), if !sending.is_empty() => {}
                }
            }
        })
    }

    /// Confirms phones that fetched, notes those that answered and did not
    /// in time, and prunes old jobs.
    async fn sweep(&self) -> crate::store::Result<()> {
        let confirmed = self.db.confirm_pushes().await?;
        self.metrics.pushed("confirmed", confirmed);
        let settings = push_settings(&self.db.provision_settings_of(&[SITE_REALM.to_string()]).await?);
        let window = Duration::from_secs(u64::from(settings.confirm_minutes) * 60);
        let detail = format!(
            "not confirmed: told, and has not fetched its files within {} minutes",
            settings.confirm_minutes
        );
        self.db.note_unconfirmed(timestamp::now() - window, &detail).await?;
        self.db.prune_push_jobs(timestamp::now() - KEEP_FOR, KEEP_JOBS).await?;
        if self.only_job != 0 {
            return Ok(());
        }
        self.push_on_change(settings.on_change).await
    }

    /// With push on change on, the phones that changes touched are pushed
    /// once the changes have been quiet for a while (or have gone on for
    /// long), as one batch; off, the changes are passed over.
    async fn push_on_change(&self, on: bool) -> crate::store::Result<()> {
        let from = self.db.push_on_change_seq().await?;
        let Some(changes) = self.db.changes_since(from).await? else {
            return Ok(());
        };
        let now = timestamp::now().unix_timestamp();
        let quiet = now - changes.last_at >= ON_CHANGE_QUIET.as_secs() as i64;
        let long = now - changes.first_at >= ON_CHANGE_LONGEST.as_secs() as i64;
        if on && !quiet && !long {
            return Ok(());
        }
        if !on {
            self.db.advance_push_on_change(from, changes.last).await?;
            return Ok(());
        }
        let macs = match changes.site_wide {
            0 => self.db.changed_macs(from, changes.last, MAX_PHONES as i64 + 1).await?,
            _ => Vec::new(),
        };
        // A site-wide change, or more MACs than a push holds: every phone it
        // made older, in parts.
        let pick = if changes.site_wide > 0 || macs.len() > MAX_PHONES {
            Pick::OlderUntold
        } else {
            Pick::Changed(macs)
        };
        // The mark moves with the push, in its transaction: one node queues
        // the batch. A push refused (20 waiting) is tried again next sweep.
        match self.admin.push_changes(from, changes.last, pick).await {
            Ok(started) => tracing::info!(
                job = started.job,
                phones = started.phones,
                "pushed a change to its phones"
            ),
            // Nothing to tell: no phone's config is older, or all are queued already.
            Err(crate::admin::Error::NotFound(_)) => {
                self.db.advance_push_on_change(from, changes.last).await?;
            }
            Err(e) => tracing::warn!(error = %e, "push on change: not pushed yet"),
        }
        Ok(())
    }

    async fn send(&self, row: Claimed) {
        let outcome = match self.try_send(&row).await {
            Ok(outcome) => outcome,
            Err(e) => Outcome {
                state: "failed",
                detail: e.to_string(),
            },
        };
        // A NOTIFY FreeSWITCH took was counted `sent` as it went.
        if outcome.state != "sent" {
            self.metrics.pushed(outcome.state, 1);
        }
        if let Err(e) = self.db.finish_push(&row, &outcome, timestamp::now()).await {
            tracing::warn!(error = %e, mac = %row.mac, "push: writing an outcome failed");
        }
    }

    async fn try_send(&self, row: &Claimed) -> anyhow::Result<Outcome> {
        let failed = |detail: &str| {
            Ok(Outcome {
                state: "failed",
                detail: detail.to_string(),
            })
        };
        let Some(device) = self.db.device(row.device_id).await? else {
            return failed("the device record was deleted");
        };
        let packs = self.packs.current();
        let event = match packs.vendor(&device.vendor).map(|v| packs.notify(v, &device.kind)) {
            Ok(Notify::Event(event)) => event,
            Ok(Notify::Unsupported(why)) => {
                return Ok(Outcome {
                    state: "unsupported",
                    detail: why,
                });
            }
            Err(e) => return failed(&e.to_string()),
        };
        let realms = [SITE_REALM.to_string(), format!("{SITE_REALM}:{}", device.mac)];
        let settings = push_settings(&self.db.provision_settings_of(&realms).await?);
        let line = self
            .db
            .phone_lines(&device.mac)
            .await?
            .into_iter()
            .find_map(|l| l.extension);
        if let Some(freeswitch) = &settings.freeswitch {
            let Some(line) = line else {
                return failed("the phone has no line, and FreeSWITCH reaches phones by their registered extension");
            };
            let socket = esl::EventSocket {
                address: freeswitch.event_socket.clone(),
                password: match &freeswitch.password_stored {
                    Some(stored) => self
                        .secrets
                        .decrypt(stored, &secret_aad(SITE_REALM, "freeswitch_esl_password"))?,
                    None => "ClueCon".into(),
                },
                profile: freeswitch.profile.clone(),
            };
            self.metrics.pushed("sent", 1);
            let (user, host) = (line.extn.clone(), line.domain.clone());
            return Ok(match esl::notify(&socket, &user, &host, &event).await {
                Ok(esl::Reply::Accepted(reply)) => Outcome {
                    state: "sent",
                    detail: format!(
                        "FreeSWITCH ({}) took it for {user}@{host}, event {event}: {reply}",
                        socket.profile
                    ),
                },
                Ok(esl::Reply::Refused(reply)) => Outcome {
                    state: "failed",
                    detail: format!("FreeSWITCH at {} refused: {reply}", socket.address),
                },
                Err(e) => Outcome {
                    state: "failed",
                    detail: format!("reaching FreeSWITCH at {}: {e}", socket.address),
                },
            });
        }
        let transport = sip::Transport::of(&settings.transport);
        let to = match settings.phone_sip_address {
            Some(address) => address,
            None => match device.last_ip.parse::<IpAddr>() {
                Ok(ip) => SocketAddr::new(
                    ip.to_canonical(),
                    settings.phone_sip_port.unwrap_or(transport.default_port()),
                ),
                Err(_) => return failed("the phone has not fetched from sipprov yet, so its address is not known"),
            },
        };
        let user = line.as_ref().map(|l| l.extn.clone()).unwrap_or_default();
        // A line without a password answers no challenge, but is still told.
        let credentials = match line.as_ref().map(|l| l.password_enc.as_str()).filter(|p| !p.is_empty()) {
            Some(stored) => {
                let domain = line.as_ref().map(|l| l.domain.clone()).unwrap_or_default();
                let password = self.secrets.decrypt(stored, &password_aad(&user, &domain))?;
                Some((user.clone(), password))
            }
            None => None,
        };
        let notify = sip::Notify {
            to,
            transport,
            user: &user,
            event: &event,
            credentials: credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        };
        self.metrics.pushed("sent", 1);
        let answer = sip::send(&notify).await;
        Ok(match answer {
            Ok(sip::Answer::Accepted(code)) => Outcome {
                state: "answered",
                detail: format!("{code} from {to} over {}, event {event}", settings.transport),
            },
            Ok(sip::Answer::Refused(code, reason)) => Outcome {
                state: "rejected",
                detail: format!("{reason} from {to}"),
            }
            .with_code(code),
            Ok(sip::Answer::Silent) => Outcome {
                state: "no_answer",
                detail: format!("no answer from {to} within 32 s"),
            },
            Err(e) => Outcome {
                state: "failed",
                detail: format!("sending to {to}: {e}"),
            },
        })
    }
}

impl Outcome {
    /// The detail, beginning with the status code when the reason lacks it.
    fn with_code(mut self, code: u16) -> Outcome {
        if !self.detail.starts_with(&code.to_string()) {
            self.detail = format!("{code} {}", self.detail);
        }
        self
    }
}
