//! Catalogue mutations: products, categories, stores and reorder points, with validation,
//! duplicates (CONFLICT), the category-cycle rule and the MANAGER role.

use serde_json::{Value, json};
use stockroom::domain::role::Role;

use crate::{
    helpers::{TestApp, error_code},
    mutations_support::fixture,
};

const CREATE_PRODUCT: &str = "mutation($input: CreateProductInput!) { createProduct(input: $input) { \
                              id sku name description price archived category { id } } }";

fn field(body: &Value) -> &Value {
    &body["errors"][0]["extensions"]["field"]
}

#[tokio::test]
async fn products_are_created_validated_updated_and_archived() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 0).await;
    let input = |sku: &str, price: Value| json!({"input": {"sku": sku, "name": "Drill", "price": price, "categoryId": f.category_id}});
    let body = app
        .graphql_as(&f.admin, CREATE_PRODUCT, input("D-1", json!("12.5")))
        .await;
    let p = &body["data"]["createProduct"];
    assert_eq!(p["price"], "12.50", "{body}");
    assert_eq!(p["description"], "");
    assert_eq!(p["category"]["id"], f.category_id.as_str());
    let id = p["id"].as_str().unwrap().to_string();

    let dup = app
        .graphql_as(&f.admin, CREATE_PRODUCT, input("D-1", json!("1")))
        .await;
    assert_eq!(error_code(&dup), Some("CONFLICT"), "{dup}");
    let empty = app
        .graphql_as(&f.admin, CREATE_PRODUCT, input("  ", json!("1")))
        .await;
    assert_eq!(error_code(&empty), Some("BAD_USER_INPUT"));
    assert_eq!(field(&empty), "input.sku");
    let long = app
        .graphql_as(&f.admin, CREATE_PRODUCT, input(&"x".repeat(65), json!("1")))
        .await;
    assert_eq!(field(&long), "input.sku", "{long}");
    let negative = app
        .graphql_as(&f.admin, CREATE_PRODUCT, input("D-2", json!("-1.00")))
        .await;
    assert_eq!(field(&negative), "input.price", "{negative}");
    let precise = app
        .graphql_as(&f.admin, CREATE_PRODUCT, input("D-2", json!("1.005")))
        .await;
    assert_eq!(error_code(&precise), Some("BAD_USER_INPUT"), "{precise}");
    let unknown_cat = app
        .graphql_as(
            &f.admin,
            CREATE_PRODUCT,
            json!({"input": {"sku": "D-3", "name": "X", "price": "1",
                             "categoryId": stockroom::graphql::ids::NodeId::Category(9999).encode().0}}),
        )
        .await;
    assert_eq!(error_code(&unknown_cat), Some("NOT_FOUND"), "{unknown_cat}");

    let body = app
        .graphql_as(
            &f.admin,
            "mutation($input: UpdateProductInput!) { updateProduct(input: $input) { name price description } }",
            json!({"input": {"id": id, "name": "Drill XL", "price": "20"}}),
        )
        .await;
    assert_eq!(
        body["data"]["updateProduct"],
        json!({"name": "Drill XL", "price": "20.00", "description": ""}),
        "{body}"
    );
    let body = app
        .graphql_as(
            &f.admin,
            "mutation($id: ID!) { archiveProduct(id: $id) { archived } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(body["data"]["archiveProduct"]["archived"], true, "{body}");
}

#[tokio::test]
async fn a_category_cannot_become_its_own_ancestor() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 0).await;
    let create = "mutation($input: CreateCategoryInput!) { createCategory(input: $input) { id parent { id } } }";
    let child = app
        .graphql_as(
            &f.admin,
            create,
            json!({"input": {"name": "Child", "parentId": f.category_id}}),
        )
        .await;
    let child_id = child["data"]["createCategory"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let grandchild = app
        .graphql_as(
            &f.admin,
            create,
            json!({"input": {"name": "Grandchild", "parentId": child_id}}),
        )
        .await;
    let grandchild_id = grandchild["data"]["createCategory"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let update = "mutation($input: UpdateCategoryInput!) { updateCategory(input: $input) { name parent { id } } }";
    for parent in [&grandchild_id, &f.category_id] {
        let body = app
            .graphql_as(
                &f.admin,
                update,
                json!({"input": {"id": f.category_id, "parentId": parent}}),
            )
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
        assert_eq!(field(&body), "input.parentId");
    }
    let body = app
        .graphql_as(
            &f.admin,
            update,
            json!({"input": {"id": grandchild_id, "parentId": null, "name": "Top"}}),
        )
        .await;
    assert_eq!(
        body["data"]["updateCategory"],
        json!({"name": "Top", "parent": null}),
        "{body}"
    );
}

#[tokio::test]
async fn stores_and_reorder_points_need_a_manager_and_valid_values() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 0).await;
    let staff = app.user_token("staff", Role::Staff, &[]).await;
    let create =
        "mutation($input: CreateStoreInput!) { createStore(input: $input) { id code name } }";
    let body = app
        .graphql_as(
            &staff,
            create,
            json!({"input": {"code": "NEW", "name": "New"}}),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let manager = app.user_token("manager", Role::Manager, &[]).await;
    let body = app
        .graphql_as(
            &manager,
            create,
            json!({"input": {"code": "NEW", "name": "New"}}),
        )
        .await;
    let id = body["data"]["createStore"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let dup = app
        .graphql_as(
            &manager,
            create,
            json!({"input": {"code": "NEW", "name": "Again"}}),
        )
        .await;
    assert_eq!(error_code(&dup), Some("CONFLICT"), "{dup}");
    let body = app
        .graphql_as(
            &manager,
            "mutation($input: UpdateStoreInput!) { updateStore(input: $input) { name } }",
            json!({"input": {"id": id, "name": "Renamed"}}),
        )
        .await;
    assert_eq!(body["data"]["updateStore"]["name"], "Renamed", "{body}");

    let set = "mutation($input: SetReorderPointInput!) { setReorderPoint(input: $input) { id quantity reorderPoint lowStock } }";
    let vars =
        |n: i32| json!({"input": {"productId": f.product_id, "storeId": id, "reorderPoint": n}});
    let body = app.graphql_as(&manager, set, vars(-1)).await;
    assert_eq!(field(&body), "input.reorderPoint", "{body}");
    let body = app.graphql_as(&manager, set, vars(4)).await;
    assert_eq!(body["data"]["setReorderPoint"]["quantity"], 0, "{body}");
    assert_eq!(body["data"]["setReorderPoint"]["reorderPoint"], 4);
    assert_eq!(body["data"]["setReorderPoint"]["lowStock"], true);
    let body = app.graphql_as(&staff, set, vars(3)).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
}
