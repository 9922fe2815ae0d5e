//! Requests that would cost far more than their limits say are refused cheaply: `nodes` takes
//! at most 100 ids and is weighed by how many it gets, a `Decimal` input is bounded before it
//! is parsed, a `search` is bounded, a NUL character never reaches PostgreSQL, `totalCount`
//! and `search` weigh in the complexity, and a request that timed out stops its SQL.

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use stockroom::{config::ServeSettings, domain::role::Role};

use crate::{
    helpers::{TestApp, error_code, sessions_waiting_for_a_lock, until},
    http_support::{DEAD_DATABASE, post_json},
    mutations_support::{fixture, sql},
};

/// The code and `extensions.field` of a response's first error.
fn refusal(body: &Value) -> (Option<&str>, Option<&str>) {
    (
        error_code(body),
        body["errors"][0]["extensions"]["field"].as_str(),
    )
}

/// The start of a long response, for a failure message.
fn head(text: &str) -> String {
    text.chars().take(300).collect()
}

const NODES: &str = "query Q($ids: [ID!]!) { nodes(ids: $ids) { id } }";

#[tokio::test]
async fn nodes_with_more_than_a_hundred_ids_is_bad_user_input_naming_ids() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 0).await;
    let ids = |n: usize| vec![f.product_id.clone(); n];
    let body = app
        .graphql_as(&f.admin, NODES, json!({ "ids": ids(100) }))
        .await;
    assert_eq!(error_code(&body), None, "{body}");
    assert_eq!(body["data"]["nodes"].as_array().unwrap().len(), 100);
    let body = app
        .graphql_as(&f.admin, NODES, json!({ "ids": ids(101) }))
        .await;
    assert_eq!(
        refusal(&body),
        (Some("BAD_USER_INPUT"), Some("ids")),
        "{body}"
    );
    let literal = format!(
        "{{ nodes(ids: {}) {{ id }} }}",
        serde_json::to_string(&ids(101)).unwrap()
    );
    let body = app.graphql_as(&f.admin, &literal, json!({})).await;
    assert_eq!(
        refusal(&body),
        (Some("BAD_USER_INPUT"), Some("ids")),
        "{body}"
    );
}

/// A server whose database cannot be reached, with these settings and public reads.
async fn app_without_database(settings: ServeSettings) -> TestApp {
    TestApp::spawn_on(
        DEAD_DATABASE,
        ServeSettings {
            public_read: true,
            ..settings
        },
    )
    .await
}

#[tokio::test]
async fn nodes_are_weighed_by_the_ids_they_get_before_any_sql() {
    let app = app_without_database(ServeSettings::default()).await;
    let id = URL_SAFE_NO_PAD.encode("Product:1");
    let body_of = "{ id ... on Product { transactions(first: 100) { nodes { id quantity } } } }";
    // 40,000 copies of one id (under 1 MiB) through a variable.
    let query = format!("query Q($ids: [ID!]!) {{ nodes(ids: $ids) {body_of} }}");
    let vars = json!({ "ids": vec![id.clone(); 40_000] });
    let res = post_json(
        &app,
        None,
        None,
        &json!({ "query": query, "variables": vars }),
    )
    .await;
    assert_eq!(res.code(), Some("QUERY_TOO_COMPLEX"), "{}", head(&res.text));
    // A thousand written into the document.
    let literal = format!(
        "{{ nodes(ids: {}) {body_of} }}",
        serde_json::to_string(&vec![id.clone(); 1000]).unwrap()
    );
    let res = post_json(&app, None, None, &json!({ "query": literal })).await;
    assert_eq!(res.code(), Some("QUERY_TOO_COMPLEX"), "{}", head(&res.text));
    // Control: one id gets through to the (unreachable) database.
    let res = post_json(
        &app,
        None,
        None,
        &json!({ "query": query, "variables": {"ids": [id]} }),
    )
    .await;
    assert_eq!(res.code(), Some("SERVICE_UNAVAILABLE"), "{}", res.text);
}

#[tokio::test]
async fn total_count_and_search_weigh_in_the_complexity() {
    let mut settings = ServeSettings::default();
    settings.limits.max_complexity = 90;
    let app = app_without_database(settings).await;
    for query in [
        "{ products(first: 1) { totalCount } }",
        "{ products(first: 1, filter: {search: \"drill\"}) { nodes { id } } }",
    ] {
        let res = post_json(&app, None, None, &json!({ "query": query })).await;
        assert_eq!(
            res.code(),
            Some("QUERY_TOO_COMPLEX"),
            "{query}: {}",
            res.text
        );
    }
    let res = post_json(
        &app,
        None,
        None,
        &json!({ "query": "{ products(first: 1) { nodes { id } } }" }),
    )
    .await;
    assert_eq!(res.code(), Some("SERVICE_UNAVAILABLE"), "{}", res.text);
}

#[tokio::test]
async fn a_decimal_of_a_million_digits_is_refused_before_it_is_parsed_even_for_a_viewer() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 0).await;
    let viewer = app.user_token("viewer", Role::Viewer, &[]).await;
    let create = "mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }";
    let input = |price: String| json!({ "input": {"sku": "D-1", "name": "Digits", "price": price, "categoryId": f.category_id} });
    let started = Instant::now();
    let body = app
        .graphql_as(&viewer, create, input("9".repeat(1_040_000)))
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let body = app
        .graphql_as(&f.admin, create, input(format!("{}.50", "0".repeat(30))))
        .await;
    assert_eq!(
        error_code(&body),
        Some("BAD_USER_INPUT"),
        "33 characters: {body}"
    );
    let body = app
        .graphql_as(&f.admin, create, input(format!("{}.50", "0".repeat(29))))
        .await;
    assert_eq!(error_code(&body), None, "32 characters: {body}");
}

#[tokio::test]
async fn a_search_over_two_hundred_characters_is_bad_user_input() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 0).await;
    let query = "query Q($s: String) { products(filter: {search: $s}) { nodes { id } } }";
    let body = app
        .graphql_as(&f.admin, query, json!({ "s": "é".repeat(200) }))
        .await;
    assert_eq!(error_code(&body), None, "{body}");
    let body = app
        .graphql_as(&f.admin, query, json!({ "s": "é".repeat(201) }))
        .await;
    assert_eq!(
        refusal(&body),
        (Some("BAD_USER_INPUT"), Some("filter.search")),
        "{body}"
    );
}

#[tokio::test]
async fn a_nul_character_in_a_string_argument_is_bad_user_input_naming_it() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 0).await;
    let nul_cursor = URL_SAFE_NO_PAD.encode(r#"{"Sku":"P\u0000"}"#);
    let cases = [
        ("{ product(sku: \"P\\u0000\") { id } }", "sku"),
        ("{ store(code: \"A\\u0000\") { id } }", "code"),
        (
            "{ products(filter: {search: \"a\\u0000\"}) { nodes { id } } }",
            "filter.search",
        ),
        (
            &format!("{{ products(after: \"{nul_cursor}\") {{ nodes {{ id }} }} }}") as &str,
            "after",
        ),
        (
            "mutation { createCategory(input: {name: \"a\\u0000b\"}) { id } }",
            "input.name",
        ),
        (
            "mutation { createStore(input: {code: \"Z\\u0000\", name: \"z\"}) { id } }",
            "input.code",
        ),
    ];
    for (query, field) in cases {
        let body = app.graphql_as(&f.admin, query, json!({})).await;
        assert_eq!(
            refusal(&body),
            (Some("BAD_USER_INPUT"), Some(field)),
            "{query}: {body}"
        );
    }
    // The same through a variable.
    let body = app
        .graphql_as(
            &f.admin,
            "query Q($sku: String) { product(sku: $sku) { id } }",
            json!({ "sku": "P\u{0}" }),
        )
        .await;
    assert_eq!(
        refusal(&body),
        (Some("BAD_USER_INPUT"), Some("sku")),
        "{body}"
    );
}

#[tokio::test]
async fn the_sql_of_a_request_that_timed_out_is_stopped_too() {
    let mut settings = ServeSettings::default();
    settings.limits.request_timeout_ms = 500;
    let app = TestApp::spawn_with(settings).await;
    let f = fixture(&app, 0).await;
    let holder = sql(&app.db_url).await;
    holder
        .batch_execute("BEGIN; LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let body = app
        .graphql_as(&f.admin, "{ products { nodes { id } } }", json!({}))
        .await;
    assert_eq!(error_code(&body), Some("SERVICE_UNAVAILABLE"), "{body}");
    // The statement waiting for the lock ends with the request (statement_timeout), while
    // the lock is still held — well before the lock_timeout (the tests' pool timeout, 3 s)
    // would end it.
    let watcher = sql(&app.db_url).await;
    until(
        Duration::from_secs(1),
        "the timed-out statement still waits",
        || async { sessions_waiting_for_a_lock(&watcher).await == 0 },
    )
    .await;
    holder.batch_execute("ROLLBACK").await.unwrap();
}
