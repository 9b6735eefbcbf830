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
#[schema(min_properties = 1, max_properties = 1)]
pub struct PushRequest {
    /// Device record ids (whole numbers; `12.0` reads as 12).
    #[schema(value_type = Option<Vec<i64>>, min_items = 1, max_items = 10000, nullable = false)]
    pub ids: Option<Vec<serde_json::Number>>,
    /// MACs, in any spelling.
    #[schema(schema_with = macs_schema)]
    pub macs: Option<Vec<String>>,
    /// Every phone of a family (any of its names).
    #[schema(schema_with = vendor_schema)]
    pub vendor: Option<String>,
    /// `older`: every phone whose last fetch is older than a change to its files.
    #[schema(pattern = "^older$", nullable = false)]
    pub status: Option<String>,
}

/// A JSON number that is a whole i64, however written (`12`, `12.0`).
fn whole(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        let f = n.as_f64()?;
        (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
    })
}

/// One to 10,000 MACs, each in a spelling `Mac` reads.
fn macs_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
    let mac = ObjectBuilder::new().schema_type(Type::String).pattern(Some(super::MAC));
    Schema::Array(
        ArrayBuilder::new()
            .items(mac)
            .min_items(Some(1))
            .max_items(Some(10_000))
            .description(Some("MACs, in any spelling"))
            .build(),
    )
}

/// Any name of a family, as the device records take it.
fn vendor_schema() -> utoipa::openapi::schema::Schema {
    let mut schema = super::vendor_schema();
    if let utoipa::openapi::schema::Schema::Object(object) = &mut schema {
        object.description = Some("Every phone of a family (any of its names)".into());
    }
    schema
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
            PushRequest { ids: Some(ids), .. } => Pick::Ids(
                ids.iter()
                    .enumerate()
                    .map(|(i, n)| {
                        whole(n)
                            .ok_or_else(|| admin::Error::field(&format!("ids[{i}]"), format!("{n} is not a record id")))
                    })
                    .collect::<Result<_, _>>()?,
            ),
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
    responses((status = 200, body = Done<Started>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
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
