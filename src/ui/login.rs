//! Logging in and out of the console, with the API's own sessions: the
//! cookie the console sets is the API's session cookie.

use axum::Extension;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::{Console, Fields, Lang, Logout, Routes, Submission};
use crate::admin::Door;
use crate::admin::sessions::{Credentials, Secret};
use crate::api::auth::SESSION_COOKIE;
use crate::api::sessions::session_cookie;
use crate::provision::OverTls;
use crate::secrets::token_hash;

pub fn routes() -> Routes {
    Routes::default()
        .route("/ui/login", get(form).post(log_in))
        .route("/ui/logout", post(log_out))
}

async fn form(State(console): State<Console>, lang: Lang) -> Response {
    console.render(lang, "/ui/login", "login.html", json!({"login": "", "error": null}))
}

async fn log_in(
    State(console): State<Console>,
    lang: Lang,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    tls: Option<Extension<OverTls>>,
    Form(fields): Form<Fields>,
) -> Response {
    // Logins are locked by the browser's network, as the API's are.
    let credentials = Credentials {
        login: fields.get("login").to_string(),
        secret: Secret::Password(fields.get("password").to_string()),
        from: peer.map(|Extension(ConnectInfo(peer))| peer.ip()),
        door: Door::Console,
    };
    match console.core.log_in(credentials).await {
        // The API's own session cookie: the console and the API share the
        // login, and it is Secure when it came over HTTPS.
        Ok(session) => {
            let cookie = session_cookie(&session.token, console.core.token_lifetime, tls.is_some());
            ([(SET_COOKIE, cookie)], Redirect::to("/ui/devices")).into_response()
        }
        Err(err) => {
            let page = console.render(
                lang,
                "/ui/login",
                "login.html",
                json!({"login": fields.get("login"), "error": err.to_string()}),
            );
            let status = super::status_of(&err);
            super::with_status(
                page,
                if status.is_client_error() {
                    status
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                },
            )
        }
    }
}

async fn log_out(State(console): State<Console>, Logout(Submission { admin, .. }): Logout) -> Response {
    // The session ends for the API too; a failure here still clears the cookie.
    if let Err(err) = console.core.log_out(&admin.actor(), &token_hash(&admin.token)).await {
        tracing::warn!(error = %err, "logout: the session could not be closed");
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    ([(SET_COOKIE, clear)], Redirect::to("/ui/login")).into_response()
}
