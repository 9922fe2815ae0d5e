//! Who may read: anonymous callers only introspect (unless public reads are on), every role
//! reads, a bad or revoked token is refused, `viewer` is the caller (even when it changed since
//! the token's last check), `node(id:)` answers every role the same, and a token's last use is
//! recorded without a write per request.

use serde_json::{Value, json};
use stockroom::domain::role::Role;

use crate::{
    helpers::{TestApp, error_code},
    http_support::{app_with_public_read, post_json, post_raw},
};

const ROLES: [Role; 4] = [Role::Viewer, Role::Staff, Role::Manager, Role::Admin];

#[tokio::test]
async fn anonymous_reads_are_unauthenticated_without_public_reads() {
    let app = TestApp::spawn().await;
    app.seed_demo().await;
    for query in [
        "{ viewer { id } }",
        "{ products(first: 1) { nodes { sku } } }",
        "{ stores(first: 1) { nodes { code } } }",
        "{ node(id: \"UHJvZHVjdDox\") { id } }",
        "{ __typename products(first: 1) { nodes { sku } } }",
        "query A { __typename } query B { viewer { id } }",
    ] {
        let (name, query) = match query.split_once("query B") {
            Some(_) => (Some("B"), query),
            None => (None, query),
        };
        let res = post_json(
            &app,
            None,
            None,
            &json!({ "query": query, "operationName": name }),
        )
        .await;
        assert_eq!(res.status, 200, "{query}: {}", res.text);
        assert_eq!(res.code(), Some("UNAUTHENTICATED"), "{query}: {}", res.text);
        assert_eq!(
            res.body["data"],
            Value::Null,
            "{query}: nothing is revealed"
        );
    }
}

#[tokio::test]
async fn anonymous_introspection_works() {
    let app = TestApp::spawn().await;
    for query in [
        "{ __typename }",
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"Product\") { name fields { name } } }",
        "{ ...T } fragment T on Query { __typename }",
        "{ ... on Query { __typename } }",
        "query A { __typename } query B { viewer { id } }",
    ] {
        let res = post_json(
            &app,
            None,
            None,
            &json!({ "query": query, "operationName": query.contains("query A").then_some("A") }),
        )
        .await;
        assert!(res.body.get("errors").is_none(), "{query}: {}", res.text);
        assert!(res.body["data"].is_object(), "{query}");
    }
}

#[tokio::test]
async fn public_reads_let_anonymous_callers_read_and_viewer_is_null() {
    let app = app_with_public_read().await;
    app.seed_demo().await;
    let res = post_json(
        &app,
        None,
        None,
        &json!({ "query": "{ viewer { id } products(first: 2) { nodes { sku } } }" }),
    )
    .await;
    assert!(res.body.get("errors").is_none(), "{}", res.text);
    assert_eq!(res.body["data"]["viewer"], Value::Null);
    assert_eq!(
        res.body["data"]["products"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn every_role_reads_and_viewer_is_the_caller() {
    let app = TestApp::spawn().await;
    app.seed_demo().await;
    for role in ROLES {
        let name = format!("reader-{role}").to_lowercase();
        let token = app.user_token(&name, role, &[]).await;
        let body = app
            .graphql_as(
                &token,
                "{ viewer { username role stores { code } } products(first: 1) { nodes { sku } } }",
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{role}: {body}");
        assert_eq!(body["data"]["viewer"]["username"], name.as_str());
        assert_eq!(body["data"]["viewer"]["role"], role.as_str());
        assert!(body["data"]["products"]["nodes"][0]["sku"].is_string());
    }
}

#[tokio::test]
async fn a_bad_token_is_unauthenticated_even_for_introspection() {
    let app = app_with_public_read().await;
    for header in [
        "Bearer sr_not-a-real-token",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "sr_without_scheme",
    ] {
        let res = post_raw(
            &app,
            &[
                ("content-type", "application/json"),
                ("authorization", header),
            ],
            r#"{"query":"{ __typename }"}"#,
        )
        .await;
        assert_eq!(res.status, 200, "{header}");
        assert_eq!(
            res.code(),
            Some("UNAUTHENTICATED"),
            "{header}: {}",
            res.text
        );
    }
}

#[tokio::test]
async fn a_revoked_token_is_refused_on_the_next_request() {
    let app = TestApp::spawn().await;
    let token = app.user_token("soon-revoked", Role::Viewer, &[]).await;
    let body = app
        .graphql_as(&token, "{ viewer { username } }", json!({}))
        .await;
    assert_eq!(body["data"]["viewer"]["username"], "soon-revoked");

    let mut conn = app.pool.get().await.unwrap();
    let row = stockroom::db::models::token::find(&mut conn, &token)
        .await
        .unwrap()
        .unwrap();
    stockroom::db::models::token::revoke(&mut conn, row.id)
        .await
        .unwrap();
    drop(conn);

    // The token passed a check a moment ago, so this query starts alongside its check
    // (reading products): the refusal still comes alone, with nothing read.
    let body = app
        .graphql_as(
            &token,
            "{ viewer { username } products(first: 5) { nodes { sku } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
}

#[tokio::test]
async fn a_role_or_store_scope_changed_behind_the_service_is_the_very_next_querys_caller() {
    let app = TestApp::spawn().await;
    app.seed_demo().await;
    let token = app.user_token("promoted", Role::Viewer, &[]).await;
    let who = "{ viewer { username role stores { code } } products(first: 2) { nodes { sku } } }";
    let caller = |body: &Value| {
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(
            body["data"]["products"]["nodes"].as_array().unwrap().len(),
            2
        );
        let viewer = &body["data"]["viewer"];
        let stores: Vec<&str> = viewer["stores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["code"].as_str().unwrap())
            .collect();
        (
            viewer["role"].as_str().unwrap().to_string(),
            stores.join(","),
        )
    };
    for _ in 0..2 {
        let body = app.graphql_as(&token, who, json!({})).await;
        assert_eq!(caller(&body), ("VIEWER".to_string(), String::new()));
    }
    // Another tool changes the user: the next query (which starts as the caller the token
    // had at its last check) answers as the caller its own check found.
    let db = crate::helpers::sql(&app.db_url).await;
    db.batch_execute(
        "UPDATE users SET role = 'STAFF' WHERE username = 'promoted';
         INSERT INTO user_stores (user_id, store_id)
           SELECT u.id, s.id FROM users u, stores s WHERE u.username = 'promoted'
           ORDER BY s.code LIMIT 1",
    )
    .await
    .unwrap();
    let first_store: String = db
        .query_one("SELECT code FROM stores ORDER BY code LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    for _ in 0..2 {
        let body = app.graphql_as(&token, who, json!({})).await;
        assert_eq!(caller(&body), ("STAFF".to_string(), first_store.clone()));
    }
}

async fn last_used(app: &TestApp, token: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let mut conn = app.pool.get().await.unwrap();
    stockroom::db::models::token::find(&mut conn, token)
        .await
        .unwrap()
        .unwrap()
        .last_used_at
}

#[tokio::test]
async fn last_use_is_recorded_at_most_once_a_minute() {
    let app = TestApp::spawn().await;
    let token = app.user_token("often", Role::Viewer, &[]).await;
    assert_eq!(last_used(&app, &token).await, None);
    app.graphql_as(&token, "{ viewer { id } }", json!({})).await;
    let first = last_used(&app, &token)
        .await
        .expect("recorded on first use");
    for _ in 0..5 {
        app.graphql_as(&token, "{ viewer { id } }", json!({})).await;
    }
    assert_eq!(
        last_used(&app, &token).await,
        Some(first),
        "no write while the recorded use is under a minute old"
    );

    // An hour later (moved back in the database), the next use is recorded again.
    let client = crate::helpers::sql(&app.db_url).await;
    client
        .batch_execute("UPDATE api_tokens SET last_used_at = now() - interval '1 hour'")
        .await
        .unwrap();
    let old = last_used(&app, &token).await.unwrap();
    app.graphql_as(&token, "{ viewer { id } }", json!({})).await;
    assert!(last_used(&app, &token).await.unwrap() > old);
}

/// Global IDs of one object of every type, as the admin sees them.
async fn one_id_of_every_type(app: &TestApp, admin: &str) -> Vec<(String, String)> {
    let body = app
        .graphql_as(
            admin,
            "{ viewer { id }
               products(first: 1) { nodes { id category { id } stocks { id store { id } } } }
               transactions(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let product = &body["data"]["products"]["nodes"][0];
    let stock = &product["stocks"][0];
    [
        ("User", &body["data"]["viewer"]["id"]),
        ("Product", &product["id"]),
        ("Category", &product["category"]["id"]),
        ("Stock", &stock["id"]),
        ("Store", &stock["store"]["id"]),
        (
            "InventoryTransaction",
            &body["data"]["transactions"]["nodes"][0]["id"],
        ),
    ]
    .into_iter()
    .map(|(ty, id)| (ty.to_string(), id.as_str().unwrap().to_string()))
    .collect()
}

#[tokio::test]
async fn node_answers_every_role_the_same_and_anonymous_callers_nothing() {
    let app = TestApp::spawn().await;
    app.seed_demo().await;
    let admin = app.admin_token().await;
    let ids = one_id_of_every_type(&app, &admin).await;
    let mut tokens = Vec::new();
    for role in ROLES {
        let name = format!("node-{role}").to_lowercase();
        tokens.push((role, app.user_token(&name, role, &[]).await));
    }
    let query = "query N($id: ID!) { node(id: $id) { __typename id } }";
    for (ty, id) in &ids {
        for (role, token) in &tokens {
            let body = app.graphql_as(token, query, json!({ "id": id })).await;
            assert!(body.get("errors").is_none(), "{ty} as {role}: {body}");
            assert_eq!(body["data"]["node"]["__typename"], ty.as_str(), "{role}");
            assert_eq!(body["data"]["node"]["id"], id.as_str());
        }
        let res = post_json(
            &app,
            None,
            None,
            &json!({ "query": query, "variables": { "id": id } }),
        )
        .await;
        assert_eq!(res.code(), Some("UNAUTHENTICATED"), "{ty} anonymously");
        assert_eq!(res.body["data"], Value::Null);
    }
}

#[tokio::test]
async fn node_with_public_reads_answers_anonymous_callers_like_a_viewer() {
    let app = app_with_public_read().await;
    app.seed_demo().await;
    let admin = app.admin_token().await;
    let viewer = app.user_token("plain-viewer", Role::Viewer, &[]).await;
    let query = "query N($id: ID!) { node(id: $id) { __typename id } }";
    for (ty, id) in one_id_of_every_type(&app, &admin).await {
        let as_viewer = app.graphql_as(&viewer, query, json!({ "id": id })).await;
        let anonymous = app.graphql(query, json!({ "id": id })).await;
        assert_eq!(anonymous, as_viewer, "{ty}");
    }
}
