//! The `Query` root: entry points of the read API.

use async_graphql::{Context, ID, Object, Result};

use crate::{
    config::MAX_NODE_IDS,
    db::models::{
        category as category_model,
        product::{self as product_model, ProductCursor},
        stock as stock_model, store as store_model, transaction as transaction_model,
    },
    domain::text::refuse_nul,
    error::AppError,
    graphql::{
        ids::{self, NodeId},
        loaders,
        loaders::{CategoryKey, ProductKey, StockKey},
        pagination, prefetch,
        prefetch::StoreRef,
        reads,
        types::{
            category::Category,
            filters::{ProductFilter, ProductOrder, TransactionFilter},
            node::{self, Node},
            product::{Product, ProductConnection, ProductTotal},
            stock::{Stock, StockConnection, StockTotal},
            store::{Store, StoreConnection},
            transaction::InventoryTransactionConnection,
            user::User,
        },
    },
    with_read,
};

/// The read entry points.
pub struct Query;

/// Checks that exactly one of two alternative arguments is given.
fn exactly_one<A, B>(a: &Option<A>, b: &Option<B>, names: (&str, &str)) -> Result<(), AppError> {
    if a.is_some() == b.is_some() {
        return Err(AppError::BadUserInput {
            message: format!("give exactly one of `{}` and `{}`", names.0, names.1),
            field: None,
        });
    }
    Ok(())
}

/// Refuses an empty key (`sku`, `code`) even in lookups, and one with a NUL character.
fn non_empty<'a>(value: &'a str, field: &str) -> Result<&'a str, AppError> {
    refuse_nul(value, field)?;
    if value.is_empty() {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` must not be empty"),
        ));
    }
    Ok(value)
}

#[Object]
impl Query {
    /// Fetches any object by its global ID; null when it names nothing.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        node::resolve_arg(ctx, &id, "id").await
    }

    /// Fetches several objects by global ID, in the order given.
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Node>>> {
        if ids.len() > MAX_NODE_IDS {
            return Err(AppError::bad_input(
                "ids",
                format!("`ids` takes at most {MAX_NODE_IDS} IDs, got {}", ids.len()),
            )
            .into());
        }
        let parsed = ids
            .iter()
            .enumerate()
            .map(|(i, id)| NodeId::parse(id, &format!("ids.{i}")))
            .collect::<Result<Vec<_>, _>>()?;
        futures::future::try_join_all(parsed.into_iter().map(|id| node::resolve(ctx, id))).await
    }

    /// The user behind the request's token; null for an anonymous request (possible only with public reads).
    async fn viewer(&self, ctx: &Context<'_>) -> Option<User> {
        crate::auth::viewer(ctx).user.clone().map(User)
    }

    /// Products: by SKU unless `orderBy` says otherwise; archived ones only with
    /// `filter.includeArchived`.
    #[allow(clippy::too_many_arguments)]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ProductFilter>,
        order_by: Option<ProductOrder>,
    ) -> Result<ProductConnection> {
        let filter = ProductFilter::parse(filter)?;
        let (order, asc) = ProductOrder::parse(order_by);
        let ks = pagination::keyset::<ProductCursor>(first, after, last, before)?;
        for (cursor, field) in [(&ks.after, "after"), (&ks.before, "before")] {
            if cursor.as_ref().is_some_and(|c| !c.fits(order)) {
                return Err(AppError::bad_input(
                    field,
                    format!("`{field}` is a cursor of another order"),
                )
                .into());
            }
        }
        let rows =
            with_read!(reads(ctx), c => product_model::page(c, &filter, order, asc, &ks).await)?;
        let page: Vec<&product_model::Product> = pagination::shown(&rows, &ks).iter().collect();
        prefetch::products(ctx, &prefetch::connection_nodes(ctx), &page).await;
        Ok(ProductConnection {
            page: pagination::page(rows, &ks, |r| ProductCursor::of(r, order), Product),
            total: ProductTotal::Filter(filter),
        })
    }

    /// By id or by sku (exactly one).
    async fn product(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        sku: Option<String>,
    ) -> Result<Option<Product>> {
        exactly_one(&id, &sku, ("id", "sku"))?;
        if let Some(id) = id {
            let id = ids::product_id(&id, "id")?;
            return Ok(loaders(ctx).load_one(ProductKey(id)).await?.map(Product));
        }
        let sku = sku.unwrap_or_default();
        let sku = non_empty(&sku, "sku")?;
        Ok(prefetch::product_by_sku(ctx, sku).await?.map(Product))
    }

    /// Root categories (no parent), by name.
    async fn categories(&self, ctx: &Context<'_>) -> Result<Vec<Category>> {
        let rows = match loaders(ctx).loader().reference().await {
            Some(tables) => tables.children(None),
            None => with_read!(reads(ctx), c => category_model::roots(c).await)?,
        };
        Ok(rows.into_iter().map(Category).collect())
    }

    /// A category by ID.
    async fn category(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Category>> {
        let id = ids::category_id(&id, "id")?;
        Ok(loaders(ctx).load_one(CategoryKey(id)).await?.map(Category))
    }

    /// Stores, by code.
    async fn stores(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<StoreConnection> {
        let ks = pagination::forward::<String>(first, after)?;
        let after = ks.after.as_deref();
        let rows = match loaders(ctx).loader().reference().await {
            Some(tables) => tables.stores_page(after, ks.fetch()),
            None => {
                with_read!(reads(ctx), c => store_model::page_by_code(c, after, ks.fetch()).await)?
            }
        };
        Ok(StoreConnection {
            page: pagination::page(rows, &ks, |r| r.code.clone(), Store),
        })
    }

    /// By id or by code (exactly one).
    async fn store(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        code: Option<String>,
    ) -> Result<Option<Store>> {
        exactly_one(&id, &code, ("id", "code"))?;
        let code = code.unwrap_or_default();
        let which = match id {
            Some(id) => StoreRef::Id(ids::store_id(&id, "id")?),
            None => StoreRef::Code(non_empty(&code, "code")?),
        };
        Ok(prefetch::store_with_page(ctx, which).await?.map(Store))
    }

    /// One product's stock row in one store; null when there is none.
    async fn stock(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        store_id: ID,
    ) -> Result<Option<Stock>> {
        let product_id = ids::product_id(&product_id, "productId")?;
        let store_id = ids::store_id(&store_id, "storeId")?;
        Ok(loaders(ctx)
            .load_one(StockKey((product_id, store_id)))
            .await?
            .map(Stock))
    }

    /// Stock rows at or below their reorder point, across stores (or one).
    async fn low_stock(
        &self,
        ctx: &Context<'_>,
        store_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<StockConnection> {
        let store_id = store_id
            .map(|id| ids::store_id(&id, "storeId"))
            .transpose()?;
        let ks = pagination::forward::<stock_model::LowStockCursor>(first, after)?;
        let rows =
            with_read!(reads(ctx), c => stock_model::low_stock_page(c, store_id, &ks).await)?;
        let page: Vec<&stock_model::Stock> = pagination::shown(&rows, &ks)
            .iter()
            .map(|r| &r.stock)
            .collect();
        prefetch::stocks(ctx, &prefetch::connection_nodes(ctx), &page).await;
        Ok(StockConnection {
            page: pagination::page(
                rows,
                &ks,
                |r| (r.code.clone(), r.sku.clone()),
                |r| Stock(r.stock),
            ),
            total: StockTotal::LowStock(store_id),
        })
    }

    /// Newest first.
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<TransactionFilter>,
    ) -> Result<InventoryTransactionConnection> {
        let filter = TransactionFilter::parse(filter)?;
        let ks = pagination::forward(first, after)?;
        let rows = with_read!(reads(ctx), c => transaction_model::page(c, &filter, &ks).await)?;
        Ok(InventoryTransactionConnection::from_rows(rows, &ks))
    }
}
