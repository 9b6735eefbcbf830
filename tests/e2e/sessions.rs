use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{ADMIN_PASSWORD, TestApp, assert_error, on_each_backend, on_each_backend_with};

#[tokio::test]
async fn login_answers_with_xswitch_shape_and_every_token_carrier_works() {
    on_each_backend(|app| async move {
        let (status, body) = app
            .send(
                Method::POST,
                "/api/sessions",
                Some(json!({"login": "admin", "password": ADMIN_PASSWORD})),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["code"], 200);
        assert_eq!(body["user_id"], 1);
        assert_eq!(body["name"], "Admin");
        assert_eq!(body["extn"], "");
        let token = body["token"].as_str().unwrap();
        assert!(token.len() >= 32, "at least 128 bits: {token}");
        let expires = body["expires"].as_i64().unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!((expires - now - 86400).abs() < 60, "absolute expiry 24 h from now");

        // Form body with `username`, as CherryPBX and old XUI send it.
        let form = app
            .client
            .post(app.url("/api/sessions"))
            .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), 200);
        let cookie = form.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
        assert!(
            cookie.starts_with("freeswitch_xtra_session_id=") && cookie.contains("HttpOnly"),
            "{cookie}"
        );
        let cookie_token = cookie
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("freeswitch_xtra_session_id=")
            .to_string();

        for request in [
            app.client
                .get(app.url("/api/extensions"))
                .header("X-XTRA-AUTH-ID", token),
            app.client.get(app.url("/api/extensions")).bearer_auth(token),
            app.client
                .get(app.url("/api/extensions"))
                .header("Cookie", format!("freeswitch_xtra_session_id={cookie_token}")),
        ] {
            assert_eq!(request.send().await.unwrap().status(), 200);
        }
    })
    .await;
}

#[tokio::test]
async fn api_routes_refuse_missing_unknown_and_expired_tokens() {
    on_each_backend_with(Duration::from_secs(3), |app| async move {
        let missing = app.send(Method::GET, "/api/device_provisions", None, None).await;
        assert_error(&missing, 403, "Not Authorized");
        let unknown = app
            .send(Method::GET, "/api/device_provisions", None, Some("not-a-token"))
            .await;
        assert_error(&unknown, 403, "unknown or expired");
        assert_error(
            &app.send(Method::DELETE, "/api/sessions", None, None).await,
            403,
            "Not Authorized",
        );
        assert_error(
            &app.send(Method::GET, "/api/openapi.json", None, None).await,
            403,
            "Not Authorized",
        );

        let fresh = app.login("admin", ADMIN_PASSWORD).await;
        assert_eq!(
            app.send(Method::GET, "/api/device_provisions", None, Some(&fresh))
                .await
                .0,
            200
        );
        tokio::time::sleep(Duration::from_millis(4100)).await;
        assert_error(
            &app.send(Method::GET, "/api/device_provisions", None, Some(&fresh))
                .await,
            403,
            "unknown or expired",
        );
    })
    .await;
}

#[tokio::test]
async fn wrong_and_unknown_logins_look_the_same_and_bad_bodies_name_the_field() {
    on_each_backend(|app| async move {
        let wrong = app
            .send(
                Method::POST,
                "/api/sessions",
                Some(json!({"login": "admin", "password": "nope"})),
                None,
            )
            .await;
        let unknown = app
            .send(
                Method::POST,
                "/api/sessions",
                Some(json!({"login": "ghost", "password": "nope"})),
                None,
            )
            .await;
        assert_error(&wrong, 403, "Wrong username or password");
        assert_eq!(wrong, unknown);
        assert_eq!(wrong.1["text"], "Wrong username or password");

        assert_error(
            &app.send(Method::POST, "/api/sessions", Some(json!({"password": "x"})), None)
                .await,
            400,
            "login: required",
        );
        assert_error(
            &app.send(Method::POST, "/api/sessions", Some(json!({"login": "admin"})), None)
                .await,
            400,
            "password: required",
        );
        let raw = app
            .client
            .post(app.url("/api/sessions"))
            .header("content-type", "application/json")
            .body("{oops")
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 400);
        let body: serde_json::Value = raw.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("not valid JSON"));
        // User 0 owns system actions and can never log in.
        assert_error(
            &app.send(
                Method::POST,
                "/api/sessions",
                Some(json!({"login": "system", "password": "x"})),
                None,
            )
            .await,
            403,
            "Wrong username",
        );
    })
    .await;
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_login() {
    on_each_backend(|app| async move {
        for attempt in 1..=4 {
            let r = app
                .send(
                    Method::POST,
                    "/api/sessions",
                    Some(json!({"login": "admin", "password": format!("bad{attempt}")})),
                    None,
                )
                .await;
            assert_error(&r, 403, "Wrong username or password");
        }
        let fifth = app
            .send(
                Method::POST,
                "/api/sessions",
                Some(json!({"login": "admin", "password": "bad5"})),
                None,
            )
            .await;
        assert_error(&fifth, 403, "locked");
        let right = app
            .send(
                Method::POST,
                "/api/sessions",
                Some(json!({"login": "ADMIN", "password": ADMIN_PASSWORD})),
                None,
            )
            .await;
        assert_error(&right, 403, "locked after 5 wrong passwords");
        // A session opened before the lock still works.
        assert_eq!(app.get("/api/extensions").await.0, 200);
    })
    .await;
}

#[tokio::test]
async fn logout_ends_the_token_and_tokens_survive_a_restart() {
    on_each_backend(|app| async move {
        let app = app.restart().await;
        assert_eq!(
            app.get("/api/extensions").await.0,
            200,
            "token issued before the restart"
        );

        let second = app.login("admin", ADMIN_PASSWORD).await;
        let out = app.send(Method::DELETE, "/api/sessions", None, Some(&second)).await;
        assert_eq!(out.0, 200);
        assert_eq!(out.1, json!({"code": 200, "text": "OK"}));
        assert_error(
            &app.send(Method::GET, "/api/extensions", None, Some(&second)).await,
            403,
            "unknown or expired",
        );
        assert_eq!(app.get("/api/extensions").await.0, 200, "other sessions stay open");

        let stored: Vec<String> = app
            .stored_text("SELECT token_hash FROM sessions WHERE user_id = $1", 1)
            .await
            .into_iter()
            .flatten()
            .collect();
        assert!(
            !stored.is_empty() && !stored.contains(&app.token),
            "only hashes are stored"
        );
    })
    .await;
}

#[tokio::test]
async fn dev_key_logs_in_in_place_of_the_password() {
    on_each_backend(|app| async move {
        let key = app
            .admin()
            .issue_dev_key(&sipprov::admin::Actor::command_line(), "admin")
            .await
            .unwrap();
        let r = app
            .send(
                Method::POST,
                "/api/sessions",
                Some(json!({"login": "admin", "dev_key": key})),
                None,
            )
            .await;
        assert_eq!(r.0, 200, "{}", r.1);
        let bad = app
            .send(
                Method::POST,
                "/api/sessions",
                Some(json!({"login": "admin", "dev_key": "0".repeat(64)})),
                None,
            )
            .await;
        assert_error(&bad, 403, "Wrong username or password");
    })
    .await;
}

/// A login attempt from `source`, a loopback address of its own network.
async fn login_from(app: &TestApp, source: &str, login: &str, password: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let response = client
        .post(app.url("/api/sessions"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    // The lock's end is to the second; what tells answers apart is before it.
    let message = body["message"].as_str().unwrap_or_default();
    (status, message.split("; try again").next().unwrap().to_string())
}

#[tokio::test]
async fn a_burst_of_guesses_gets_five_checks_and_locks_only_its_own_network() {
    on_each_backend(|app| async move {
        // 60 passwords at once from one network, the 45th the right one:
        // the gate lets two be checked at a time and refuses the rest, so
        // the right one is never checked among dozens before the lock lands.
        let mut burst = tokio::task::JoinSet::new();
        for i in 0..60 {
            let (client, url) = (app.client.clone(), app.url("/api/sessions"));
            let password = if i == 44 {
                ADMIN_PASSWORD.to_string()
            } else {
                format!("wrong-{i}")
            };
            burst.spawn(async move {
                let response = client
                    .post(url)
                    .json(&json!({"login": "admin", "password": password}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap();
                (i, status, body["message"].as_str().unwrap_or_default().to_string())
            });
        }
        let answers = burst.join_all().await;
        // The right one is not let in: it was refused at the gate (a network
        // gets two checks at once) or found the login locked.
        let right = answers.iter().find(|(i, _, _)| *i == 44).unwrap();
        assert!(
            right.1 == 429 || (right.1, right.2.contains("locked")) == (403, true),
            "{right:?}"
        );
        assert!(
            answers.iter().all(|(_, status, _)| [403, 429].contains(status)),
            "{answers:?}"
        );
        let checked_and_wrong = answers
            .iter()
            .filter(|(_, _, m)| m == "Wrong username or password")
            .count();
        assert!(checked_and_wrong <= 4, "{checked_and_wrong} wrong answers: {answers:?}");
        // Guesses one after another get the rest of the five...
        for i in 0..5 {
            if login_from(&app, "127.0.0.1", "admin", &format!("again-{i}"))
                .await
                .1
                .contains("locked")
            {
                break;
            }
        }
        // ...and the right password, sent after them, is locked out too...
        let right = login_from(&app, "127.0.0.1", "admin", ADMIN_PASSWORD).await;
        assert_eq!(right, (403, "login locked after 5 wrong passwords".to_string()));
        // ...but only for that network.
        assert_eq!(login_from(&app, "127.0.1.1", "admin", ADMIN_PASSWORD).await.0, 200);

        // A name no user has answers exactly as one that exists.
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for i in 0..7 {
            known.push(login_from(&app, "127.0.2.1", "admin", &format!("bad-{i}")).await);
            unknown.push(login_from(&app, "127.0.2.1", "nobody-here", &format!("bad-{i}")).await);
        }
        assert_eq!(known, unknown);
        assert_eq!(known[3], (403, "Wrong username or password".to_string()));
        assert_eq!(known[4], (403, "login locked after 5 wrong passwords".to_string()));

        // A lock that has ended starts the count again.
        let past = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
        let sql = "UPDATE login_locks SET locked_until = $1 WHERE login = 'admin'";
        match &app.db {
            sipprov::store::Db::Sqlite(p) => drop(sqlx::query(sql).bind(past).execute(p).await.unwrap()),
            sipprov::store::Db::Postgres(p) => drop(sqlx::query(sql).bind(past).execute(p).await.unwrap()),
        }
        let after = login_from(&app, "127.0.0.1", "admin", "wrong-again").await;
        assert_eq!(
            after,
            (403, "Wrong username or password".to_string()),
            "the count was reset"
        );
        assert_eq!(login_from(&app, "127.0.0.1", "admin", ADMIN_PASSWORD).await.0, 200);
    })
    .await;
}

/// Runs one SQL statement with two binds on either backend.
async fn exec(app: &TestApp, sql: &str, a: impl ToString, b: time::OffsetDateTime) {
    let a = a.to_string();
    match &app.db {
        sipprov::store::Db::Sqlite(p) => drop(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(a)
                .bind(b)
                .execute(p)
                .await
                .unwrap(),
        ),
        sipprov::store::Db::Postgres(p) => drop(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(a)
                .bind(b)
                .execute(p)
                .await
                .unwrap(),
        ),
    }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    match &app.db {
        sipprov::store::Db::Sqlite(p) => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .fetch_one(p)
            .await
            .unwrap(),
        sipprov::store::Db::Postgres(p) => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .fetch_one(p)
            .await
            .unwrap(),
    }
}

#[tokio::test]
async fn guessing_many_names_from_one_network_grows_nothing() {
    on_each_backend(|app| async move {
        // A network that has already had 100 names counted (as a sweep of
        // made-up names leaves it)...
        let now = time::OffsetDateTime::now_utc();
        let sql = "INSERT INTO login_locks (login, network, attempts, locked_until, last_attempt_at) VALUES ($1, '127.0.0.0/24', 1, NULL, $2)";
        for i in 0..sipprov::store::users::MAX_NAMES_PER_NETWORK {
            exec(&app, sql, format!("made-up-{i}"), now).await;
        }
        // ...may try no name it has not tried before, known or not: that is
        // the busy network refused, not a lock of the name.
        let before = count(&app, "SELECT COUNT(*) FROM login_locks").await;
        for login in ["another-made-up-name", "admin"] {
            let (status, message) = login_from(&app, "127.0.0.1", login, "wrong-password").await;
            assert_eq!(status, 429, "{login}: {message}");
            assert!(message.starts_with("too many failed logins from your network"), "{message}");
        }
        assert_eq!(count(&app, "SELECT COUNT(*) FROM login_locks").await, before, "no row was added");
        // A name it already has is counted as before; other networks are untouched.
        assert_eq!(
            login_from(&app, "127.0.0.1", "made-up-7", "wrong-password").await,
            (403, "Wrong username or password".to_string())
        );
        assert_eq!(login_from(&app, "127.0.4.1", "admin", ADMIN_PASSWORD).await.0, 200);
    })
    .await;
}

/// The table of counted names full (100,000 rows from 10,000 networks, as
/// a sweep from many networks leaves it): nobody is locked by that. The
/// right password works from a network with no failures and from one of
/// the sweep's own; a new name's wrong password is counted in the place of
/// the count tried least recently, and locks stay; `sipprov user unlock`
/// ends a real lock.
#[tokio::test]
async fn a_full_lock_table_locks_nobody_out() {
    on_each_backend(|app| async move {
        use sipprov::store::users::MAX_COUNTED_NAMES;
        let long_ago = time::OffsetDateTime::now_utc() - time::Duration::minutes(30);
        // Ten names from each of 10,000 networks (127.0.0.0/24 to
        // 127.39.15.0/24), tried half an hour ago.
        let fill = if app.is_postgres() {
            "INSERT INTO login_locks (login, network, attempts, locked_until, last_attempt_at)
             SELECT $1 || i, '127.' || (i / 10 / 256) || '.' || (i / 10 % 256) || '.0/24', 1, NULL, $2
             FROM generate_series(0, 99999) AS i"
        } else {
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
             INSERT INTO login_locks (login, network, attempts, locked_until, last_attempt_at)
             SELECT $1 || i, '127.' || (i / 10 / 256) || '.' || (i / 10 % 256) || '.0/24', 1, NULL, $2 FROM n"
        };
        exec(&app, fill, "made-up-", long_ago).await;
        // One real lock among them, on a made-up name from one network.
        let lock = "UPDATE login_locks SET attempts = 5, locked_until = $2 WHERE login = $1";
        exec(
            &app,
            lock,
            "made-up-5",
            time::OffsetDateTime::now_utc() + time::Duration::hours(2),
        )
        .await;
        let total = "SELECT COUNT(*) FROM login_locks";
        assert_eq!(count(&app, total).await, MAX_COUNTED_NAMES);

        // The right password, from a network with no failures and from one
        // of the sweep's networks (127.0.3.0/24 has ten names counted).
        assert_eq!(login_from(&app, "127.200.7.1", "admin", ADMIN_PASSWORD).await.0, 200);
        assert_eq!(login_from(&app, "127.0.3.1", "admin", ADMIN_PASSWORD).await.0, 200);
        // Wrong passwords for names never seen, from a fresh network: told
        // wrong, never locked, and the table stays within its bound.
        for i in 0..3 {
            assert_eq!(
                login_from(&app, "127.200.8.1", &format!("someone-{i}"), "wrong").await,
                (403, "Wrong username or password".to_string())
            );
        }
        assert_eq!(
            count(&app, total).await,
            MAX_COUNTED_NAMES,
            "each new count took an old one's place"
        );
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM login_locks WHERE login = 'made-up-5'").await,
            1,
            "a lock is never the one that goes"
        );
        assert_eq!(login_from(&app, "127.200.7.1", "admin", ADMIN_PASSWORD).await.0, 200);

        // A real lock, from wrong passwords for admin from one network...
        for i in 0..5 {
            login_from(&app, "127.200.9.1", "admin", &format!("wrong-{i}")).await;
        }
        let (status, message) = login_from(&app, "127.200.9.1", "admin", ADMIN_PASSWORD).await;
        assert_eq!(
            (status, message.as_str()),
            (403, "login locked after 5 wrong passwords")
        );
        // ...ends with `sipprov user unlock admin`.
        let mut unlock = std::process::Command::new(env!("CARGO_BIN_EXE_sipprov"));
        unlock.arg("--data-dir").arg(app.data_dir.path());
        if let Some(url) = &app.settings.database_url {
            unlock.arg("--database-url").arg(url);
        }
        let out = unlock.args(["user", "unlock", "admin"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(login_from(&app, "127.200.9.1", "admin", ADMIN_PASSWORD).await.0, 200);
    })
    .await;
}

/// A wrong password costs the same whether the name exists or not: 200
/// tries of each, interleaved, from networks that each stay under their
/// gate and their lock; the distributions' quartiles must agree.
#[tokio::test]
async fn a_missing_name_costs_what_a_known_one_does() {
    on_each_backend(|app| async move {
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for n in 0..100 {
            let source = format!("127.1.{n}.1");
            for _ in 0..2 {
                for (login, times) in [("admin", &mut known), ("nobody-at-all", &mut unknown)] {
                    let started = std::time::Instant::now();
                    let (status, message) = login_from(&app, &source, login, "a-wrong-password").await;
                    times.push(started.elapsed().as_secs_f64());
                    assert_eq!((status, message.as_str()), (403, "Wrong username or password"));
                }
            }
        }
        let quartiles = |times: &mut Vec<f64>| {
            times.sort_by(f64::total_cmp);
            [
                times[times.len() / 4],
                times[times.len() / 2],
                times[times.len() * 3 / 4],
            ]
        };
        let (k, u) = (quartiles(&mut known), quartiles(&mut unknown));
        for (a, b) in k.iter().zip(&u) {
            let ratio = a / b;
            assert!(
                (0.8..1.25).contains(&ratio),
                "known {k:?} s against unknown {u:?} s: a name's existence shows"
            );
        }
    })
    .await;
}

/// 100 bogus logins at once from four networks: each network gets two
/// password checks at a time and the rest are refused at once (429), so
/// memory stays at a few argon2 blocks and the administrator, elsewhere,
/// still logs in promptly.
#[tokio::test]
async fn a_flood_of_bogus_logins_leaves_room_for_the_administrator() {
    on_each_backend(|app| async move {
        let mut flood = tokio::task::JoinSet::new();
        for i in 0..100 {
            let url = app.url("/api/sessions");
            flood.spawn(async move {
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .local_address(format!("127.0.{}.1", 10 + i % 4).parse::<std::net::IpAddr>().unwrap())
                    .build()
                    .unwrap();
                let response = client
                    .post(url)
                    .json(&json!({"login": format!("nobody-{i}"), "password": "wrong-password"}))
                    .send()
                    .await
                    .unwrap();
                response.status().as_u16()
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        let (status, _) = login_from(&app, "127.0.0.1", "admin", ADMIN_PASSWORD).await;
        let took = started.elapsed();
        assert_eq!(status, 200);
        assert!(took < Duration::from_secs(2), "the administrator waited {took:?}");
        let statuses = flood.join_all().await;
        let refused = statuses.iter().filter(|s| **s == 429).count();
        assert!(statuses.iter().all(|s| [403, 429].contains(s)), "{statuses:?}");
        assert!(refused >= 50, "only {refused} of 100 refused at the gate");
    })
    .await;
}

/// Networks that have failed wait behind those that have not, in a queue
/// of bounded length: 100 wrong passwords at once from 50 networks of a
/// /16 that already failed fill their queue (64) and the rest are told to
/// come back (429), while the administrator, from a network that never
/// failed, is checked first.
#[tokio::test]
async fn failing_networks_wait_in_a_bounded_queue_behind_clean_ones() {
    on_each_backend(|app| async move {
        assert_eq!(login_from(&app, "127.50.0.1", "nobody", "wrong").await.0, 403);
        let mut flood = tokio::task::JoinSet::new();
        for n in 0..100 {
            let url = app.url("/api/sessions");
            flood.spawn(async move {
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .local_address(format!("127.50.{}.1", 1 + n % 50).parse::<std::net::IpAddr>().unwrap())
                    .build()
                    .unwrap();
                let started = std::time::Instant::now();
                let response = client
                    .post(url)
                    .json(&json!({"login": format!("nobody-{n}"), "password": "wrong-password"}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap();
                (status, body["message"].as_str().unwrap_or_default().to_string(), started.elapsed())
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        assert_eq!(login_from(&app, "127.60.0.1", "admin", ADMIN_PASSWORD).await.0, 200);
        let took = started.elapsed();
        let answers = flood.join_all().await;
        let mut checked: Vec<Duration> = answers.iter().filter(|a| a.0 == 403).map(|a| a.2).collect();
        checked.sort();
        let median = checked[checked.len() / 2];
        let answers: Vec<(u16, String)> = answers.into_iter().map(|(s, m, _)| (s, m)).collect();
        let waited_out = answers
            .iter()
            .filter(|(status, message)| *status == 429 && message.starts_with("too many logins are waiting"))
            .count();
        assert!(waited_out > 0, "the queue of failing networks is bounded: {answers:?}");
        assert!(
            answers.iter().all(|(status, _)| [403, 429].contains(status)),
            "{answers:?}"
        );
        eprintln!("the administrator waited {took:?}, the flood's checked logins {median:?} (median); {waited_out} of 100 told to come back");
        // Behind the queue it would wait as long as the flood does; first,
        // one check at most.
        assert!(took * 3 < median, "the administrator waited {took:?}, the flood {median:?}");
    })
    .await;
}
