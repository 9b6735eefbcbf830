//! `/api/device_provisions/resync`: telling phones to re-check now (SIP
//! NOTIFY), paced, and each phone's outcome.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::push::{JobReport, Started};
use crate::admin::{self, Admin};
use crate::api::extract::{ApiActor, ApiPath, Input};
use crate::api::{Done, done};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::resync::Pick;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(push))
        .routes(routes!(report))
        .routes(routes!(push_one))
}

/// Which phones: give exactly one of the fields.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PushRequest {
    /// Device record ids.
    #[schema(min_items = 1, max_items = 10000)]
    pub ids: Option<Vec<i64>>,
    /// MACs, in any spelling.
    #[schema(min_items = 1, max_items = 10000)]
    pub macs: Option<Vec<String>>,
    /// Every phone of a family (any of its names).
    pub vendor: Option<String>,
    /// `older`: every phone whose last fetch is older than a change to its files.
    #[schema(pattern = "^older$")]
    pub status: Option<String>,
}

impl PushRequest {
    fn pick(self) -> Result<Pick, admin::Error> {
        let given = [
            self.ids.is_some(),
            self.macs.is_some(),
            self.vendor.is_some(),
            self.status.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(admin::Error::Invalid(
                "request body: give exactly one of ids, macs, vendor or status".into(),
            ));
        }
        Ok(match self {
            PushRequest { ids: Some(ids), .. } => Pick::Ids(ids),
            PushRequest { macs: Some(macs), .. } => Pick::Macs(macs),
            PushRequest {
                vendor: Some(vendor), ..
            } => Pick::Vendor(vendor),
            PushRequest {
                status: Some(status), ..
            } if status == "older" => Pick::Older,
            _ => return Err(admin::Error::field("status", "is not 'older'")),
        })
    }
}

/// Tells the phones to fetch their files again now, paced (`push_rate`,
/// `push_network_rate`); answers at once with the job to follow.
#[utoipa::path(post, path = "/api/device_provisions/resync", tag = "device_provisions", request_body = PushRequest,
    responses((status = 200, body = Done<Started>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn push(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    Input(request): Input<PushRequest>,
) -> Result<Json<Done<Started>>, ApiError> {
    Ok(done(admin.push(&actor, request.pick()?).await?))
}

/// One phone.
#[utoipa::path(post, path = "/api/device_provisions/{id}/resync", tag = "device_provisions", params(("id" = i64, Path)),
    responses((status = 200, body = Done<Started>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn push_one(
    State(admin): State<Admin>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Done<Started>>, ApiError> {
    admin.device(id).await?;
    Ok(done(admin.push(&actor, Pick::Ids(vec![id])).await?))
}

/// Each phone's state: queued, sent, answered, no_answer, rejected,
/// confirmed (it fetched after the push began), unsupported or failed.
#[utoipa::path(get, path = "/api/device_provisions/resync/{job}", tag = "device_provisions", params(("job" = i64, Path)),
    responses((status = 200, body = Done<JobReport>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn report(State(admin): State<Admin>, ApiPath(job): ApiPath<i64>) -> Result<Json<Done<JobReport>>, ApiError> {
    Ok(done(admin.push_report(job).await?))
}
