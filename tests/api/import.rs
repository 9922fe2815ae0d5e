//! `stockroom import DIR`: the real binary on gen.py output and on hand-written CSVs, against a
//! fresh database each; refused imports must name file, line and column and write nothing.

use std::{path::Path, process::Stdio};

use serde_json::{Value, json};
use stockroom::config::ServeSettings;
use tokio::process::Command;

use crate::helpers::{TempDir, TestApp, fresh_database};

const BIN: &str = env!("CARGO_BIN_EXE_stockroom");

/// The tables an import writes, for "nothing was written" checks.
const TABLES: [&str; 6] = [
    "categories",
    "stores",
    "users",
    "products",
    "stocks",
    "inventory_transactions",
];

struct Outcome {
    success: bool,
    stdout: String,
    stderr: String,
}

async fn import(db_url: &str, dir: &Path) -> Outcome {
    let out = Command::new(BIN)
        .arg("import")
        .arg(dir)
        .env("DATABASE_URL", db_url)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    Outcome {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// gen.py output for `products` products in a new temp dir; returns it with its manifest.
async fn generate(tag: &str, products: u32) -> (TempDir, Value) {
    let dir = TempDir::new(tag);
    let script = crate::helpers::shared_dir().join("datagen/gen.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg("--out")
        .arg(&dir.0)
        .args(["--products", &products.to_string()])
        .stderr(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success(), "gen.py ran");
    let manifest =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("manifest.json")).unwrap())
            .unwrap();
    (dir, manifest)
}

/// A temp dir holding these files.
fn files(tag: &str, files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new(tag);
    for (name, text) in files {
        std::fs::write(dir.0.join(name), text).unwrap();
    }
    dir
}

async fn count(db: &tokio_postgres::Client, table: &str) -> i64 {
    db.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

async fn counts(db_url: &str) -> Vec<i64> {
    let db = crate::helpers::sql(db_url).await;
    let mut out = Vec::new();
    for table in TABLES {
        out.push(count(&db, table).await);
    }
    out
}

/// A small valid catalogue: two categories, one store, one user, two products, their stock and
/// ledger. Tests replace one file to break it.
fn valid() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "categories.csv",
            "id,parent_id,name\n1,,Tools\n2,1,Hammers\n",
        ),
        ("stores.csv", "id,code,name\n10,NEW1,New Store\n"),
        ("users.csv", "id,username,display_name\n5,imported-user,\n"),
        (
            "products.csv",
            "id,sku,name,description,price,category_id\n\
             1,IMP-1,Claw Hammer,,12.50,2\n\
             2,IMP-2,\"Saw, large\",\"A \"\"big\"\" one\",7,1\n",
        ),
        (
            "stocks.csv",
            "product_id,store_id,quantity,reorder_point\n1,10,7,2\n2,10,0,\n",
        ),
        (
            "inventory_transactions.csv",
            "id,product_id,store_id,user_id,type,quantity,quantity_after,note,created_at,reference\n\
             1,1,10,5,INBOUND,10,10,PO-1,2024-01-01T00:00:00Z,R-1\n\
             2,1,10,,OUTBOUND,-4,6,,2024-01-01 00:34:45+00,\n\
             3,1,10,5,ADJUSTMENT,1,7,found,2024-01-02T10:00:00.25+02:00,\n",
        ),
    ]
}

/// Replaces one file of the valid catalogue.
fn valid_with(name: &'static str, text: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut all = valid();
    for f in &mut all {
        if f.0 == name {
            f.1 = text;
        }
    }
    all
}

/// Imports `files` into a fresh database, expects a refusal whose stderr contains every one of
/// `expected`, and that nothing was written.
async fn assert_refused(files_: &[(&str, &str)], expected: &[&str]) {
    let db_url = fresh_database().await;
    let dir = files("import-bad", files_);
    let out = import(&db_url, &dir.0).await;
    assert!(!out.success, "refused: {}", out.stdout);
    assert!(
        out.stderr.contains("nothing was written"),
        "says nothing was written: {}",
        out.stderr
    );
    for needle in expected {
        assert!(
            out.stderr.contains(needle),
            "stderr names `{needle}`:\n{}",
            out.stderr
        );
    }
    assert_eq!(counts(&db_url).await, vec![0; 6], "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_catalogue_is_imported_whole_and_matches_the_manifest() {
    let (dir, manifest) = generate("import-gen", 200).await;
    let db_url = fresh_database().await;
    let out = import(&db_url, &dir.0).await;
    assert!(out.success, "import succeeded: {}", out.stderr);
    assert!(out.stdout.contains("imported"), "summary: {}", out.stdout);
    assert!(
        out.stdout.contains("products.csv: 200 rows"),
        "{}",
        out.stdout
    );

    let db = crate::helpers::sql(&db_url).await;
    for table in TABLES {
        assert_eq!(
            count(&db, table).await,
            manifest["counts"][table].as_i64().unwrap(),
            "{table} count matches the manifest"
        );
    }
    let sums = db
        .query_one(
            "SELECT (SELECT sum(quantity) FROM stocks)::bigint,
                    (SELECT sum(quantity) FROM inventory_transactions)::bigint",
            &[],
        )
        .await
        .unwrap();
    let expected = manifest["checks"]["sum_stock_quantity"].as_i64().unwrap();
    assert_eq!(sums.get::<_, i64>(0), expected);
    assert_eq!(sums.get::<_, i64>(1), expected);
    // Every stock row equals its ledger; the last quantity_after of each pair is the stock.
    let off: i64 = db
        .query_one(
            "SELECT count(*) FROM stocks s
             LEFT JOIN (SELECT product_id, store_id, sum(quantity) q
                        FROM inventory_transactions GROUP BY 1, 2) l USING (product_id, store_id)
             WHERE s.quantity <> coalesce(l.q, 0)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(off, 0);
    // Imported users are viewers without tokens; products carry the import time.
    let viewers: i64 = db
        .query_one("SELECT count(*) FROM users WHERE role = 'VIEWER'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(viewers, 5);
    assert_eq!(count(&db, "api_tokens").await, 0);
    let fresh: bool = db
        .query_one(
            "SELECT bool_and(created_at > now() - interval '10 minutes'
                             AND updated_at = created_at) FROM products",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(fresh, "products get the import time");
    let scratch: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'stockroom_import_%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(scratch, 0, "the staging tables are gone");

    // Identities continue after the imported ids: new rows can be appended.
    let max_tx: i64 = db
        .query_one("SELECT max(id) FROM inventory_transactions", &[])
        .await
        .unwrap()
        .get(0);
    let new_tx: i64 = db
        .query_one(
            "INSERT INTO inventory_transactions (type, product_id, store_id, quantity, quantity_after)
             SELECT 'INBOUND', product_id, store_id, 1, quantity + 1 FROM stocks LIMIT 1
             RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        new_tx > max_tx,
        "ledger identity continues: {new_tx} > {max_tx}"
    );
    for table in ["categories", "stores", "users", "products"] {
        let ok: bool = db
            .query_one(
                &format!(
                    "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) > max(id) FROM {table}"
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(ok, "{table} identity continues after the imported ids");
    }

    // The read API answers over the imported data.
    let app = TestApp::spawn_on(&db_url, ServeSettings::default()).await;
    let token = app.admin_token().await;
    let first_sku: String = db
        .query_one("SELECT min(sku COLLATE \"C\") FROM products", &[])
        .await
        .unwrap()
        .get(0);
    let body = app
        .graphql_as(
            &token,
            "{ products(first: 2) { totalCount edges { node { sku } } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["products"]["totalCount"], 200, "{body}");
    assert_eq!(
        body["data"]["products"]["edges"][0]["node"]["sku"], first_sku,
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_into_a_database_with_data_adds_new_rows_and_a_clash_writes_nothing() {
    let (generated, manifest) = generate("import-base", 200).await;
    let db_url = fresh_database().await;
    assert!(import(&db_url, &generated.0).await.success);
    let before = counts(&db_url).await;

    // The same files again: every store code is taken, so the whole import is refused.
    let again = import(&db_url, &generated.0).await;
    assert!(!again.success);
    assert!(
        again
            .stderr
            .contains("stores.csv line 2, column code: \"S001\" already exists in the database"),
        "{}",
        again.stderr
    );
    assert_eq!(
        counts(&db_url).await,
        before,
        "a refused import writes nothing"
    );

    // New rows with local ids that overlap the existing ones get new database ids.
    let more = files("import-more", &valid());
    let out = import(&db_url, &more.0).await;
    assert!(out.success, "{}", out.stderr);
    let after = counts(&db_url).await;
    let added = [2, 1, 1, 2, 2, 3];
    for (i, table) in TABLES.iter().enumerate() {
        assert_eq!(after[i], before[i] + added[i], "{table}");
    }
    let db = crate::helpers::sql(&db_url).await;
    let row = db
        .query_one(
            "SELECT s.quantity, st.code, p.description, c.name, u.display_name, u.role
             FROM stocks s JOIN products p ON p.id = s.product_id
             JOIN stores st ON st.id = s.store_id JOIN categories c ON c.id = p.category_id
             CROSS JOIN users u
             WHERE p.sku = 'IMP-1' AND u.username = 'imported-user'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 7);
    assert_eq!(row.get::<_, String>(1), "NEW1");
    assert_eq!(row.get::<_, String>(2), "", "empty required text is ''");
    assert_eq!(row.get::<_, String>(3), "Hammers");
    assert_eq!(row.get::<_, String>(4), "");
    assert_eq!(row.get::<_, String>(5), "VIEWER");
    let quoted: String = db
        .query_one(
            "SELECT name || '|' || description FROM products WHERE sku = 'IMP-2'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(quoted, "Saw, large|A \"big\" one");
    let ledger = db
        .query(
            "SELECT t.note, t.reference, t.user_id IS NULL, t.created_at::text
             FROM inventory_transactions t JOIN products p ON p.id = t.product_id
             WHERE p.sku = 'IMP-1' ORDER BY t.id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(ledger.len(), 3);
    assert_eq!(
        ledger[0].get::<_, Option<String>>(1).as_deref(),
        Some("R-1")
    );
    assert_eq!(ledger[1].get::<_, Option<String>>(0), None, "empty = NULL");
    assert!(ledger[1].get::<_, bool>(2));
    let max_before: i64 = manifest["counts"]["inventory_transactions"]
        .as_i64()
        .unwrap();
    let first_new: i64 = db
        .query_one(
            "SELECT min(t.id) FROM inventory_transactions t JOIN products p ON p.id = t.product_id
             WHERE p.sku = 'IMP-1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        first_new > max_before,
        "new ledger ids follow the existing ones"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_numbers_are_refused_with_file_line_and_column() {
    assert_refused(
        &valid_with(
            "products.csv",
            "id,sku,name,description,price,category_id\n\
             1,IMP-1,Claw Hammer,,12.505,2\n\
             2,IMP-2,Saw,,-3,x1\n",
        ),
        &[
            "products.csv line 2, column price: \"12.505\" is not a decimal number",
            "products.csv line 3, column price: \"-3\" must not be negative",
            "products.csv line 3, column category_id: \"x1\" is not an integer id",
        ],
    )
    .await;
    assert_refused(
        &valid_with(
            "stocks.csv",
            "product_id,store_id,quantity,reorder_point\n1,10,7.5,2\n2,10,99999999999,\n",
        ),
        &[
            "stocks.csv line 2, column quantity: \"7.5\" is not an integer",
            "stocks.csv line 3, column quantity: \"99999999999\" is not an integer",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_links_are_refused() {
    assert_refused(
        &valid_with(
            "stocks.csv",
            "product_id,store_id,quantity,reorder_point\n1,10,7,2\n2,11,0,\n",
        ),
        &["stocks.csv line 3, column store_id: names 11 but stores.csv has no row with that id"],
    )
    .await;
    // A missing file is skipped, but links into it must still resolve.
    let without_categories: Vec<_> = valid()
        .into_iter()
        .filter(|(n, _)| *n != "categories.csv")
        .collect();
    assert_refused(
        &without_categories,
        &["products.csv line 2, column category_id: names 2 but categories.csv has no row"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_skus_ids_and_codes_are_refused() {
    assert_refused(
        &valid_with(
            "products.csv",
            "id,sku,name,description,price,category_id\n\
             1,IMP-1,Claw Hammer,,12.50,2\n\
             2,IMP-1,Saw,,7,1\n",
        ),
        &["products.csv line 3, column sku: repeats the sku \"IMP-1\" of line 2"],
    )
    .await;
    assert_refused(
        &valid_with(
            "stores.csv",
            "id,code,name\n10,NEW1,New Store\n10,NEW2,Other Store\n",
        ),
        &["stores.csv line 3, column id: repeats the id of line 2"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn negative_stock_is_refused() {
    assert_refused(
        &valid_with(
            "stocks.csv",
            "product_id,store_id,quantity,reorder_point\n1,10,-7,2\n2,10,0,\n",
        ),
        &["stocks.csv line 2, column quantity: \"-7\" must not be negative"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ledger_that_does_not_sum_to_the_stock_is_refused() {
    assert_refused(
        &valid_with(
            "stocks.csv",
            "product_id,store_id,quantity,reorder_point\n1,10,8,2\n2,10,3,\n",
        ),
        &[
            "stocks.csv line 2, column quantity: is 8 but the ledger rows of this product and store sum to 7",
            "stocks.csv line 3, column quantity: is 3 but inventory_transactions.csv has no rows",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quantity_after_that_is_not_the_running_sum_is_refused() {
    // Rows out of file order: the running sum follows (created_at, id), not the file.
    assert_refused(
        &valid_with(
            "inventory_transactions.csv",
            "id,product_id,store_id,user_id,type,quantity,quantity_after,note,created_at\n\
             1,1,10,5,INBOUND,10,10,,2024-01-01T00:00:00Z\n\
             3,1,10,5,ADJUSTMENT,1,7,,2024-01-02T00:00:00Z\n\
             2,1,10,,OUTBOUND,-4,5,,2024-01-01T12:00:00Z\n",
        ),
        &["inventory_transactions.csv line 4, column quantity_after: is 5 but the running sum"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_that_does_not_match_the_type_and_unknown_types_are_refused() {
    assert_refused(
        &valid_with(
            "inventory_transactions.csv",
            "id,product_id,store_id,user_id,type,quantity,quantity_after,note,created_at\n\
             1,1,10,5,INBOUND,10,10,,2024-01-01T00:00:00Z\n\
             2,1,10,,OUTBOUND,4,6,,2024-01-01T12:00:00Z\n\
             3,1,10,5,SALE,1,7,,2024-01-02T00:00:00Z\n",
        ),
        &[
            "inventory_transactions.csv line 3, column quantity: \"4\" has the wrong sign for the type",
            "inventory_transactions.csv line 4, column type: \"SALE\" is not a type",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn date_times_need_an_offset_and_a_real_date() {
    assert_refused(
        &valid_with(
            "inventory_transactions.csv",
            "id,product_id,store_id,user_id,type,quantity,quantity_after,note,created_at\n\
             1,1,10,5,INBOUND,10,10,,2024-01-01 00:00:00\n\
             2,1,10,,OUTBOUND,-4,6,,2023-02-29T12:00:00Z\n\
             3,1,10,5,ADJUSTMENT,1,7,,yesterday\n",
        ),
        &[
            "inventory_transactions.csv line 2, column created_at: \"2024-01-01 00:00:00\" is not a date-time with an offset",
            "inventory_transactions.csv line 3, column created_at",
            "inventory_transactions.csv line 4, column created_at",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_columns_unknown_columns_and_ragged_rows_are_refused() {
    assert_refused(
        &valid_with("stores.csv", "id,name\n10,New Store\n"),
        &["stores.csv line 1, column code: required column is missing from the header"],
    )
    .await;
    assert_refused(
        &valid_with("stores.csv", "id,code,name,city\n10,NEW1,New Store,Oslo\n"),
        &["stores.csv line 1, column city: is not a column of stores.csv"],
    )
    .await;
    assert_refused(
        &valid_with("stores.csv", "id,code,name\n10,NEW1\n"),
        &["stores.csv line 2: has 2 fields where the header has 3"],
    )
    .await;
    assert_refused(
        &valid_with("stores.csv", "id,code,name\n10,,New Store\n"),
        &["stores.csv line 2, column code: is required but empty"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cycle_of_parent_categories_is_refused() {
    assert_refused(
        &valid_with(
            "categories.csv",
            "id,parent_id,name\n1,2,Tools\n2,1,Hammers\n",
        ),
        &["categories.csv line 2, column parent_id: is part of a cycle"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_count_physical_lines_when_a_quoted_field_spans_several() {
    assert_refused(
        &valid_with(
            "products.csv",
            "id,sku,name,description,price,category_id\n\
             1,IMP-1,Claw Hammer,\"two\nlines\",12.50,2\n\
             2,IMP-2,Saw,,seven,1\n",
        ),
        &["products.csv line 4, column price: \"seven\""],
    )
    .await;
}

/// What the import prints when its quick pass gives up and the careful one takes over.
const CLOSER_LOOK: &str = "something needs a closer look";

#[tokio::test(flavor = "multi_thread")]
async fn valid_files_take_the_quick_pass_and_values_it_cannot_vouch_for_are_imported_carefully() {
    let db_url = fresh_database().await;
    let dir = files("import-quick", &valid());
    let out = import(&db_url, &dir.0).await;
    assert!(out.success, "{}", out.stderr);
    assert!(
        !out.stderr.contains(CLOSER_LOOK),
        "quick pass: {}",
        out.stderr
    );
    assert_eq!(counts(&db_url).await, vec![2, 1, 1, 2, 2, 3]);

    // Ids below 1 are valid local keys, but only the careful pass maps them.
    let db_url = fresh_database().await;
    let dir = files(
        "import-careful",
        &valid_with(
            "categories.csv",
            "id,parent_id,name\n-1,,Tools\n2,-1,Hammers\n",
        )
        .into_iter()
        .map(|(name, text)| {
            let text = if name == "products.csv" {
                "id,sku,name,description,price,category_id\n\
                     1,IMP-1,Claw Hammer,,12.50,2\n\
                     2,IMP-2,Saw,,7,-1\n"
            } else {
                text
            };
            (name, text)
        })
        .collect::<Vec<_>>(),
    );
    let out = import(&db_url, &dir.0).await;
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stderr.contains(CLOSER_LOOK),
        "careful pass: {}",
        out.stderr
    );
    let db = crate::helpers::sql(&db_url).await;
    let rows = db
        .query(
            "SELECT p.sku, c.name, parent.name FROM products p
             JOIN categories c ON c.id = p.category_id
             LEFT JOIN categories parent ON parent.id = c.parent_id
             ORDER BY p.sku",
            &[],
        )
        .await
        .unwrap();
    let seen: Vec<(String, String, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("IMP-1".into(), "Hammers".into(), Some("Tools".into())),
            ("IMP-2".into(), "Tools".into(), None),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stock_row_without_ledger_rows_must_be_zero() {
    assert_refused(
        &valid_with(
            "stocks.csv",
            "product_id,store_id,quantity,reorder_point\n1,10,7,2\n2,10,3,\n",
        ),
        &["stocks.csv line 3, column quantity: is 3 but inventory_transactions.csv has no rows"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_load_whose_rebuilt_foreign_key_fails_is_refused_precisely_and_writes_nothing() {
    // 3000 products give a ledger of some 60k rows: loaded without indexes and foreign keys,
    // so only the rebuilt key on user_id can notice the unknown user of line 2.
    let (dir, _) = generate("import-bulk-link", 3000).await;
    let path = dir.0.join("inventory_transactions.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert!(lines.len() > 50_000, "a bulk load: {} lines", lines.len());
    let mut fields: Vec<&str> = lines[1].split(',').collect();
    fields[3] = "999";
    lines[1] = fields.join(",");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let db_url = fresh_database().await;
    let out = import(&db_url, &dir.0).await;
    assert!(!out.success, "{}", out.stdout);
    assert!(out.stderr.contains(CLOSER_LOOK), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "inventory_transactions.csv line 2, column user_id: names 999 but users.csv has no row with that id"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(counts(&db_url).await, vec![0; 6], "nothing was written");
}
