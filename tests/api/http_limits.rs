//! The query limits refuse hostile documents before anything runs. Most tests use a server
//! whose database cannot be reached: a refusal with QUERY_TOO_COMPLEX (not
//! SERVICE_UNAVAILABLE) proves that no SQL was attempted; the control test shows the same
//! server does answer SERVICE_UNAVAILABLE once a document gets through.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{
    helpers::TestApp,
    http_support::{Answer, app_without_database, post_json, post_raw},
};

const GQL_RESPONSE: &str = "application/graphql-response+json";

async fn refused(app: &TestApp, query: &str, limit: u64) -> Answer {
    let res = post_json(app, None, Some(GQL_RESPONSE), &json!({ "query": query })).await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert_eq!(res.code(), Some("QUERY_TOO_COMPLEX"), "{}", res.text);
    assert_eq!(res.body["errors"][0]["extensions"]["limit"], limit);
    assert!(res.body.get("data").is_none(), "nothing ran: no data entry");
    res
}

#[tokio::test]
async fn a_document_that_gets_through_the_limits_reaches_the_database() {
    let app = app_without_database().await;
    let res = post_json(
        &app,
        None,
        None,
        &json!({ "query": "{ products(first: 5) { edges { node { id } } } }" }),
    )
    .await;
    assert_eq!(res.code(), Some("SERVICE_UNAVAILABLE"), "{}", res.text);
}

#[tokio::test]
async fn a_refused_document_costs_no_sql_even_with_a_token_to_look_up() {
    let app = app_without_database().await;
    let token = Some("sr_any-token-the-server-would-have-to-look-up");
    let aliases: String = (0..60).map(|i| format!("a{i}: __typename ")).collect();
    let res = post_json(
        &app,
        token,
        None,
        &json!({ "query": format!("{{ {aliases} }}") }),
    )
    .await;
    assert_eq!(res.code(), Some("QUERY_TOO_COMPLEX"), "{}", res.text);
    // Control: a document within the limits makes the server look the token up.
    let res = post_json(&app, token, None, &json!({ "query": "{ __typename }" })).await;
    assert_eq!(res.code(), Some("SERVICE_UNAVAILABLE"), "{}", res.text);
}

#[tokio::test]
async fn a_fifty_deep_query_is_refused_before_it_runs() {
    let app = app_without_database().await;
    let deep = format!("{}{}", "{ a ".repeat(50), "}".repeat(50));
    refused(&app, &deep, 20).await;
    // With a valid field path too.
    let mut valid = String::from("id");
    for _ in 0..25 {
        valid = format!("category {{ products(first: 1) {{ nodes {{ {valid} }} }} }}");
    }
    refused(
        &app,
        &format!("{{ products(first: 1) {{ nodes {{ {valid} }} }} }}"),
        20,
    )
    .await;
}

#[tokio::test]
async fn a_huge_nesting_of_brackets_is_refused_without_parsing_it() {
    let app = app_without_database().await;
    let started = Instant::now();
    let bomb = format!("{}{}", "{".repeat(100_000), "}".repeat(100_000));
    let res = post_json(&app, None, Some(GQL_RESPONSE), &json!({ "query": bomb })).await;
    assert_eq!(res.code(), Some("QUERY_TOO_COMPLEX"), "{}", res.text);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_thousand_aliases_are_refused_before_they_run() {
    let app = app_without_database().await;
    let fields: String = (0..1000)
        .map(|i| format!("a{i}: products(first: 1) {{ nodes {{ id }} }} "))
        .collect();
    refused(&app, &format!("{{ {fields} }}"), 50).await;
}

#[tokio::test]
async fn more_root_fields_than_allowed_are_refused() {
    let app = app_without_database().await;
    let fields: String = (0..21).map(|i| format!("t{i}: __typename ")).collect();
    refused(&app, &format!("{{ {fields} }}"), 20).await;
}

#[tokio::test]
async fn too_many_directives_are_refused() {
    let app = app_without_database().await;
    let fields: String = (0..51).map(|_| "__typename @include(if: true) ").collect();
    refused(&app, &format!("{{ {fields} }}"), 50).await;
}

#[tokio::test]
async fn a_document_of_too_many_tokens_is_refused_before_it_is_parsed() {
    let app = app_without_database().await;
    let fields = "__typename ".repeat(20_000);
    refused(&app, &format!("{{ {fields} }}"), 15_000).await;
    // Comments and strings do not count against the limit.
    let comment = format!("# {}\n", "x y z ".repeat(20_000));
    let res = post_json(
        &app,
        None,
        None,
        &json!({ "query": format!("{comment}{{ __typename }}") }),
    )
    .await;
    assert_eq!(res.body["data"]["__typename"], "Query", "{}", res.text);
}

#[tokio::test]
async fn a_thousand_operation_batch_is_refused_with_400() {
    let app = app_without_database().await;
    let batch: Vec<Value> = (0..1000)
        .map(|_| json!({ "query": "{ products(first: 1) { nodes { id } } }" }))
        .collect();
    for accept in ["application/json", GQL_RESPONSE] {
        let res = post_json(&app, None, Some(accept), &Value::Array(batch.clone())).await;
        assert_eq!(res.status, 400, "{}", res.text);
        assert_eq!(res.code(), Some("QUERY_TOO_COMPLEX"));
        assert_eq!(res.body["errors"][0]["extensions"]["limit"], 10);
    }
}

#[tokio::test]
async fn a_page_of_a_hundred_thousand_is_bad_user_input_before_any_sql() {
    let app = app_without_database().await;
    let res = post_json(
        &app,
        None,
        None,
        &json!({ "query": "{ products(first: 100000) { edges { node { id } } } }" }),
    )
    .await;
    assert_eq!(res.code(), Some("BAD_USER_INPUT"), "{}", res.text);
    assert_eq!(res.body["errors"][0]["extensions"]["field"], "first");
}

#[tokio::test]
async fn nested_pages_multiply_into_a_refused_complexity() {
    let app = app_without_database().await;
    let query = "{ stores(first: 100) { edges { node { stocks(first: 100) { edges { node { \
                 transactions(first: 100) { edges { node { id } } } } } } } } } }";
    refused(&app, query, 100_000).await;
    // The same page sizes through variables.
    let query = "query Q($n: Int) { stores(first: $n) { nodes { stocks(first: $n) { nodes { \
                 transactions(first: $n) { nodes { id } } } } } } }";
    let res = post_json(
        &app,
        None,
        None,
        &json!({ "query": query, "variables": { "n": 100 } }),
    )
    .await;
    assert_eq!(res.code(), Some("QUERY_TOO_COMPLEX"), "{}", res.text);
}

#[tokio::test]
async fn repeated_fragments_are_counted_where_they_expand() {
    let app = app_without_database().await;
    // A fragment spread a thousand times.
    let spreads = "...P ".repeat(1000);
    let query = format!(
        "{{ {spreads} }} fragment P on Query {{ products(first: 100) {{ nodes {{ id sku name }} }} }}"
    );
    refused(&app, &query, 100_000).await;
    // A fragment "bomb": each fragment spreads the next one twice (2^30 fields if expanded).
    let mut doc = String::from("{ ...F0 }\n");
    for i in 0..30 {
        doc.push_str(&format!(
            "fragment F{i} on Query {{ ...F{n} ...F{n} }}\n",
            n = i + 1
        ));
    }
    doc.push_str("fragment F30 on Query { __typename }\n");
    let started = Instant::now();
    refused(&app, &doc, 100_000).await;
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_two_mebibyte_body_is_refused_with_413() {
    let app = app_without_database().await;
    let query = format!("{{ __typename }} # {}", "x".repeat(2 * 1024 * 1024));
    let res = post_raw(
        &app,
        &[("content-type", "application/json")],
        json!({ "query": query }).to_string(),
    )
    .await;
    assert_eq!(res.status, 413);
}

/// The introspection query of graphql-js (with a deep `TypeRef`), as GraphiQL sends it.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name } } } } } } } } }
}
"#;

#[tokio::test]
async fn the_standard_introspection_query_is_within_the_limits_and_anonymous() {
    let app = TestApp::spawn().await;
    let res = post_json(&app, None, None, &json!({ "query": INTROSPECTION })).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(res.body.get("errors").is_none(), "{}", res.text);
    assert_eq!(res.body["data"]["__schema"]["queryType"]["name"], "Query");
}
