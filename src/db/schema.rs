// @generated automatically by Diesel CLI.

diesel::table! {
    api_tokens (id) {
        id -> Int4,
        user_id -> Int4,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    categories (id) {
        id -> Int4,
        parent_id -> Nullable<Int4>,
        name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Int4,
        key -> Text,
        fingerprint -> Bytea,
        result -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    inventory_transactions (id) {
        id -> Int8,
        #[sql_name = "type"]
        type_ -> Text,
        product_id -> Int4,
        store_id -> Int4,
        user_id -> Nullable<Int4>,
        quantity -> Int4,
        quantity_after -> Int4,
        note -> Nullable<Text>,
        reference -> Nullable<Text>,
        created_at -> Timestamptz,
        xact_id -> Nullable<Int8>,
    }
}

diesel::table! {
    products (id) {
        id -> Int4,
        sku -> Text,
        name -> Text,
        description -> Text,
        price -> Numeric,
        category_id -> Int4,
        archived -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    reference_version (id) {
        id -> Bool,
        version -> Int8,
    }
}

diesel::table! {
    stocks (product_id, store_id) {
        product_id -> Int4,
        store_id -> Int4,
        quantity -> Int4,
        reorder_point -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    stores (id) {
        id -> Int4,
        code -> Text,
        name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    user_stores (user_id, store_id) {
        user_id -> Int4,
        store_id -> Int4,
    }
}

diesel::table! {
    users (id) {
        id -> Int4,
        username -> Text,
        display_name -> Text,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(idempotency_keys -> users (user_id));
diesel::joinable!(inventory_transactions -> products (product_id));
diesel::joinable!(inventory_transactions -> stores (store_id));
diesel::joinable!(inventory_transactions -> users (user_id));
diesel::joinable!(products -> categories (category_id));
diesel::joinable!(stocks -> products (product_id));
diesel::joinable!(stocks -> stores (store_id));
diesel::joinable!(user_stores -> stores (store_id));
diesel::joinable!(user_stores -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_tokens,
    categories,
    idempotency_keys,
    inventory_transactions,
    products,
    reference_version,
    stocks,
    stores,
    user_stores,
    users,
);
