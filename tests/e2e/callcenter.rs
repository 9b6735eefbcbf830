//! Seed 002: agents (users of type AGENT), queues, their agents (tiers),
//! extra parameters and the parameter dicts, with every example request.

use reqwest::Method;
use serde_json::json;

use crate::harness::{TestApp, assert_done, assert_error, on_each_backend};

/// Creates an agent user; returns its id.
async fn agent(app: &TestApp, login: &str) -> i64 {
    let created = assert_done(
        &app.post(
            "/api/users",
            json!({"name": login, "login": login, "extn": login, "password": "$VeryGoodPassw0rd", "type": "AGENT"}),
        )
        .await,
    );
    created["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn agents_are_users_as_seed_002_shows_them() {
    on_each_backend(|app| async move {
        // The first example body, odd extension number included.
        let first = assert_done(
            &app.post(
                "/api/users",
                json!({"name": "小樱桃", "login": "1234", "extn": "X1234!@#$", "password": "$VeryGoodPassw0rd",
                       "extn_password": "$VeryGoodPassw0rd", "context": "context-1", "domain": "xswitch.cn", "type": "AGENT"}),
            )
            .await,
        );
        assert!(first["id"].is_string() && first["extn_id"].as_str().unwrap() != "0", "{first}");
        assert_error(
            &app.post("/api/users", json!({"name": "again", "login": "1234", "password": "$VeryGoodPassw0rd"}))
                .await,
            409,
            "login: '1234' already exists",
        );
        let id = first["id"].as_str().unwrap();
        assert_eq!(assert_done(&app.delete(&format!("/api/users/{id}")).await), json!(id));
        assert_eq!(app.get(&format!("/api/users/{id}")).await.0, 404);

        // The curl example; extn_password would fall back to password.
        let created = assert_done(
            &app.post(
                "/api/users",
                json!({"name": "小樱桃", "login": "1234", "password": "$VeryGoodPassw0rd", "extn": "1234",
                       "context": "context-1", "domain": "192.168.1.100", "type": "AGENT"}),
            )
            .await,
        );
        let id: i64 = created["id"].as_str().unwrap().parse().unwrap();
        let (status, user) = app.get(&format!("/api/users/{id}")).await;
        assert_eq!(status, 200);
        for (k, v) in [
            ("lag", "2"),
            ("simo", "1"),
            ("status", "On Break"),
            ("agent_type", "callback"),
            ("member_wait", "nowait"),
            ("wrap_up_time", "10"),
            ("max_no_answer", "3"),
            ("busy_delay_time", "60"),
            ("reject_delay_time", "10"),
            ("type", "AGENT"),
            ("login", "1234"),
            ("extn", "1234"),
            ("domain", "192.168.1.100"),
        ] {
            assert_eq!(user[k], json!(v), "{k} in {user}");
        }
        assert_eq!(user["id"], json!(id));
        assert_eq!(user["extn_id"].as_i64().unwrap().to_string(), created["extn_id"].as_str().unwrap());
        assert_eq!(user["ha1"].as_str().unwrap().len(), 32);
        assert_eq!(user["ha1b"].as_str().unwrap().len(), 32);
        let text = user.to_string();
        assert!(!text.contains("VeryGood") && !text.contains("argon2") && user.get("password").is_none(), "{user}");

        let (_, agents) = app.get("/api/users?type=AGENT").await;
        assert_eq!(agents["rowCount"], 1, "{agents}");
        assert_eq!(agents["data"][0]["status"], "On Break");
        assert_eq!(app.get("/api/users?login=admi").await.1["data"][0]["login"], "admin");
        assert_eq!(app.get("/api/users?name=樱桃").await.1["rowCount"], 1);

        let (_, extensions) = app.get(&format!("/api/users/{id}/extensions")).await;
        assert_eq!(extensions[0]["extn"], "1234", "{extensions}");
        assert_eq!(extensions[0]["user_id"], json!(id));
        assert_eq!(extensions[0]["password"], "$VeryGoodPassw0rd", "the agent registers with it");
        assert_eq!(app.get(&format!("/api/users/{id}/queue/name")).await.1, json!([]));

        // The PUT example; an id in the body is ignored.
        let put = json!({"id": 999, "auto_record": "0", "context": "default", "domain": "xswitch.cn", "hardware_phone_only": "false",
            "login": "20000", "name": "lisi", "vm_password": "5555", "lag": "2", "simo": "1", "status": "On Break",
            "agent_type": "callback", "member_wait": "nowait", "wrap_up_time": "10", "max_no_answer": "30",
            "busy_delay_time": "60", "reject_delay_time": "10"});
        assert_eq!(assert_done(&app.put(&format!("/api/users/{id}"), put).await), json!(id.to_string()));
        let (_, user) = app.get(&format!("/api/users/{id}")).await;
        for (k, v) in [("login", "20000"), ("name", "lisi"), ("max_no_answer", "30"), ("vm_password", "********"), ("hardware_phone_only", "false"), ("context", "default")] {
            assert_eq!(user[k], json!(v), "{k} in {user}");
        }
        assert_eq!(app.get("/api/users/999").await.0, 404);
        for (body, needle) in [
            (json!({"status": "Busy"}), "status: 'Busy' is not one of Out, Available, Available (On Demand), On Break"),
            (json!({"agent_type": "push"}), "agent_type: 'push' is not one of callback, standBy"),
            (json!({"lag": "soon"}), "lag: "),
            (json!({"agent_info": {"simo": -1}}), "simo: "),
            (json!({"type": "ROBOT"}), "type: 'ROBOT' is not one of"),
        ] {
            assert_error(&app.put(&format!("/api/users/{id}"), body).await, 400, needle);
        }
        assert_done(&app.put(&format!("/api/users/{id}"), json!({"status": "Available(On Demand)"})).await);
        assert_eq!(app.get(&format!("/api/users/{id}")).await.1["status"], "Available (On Demand)");
        for (body, needle) in [
            (json!({"login": "x", "name": "x"}), "password: required"),
            (json!({"login": "shorty", "password": "short"}), "password: too short"),
            (json!({"login": "samesame", "password": "SameSame"}), "password: must not equal the login"),
            (json!({"login": "bad login", "password": "$VeryGoodPassw0rd"}), "login: "),
            (json!({"login": "ext", "password": "$VeryGoodPassw0rd", "extn": "3000", "extn_password": "abc"}), "extn_password: too short"),
        ] {
            assert_error(&app.post("/api/users", body).await, 400, needle);
        }
    })
    .await;
}

#[tokio::test]
async fn passwords_change_as_the_seed_says_and_only_admins_manage_users() {
    on_each_backend(|app| async move {
        let id = agent(&app, "1183").await;
        // The seed's example, run by an administrator for another user.
        let changed = assert_done(
            &app.put(
                "/api/users/change_password",
                json!({"old_password": "$VeryGoodPassw0rd", "password": "$VeryGoodPassw0rd-MoreComplex", "id": id.to_string()}),
            )
            .await,
        );
        assert_eq!(changed, json!("{}"));
        let token = app.login("1183", "$VeryGoodPassw0rd-MoreComplex").await;
        // The agent itself: no id means the session's user.
        assert_error(
            &app.send(Method::PUT, "/api/users/change_password", Some(json!({"old_password": "wrong-one!", "password": "Another-Pass-1"})), Some(&token)).await,
            403,
            "old_password",
        );
        assert_error(
            &app.send(Method::PUT, "/api/users/change_password", Some(json!({"old_password": "$VeryGoodPassw0rd-MoreComplex", "password": "short"})), Some(&token)).await,
            400,
            "password: too short",
        );
        assert_error(
            &app.send(Method::PUT, "/api/users/change_password", Some(json!({"old_password": "$VeryGoodPassw0rd-MoreComplex", "password": "1183"})), Some(&token)).await,
            400,
            "password: too short",
        );
        let long_login = agent(&app, "agent-with-a-long-login").await;
        assert_error(
            &app.put("/api/users/change_password", json!({"id": long_login, "password": "Agent-With-A-Long-Login"})).await,
            400,
            "password: must not equal the login",
        );
        assert_done(
            &app.send(Method::PUT, "/api/users/change_password", Some(json!({"old_password": "$VeryGoodPassw0rd-MoreComplex", "password": "Another-Pass-1"})), Some(&token)).await,
        );
        let token = app.login("1183", "Another-Pass-1").await;
        assert_eq!(app.send(Method::GET, &format!("/api/users/{id}"), None, Some(&token)).await.0, 200, "itself");
        for (method, path, body) in [
            (Method::GET, "/api/users/1".to_string(), None),
            (Method::GET, "/api/users".to_string(), None),
            (Method::POST, "/api/users".to_string(), Some(json!({"login": "x", "password": "$VeryGoodPassw0rd"}))),
            (Method::PUT, format!("/api/users/{id}"), Some(json!({"is_super": 1}))),
            (Method::PUT, "/api/users/change_password".to_string(), Some(json!({"id": 1, "password": "Hijacked-123"}))),
            (Method::POST, "/api/queues".to_string(), Some(json!({"name": "q", "type": "fifo"}))),
        ] {
            assert_eq!(app.send(method, &path, body, Some(&token)).await.0, 403, "{path}");
        }
        assert_error(&app.delete("/api/users/1").await, 403, "cannot be deleted");
        assert_error(&app.delete("/api/users/0").await, 403, "cannot be deleted");
    })
    .await;
}

#[tokio::test]
async fn queues_agents_and_extra_params_as_seed_002_shows_them() {
    on_each_backend(|app| async move {
        let (_, cc) = app.get("/api/dicts/realm/QUEUE_CC_PARAM").await;
        assert_eq!(cc.as_array().unwrap().len(), 20, "{cc}");
        assert!(cc.as_array().unwrap().iter().any(|d| d["k"] == "Announce Position" && d["v"] == "announce-position" && d["d"] == "播报位置"));
        let (_, fifo) = app.get("/api/dicts?realm=QUEUE_FIFO_PARAM").await;
        assert_eq!(fifo.as_array().unwrap().len(), 8);
        assert!(fifo.as_array().unwrap().iter().any(|d| d["k"] == "Importance" && d["v"] == "importance"));

        // The create example (media 411), then a FIFO queue like the list example.
        let cc_id = assert_done(
            &app.post(
                "/api/queues",
                json!({"auto_record": "1", "description": "test", "moh_sound": 411, "name": "test2", "strategy": "agent-with-fewest-calls",
                       "template": "default", "cti_template": "callcenter", "type": "callcenter"}),
            )
            .await,
        );
        let cc_id = cc_id.as_str().unwrap().to_string();
        assert_error(&app.post("/api/queues", json!({"name": "test2", "type": "callcenter"})).await, 409, "name: a queue named 'test2'");
        let fifo_id = assert_done(
            &app.post(
                "/api/queues",
                json!({"name": "FIFO1", "type": "fifo", "strategy": "ringall", "cti_template": "fifo",
                       "moh_sound": "{\"media_path\":\"phrase:welcome@xui\"}"}),
            )
            .await,
        );
        let fifo_id = fifo_id.as_str().unwrap().to_string();
        for (body, needle) in [
            (json!({"name": "q3", "type": "callcenter", "strategy": "fastest"}), "strategy: 'fastest' is not one of"),
            (json!({"name": "q3", "type": "callcenter", "strategy": "ringall"}), "strategy: 'ringall'"),
            (json!({"name": "q3", "type": "queue"}), "type: 'queue' is not one of callcenter, fifo"),
            (json!({"name": "q3"}), "type: required"),
            (json!({"type": "fifo"}), "name: required"),
            (json!({"name": "q3", "type": "fifo", "moh_sound": "hello"}), "moh_sound: give a media id"),
        ] {
            assert_error(&app.post("/api/queues", body).await, 400, needle);
        }
        let (_, list) = app.get("/api/queues").await;
        assert_eq!((list["rowCount"].clone(), list["page"].clone()), (json!(2), json!(1)), "{list}");
        let (_, q) = app.get(&format!("/api/queues/{fifo_id}")).await;
        assert_eq!(q["moh_sound"], json!({"media_id": "", "media_path": "phrase:welcome@xui", "media_type": "SYSTEM"}));
        assert_eq!((q["cti_template"].clone(), q["strategy"].clone(), q["greeting"].clone()), (json!("fifo"), json!("ringall"), json!("")));
        assert_eq!(app.get(&format!("/api/queues/{cc_id}")).await.1["moh_sound"]["media_id"], "411");

        // The PUT example.
        let put = json!({"auto_record": "1", "description": "test", "greeting": "{\"media_path\":\"phrase:welcome@xui\"}",
                         "moh_sound": "{\"media_path\":\"phrase:welcome@xui\"}", "strategy": "longest-idle-agent"});
        assert_eq!(assert_done(&app.put(&format!("/api/queues/{cc_id}"), put).await), json!(cc_id));
        let (_, q) = app.get(&format!("/api/queues/{cc_id}")).await;
        assert_eq!((q["strategy"].clone(), q["greeting"]["media_path"].clone()), (json!("longest-idle-agent"), json!("phrase:welcome@xui")));

        // Agents in a queue.
        let (a1, a2) = (agent(&app, "1022").await, agent(&app, "1023").await);
        let body = json!({"agents": [{"agent_id": a1.to_string(), "agent_name": "1022"}, {"agent_id": a2.to_string(), "agent_name": "1023"}]});
        let tiers = assert_done(&app.post(&format!("/api/queues/{cc_id}/agents"), body.clone()).await);
        assert_eq!(tiers.as_array().unwrap().len(), 2);
        for key in ["level", "position", "disabled", "queue_name", "extn", "agent_name", "queue_id", "agent_id", "external_queue_id", "domain"] {
            assert!(tiers[0].get(key).is_some(), "{key} in {tiers}");
        }
        assert_eq!((tiers[0]["level"].clone(), tiers[0]["position"].clone(), tiers[0]["queue_name"].clone(), tiers[1]["extn"].clone()),
                   (json!(1), json!(1), json!("test2"), json!("1023")));
        // Adding them again changes nothing: they keep their tiers.
        let again = assert_done(&app.post(&format!("/api/queues/{cc_id}/agents"), body).await);
        assert_eq!(again[0]["id"], tiers[0]["id"]);
        let (_, listed) = app.get(&format!("/api/queues/{cc_id}/agents")).await;
        assert_eq!(listed["rowCount"], 2, "{listed}");
        assert_eq!(listed["data"][0]["agent_name_md5"], format!("{:032x}", md5_of("1022")));
        assert_error(
            &app.post(&format!("/api/queues/{cc_id}/agents"), json!({"agents": [{"agent_id": a1}, {"agent_id": 999, "agent_name": "x"}]})).await,
            400,
            "agents[1].agent_id: no agent has id 999",
        );
        assert_eq!(app.get(&format!("/api/queues/{cc_id}/agents")).await.1["rowCount"], 2, "nothing added");
        assert_eq!(app.get(&format!("/api/users/{a1}/queue/name")).await.1, json!([{"name": "test2"}]));
        assert_done(&app.delete(&format!("/api/queues/{cc_id}/agents/{a2}")).await);
        assert_eq!(app.delete(&format!("/api/queues/{cc_id}/agents/{a2}")).await.0, 404);
        // A deleted user leaves its queues.
        assert_done(&app.delete(&format!("/api/users/{a1}")).await);
        assert_eq!(app.get(&format!("/api/queues/{cc_id}/agents")).await.1["rowCount"], 0);

        // Extra parameters: the three create examples.
        let p1 = assert_done(&app.post(&format!("/api/queues/{cc_id}/extra_params"), json!({"realm": "CC", "k": "announce-sound", "v": "1"})).await);
        assert!(p1.is_i64(), "data is the id: {p1}");
        assert_done(
            &app.post(&format!("/api/queues/{cc_id}/extra_params"), json!({"realm": "CC", "k": "overflow-capacity-action", "v": "{\"action\":\"transfer\",\"data\":\"1009\"}"})).await,
        );
        assert_done(&app.post(&format!("/api/queues/{fifo_id}/extra_params"), json!({"realm": "FIFO", "k": "importance", "v": 0})).await);
        for (queue, body, needle) in [
            (&cc_id, json!({"realm": "FIFO", "k": "importance", "v": "1"}), "realm: 'FIFO' does not fit a callcenter queue; use CC"),
            (&fifo_id, json!({"realm": "CC", "k": "capacity", "v": "1"}), "realm: 'CC' does not fit a fifo queue"),
            (&cc_id, json!({"realm": "CC", "k": "importance", "v": "1"}), "k: 'importance' is not a CC parameter"),
            (&cc_id, json!({"realm": "CC", "k": "wait-timeout-action", "v": "hangup"}), "v: wait-timeout-action takes"),
            (&cc_id, json!({"realm": "CC", "k": "wait-timeout-action", "v": "{\"action\":\"transfer\"}"}), "v: wait-timeout-action takes"),
            (&cc_id, json!({"realm": "CC", "k": "wait-timeout-action", "v": "{\"action\":\"reboot\"}"}), "v: "),
        ] {
            assert_error(&app.post(&format!("/api/queues/{queue}/extra_params"), body).await, 400, needle);
        }
        assert_error(&app.post(&format!("/api/queues/{cc_id}/extra_params"), json!({"realm": "CC", "k": "announce-sound", "v": "2"})).await, 409, "announce-sound");
        assert_done(&app.post(&format!("/api/queues/{cc_id}/extra_params"), json!({"realm": "CC", "k": "wait-timeout-action", "v": "{\"action\":\"hangup\"}"})).await);
        let (_, params) = app.get(&format!("/api/queues/{cc_id}/extra_params")).await;
        assert_eq!(params.as_array().unwrap().len(), 3, "{params}");
        assert_eq!((params[0]["realm"].clone(), params[0]["ref_id"].clone(), params[0]["disabled"].clone()), (json!("CC"), json!(cc_id.parse::<i64>().unwrap()), json!(0)));
        assert_eq!(app.get(&format!("/api/queues/{fifo_id}")).await.1["importance"], "0", "enabled parameters show on the queue");

        // The PUT examples, then toggle and delete.
        let pid = p1.as_i64().unwrap();
        let path = format!("/api/queues/{cc_id}/extra_params/{pid}");
        assert_eq!(assert_done(&app.put(&path, json!({"v": "600", "k": "discard-abandoned-after"})).await), json!(cc_id));
        assert_done(&app.put(&path, json!({"v": "true", "k": "abandoned-resume-allowed"})).await);
        assert_eq!(app.get(&format!("/api/queues/{cc_id}")).await.1["abandoned-resume-allowed"], "true");
        assert_done(&app.put(&path, json!({"action": "toggle"})).await);
        let (_, params) = app.get(&format!("/api/queues/{cc_id}/extra_params")).await;
        assert_eq!(params[0]["disabled"], 1);
        assert!(app.get(&format!("/api/queues/{cc_id}")).await.1.get("abandoned-resume-allowed").is_none(), "a disabled parameter is not merged");
        assert_error(&app.put(&path, json!({"action": "flip"})).await, 400, "action: 'flip' is not toggle");
        assert_error(&app.put(&path, json!({"k": "nonsense"})).await, 400, "k: 'nonsense'");
        assert_eq!(assert_done(&app.delete(&path).await), json!(cc_id));
        assert_eq!(app.delete(&path).await.0, 404);

        // Deleting a queue takes its tiers and parameters with it.
        assert_done(&app.post(&format!("/api/queues/{cc_id}/agents"), json!({"agents": [{"agent_id": a2}]})).await);
        assert_eq!(assert_done(&app.delete(&format!("/api/queues/{cc_id}")).await), json!(cc_id));
        assert_eq!(app.get(&format!("/api/queues/{cc_id}")).await.0, 404);
        let id: i64 = cc_id.parse().unwrap();
        let live = |table: &'static str| {
            let sql: &'static str = match table {
                "params" => "SELECT CAST(COUNT(*) AS TEXT) FROM queue_params WHERE ref_id = $1 AND deleted_at IS NULL",
                _ => "SELECT CAST(COUNT(*) AS TEXT) FROM queue_agents WHERE queue_id = $1 AND deleted_at IS NULL",
            };
            app.stored_text(sql, id)
        };
        assert_eq!(live("params").await, vec![Some("0".to_string())]);
        assert_eq!(live("agents").await, vec![Some("0".to_string())]);
        assert_eq!(app.get(&format!("/api/users/{a2}/queue/name")).await.1, json!([]));
    })
    .await;
}

fn md5_of(text: &str) -> u128 {
    use md5::{Digest, Md5};
    u128::from_be_bytes(Md5::digest(text.as_bytes()).into())
}

/// A fifo queue turned into a callcenter one cannot keep `ringall`, which
/// only fifo queues use: it takes the callcenter default, unless the
/// update names a strategy. A user's `extn_password` follows the SIP
/// password rules even when no extension is made with it.
#[tokio::test]
async fn a_queue_changing_type_takes_a_strategy_it_can_use() {
    on_each_backend(|app| async move {
        let (_, created) = app
            .post("/api/queues", json!({"name": "hold line", "type": "fifo"}))
            .await;
        let id = created["data"].as_str().unwrap().to_string();
        let (_, queue) = app.get(&format!("/api/queues/{id}")).await;
        assert_eq!(queue["strategy"], "ringall", "{queue}");
        assert_done(
            &app.put(&format!("/api/queues/{id}"), json!({"type": "callcenter"}))
                .await,
        );
        let (_, queue) = app.get(&format!("/api/queues/{id}")).await;
        assert_eq!(
            (&queue["type"], &queue["strategy"]),
            (&json!("callcenter"), &json!("longest-idle-agent"))
        );
        assert_error(
            &app.put(&format!("/api/queues/{id}"), json!({"strategy": "ringall"}))
                .await,
            400,
            "strategy:",
        );

        let user = json!({"login": "4100", "password": "agent-pass-4100", "extn_password": "abc"});
        assert_error(&app.post("/api/users", user).await, 400, "extn_password: too short");
    })
    .await;
}
