//! Products of the catalogue.

use bigdecimal::BigDecimal;
use chrono::{DateTime, Utc};
use diesel::{prelude::*, sql_types};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use serde::{Deserialize, Serialize};

use crate::{
    db::{
        models::{
            page::{
                Bind, CountRow, KeyTotal, Keyset, SqlBuilder, contains_pattern, dir, keyset_range,
                sku_page_tail,
            },
            row_time::RowTime,
        },
        schema::products,
    },
    error::AppResult,
};

/// A row of `products`.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = products, check_for_backend(diesel::pg::Pg))]
pub struct Product {
    /// Primary key.
    pub id: i32,
    /// Stock-keeping unit, unique.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Free text, possibly empty.
    pub description: String,
    /// Unit price, two decimals.
    pub price: BigDecimal,
    /// The category it belongs to.
    pub category_id: i32,
    /// Archived products keep stock and history but leave default listings.
    pub archived: bool,
    /// When created.
    pub created_at: RowTime,
    /// When last changed.
    pub updated_at: RowTime,
}

/// The products with these ids (unknown ids are skipped).
pub async fn by_ids(mut conn: &AsyncPgConnection, ids: &[i32]) -> AppResult<Vec<Product>> {
    Ok(products::table
        .filter(products::id.eq_any(ids))
        .select(Product::as_select())
        .load(&mut conn)
        .await?)
}

/// The product with this SKU, if any.
pub async fn by_sku(mut conn: &AsyncPgConnection, sku: &str) -> AppResult<Option<Product>> {
    Ok(products::table
        .filter(products::sku.eq(sku))
        .select(Product::as_select())
        .first(&mut conn)
        .await
        .optional()?)
}

/// Up to `limit` non-archived products after SKU `after`, in SKU order.
pub async fn page_by_sku(
    mut conn: &AsyncPgConnection,
    after: Option<&str>,
    limit: i64,
) -> AppResult<Vec<Product>> {
    let mut query = products::table
        .filter(products::archived.eq(false))
        .select(Product::as_select())
        .order(products::sku.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(products::sku.gt(after.to_string()));
    }
    Ok(query.load(&mut conn).await?)
}

/// How many non-archived products there are.
pub async fn count_active(mut conn: &AsyncPgConnection) -> AppResult<i64> {
    Ok(products::table
        .filter(products::archived.eq(false))
        .count()
        .get_result(&mut conn)
        .await?)
}

/// Which products a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ProductFilter {
    /// Case-insensitive substring of sku or name.
    pub search: Option<String>,
    /// Only this category (and its subtree with `include_descendants`).
    pub category_id: Option<i32>,
    /// With `category_id`: the whole subtree.
    pub include_descendants: bool,
    /// Archived products too.
    pub include_archived: bool,
}

/// The orders of a product listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductOrder {
    /// By SKU (unique).
    Sku,
    /// By name, then id.
    Name,
    /// By creation time, then id.
    CreatedAt,
}

/// The sort key of a product in a listing, as its cursor carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProductCursor {
    /// SKU order.
    Sku(String),
    /// Name order.
    Name(String, i32),
    /// Creation order.
    CreatedAt(DateTime<Utc>, i32),
}

impl ProductCursor {
    /// The cursor of `p` in `order`.
    pub fn of(p: &Product, order: ProductOrder) -> Self {
        match order {
            ProductOrder::Sku => Self::Sku(p.sku.clone()),
            ProductOrder::Name => Self::Name(p.name.clone(), p.id),
            ProductOrder::CreatedAt => Self::CreatedAt(p.created_at.at(), p.id),
        }
    }

    /// Whether this cursor belongs to `order`.
    pub fn fits(&self, order: ProductOrder) -> bool {
        matches!(
            (self, order),
            (Self::Sku(_), ProductOrder::Sku)
                | (Self::Name(..), ProductOrder::Name)
                | (Self::CreatedAt(..), ProductOrder::CreatedAt)
        )
    }
}

/// A product's columns (alias `p`) in [`Product`]'s order, also read along in other tables'
/// statements (a store's stock page reads its rows' products).
pub const PRODUCT_COLUMNS: &str = "p.id, p.sku, p.name, p.description, p.price, p.category_id, \
     p.archived, p.created_at, p.updated_at";

/// The SQL types of [`PRODUCT_COLUMNS`], in order (what [`Product`] is read from by position).
pub type ProductSql = (
    sql_types::Integer,
    sql_types::Text,
    sql_types::Text,
    sql_types::Text,
    sql_types::Numeric,
    sql_types::Integer,
    sql_types::Bool,
    sql_types::Timestamptz,
    sql_types::Timestamptz,
);

/// The ids of a category's subtree (itself included), as SQL over placeholder `cat`.
fn subtree_sql(sql: &mut SqlBuilder, category_id: i32) {
    sql.push("(WITH RECURSIVE t(id) AS (SELECT ")
        .bind(Bind::Int(category_id))
        .push(
            "::int UNION ALL SELECT c.id FROM categories c JOIN t ON c.parent_id = t.id) \
             SELECT id FROM t)",
        );
}

fn filter_sql(sql: &mut SqlBuilder, filter: &ProductFilter) {
    if !filter.include_archived {
        sql.push(" AND NOT p.archived");
    }
    if let Some(search) = &filter.search {
        let pattern = contains_pattern(search);
        sql.push(" AND (lower(p.sku) LIKE ")
            .bind(Bind::Text(pattern.clone()))
            .push(" OR lower(p.name) LIKE ")
            .bind(Bind::Text(pattern))
            .push(")");
    }
    if let Some(category_id) = filter.category_id {
        if filter.include_descendants {
            sql.push(" AND p.category_id IN ");
            subtree_sql(sql, category_id);
        } else {
            sql.push(" AND p.category_id = ")
                .bind(Bind::Int(category_id));
        }
    }
}

/// A keyset page of the products matching `filter`, in `order` (`asc` or not), read in the
/// page's direction (the caller reverses a backward page).
pub async fn page(
    mut conn: &AsyncPgConnection,
    filter: &ProductFilter,
    order: ProductOrder,
    asc: bool,
    ks: &Keyset<ProductCursor>,
) -> AppResult<Vec<Product>> {
    let mut sql = SqlBuilder::new(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p WHERE TRUE"
    ));
    filter_sql(&mut sql, filter);
    let key_sql = match order {
        ProductOrder::Sku => "p.sku",
        ProductOrder::Name => "(p.name, p.id)",
        ProductOrder::CreatedAt => "(p.created_at, p.id)",
    };
    keyset_range(&mut sql, ks, key_sql, asc, |sql, key| match key {
        ProductCursor::Sku(sku) => {
            sql.bind(Bind::Text(sku.clone()));
        }
        ProductCursor::Name(name, id) => {
            sql.push("(")
                .bind(Bind::Text(name.clone()))
                .push(", ")
                .bind(Bind::Int(*id))
                .push(")");
        }
        ProductCursor::CreatedAt(at, id) => {
            sql.push("(")
                .bind(Bind::Ts(*at))
                .push(", ")
                .bind(Bind::Int(*id))
                .push(")");
        }
    });
    let d = dir(ks.scan_ascending(asc));
    let order_sql = match order {
        ProductOrder::Sku => format!(" ORDER BY p.sku {d}"),
        ProductOrder::Name => format!(" ORDER BY p.name {d}, p.id {d}"),
        ProductOrder::CreatedAt => format!(" ORDER BY p.created_at {d}, p.id {d}"),
    };
    sql.push(&order_sql)
        .push(" LIMIT ")
        .bind(Bind::BigInt(ks.fetch()));
    Ok(sql.build_as::<ProductSql>().load(&mut conn).await?)
}

/// How many products match `filter`.
pub async fn count(mut conn: &AsyncPgConnection, filter: &ProductFilter) -> AppResult<i64> {
    let mut sql = SqlBuilder::new("SELECT count(*) AS count FROM products p WHERE TRUE");
    filter_sql(&mut sql, filter);
    let row: CountRow = sql.build().get_result(&mut conn).await?;
    Ok(row.count)
}

/// A product row with the category (subtree root) it was listed under.
#[derive(Debug, QueryableByName)]
pub struct CategoryProduct {
    /// The category whose listing holds the row.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub root: i32,
    /// The product.
    #[diesel(embed)]
    pub product: Product,
}

fn category_tree_sql(sql: &mut SqlBuilder, category_ids: &[i32], include_descendants: bool) {
    sql.push("WITH RECURSIVE t(root, id) AS (SELECT r, r FROM unnest(")
        .bind(Bind::Ints(category_ids.to_vec()))
        .push("::int[]) AS r");
    if include_descendants {
        sql.push(" UNION ALL SELECT t.root, c.id FROM t JOIN categories c ON c.parent_id = t.id");
    }
    sql.push(") ");
}

/// One keyset page (SKU order, archived left out) per category, in one query; rows come in
/// each page's read direction.
pub async fn pages_by_category(
    mut conn: &AsyncPgConnection,
    category_ids: &[i32],
    include_descendants: bool,
    ks: &Keyset<String>,
) -> AppResult<Vec<CategoryProduct>> {
    let mut sql = SqlBuilder::default();
    category_tree_sql(&mut sql, category_ids, include_descendants);
    sql.push(&format!(
        "SELECT r.root, x.* FROM unnest($1::int[]) AS r(root) CROSS JOIN LATERAL (\
         SELECT {PRODUCT_COLUMNS} FROM products p \
         WHERE p.category_id IN (SELECT t.id FROM t WHERE t.root = r.root) AND NOT p.archived"
    ));
    sku_page_tail(&mut sql, ks);
    Ok(sql.build().load(&mut conn).await?)
}

/// How many non-archived products each category (or subtree) lists.
pub async fn counts_by_category(
    mut conn: &AsyncPgConnection,
    category_ids: &[i32],
    include_descendants: bool,
) -> AppResult<Vec<KeyTotal>> {
    let mut sql = SqlBuilder::default();
    category_tree_sql(&mut sql, category_ids, include_descendants);
    sql.push(
        "SELECT t.root AS key, count(p.id) AS total FROM t \
         JOIN products p ON p.category_id = t.id AND NOT p.archived GROUP BY t.root",
    );
    Ok(sql.build().load(&mut conn).await?)
}

/// The stock of each category subtree (archived products included), in one store or all.
pub async fn category_totals(
    mut conn: &AsyncPgConnection,
    category_ids: &[i32],
    store_id: Option<i32>,
) -> AppResult<Vec<KeyTotal>> {
    let mut sql = SqlBuilder::default();
    category_tree_sql(&mut sql, category_ids, true);
    sql.push(
        "SELECT t.root AS key, COALESCE(sum(st.quantity), 0)::bigint AS total FROM t \
         JOIN products p ON p.category_id = t.id JOIN stocks st ON st.product_id = p.id",
    );
    if let Some(store_id) = store_id {
        sql.push(" AND st.store_id = ").bind(Bind::Int(store_id));
    }
    sql.push(" GROUP BY t.root");
    Ok(sql.build().load(&mut conn).await?)
}

// ---------------------------------------------------------------- writes (catalogue mutations)

/// Fields of a product to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = products)]
pub struct ProductChanges {
    /// New display name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New price (two decimals).
    pub price: Option<BigDecimal>,
    /// New category.
    pub category_id: Option<i32>,
}

/// Maps a write error: a taken SKU is CONFLICT, an unknown category NOT_FOUND.
fn write_error(err: diesel::result::Error) -> crate::error::AppError {
    use diesel::result::{DatabaseErrorKind, Error};
    match err {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            crate::error::AppError::Conflict("a product with this SKU already exists".into())
        }
        Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            crate::error::AppError::Missing(crate::error::Missing::Category)
        }
        other => other.into(),
    }
}

/// Creates a product (validated values); a taken SKU is CONFLICT, an unknown category
/// NOT_FOUND.
pub async fn create(
    conn: &mut AsyncPgConnection,
    sku: &crate::domain::text::Sku,
    name: &crate::domain::text::Name,
    description: &crate::domain::text::Description,
    price: &crate::domain::money::Price,
    category_id: i32,
) -> AppResult<Product> {
    diesel::insert_into(products::table)
        .values((
            products::sku.eq(sku.as_str()),
            products::name.eq(name.as_str()),
            products::description.eq(description.as_str()),
            products::price.eq(price.get()),
            products::category_id.eq(category_id),
        ))
        .returning(Product::as_returning())
        .get_result(conn)
        .await
        .map_err(write_error)
}

/// Changes some fields of a product; NOT_FOUND when there is no such product.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: i32,
    changes: &ProductChanges,
) -> AppResult<Product> {
    diesel::update(products::table.find(id))
        .set((changes, products::updated_at.eq(diesel::dsl::now)))
        .returning(Product::as_returning())
        .get_result(conn)
        .await
        .optional()
        .map_err(write_error)?
        .ok_or(crate::error::AppError::Missing(
            crate::error::Missing::Product,
        ))
}

/// Archives a product (idempotent); NOT_FOUND when there is no such product.
pub async fn archive(conn: &mut AsyncPgConnection, id: i32) -> AppResult<Product> {
    diesel::update(products::table.find(id))
        .set((
            products::archived.eq(true),
            products::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Product::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or(crate::error::AppError::Missing(
            crate::error::Missing::Product,
        ))
}
