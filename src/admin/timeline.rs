//! A device's timeline: what its phone fetched and how it was answered, the
//! changes made to its record, and the pushes sent to it, newest first, so
//! "why does my phone not get it?" has one place to look.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{Admin, Result};
use crate::domain::timestamp;
use crate::store::fetches::{EVENTS_PER_PHONE, FetchEvent};
use crate::store::logs::LogEntry;
use crate::store::resync::PhonePush;

/// The most events a timeline shows.
pub const TIMELINE_EVENTS: usize = 100;

/// A device's phone and what happened to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    #[schema(example = "001565ab12cd")]
    pub mac: String,
    /// Newest first, at most 100.
    pub events: Vec<TimelineEvent>,
}

/// One thing that happened, by kind.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineEvent {
    /// The phone asked for a file.
    Fetch {
        #[serde(serialize_with = "timestamp::serialize")]
        #[schema(value_type = String, example = "2026-12-07 08:00:00")]
        at: OffsetDateTime,
        #[schema(example = "001565ab12cd.cfg")]
        file: String,
        /// The address it asked from.
        address: String,
        user_agent: String,
        firmware: String,
        /// served, 304 (it had this version), or the refusal's status (401, 403, 404, 429, 503).
        outcome: String,
        /// Why it was refused; empty when served.
        reason: String,
        /// The version served: a hash of the file's bytes keyed with the
        /// server's key (the same file, the same version, on every node).
        version: String,
    },
    /// An administrator changed the record, from the operation log.
    Change {
        #[serde(serialize_with = "timestamp::serialize")]
        #[schema(value_type = String, example = "2026-12-07 08:00:00")]
        at: OffsetDateTime,
        user: String,
        /// CREATE, IMPORT, UPDATE or DELETE.
        action: String,
        /// The change as JSON, secrets removed.
        message: String,
    },
    /// The phone was told to check for its configuration (SIP NOTIFY).
    Push {
        #[serde(serialize_with = "timestamp::serialize")]
        #[schema(value_type = String, example = "2026-12-07 08:00:00")]
        at: OffsetDateTime,
        job_id: i64,
        /// Who asked for it.
        actor: String,
        /// queued, sent, answered, no_answer, rejected, confirmed, unsupported or failed.
        state: String,
        detail: String,
    },
}

impl TimelineEvent {
    fn at(&self) -> OffsetDateTime {
        match self {
            TimelineEvent::Fetch { at, .. } | TimelineEvent::Change { at, .. } | TimelineEvent::Push { at, .. } => *at,
        }
    }
}

impl From<FetchEvent> for TimelineEvent {
    fn from(e: FetchEvent) -> Self {
        TimelineEvent::Fetch {
            at: e.at,
            file: e.file,
            address: e.ip,
            user_agent: e.user_agent,
            firmware: e.firmware,
            outcome: e.outcome,
            reason: e.reason,
            version: e.version,
        }
    }
}

impl From<LogEntry> for TimelineEvent {
    fn from(e: LogEntry) -> Self {
        TimelineEvent::Change {
            at: e.created_at,
            user: e.user_name,
            action: e.action,
            message: e.message,
        }
    }
}

impl From<PhonePush> for TimelineEvent {
    fn from(p: PhonePush) -> Self {
        TimelineEvent::Push {
            at: p.sent_at.unwrap_or(p.created_at),
            job_id: p.job_id,
            actor: p.actor,
            state: p.state,
            detail: p.detail,
        }
    }
}

impl Admin {
    /// Device `id`'s timeline, newest first; 404 for no such record.
    pub async fn device_timeline(&self, id: i64) -> Result<Timeline> {
        let device = self.device(id).await?;
        let limit = TIMELINE_EVENTS as i64;
        let fetches = self.db.fetch_events(&device.mac, limit.min(EVENTS_PER_PHONE)).await?;
        let changes = self.db.device_changes(id, limit).await?;
        let pushes = self.db.device_pushes(id, limit).await?;
        let mut events: Vec<TimelineEvent> = fetches
            .into_iter()
            .map(TimelineEvent::from)
            .chain(changes.into_iter().map(TimelineEvent::from))
            .chain(pushes.into_iter().map(TimelineEvent::from))
            .collect();
        // Stable: within one second, each source keeps its own newest-first order.
        events.sort_by_key(|e| std::cmp::Reverse(e.at()));
        events.truncate(TIMELINE_EVENTS);
        Ok(Timeline {
            mac: device.mac,
            events,
        })
    }
}
