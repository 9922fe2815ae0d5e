//! The default limits accept what real clients send: a category tree five levels deep, a page
//! of 100 products with their category, stocks, stores and ten transactions each, the README's
//! examples. Lists without a page size are weighed by the data's fan-out, read when the server
//! starts and again when the catalogue changes.

use std::time::Duration;

use serde_json::{Value, json};
use stockroom::{config::ServeSettings, domain::role::Role};

use crate::{
    helpers::{TestApp, error_code, until},
    mutations_support::sql,
};

/// A five-level category tree (3 roots, 4 children per category: 1,023 categories), 20 stores
/// and 100 products held in every store, each with 10 ledger rows in one store.
async fn seed(app: &TestApp) {
    let db = sql(&app.db_url).await;
    let mut level: Vec<i32> = db
        .query(
            "INSERT INTO categories (name) SELECT 'Root ' || g FROM generate_series(1, 3) g \
             RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let leaf = level[0];
    for _ in 1..5 {
        level = db
            .query(
                "INSERT INTO categories (parent_id, name) \
                 SELECT p, 'C' || p || '.' || g FROM unnest($1::int4[]) p, generate_series(1, 4) g \
                 RETURNING id",
                &[&level],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
    }
    db.batch_execute(&format!(
        "INSERT INTO stores (code, name) SELECT 'S' || lpad(g::text, 2, '0'), 'Store ' || g \
           FROM generate_series(1, 20) g;
         INSERT INTO products (sku, name, price, category_id) \
           SELECT 'P-' || lpad(g::text, 3, '0'), 'Product ' || g, 9.99, {leaf} \
           FROM generate_series(1, 100) g;
         INSERT INTO inventory_transactions (type, product_id, store_id, quantity, quantity_after, created_at) \
           SELECT 'INBOUND', p.id, s.id, 1, k, now() - (10 - k) * interval '1 minute' \
           FROM products p, (SELECT min(id) AS id FROM stores) s, generate_series(1, 10) k;
         INSERT INTO stocks (product_id, store_id, quantity) \
           SELECT p.id, s.id, CASE WHEN s.id = (SELECT min(id) FROM stores) THEN 10 ELSE 0 END \
           FROM products p, stores s;
         ANALYZE;"
    ))
    .await
    .unwrap();
}

/// A category tree `levels` deep from the roots, with names and parents.
fn tree(levels: usize) -> String {
    let mut inner = String::from("id name parent { id name }");
    for _ in 1..levels {
        inner = format!("id name parent {{ id name }} children {{ {inner} }}");
    }
    format!("{{ categories {{ {inner} }} }}")
}

const PRODUCTS_PAGE: &str = "{ products(first: 100) { totalCount pageInfo { hasNextPage endCursor } \
    nodes { id sku name price category { id name parent { id name } } \
      stocks { id quantity reorderPoint lowStock store { id code name } } \
      transactions(first: 10) { nodes { id type quantity quantityAfter createdAt } } } } }";

/// GraphiQL's introspection query (graphql-js's `getIntrospectionQuery` with descriptions,
/// `specifiedByURL`, directive repeatability and deprecated arguments and input fields).
/// graphql-js's own default is `http_limits::INTROSPECTION`.
const GRAPHIQL_INTROSPECTION: &str = r"
query IntrospectionQuery {
  __schema {
    description
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives {
      name description isRepeatable locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) {
    name description args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name } } } } } } } } }
}";

/// The ```graphql blocks of the README.
fn readme_examples() -> Vec<String> {
    include_str!("../../README.md")
        .split("```graphql")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_string())
        .collect()
}

fn no_errors(body: &Value, what: &str) {
    assert!(body.get("errors").is_none(), "{what}: {body}");
}

#[tokio::test]
async fn documents_real_clients_send_pass_the_default_limits() {
    // The data first, then the server that reads its fan-out when it starts.
    let seeder = TestApp::spawn().await;
    seed(&seeder).await;
    let app = TestApp::spawn_on(&seeder.db_url, ServeSettings::default()).await;
    let token = app.user_token("reader", Role::Viewer, &[]).await;

    let body = app.graphql_as(&token, &tree(5), json!({})).await;
    no_errors(&body, "the category tree");
    let level5 =
        &body["data"]["categories"][0]["children"][0]["children"][0]["children"][0]["children"];
    assert_eq!(level5.as_array().map(Vec::len), Some(4), "{body}");

    let body = app.graphql_as(&token, PRODUCTS_PAGE, json!({})).await;
    no_errors(&body, "the products page");
    let nodes = body["data"]["products"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 100);
    assert_eq!(nodes[0]["stocks"].as_array().unwrap().len(), 20);
    assert_eq!(
        nodes[0]["transactions"]["nodes"].as_array().unwrap().len(),
        10
    );

    let body = app
        .graphql_as(&token, GRAPHIQL_INTROSPECTION, json!({}))
        .await;
    no_errors(&body, "GraphiQL's introspection query");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");

    for example in readme_examples() {
        let body = app.graphql_as(&token, &example, json!({})).await;
        assert_ne!(
            error_code(&body),
            Some("QUERY_TOO_COMPLEX"),
            "{example}: {body}"
        );
    }
}

#[tokio::test]
async fn the_fan_out_is_read_again_when_the_catalogue_changes() {
    // A limit that one root with a few children passes and fifty children do not; the
    // periodic refresh is far away, so only the change itself can make the difference.
    let mut settings = ServeSettings::default();
    settings.limits.max_complexity = 200;
    settings.limits.stats_refresh_ms = 600_000;
    let app = TestApp::spawn_with(settings).await;
    let admin = app.admin_token().await;
    let create = "mutation($input: CreateCategoryInput!) { createCategory(input: $input) { id } }";
    let body = app
        .graphql_as(&admin, create, json!({ "input": {"name": "Root"} }))
        .await;
    let root = body["data"]["createCategory"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let query = "{ categories { children { id name parent { id name } } } }";
    let body = app.graphql_as(&admin, query, json!({})).await;
    no_errors(&body, "one root, no children");
    for i in 0..50 {
        let body = app
            .graphql_as(
                &admin,
                create,
                json!({ "input": {"name": format!("Child {i:02}"), "parentId": root} }),
            )
            .await;
        no_errors(&body, "createCategory");
    }
    until(
        Duration::from_secs(10),
        "the new fan-out was not read",
        || async {
            let body = app.graphql_as(&admin, query, json!({})).await;
            error_code(&body) == Some("QUERY_TOO_COMPLEX")
        },
    )
    .await;
}
