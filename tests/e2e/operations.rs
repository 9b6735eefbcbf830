use reqwest::Method;
use serde_json::Value;

use crate::harness::on_each_backend;

#[tokio::test]
async fn healthz_needs_no_token_and_names_the_backend() {
    on_each_backend(|app| async move {
        let r = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().contains_key("x-request-id"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(body["database"], if app.is_postgres() { "postgres" } else { "sqlite" });
        // The database gone: 503, still with the version.
        app.db.close().await;
        let r = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 503);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (body["status"].as_str(), body["version"].as_str()),
            (Some("unavailable"), Some(env!("CARGO_PKG_VERSION")))
        );
    })
    .await;
}

/// Ready once the phones' files are pre-rendered: a node started with 300
/// phones and a public URL says so within seconds, and not before it has
/// them in memory.
#[tokio::test]
async fn readyz_waits_for_the_pre_render() {
    on_each_backend(|mut app| async move {
        app.post(
            "/api/extensions",
            serde_json::json!({"extn": "1001", "password": "pass-1001-x"}),
        )
        .await;
        let rows: Vec<Value> = (0..300)
            .map(|i| serde_json::json!({"vendor": "yealink", "mac": format!("02{i:010x}"), "extn": "1001"}))
            .collect();
        let (status, body) = app
            .post("/api/device_provisions/import", serde_json::json!({"devices": rows}))
            .await;
        assert_eq!(status, 200, "{body}");
        let mut settings = app.settings.clone();
        settings.public_url = Some(format!("http://{}", app.addr));
        app.settings = settings;
        let app = app.restart().await;
        let start = std::time::Instant::now();
        loop {
            let r = app.client.get(app.url("/readyz")).send().await.unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["version"], env!("CARGO_PKG_VERSION"), "{status} {body}");
            if status == 200 {
                assert_eq!(body["status"], "ready");
                break;
            }
            assert_eq!((status.as_u16(), &body["status"]), (503, &Value::from("starting")));
            assert!(start.elapsed().as_secs() < 10, "not ready after 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let kept = app.state.provisioner.cache.stats().kept;
        assert!(kept >= 300, "ready with only {kept} files pre-rendered");
    })
    .await;
}

#[tokio::test]
async fn openapi_describes_every_route_and_the_docs_page_is_served_locally() {
    on_each_backend(|app| async move {
        let (status, doc) = app.get("/api/openapi.json").await;
        assert_eq!(status, 200);
        assert_eq!(
            doc["info"]["version"],
            env!("CARGO_PKG_VERSION"),
            "the document's version is Cargo's"
        );
        let paths = doc["paths"].as_object().unwrap();
        let expected = [
            ("/api/sessions", "post"),
            ("/api/sessions", "delete"),
            ("/api/extensions", "get"),
            ("/api/extensions", "post"),
            ("/api/extensions/muti_add", "post"),
            ("/api/extensions/{id}", "get"),
            ("/api/extensions/{id}", "put"),
            ("/api/extensions/{id}", "delete"),
            ("/api/device_provisions", "get"),
            ("/api/device_provisions", "post"),
            ("/api/device_provisions/import", "post"),
            ("/api/device_provisions/download", "get"),
            ("/api/device_provisions/pending", "get"),
            ("/api/device_provisions/{id}/preview", "get"),
            ("/api/device_provisions/{id}", "get"),
            ("/api/device_provisions/{id}", "put"),
            ("/api/device_provisions/{id}", "delete"),
            ("/api/dicts", "get"),
            ("/api/dicts", "post"),
            ("/api/dicts/realm/{realm}", "get"),
            ("/api/dicts/{id}", "get"),
            ("/api/dicts/{id}", "put"),
            ("/api/dicts/{id}", "delete"),
            ("/api/logs", "get"),
            ("/api/users", "get"),
            ("/api/users", "post"),
            ("/api/users/change_password", "put"),
            ("/api/users/{id}", "get"),
            ("/api/users/{id}", "put"),
            ("/api/users/{id}", "delete"),
            ("/api/users/{id}/extensions", "get"),
            ("/api/users/{id}/queue/name", "get"),
            ("/api/queues", "get"),
            ("/api/queues", "post"),
            ("/api/queues/{id}", "get"),
            ("/api/queues/{id}", "put"),
            ("/api/queues/{id}", "delete"),
            ("/api/queues/{id}/agents", "get"),
            ("/api/queues/{id}/agents", "post"),
            ("/api/queues/{id}/agents/{agent_id}", "delete"),
            ("/api/queues/{id}/extra_params", "get"),
            ("/api/queues/{id}/extra_params", "post"),
            ("/api/queues/{id}/extra_params/{param_id}", "put"),
            ("/api/queues/{id}/extra_params/{param_id}", "delete"),
            ("/api/upload", "post"),
            ("/api/upload/upload_max_size", "get"),
            ("/api/media_files", "get"),
            ("/api/media_files/uuid/{uuid}", "get"),
            ("/api/media_files/{id}", "get"),
            ("/api/media_files/{id}", "put"),
            ("/api/media_files/{id}", "delete"),
            ("/api/extn_alarms", "get"),
            ("/api/extn_alarms", "post"),
            ("/api/extn_alarms/{id}", "get"),
            ("/api/extn_alarms/{id}", "put"),
            ("/api/extn_alarms/{id}", "delete"),
            ("/api/extn_alarms/{id}/alarms", "get"),
            ("/api/extn_alarms/{id}/import", "post"),
            ("/api/extn_alarms/alarm/{id}", "delete"),
            ("/api/check/{name}", "get"),
            ("/api/{engine}/tts", "post"),
            ("/api/device_provisions/resync", "post"),
            ("/api/device_provisions/resync/{job}", "get"),
            ("/api/device_provisions/{id}/resync", "post"),
            ("/api/extensions/import", "post"),
            ("/api/contacts", "get"),
            ("/api/contacts", "post"),
            ("/api/contacts/import", "post"),
            ("/api/contacts/{id}", "get"),
            ("/api/contacts/{id}", "put"),
            ("/api/contacts/{id}", "delete"),
            ("/api/device_provisions/{id}/keys", "get"),
            ("/api/device_provisions/{id}/keys", "put"),
            ("/api/device_provisions/{id}/timeline", "get"),
            ("/api/key_templates", "get"),
            ("/api/key_templates", "post"),
            ("/api/key_templates/{id}", "get"),
            ("/api/key_templates/{id}", "put"),
            ("/api/key_templates/{id}", "delete"),
        ];
        for (path, method) in expected {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} missing from the document"
            );
        }
        let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(
            documented,
            expected.len(),
            "every documented operation is expected: {:?}",
            paths.keys()
        );
        let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
        assert_eq!(schemes["xtra_auth"]["name"], "X-XTRA-AUTH-ID");
        assert_eq!(
            doc["paths"]["/api/sessions"]["post"]["security"],
            serde_json::json!([{}]),
            "login needs no token"
        );

        let page = app
            .client
            .get(app.url("/api/docs/"))
            .header("X-XTRA-AUTH-ID", &app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("swagger") && !html.contains("cdn."),
            "assets are served by sipprov itself"
        );
        assert_eq!(app.send(Method::GET, "/api/docs/", None, None).await.0, 403);
    })
    .await;
}

fn is_text(kind: &serde_json::Value) -> bool {
    kind == "string" || *kind == serde_json::json!(["string", "null"])
}

/// The document lists the refusals each operation can give: 403 for every
/// one (no token), 400 where its input can be malformed, 404 where it names
/// a record.
#[test]
fn every_operation_documents_its_refusals() {
    let doc = serde_json::to_value(sipprov::api::openapi()).unwrap();
    let mut missing = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            // A body, or a parameter that is not free text, can be malformed.
            let takes_input = operation.get("requestBody").is_some()
                || operation["parameters"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| !is_text(&p["schema"]["type"])));
            let names_a_record = path.contains("{id}");
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                if parameter["in"] == "path" && !path.contains(&format!("{{{name}}}")) {
                    missing.push(format!("{method} {path}: '{name}' is not in the path"));
                }
            }
            for (status, needed) in [("403", true), ("400", takes_input), ("404", names_a_record)] {
                if needed && !responses.contains_key(status) {
                    missing.push(format!("{method} {path}: {status}"));
                }
            }
            assert!(
                operation["responses"]["200"].is_object() || operation["responses"]["204"].is_object(),
                "{method} {path} documents its success"
            );
        }
    }
    assert!(missing.is_empty(), "undocumented refusals: {missing:#?}");
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(
        schemes.contains_key("xtra_auth") && schemes.contains_key("bearer") && schemes.contains_key("session_cookie")
    );
}

/// The document states what the server requires: a create names its
/// required fields and refuses null for them; the matching update (PUT)
/// requires nothing and takes null as "leave as it is"; a list's sort
/// fields are the ones it can sort by. schemathesis (.ci/fuzz-api) checks
/// the rest against a running server.
#[test]
fn the_document_is_as_strict_as_the_server() {
    let doc = serde_json::to_value(sipprov::api::openapi()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let body_of = |path: &str, method: &str| {
        let reference = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has a body schema"))
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        // A flattened map joins the fields through `allOf`.
        let schema = &schemas[reference.as_str()];
        schema["allOf"]
            .as_array()
            .and_then(|parts| parts.iter().find(|p| p.get("properties").is_some()))
            .unwrap_or(schema)
            .clone()
    };
    let allows_null = |schema: &serde_json::Value| {
        schema["oneOf"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i["type"] == "null"))
            || schema["type"] == "null"
    };
    for (path, required) in [
        ("/api/device_provisions", &["vendor", "mac"][..]),
        ("/api/extensions", &["extn"][..]),
        ("/api/dicts", &["realm", "k"][..]),
        ("/api/queues", &["name", "type"][..]),
        ("/api/users", &["login", "password"][..]),
    ] {
        let create = body_of(path, "post");
        let listed: Vec<&str> = create["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for field in required {
            assert!(listed.contains(field), "POST {path}: {field} is required ({listed:?})");
            assert!(
                !allows_null(&create["properties"][*field]),
                "POST {path}: {field} refuses null"
            );
        }
        let update_path = format!("{path}/{{id}}");
        let update = body_of(&update_path, "put");
        assert!(
            update.get("required").is_none_or(|r| r.as_array().unwrap().is_empty()),
            "PUT {update_path}"
        );
        for field in required {
            assert!(
                allows_null(&update["properties"][*field]),
                "PUT {update_path}: {field} takes null"
            );
        }
    }
    // Every optional field of a create says what it is, and its default
    // where that is a fixed value; an update's fields have none.
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(reference) = item["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
        else {
            continue;
        };
        let name = reference.rsplit('/').next().unwrap();
        let schema = &schemas[name];
        for part in schema["allOf"].as_array().map_or(vec![schema.clone()], |p| p.clone()) {
            let required: Vec<&Value> = part["required"]
                .as_array()
                .map(|r| r.iter().collect())
                .unwrap_or_default();
            for (field, property) in part["properties"].as_object().into_iter().flatten() {
                if !required.contains(&&Value::from(field.as_str())) {
                    assert!(
                        property["description"].is_string(),
                        "POST {path}: {name}.{field} says what it is"
                    );
                }
            }
        }
    }
    let extension = body_of("/api/extensions", "post");
    assert_eq!(extension["properties"]["domain"]["default"], "xswitch.cn");
    assert_eq!(extension["properties"]["type"]["default"], "SIP");
    let update = body_of("/api/extensions/{id}", "put");
    assert!(
        update["properties"]["domain"].get("default").is_none(),
        "an update keeps what it leaves out"
    );
    // A blank media id on a sensor's update keeps it, as null does.
    let sensor_update = body_of("/api/extn_alarms/{id}", "put");
    let blank_allowed = sensor_update["properties"]["data"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .any(|branch| branch["pattern"] == r"^\s*$");
    assert!(blank_allowed, "{sensor_update}");
    let sort_field = doc["paths"]["/api/device_provisions"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "sort_field")
        .unwrap()
        .clone();
    let fields = regex::Regex::new(sort_field["schema"]["pattern"].as_str().unwrap()).unwrap();
    for field in ["", "id", "name", "vendor", "mac", "type", "created_at", "updated_at"] {
        assert!(fields.is_match(field), "{field}");
    }
    assert!(!fields.is_match("extn") && !fields.is_match("password"));

    // A login needs a name that is not blank, in a form body as in JSON.
    let login = &schemas["LoginRequest"]["properties"];
    for field in ["login", "username"] {
        let pattern = regex::Regex::new(login[field]["pattern"].as_str().expect("a pattern")).unwrap();
        assert!(
            !pattern.is_match("") && !pattern.is_match("  ") && pattern.is_match("admin"),
            "{field}"
        );
    }
    // Changing a password is an action, not a partial update: its password is required.
    let change = body_of("/api/users/change_password", "put");
    assert_eq!(change["required"], serde_json::json!(["password"]), "{change}");
    assert!(!allows_null(&change["properties"]["password"]));
    // What a schema cannot state, the description does.
    let range = &schemas["RangeInput"]["description"];
    let limit = sipprov::admin::extensions::MAX_RANGE.to_string();
    let limit = format!("{},{}", &limit[..limit.len() - 3], &limit[limit.len() - 3..]);
    let said = range.as_str().unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(said.contains(&format!("at most {limit} extensions")), "{range}");
}
