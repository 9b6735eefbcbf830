//! The management REST API, XSwitch-compatible: one module per resource,
//! each with its routes and thin handlers over the admin core, assembled
//! here with the session layer and the OpenAPI document.

pub mod auth;
pub mod check;
pub mod contacts;
mod contract;
pub mod device_provisions;
pub mod dicts;
pub mod extensions;
pub mod extract;
pub mod key_templates;
pub mod logs;
pub mod media;
pub mod paging;
pub mod queues;
pub mod sensors;
pub mod sessions;
pub mod tts;
pub mod users;

use axum::extract::FromRef;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::{Json, Router, middleware};
use serde::Serialize;
use tower_http::timeout::RequestBodyTimeoutLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::admin::Admin;
use crate::error::ApiError;
use crate::state::AppState;

/// XSwitch's answer to a create, update, delete or import:
/// `{code: 200, message: "success", data}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done<T> {
    #[schema(example = 200)]
    pub code: u16,
    #[schema(example = "success")]
    pub message: String,
    pub data: T,
}

/// A dry run's answer: what would be created, counted in its message
/// (`noun` in the singular), and nothing written.
pub fn dry_run<T: Serialize>(count: usize, noun: &str, data: T) -> Done<T> {
    Done {
        code: 200,
        message: format!(
            "dry run: {count} {noun}{} would be created; nothing was written",
            if count == 1 { "" } else { "s" }
        ),
        data,
    }
}

pub fn done<T: Serialize>(data: T) -> Json<Done<T>> {
    Json(Done {
        code: 200,
        message: "success".into(),
        data,
    })
}

#[derive(OpenApi)]
#[openapi(
    info(title = "sipprov", description = "XSwitch-compatible management API of the sipprov phone provisioning server."),
    modifiers(&SecurityAddon),
    security(("xtra_auth" = []), ("bearer" = []), ("session_cookie" = [])),
    tags(
        (name = "sessions", description = "Login and logout"),
        (name = "extensions", description = "SIP accounts whose credentials phones receive"),
        (name = "contacts", description = "Names and numbers the phones' company directory lists besides the extensions"),
        (name = "key_templates", description = "Named sets of programmable keys (line, BLF, speed dial, ...) many devices share"),
        (name = "device_provisions", description = "Phones, by MAC, and the extensions on their lines"),
        (name = "dicts", description = "Realm/key/value tables; realm PROVISION holds the provisioning settings"),
        (name = "logs", description = "The operation log"),
    )
)]
struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "xtra_auth",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-XTRA-AUTH-ID"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
    }
}

/// The API's routes by who may call them, and the document describing them all.
struct Areas {
    /// Administrators only: everything not named below.
    admin: Router<AppState>,
    /// Administrators only, cut off when their body stalls instead of at the deadline.
    uploads: Router<AppState>,
    /// A user's own record by its id (`/api/users/{id}`, its extensions and
    /// queues), or an administrator.
    own_record: Router<AppState>,
    /// Any logged-in user: logout, its own password, script checks.
    any_user: Router<AppState>,
    /// Login.
    public: Router<AppState>,
    doc: utoipa::openapi::OpenApi,
}

fn areas() -> Areas {
    let (admin, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(extensions::router())
        .merge(contacts::router())
        .merge(key_templates::router())
        .merge(device_provisions::router())
        .merge(dicts::router())
        .merge(logs::router())
        .merge(users::router())
        .merge(queues::router())
        .merge(media::router())
        .merge(sensors::router())
        .merge(tts::router())
        .split_for_parts();
    let (uploads, uploads_doc) = media::upload_router().split_for_parts();
    let (own_record, own_record_doc) = users::own_record_router().split_for_parts();
    let (any_user, any_user_doc) = OpenApiRouter::new()
        .merge(sessions::router())
        .merge(users::password_router())
        .merge(check::router())
        .split_for_parts();
    let (public, public_doc) = sessions::public_router().split_for_parts();
    for part in [uploads_doc, own_record_doc, any_user_doc, public_doc] {
        doc.merge(part);
    }
    contract::optional_fields_state_their_defaults(&mut doc);
    contract::updates_take_partial_bodies(&mut doc);
    Areas {
        admin,
        uploads,
        own_record,
        any_user,
        public,
        doc,
    }
}

/// The OpenAPI document as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    areas().doc
}

/// The whole `/api` tree. Everything but login sits behind the session
/// layer; each area has the one guard that says who may call it, so no
/// handler decides that for itself.
pub fn router(state: AppState) -> Router {
    let Areas {
        admin,
        uploads,
        own_record,
        any_user,
        public,
        doc,
    } = areas();
    let header = crate::listener::header_if_absent;
    let admin_only = || middleware::from_fn(auth::admin_only);
    admin
        .merge(uploads.layer(RequestBodyTimeoutLayer::new(state.settings.request_deadline)))
        .route_layer(admin_only())
        .merge(own_record.route_layer(middleware::from_fn(auth::own_record)))
        .merge(any_user)
        // JSON answers are never to be rendered, framed or sniffed; the
        // docs page (merged after this) runs its own scripts.
        .layer(header(
            CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .merge(Router::from(SwaggerUi::new("/api/docs").url("/api/openapi.json", doc)).route_layer(admin_only()))
        .route_layer(middleware::from_fn_with_state(
            Admin::from_ref(&state),
            auth::require_session,
        ))
        .merge(public)
        .fallback(|| async { ApiError::not_found("no such API route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(header(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(X_FRAME_OPTIONS, "DENY"))
        .layer(header(REFERRER_POLICY, "no-referrer"))
        .layer(header(CACHE_CONTROL, "no-store"))
        .with_state(state)
}
