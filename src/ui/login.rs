//! Logging in and out of the console, with the API's own sessions: the
//! cookie the console sets is the API's session cookie.

use axum::Extension;
use axum::body::Body;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;
use tower::ServiceExt;

use super::{Console, Fields, Lang, Logout, Routes, Submission, read_json};
use crate::api::auth::SESSION_COOKIE;
use crate::provision::OverTls;

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
    let body = json!({"login": fields.get("login"), "password": fields.get("password")});
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/sessions")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("a valid request");
    // The API locks logins by the browser's network, and marks the cookie
    // Secure when it came over HTTPS.
    if let Some(Extension(peer)) = peer {
        request.extensions_mut().insert(peer);
    }
    if let Some(Extension(tls)) = tls {
        request.extensions_mut().insert(tls);
    }
    let response = console
        .api
        .clone()
        .oneshot(request)
        .await
        .expect("routers are infallible");
    if response.status().is_success() {
        // The API's own session cookie: the console and the API share the login.
        let cookies: Vec<_> = response.headers().get_all(SET_COOKIE).iter().cloned().collect();
        let mut redirect = Redirect::to("/ui/devices").into_response();
        for cookie in cookies {
            redirect.headers_mut().append(SET_COOKIE, cookie);
        }
        return redirect;
    }
    let status = response.status();
    let message = read_json(response)
        .await
        .and_then(|b| b["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| "login failed".into());
    let page = console.render(
        lang,
        "/ui/login",
        "login.html",
        json!({"login": fields.get("login"), "error": message}),
    );
    super::with_status(
        page,
        if status.is_client_error() {
            status
        } else {
            StatusCode::BAD_GATEWAY
        },
    )
}

async fn log_out(State(console): State<Console>, Logout(Submission { admin, .. }): Logout) -> Response {
    // The session ends for the API too; a failure here still clears the cookie.
    if let Err(refusal) = console
        .call(&admin, Method::DELETE, "/api/sessions", "application/json", "")
        .await
    {
        tracing::warn!(status = %refusal.status, "logout: the session was already gone");
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    ([(SET_COOKIE, clear)], Redirect::to("/ui/login")).into_response()
}
