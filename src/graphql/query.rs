//! The `Query` root: entry points of the read API.

use async_graphql::{Context, ID, Object, Result};

use crate::{
    db::models::{product as product_model, store as store_model},
    error::AppError,
    graphql::{
        conn,
        ids::{self, NodeId},
        loaders,
        loaders::{ProductKey, StoreKey},
        pagination::{PageInfo, decode_cursor, encode_cursor, page_size},
        types::{
            node::{self, Node},
            product::{Product, ProductConnection, ProductEdge},
            store::{Store, StoreConnection, StoreEdge},
            user::User,
        },
    },
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

/// Refuses an empty key (`sku`, `code`) even in lookups.
fn non_empty<'a>(value: &'a str, field: &str) -> Result<&'a str, AppError> {
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

    /// Products, by SKU.
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ProductConnection> {
        let limit = page_size(first, "first")?;
        let after: Option<String> = after.map(|c| decode_cursor(&c, "after")).transpose()?;
        let mut conn = conn(ctx).await?;
        let mut rows = product_model::page_by_sku(&mut conn, after.as_deref(), limit + 1).await?;
        let has_next_page = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let total_count = product_model::count_active(&mut conn).await?;
        let edges: Vec<ProductEdge> = rows
            .into_iter()
            .map(|r| ProductEdge {
                cursor: encode_cursor(&r.sku),
                node: Product(r),
            })
            .collect();
        Ok(ProductConnection {
            page_info: PageInfo {
                has_next_page,
                has_previous_page: after.is_some(),
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            nodes: edges.iter().map(|e| e.node.clone()).collect(),
            edges,
            total_count,
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
        Ok(product_model::by_sku(&mut *conn(ctx).await?, sku)
            .await?
            .map(Product))
    }

    /// Stores, by code.
    async fn stores(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<StoreConnection> {
        let limit = page_size(first, "first")?;
        let after: Option<String> = after.map(|c| decode_cursor(&c, "after")).transpose()?;
        let mut conn = conn(ctx).await?;
        let mut rows = store_model::page_by_code(&mut conn, after.as_deref(), limit + 1).await?;
        let has_next_page = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let total_count = store_model::count(&mut conn).await?;
        let edges: Vec<StoreEdge> = rows
            .into_iter()
            .map(|r| StoreEdge {
                cursor: encode_cursor(&r.code),
                node: Store(r),
            })
            .collect();
        Ok(StoreConnection {
            page_info: PageInfo {
                has_next_page,
                has_previous_page: after.is_some(),
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            nodes: edges.iter().map(|e| e.node.clone()).collect(),
            edges,
            total_count,
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
        if let Some(id) = id {
            let id = ids::store_id(&id, "id")?;
            return Ok(loaders(ctx).load_one(StoreKey(id)).await?.map(Store));
        }
        let code = code.unwrap_or_default();
        let code = non_empty(&code, "code")?;
        Ok(store_model::by_code(&mut *conn(ctx).await?, code)
            .await?
            .map(Store))
    }
}
