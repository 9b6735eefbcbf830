//! TTS against stand-ins on loopback that speak each cloud's documented wire
//! format (tokens, audio, and their error replies), and the offline engine.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Form, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::harness::{TestApp, assert_error, on_each_backend};

/// A second of 8 kHz mono silence as WAV.
fn wav() -> Vec<u8> {
    crate::media::wav(1)
}

fn audio() -> Response {
    ([(header::CONTENT_TYPE, "audio/wav")], wav()).into_response()
}

fn json_error(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Serves `routes` on a free loopback port; returns its base URL.
async fn stand_in(routes: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
    format!("http://{addr}")
}

/// Baidu: OAuth token, then text2audio (audio, or JSON err_no/err_msg).
async fn baidu(calls: Arc<AtomicUsize>) -> String {
    let routes = Router::new()
        .route(
            "/oauth/2.0/token",
            post(|Query(q): Query<HashMap<String, String>>| async move {
                if q.get("grant_type").map(String::as_str) == Some("client_credentials")
                    && q.get("client_id").map(String::as_str) == Some("good-key")
                    && q.get("client_secret").map(String::as_str) == Some("good-secret")
                {
                    json_error(
                        StatusCode::OK,
                        json!({"access_token": "baidu-token", "expires_in": 2592000}),
                    )
                } else {
                    json_error(
                        StatusCode::UNAUTHORIZED,
                        json!({"error": "invalid_client", "error_description": "unknown client id"}),
                    )
                }
            }),
        )
        .route(
            "/text2audio",
            post(move |Form(f): Form<HashMap<String, String>>| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let ok = f.get("tok").map(String::as_str) == Some("baidu-token")
                    && f.get("lan").map(String::as_str) == Some("zh")
                    && f.get("ctp").map(String::as_str) == Some("1")
                    && f.contains_key("cuid")
                    && f.get("aue").map(String::as_str) == Some("6");
                if !ok || f.get("tex").is_none_or(|t| t.contains('坏')) {
                    return json_error(
                        StatusCode::OK,
                        json!({"err_no": 502, "err_msg": "notsupport.", "sn": "abcdefgh", "idx": 1}),
                    );
                }
                audio()
            }),
        );
    stand_in(routes).await
}

/// Alibaba Cloud: CreateToken (POP), then stream/v1/tts (audio, or JSON status/message).
async fn ali(calls: Arc<AtomicUsize>) -> String {
    let routes = Router::new()
        .route(
            "/",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let signed = ["Signature", "SignatureNonce", "Timestamp"].iter().all(|k| q.contains_key(*k))
                    && q.get("SignatureMethod").map(String::as_str) == Some("HMAC-SHA1")
                    && q.get("Action").map(String::as_str) == Some("CreateToken")
                    && q.get("Version").map(String::as_str) == Some("2019-02-28");
                if signed && q.get("AccessKeyId").map(String::as_str) == Some("good-id") {
                    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 86_400;
                    json_error(StatusCode::OK, json!({"Token": {"Id": "ali-token", "ExpireTime": expires}, "RequestId": "r1"}))
                } else {
                    json_error(StatusCode::NOT_FOUND, json!({"Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found."}))
                }
            }),
        )
        .route(
            "/stream/v1/tts",
            post(move |body: axum::Json<Value>| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                if body["token"] != "ali-token" || body["appkey"] != "good-app" || body["text"].as_str().is_none_or(|t| t.contains('坏')) {
                    return json_error(
                        StatusCode::BAD_REQUEST,
                        json!({"task_id": "8f95d3d5", "result": "", "status": 40000001, "message": "Gateway:ACCESS_DENIED:The token is invalid!"}),
                    );
                }
                audio()
            }),
        );
    stand_in(routes).await
}

/// Huawei Cloud: IAM token in X-Subject-Token, then SIS tts (base64 audio, or error_code/error_msg).
async fn huawei(calls: Arc<AtomicUsize>) -> String {
    let routes = Router::new()
        .route(
            "/v3/auth/tokens",
            post(|body: axum::Json<Value>| async move {
                let user = &body["auth"]["identity"]["password"]["user"];
                if user["name"] == "good-user" && user["password"] == "good-pass" && user["domain"]["name"] == "good-domain" {
                    (StatusCode::CREATED, [("X-Subject-Token", "huawei-token")], "{}").into_response()
                } else {
                    json_error(StatusCode::UNAUTHORIZED, json!({"error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}}))
                }
            }),
        )
        .route(
            "/v1/{project}/tts",
            post(move |headers: HeaderMap, body: axum::Json<Value>| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let token_ok = headers.get("X-Auth-Token").is_some_and(|t| t == "huawei-token");
                if !token_ok || body["config"]["audio_format"] != "wav" || body["text"].as_str().is_none_or(|t| t.contains('坏')) {
                    return json_error(StatusCode::BAD_REQUEST, json!({"error_code": "SIS.0001", "error_msg": "Invalid text"}));
                }
                let data = base64::engine::general_purpose::STANDARD.encode(wav());
                json_error(StatusCode::OK, json!({"trace_id": "t1", "result": {"data": data}}))
            }),
        );
    stand_in(routes).await
}

const SEED_TEXT: &str = "你好,欢迎致电烟台小樱桃网络科技有限公司";

/// Speaks with `engine` and checks the row and its file.
async fn spoken(app: &TestApp, engine: &str, text: &str) -> Value {
    let (status, row) = app
        .post(&format!("/api/{engine}/tts"), json!({"engine": engine, "input": text}))
        .await;
    assert_eq!(status, 200, "{engine}: {row}");
    assert_eq!(
        (row["type"].clone(), row["name"].clone(), row["description"].clone()),
        (json!("TTS"), json!(text), json!(text))
    );
    assert_eq!(row["mime"], "audio/wav");
    let bytes = std::fs::read(row["abs_path"].as_str().unwrap()).unwrap();
    assert!(bytes.starts_with(b"RIFF"), "{engine} wrote audio");
    assert!(row["duration"].as_i64().unwrap() >= 1, "{row}");
    row
}

#[tokio::test]
async fn each_cloud_engine_speaks_its_wire_format_and_reports_its_errors() {
    on_each_backend(|app| async move {
        // Nothing configured: 503 saying what to set.
        let (status, body) = app
            .post("/api/baidu/tts", json!({"engine": "baidu", "input": SEED_TEXT}))
            .await;
        assert_eq!(status, 503, "{body}");
        assert!(body["message"].as_str().unwrap().contains("baidu_api_key"), "{body}");
        assert_error(
            &app.post("/api/ali/tts", json!({"input": "x"})).await,
            503,
            "ali_appkey",
        );
        assert_error(
            &app.post("/api/huawei/tts", json!({"input": "x"})).await,
            503,
            "huawei_project_id",
        );
        assert_error(
            &app.post("/api/google/tts", json!({"input": "x"})).await,
            404,
            "no TTS engine 'google'",
        );
        assert_error(
            &app.post("/api/baidu/tts", json!({"engine": "ali", "input": "x"})).await,
            400,
            "engine: 'ali' is not the engine of the path",
        );
        assert_error(
            &app.post("/api/baidu/tts", json!({"engine": "baidu", "input": " "}))
                .await,
            400,
            "input: required",
        );

        let calls: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        let (b, a, h) = (
            baidu(calls[0].clone()).await,
            ali(calls[1].clone()).await,
            huawei(calls[2].clone()).await,
        );
        let mut app = app;
        let tts = &mut app.settings.tts;
        (tts.baidu_api_key, tts.baidu_secret_key) = ("good-key".into(), "good-secret".into());
        (tts.baidu_token_url, tts.baidu_url) = (format!("{b}/oauth/2.0/token"), format!("{b}/text2audio"));
        (tts.ali_access_key_id, tts.ali_access_key_secret, tts.ali_appkey) =
            ("good-id".into(), "secret".into(), "good-app".into());
        (tts.ali_token_url, tts.ali_url) = (format!("{a}/"), format!("{a}/stream/v1/tts"));
        (tts.huawei_username, tts.huawei_password, tts.huawei_domain) =
            ("good-user".into(), "good-pass".into(), "good-domain".into());
        tts.huawei_project_id = "p1".into();
        (tts.huawei_iam_url, tts.huawei_url) = (format!("{h}/v3/auth/tokens"), format!("{h}/v1/{{project_id}}/tts"));
        let app = app.restart().await;

        for (i, engine) in ["baidu", "ali", "huawei"].into_iter().enumerate() {
            let row = spoken(&app, engine, SEED_TEXT).await;
            assert!(
                row["rel_path"].as_str().unwrap().starts_with(&format!("{engine}-tts-")),
                "{row}"
            );
            // The same prompt again: the same row, and the cloud is not asked twice.
            let again = spoken(&app, engine, SEED_TEXT).await;
            assert_eq!(again["id"], row["id"]);
            assert_eq!(calls[i].load(Ordering::SeqCst), 1, "{engine} synthesised once");
            // The engine's own error reply, passed on as a 502.
            let (status, body) = app
                .post(&format!("/api/{engine}/tts"), json!({"input": "坏的文本"}))
                .await;
            assert_eq!(status, 502, "{engine}: {body}");
            let message = body["message"].as_str().unwrap();
            let expected = match engine {
                "baidu" => "err_no 502: notsupport.",
                "ali" => "status 40000001: Gateway:ACCESS_DENIED",
                _ => "SIS.0001: Invalid text",
            };
            assert!(
                message.starts_with(&format!("tts: {engine}: ")) && message.contains(expected),
                "{message}"
            );
        }
        assert_eq!(app.get("/api/media_files?type=TTS").await.1["rowCount"], 3);

        // Wrong credentials: the token endpoints' errors.
        let mut app = app;
        app.settings.tts.baidu_api_key = "bad-key".into();
        app.settings.tts.ali_access_key_id = "bad-id".into();
        app.settings.tts.huawei_password = "bad-pass".into();
        let app = app.restart().await;
        for (engine, expected) in [
            ("baidu", "invalid_client"),
            ("ali", "InvalidAccessKeyId.NotFound"),
            ("huawei", "The username or password is wrong."),
        ] {
            assert_error(
                &app.post(&format!("/api/{engine}/tts"), json!({"input": "新的提示音"}))
                    .await,
                502,
                expected,
            );
        }
    })
    .await;
}

#[tokio::test]
async fn the_local_engine_works_offline_and_can_be_the_fallback() {
    on_each_backend(|app| async move {
        let row = spoken(&app, "local", "Welcome to the support line").await;
        assert!(row["rel_path"].as_str().unwrap().starts_with("local-tts-"));
        let chinese = spoken(&app, "local", SEED_TEXT).await;
        assert_ne!(chinese["id"], row["id"]);

        let mut app = app;
        app.settings.tts.fallback = "local".into();
        let app = app.restart().await;
        let fallback = spoken(&app, "baidu", SEED_TEXT).await;
        assert_eq!(fallback["id"], chinese["id"], "the local prompt already made is reused");
        let fresh = spoken(&app, "ali", "A new prompt").await;
        assert!(fresh["rel_path"].as_str().unwrap().starts_with("local-tts-"), "{fresh}");
    })
    .await;
}
