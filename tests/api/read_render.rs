//! Pages rendered in one pass from the loader cache (`graphql/render.rs`) answer what
//! async-graphql's field-by-field execution answers: two servers on one database, one with
//! `STOCKROOM_RENDER_PAGES` off, asked the same documents. The values are equal; the order of
//! an object's keys is the selection's when rendered (as the GraphQL spec orders a response),
//! while execution writes them in the order their values were ready. And a document kept
//! parsed (by its text, `graphql/guard.rs`) is answered for each request's own variables.

use serde_json::{Value, json};

use stockroom::config::ServeSettings;

use crate::{
    helpers::{TestApp, admin_execute, fresh_database},
    read_fixture::{gid, seed},
};

/// The body of a POSTed document, as the server wrote it.
async fn raw(app: &TestApp, token: &str, query: &str, variables: &Value) -> String {
    app.client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Low-stock rows with their products and stores (loaded in one wave each).
const LOW_STOCK: &str = r#"query { lowStock(first: 20) { edges { cursor node { quantity
    reorderPoint lowStock product { sku } store { code } } } } }"#;

/// Documents of every shape the renderer knows, and some it leaves to execution.
const DOCUMENTS: &[&str] = &[
    // The product page (W1) with every field the renderer shows.
    r#"query { products(first: 50, orderBy: {field: SKU, direction: ASC}, filter: {includeArchived: true}) {
        edges { cursor __typename node { id sku name description price archived createdAt updatedAt
          __typename category { id name __typename }
          stocks { id quantity reorderPoint lowStock updatedAt __typename store { id code name __typename } } } }
        nodes { sku } pageInfo { hasNextPage endCursor } } }"#,
    // The store view (W2), stock rows with their products, categories and the products' stocks.
    r#"query($code: String!) { store(code: $code) { stocks(first: 100) {
        edges { cursor node { quantity product { sku name category { name } stocks { quantity store { code } } } } }
        nodes { id store { code } } } } }"#,
    // The product detail (W3).
    r#"query($sku: String!) { product(sku: $sku) { sku name stocks { quantity store { name } }
        transactions(first: 10) { edges { node { type quantity createdAt } } } } }"#,
    // Fragments, inline fragments on the type and on an interface, aliases, repeated leaves.
    r#"fragment P on Product { sku ... on Node { id } }
       fragment S on Stock { quantity store { ...St } }
       fragment St on Store { code }
       query { products(first: 20) { nodes { ...P a: sku b: name sku sku ... { name }
         stocks { ...S ... on Stock { lowStock } q: quantity } } } }"#,
    // @include and @skip, from variables and literals.
    r#"query($yes: Boolean!, $no: Boolean!) { products(first: 10) { edges { node {
         sku @include(if: $yes) name @skip(if: $yes) stocks @include(if: $yes) {
           quantity @skip(if: $no) store @include(if: false) { code } } } } } }"#,
    // A repeated object field: merged by execution, so not rendered.
    r#"query { products(first: 10) { nodes { sku stocks { store { code } store { name } } } } }"#,
    // A list selected twice under one response key: execution merges the two answers item by
    // item, so neither is rendered (as JSON text it could not be merged).
    r#"query { products(first: 5) { nodes { sku } nodes { name stocks { quantity } } } }"#,
    r#"fragment A on ProductConnection { edges { node { sku } } }
       query { a: products(first: 5) { ...A } a: products(first: 5) { edges { cursor } } }"#,
    // A field with arguments among the stock rows: not rendered.
    r#"query { products(first: 10) { nodes { sku stocks {
         quantity quantityAt(at: "2026-02-01T05:00:00Z") } } } }"#,
    // A category's products, low stock, nodes.
    r#"query($cat: ID!) { category(id: $cat) { name products(first: 10, includeDescendants: true) {
         edges { node { sku category { name } stocks { quantity store { code } } } } } } }"#,
    LOW_STOCK,
    // Ledger pages: every field, relations loaded or not (`user` is left to execution).
    r#"query($sku: String!) { product(sku: $sku) { transactions(first: 10) {
         edges { cursor node { id type quantity quantityAfter note reference createdAt
           store { code } product { sku } } } nodes { type } } } }"#,
    r#"query { transactions(first: 20) { nodes { type quantity store { name } user { username } } } }"#,
    // A product with no stock rows, and an empty selection after @skip.
    r#"query { product(sku: "NO-STOCK") { sku stocks { quantity store { code } } } }"#,
    r#"query { products(first: 3) { nodes { stocks { quantity @skip(if: true) } } } }"#,
];

#[tokio::test(flavor = "multi_thread")]
async fn a_page_rendered_in_one_pass_answers_what_execution_field_by_field_answers() {
    let db_url = fresh_database().await;
    let rendering = TestApp::spawn_on(&db_url, ServeSettings::default()).await;
    let executing = TestApp::spawn_on(
        &db_url,
        ServeSettings {
            render_pages: false,
            ..ServeSettings::default()
        },
    )
    .await;
    seed(&rendering, 60).await;
    admin_execute(
        &db_url,
        "INSERT INTO products (id, sku, name, description, price, category_id)
         VALUES (1000, 'NO-STOCK', 'Nothing held', '', 1, 4)",
    )
    .await;
    let token = rendering.admin_token().await;
    let variables = json!({
        "code": "S1", "sku": "P-007", "yes": true, "no": false, "cat": gid("Category", "1"),
    });

    for document in DOCUMENTS {
        let rendered = raw(&rendering, &token, document, &variables).await;
        let executed = raw(&executing, &token, document, &variables).await;
        let body: Value = serde_json::from_str(&rendered).unwrap();
        assert!(body.get("errors").is_none(), "{document}: {rendered}");
        let same: Value = serde_json::from_str(&executed).unwrap();
        assert_eq!(body, same, "{document}");
    }

    // A low-stock row's product and store, in the order selected (execution answers the
    // store first: its load was already cached).
    let rendered = raw(&rendering, &token, LOW_STOCK, &variables).await;
    assert!(
        rendered.contains(r#""product":{"sku":"P-007"},"store":{"code":"S1"}"#),
        "{rendered}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_document_sent_again_is_answered_for_its_new_variables() {
    // Parsed documents are kept by their text; what a request's variables change in its copy
    // (@skip, @include) must not leak into the next request of the same text.
    let app = TestApp::spawn().await;
    seed(&app, 3).await;
    let token = app.admin_token().await;
    let query = r#"query($hide: Boolean!) { product(sku: "P-001") { sku name @skip(if: $hide) } }"#;
    for hide in [true, false, true, false] {
        let body = raw(&app, &token, query, &json!({ "hide": hide })).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        let product = &body["data"]["product"];
        assert_eq!(product["sku"], "P-001", "{body}");
        assert_eq!(product.get("name").is_none(), hide, "{body}");
    }
}
