//! Look-ahead prefetch: a parent loads its children's relations for its whole page before the
//! children resolve, so each child finds its value in the request's loader cache at once
//! instead of awaiting a load of its own.
//!
//! The loads are the same per-relation loaders (one SQL query per relation and wave); what
//! changes is who waits: one `load_many` in the parent instead of one `load_one` per child
//! (for a page of 50 products with 10 stocks each, one wait instead of 500 for `Stock.store`).
//! Only query documents cache loader values, so only they prefetch. A failed prefetch is
//! ignored: the children then load (and report errors) on their own.

use async_graphql::{Context, Lookahead};

use crate::{
    db::models::{product, stock},
    graphql::{
        loaders,
        loaders::{CategoryKey, ProductKey, ProductStocksKey, StoreKey},
    },
};

/// The selections of a connection's nodes: `edges { node { … } }` and `nodes { … }`.
pub fn connection_nodes<'a>(ctx: &'a Context<'_>) -> Vec<Lookahead<'a>> {
    let look = ctx.look_ahead();
    vec![look.field("edges").field("node"), look.field("nodes")]
}

/// The selections of a list field's items (`Product.stocks { … }`).
pub fn list_items<'a>(ctx: &'a Context<'_>) -> Vec<Lookahead<'a>> {
    vec![ctx.look_ahead()]
}

/// The selections of `field` under any of `selections`, and whether there is one.
fn under<'a>(selections: &[Lookahead<'a>], field: &str) -> Option<Vec<Lookahead<'a>>> {
    let inner: Vec<Lookahead<'a>> = selections.iter().map(|s| s.field(field)).collect();
    inner.iter().any(Lookahead::exists).then_some(inner)
}

/// Loads what the selected fields of these products need: their categories, their stock rows
/// and those rows' stores.
pub async fn products(ctx: &Context<'_>, selections: &[Lookahead<'_>], rows: &[&product::Product]) {
    let loaders = loaders(ctx);
    if !loaders.caching() || rows.is_empty() {
        return;
    }
    let categories = async {
        if under(selections, "category").is_some() {
            let _ = loaders
                .load_many(rows.iter().map(|p| CategoryKey(p.category_id)))
                .await;
        }
    };
    let stocks = async {
        if let Some(stock_selections) = under(selections, "stocks") {
            let Ok(found) = loaders
                .load_many(rows.iter().map(|p| ProductStocksKey(p.id)))
                .await
            else {
                return;
            };
            let stock_rows: Vec<&stock::Stock> = found.values().flatten().collect();
            stores_of(ctx, &stock_selections, &stock_rows).await;
        }
    };
    futures::join!(categories, stocks);
}

/// Loads what the selected fields of these stock rows need: their stores, their products and
/// those products' categories.
pub async fn stocks(ctx: &Context<'_>, selections: &[Lookahead<'_>], rows: &[&stock::Stock]) {
    let loaders = loaders(ctx);
    if !loaders.caching() || rows.is_empty() {
        return;
    }
    let stores = stores_of(ctx, selections, rows);
    let products = async {
        if let Some(product_selections) = under(selections, "product") {
            let Ok(found) = loaders
                .load_many(rows.iter().map(|s| ProductKey(s.product_id)))
                .await
            else {
                return;
            };
            if under(&product_selections, "category").is_some() {
                let _ = loaders
                    .load_many(found.values().map(|p| CategoryKey(p.category_id)))
                    .await;
            }
        }
    };
    futures::join!(stores, products);
}

/// The stores of stock rows, when selected.
async fn stores_of(ctx: &Context<'_>, selections: &[Lookahead<'_>], rows: &[&stock::Stock]) {
    if under(selections, "store").is_some() {
        let _ = loaders(ctx)
            .load_many(rows.iter().map(|s| StoreKey(s.store_id)))
            .await;
    }
}
