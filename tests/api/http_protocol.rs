//! GraphQL over HTTP: methods, media types, body size and shape, statuses by `Accept`,
//! batches, persisted queries with HTTP caching, error codes, request ids, CORS and metrics.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use stockroom::config::ServeSettings;

use crate::{
    helpers::{self, TestApp, ws::WsClient},
    http_support::{app_with_public_read, get_graphql, post_json, post_raw},
};

const GQL_RESPONSE: &str = "application/graphql-response+json";

#[tokio::test]
async fn a_mutation_over_get_is_refused_with_405() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let auth = format!("Bearer {token}");
    let res = get_graphql(
        &app,
        &[("query", "mutation { __typename }")],
        &[("authorization", &auth), ("accept", "application/json")],
    )
    .await;
    assert_eq!(res.status, 405, "{}", res.text);
    assert_eq!(res.header("allow"), Some("POST"));
}

#[tokio::test]
async fn a_query_over_get_works_and_may_be_cached() {
    let app = app_with_public_read().await;
    let res = get_graphql(&app, &[("query", "{ viewer { id } }")], &[]).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body, json!({ "data": { "viewer": null } }));
    let cache = res.header("cache-control").unwrap();
    assert!(cache.starts_with("public, max-age="), "{cache}");
    assert!(res.header("vary").unwrap().contains("Authorization"));

    let token = app.admin_token().await;
    let auth = format!("Bearer {token}");
    let res = get_graphql(
        &app,
        &[("query", "{ viewer { username } }")],
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(res.body["data"]["viewer"]["username"], "test-admin");
    assert!(res.header("cache-control").unwrap().starts_with("private"));
}

#[tokio::test]
async fn a_post_that_is_not_json_is_refused_with_415() {
    let app = TestApp::spawn().await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let res = post_raw(
            &app,
            &[("content-type", content_type)],
            r#"{"query":"{ __typename }"}"#,
        )
        .await;
        assert_eq!(res.status, 415, "{content_type}");
    }
    let res = post_raw(&app, &[], r#"{"query":"{ __typename }"}"#).await;
    assert_eq!(res.status, 415, "no content type");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = TestApp::spawn().await;
    let padding = " ".repeat(2 * 1024 * 1024);
    let body = format!(r#"{{"query":"{{ __typename }}"{padding}}}"#);
    let res = post_raw(&app, &[("content-type", "application/json")], body).await;
    assert_eq!(res.status, 413);
}

#[tokio::test]
async fn malformed_bodies_are_bad_request_with_400() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, String)> = vec![
        ("not JSON", "{ \"not a JSON".into()),
        ("empty", String::new()),
        ("no query", json!({ "qeury": "{ __typename }" }).to_string()),
        ("query not a string", json!({ "query": 7 }).to_string()),
        (
            "variables not an object",
            json!({ "query": "{ __typename }", "variables": "[]" }).to_string(),
        ),
        (
            "variables an array",
            json!({ "query": "{ __typename }", "variables": [1] }).to_string(),
        ),
        (
            "operationName not a string",
            json!({ "query": "{ __typename }", "operationName": 1 }).to_string(),
        ),
        ("a bare string", json!("{ __typename }").to_string()),
        ("an empty batch", "[]".into()),
    ];
    for (what, body) in cases {
        for accept in ["application/json", GQL_RESPONSE] {
            let res = post_raw(
                &app,
                &[("content-type", "application/json"), ("accept", accept)],
                body.clone(),
            )
            .await;
            assert_eq!(res.status, 400, "{what} / {accept}: {}", res.text);
            assert_eq!(res.code(), Some("BAD_REQUEST"), "{what}: {}", res.text);
            assert!(res.body.get("data").is_none(), "{what}");
        }
    }
}

#[tokio::test]
async fn request_errors_are_400_for_graphql_response_json_and_200_for_json() {
    let app = TestApp::spawn().await;
    let cases = [
        ("parse", json!({ "query": "{" }), "GRAPHQL_PARSE_FAILED"),
        (
            "validation",
            json!({ "query": "{ nope }" }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "variable coercion",
            json!({ "query": "query Q($id: ID!) { __typename }", "variables": { "id": null } }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "unknown operation name",
            json!({ "query": "query A { __typename }", "operationName": "B" }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ];
    for (what, body, code) in cases {
        let res = post_json(&app, None, Some(GQL_RESPONSE), &body).await;
        assert_eq!(res.status, 400, "{what}: {}", res.text);
        assert_eq!(res.code(), Some(code), "{what}: {}", res.text);
        assert!(res.body.get("data").is_none(), "{what}: no data entry");
        assert!(
            res.header("content-type")
                .unwrap()
                .starts_with(GQL_RESPONSE)
        );

        let res = post_json(&app, None, Some("application/json"), &body).await;
        assert_eq!(res.status, 200, "{what}: {}", res.text);
        assert_eq!(res.code(), Some(code), "{what}");
        assert!(
            res.header("content-type")
                .unwrap()
                .starts_with("application/json")
        );
    }
}

#[tokio::test]
async fn execution_errors_come_with_200_whatever_is_accepted() {
    let app = TestApp::spawn().await;
    for accept in [GQL_RESPONSE, "application/json"] {
        let res = post_json(
            &app,
            None,
            Some(accept),
            &json!({ "query": "{ viewer { id } }" }),
        )
        .await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.code(), Some("UNAUTHENTICATED"));
    }
}

#[tokio::test]
async fn suggestions_are_off_outside_dev_mode() {
    let app = TestApp::spawn().await;
    let res = post_json(&app, None, None, &json!({ "query": "{ __typenam }" })).await;
    let message = res.body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
}

#[tokio::test]
async fn suggestions_come_back_in_dev_mode() {
    let app = TestApp::spawn_with(ServeSettings {
        dev_mode: true,
        ..ServeSettings::default()
    })
    .await;
    let res = post_json(&app, None, None, &json!({ "query": "{ __typenam }" })).await;
    let message = res.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Did you mean"), "{message}");
}

#[tokio::test]
async fn a_document_that_failed_validation_fails_it_every_time_and_a_valid_one_answers_alike() {
    // The gate skips async-graphql's validation rules for a document of one operation without
    // variables once it passed them: one that failed must keep failing, one that passed must
    // answer as it did, and a document with variables still has their values checked.
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let bad = json!({ "query": "query Bad { stores(first: 1) { nodes { code nope } } }" });
    let typed = json!({
        "query": "query Typed($n: Int!) { stores(first: $n) { nodes { code } } }",
        "variables": { "n": "two" },
    });
    for refused in [&bad, &typed] {
        for round in 0..3 {
            let res = post_json(&app, Some(&token), None, refused).await;
            assert_eq!(
                res.code(),
                Some("GRAPHQL_VALIDATION_FAILED"),
                "round {round}: {}",
                res.text
            );
            assert!(
                res.body.get("data").is_none(),
                "round {round}: {}",
                res.text
            );
        }
    }
    let good = json!({
        "query": "query Good { stores(first: 2) { edges { node { code name } } } viewer { username } }"
    });
    let first = post_json(&app, Some(&token), None, &good).await;
    assert!(first.body.get("errors").is_none(), "{}", first.text);
    assert_eq!(first.body["data"]["viewer"]["username"], "test-admin");
    for round in 0..2 {
        let again = post_json(&app, Some(&token), None, &good).await;
        assert_eq!(again.body, first.body, "round {round}");
    }
}

#[tokio::test]
async fn a_batch_runs_each_operation_in_order_up_to_the_limit() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let batch = json!([
        { "query": "{ viewer { username } }" },
        { "query": "{ __typename }" },
        { "query": "{ nope }" },
    ]);
    let res = post_json(&app, Some(&token), None, &batch).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let items = res.body.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["data"]["viewer"]["username"], "test-admin");
    assert_eq!(items[1]["data"]["__typename"], "Query");
    assert_eq!(
        items[2]["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );

    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({ "query": "{ __typename }" }))
        .collect();
    let res = post_json(&app, Some(&token), None, &Value::Array(eleven)).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.code(), Some("QUERY_TOO_COMPLEX"));
    assert_eq!(res.body["errors"][0]["extensions"]["limit"], 10);
}

fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn persisted_queries_register_once_then_run_by_hash_over_get() {
    let app = app_with_public_read().await;
    let query = "query Who { viewer { id } __typename }";
    let hash = sha256(query);
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });

    // Unknown hash: the client is told to send the text.
    let res = post_json(&app, None, None, &json!({ "extensions": ext })).await;
    assert_eq!(
        res.code(),
        Some("PERSISTED_QUERY_NOT_FOUND"),
        "{}",
        res.text
    );
    assert_eq!(res.body["errors"][0]["message"], "PersistedQueryNotFound");

    // A text that does not match its hash is refused.
    let wrong = json!({ "query": "{ __typename }", "extensions": ext });
    let res = post_json(&app, None, None, &wrong).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.code(), Some("BAD_REQUEST"));

    // Registered with its text…
    let res = post_json(
        &app,
        None,
        None,
        &json!({ "query": query, "extensions": ext }),
    )
    .await;
    assert_eq!(res.body["data"]["__typename"], "Query", "{}", res.text);

    // …then a GET with the hash alone, cacheable by HTTP caches.
    let ext_text = ext.to_string();
    let res = get_graphql(&app, &[("extensions", ext_text.as_str())], &[]).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["data"]["__typename"], "Query");
    assert!(res.header("cache-control").unwrap().contains("max-age="));
}

#[tokio::test]
async fn a_get_with_nothing_to_run_is_bad_request_and_a_browser_gets_graphiql() {
    let app = TestApp::spawn().await;
    let res = get_graphql(&app, &[], &[("accept", "application/json")]).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.code(), Some("BAD_REQUEST"));
    let res = get_graphql(&app, &[], &[("accept", "text/html")]).await;
    assert_eq!(res.status, 200);
    assert!(res.text.contains("GraphiQL"));
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_the_clients() {
    let app = TestApp::spawn().await;
    let res = post_raw(
        &app,
        &[
            ("content-type", "application/json"),
            ("x-request-id", "abc-123"),
        ],
        r#"{"query":"{ __typename }"}"#,
    )
    .await;
    assert_eq!(res.header("x-request-id"), Some("abc-123"));
    let res = post_raw(
        &app,
        &[("content-type", "application/json")],
        r#"{"query":"{ __typename }"}"#,
    )
    .await;
    assert!(!res.header("x-request-id").unwrap().is_empty());
}

#[tokio::test]
async fn every_route_carries_a_request_id_and_an_internal_error_names_the_headers_one() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let get = |path: &str, id: &'static str| {
        app.client
            .get(format!("{}{path}", app.base))
            .header("x-request-id", id)
            .send()
    };
    for path in ["/healthz", "/metrics", "/schema.graphql", "/nowhere"] {
        let res = get(path, "probe-1").await.unwrap();
        assert_eq!(res.headers()["x-request-id"], "probe-1", "{path}");
    }
    // A client's id that is not short and plain is replaced by a fresh one.
    let res = get("/healthz", "a b").await.unwrap();
    let fresh = res.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(fresh.len(), 16, "{fresh}");

    // A failure the server did not foresee: the SQL meets a renamed column.
    helpers::sql(&app.db_url)
        .await
        .batch_execute("ALTER TABLE products RENAME COLUMN name TO name_gone")
        .await
        .unwrap();
    for sent in [Some("trace-me-7"), None] {
        let mut req = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&token)
            .json(&json!({"query": "{ products(first: 1) { nodes { name } } }"}));
        if let Some(id) = sent {
            req = req.header("x-request-id", id);
        }
        let res = req.send().await.unwrap();
        let header = res.headers()["x-request-id"].to_str().unwrap().to_string();
        if let Some(id) = sent {
            assert_eq!(header, id);
        }
        let body: Value = res.json().await.unwrap();
        let err = &body["errors"][0];
        assert_eq!(err["extensions"]["code"], "INTERNAL_SERVER_ERROR", "{body}");
        assert_eq!(err["extensions"]["requestId"], header.as_str(), "{body}");
    }
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let app = TestApp::spawn_with(ServeSettings {
        cors_origins: vec!["https://shop.example".into()],
        ..ServeSettings::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("https://shop.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let default = TestApp::spawn().await;
    let res = default
        .client
        .post(format!("{}/graphql", default.base))
        .header("origin", "https://shop.example")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn metrics_count_operations_by_type_and_code() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    post_json(
        &app,
        Some(&token),
        None,
        &json!({ "query": "{ viewer { id } }" }),
    )
    .await;
    post_json(&app, None, None, &json!({ "query": "{ viewer { id } }" })).await;
    let res = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        text.contains(r#"stockroom_graphql_requests_total{operation_type="query",code="OK"}"#),
        "{text}"
    );
    assert!(text.contains(
        r#"stockroom_graphql_requests_total{operation_type="query",code="UNAUTHENTICATED"}"#
    ));
    assert!(text.contains("stockroom_graphql_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn an_unacceptable_accept_header_is_refused_with_406() {
    let app = TestApp::spawn().await;
    let res = post_raw(
        &app,
        &[("content-type", "application/json"), ("accept", "text/csv")],
        r#"{"query":"{ __typename }"}"#,
    )
    .await;
    assert_eq!(res.status, 406);
}

#[tokio::test]
async fn graphql_upgrades_to_graphql_transport_ws_and_applies_the_limits_there_too() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let mut ws = WsClient::connect_at(&format!("{}/graphql", app.base), &token).await;

    let payload = ws.run("1", "{ viewer { username } }").await;
    assert_eq!(
        payload["data"]["viewer"]["username"], "test-admin",
        "{payload}"
    );

    let aliases: String = (0..60).map(|i| format!("a{i}: __typename ")).collect();
    ws.subscribe("2", &format!("{{ {aliases} }}")).await;
    let mut msg = ws.next().await;
    while msg["id"] != "2" {
        msg = ws.next().await;
    }
    let errors = if msg["type"] == "error" {
        msg["payload"].clone()
    } else {
        msg["payload"]["errors"].clone()
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{msg}"
    );
}
