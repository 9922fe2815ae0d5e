//! Look-ahead prefetch: a parent loads its children's relations for its whole page before the
//! children resolve, so each child finds its value in the request's loader cache at once
//! instead of awaiting a load of its own.
//!
//! The loads are the same per-relation loaders (one SQL query per relation and wave); what
//! changes is who waits: one `ensure` in the parent instead of one `load_one` per child
//! (for a page of 50 products with 10 stocks each, one wait instead of 500 for `Stock.store`).
//! Only query documents cache loader values, so only they prefetch. A failed prefetch is
//! ignored: the children then load (and report errors) on their own.

use async_graphql::{Context, Lookahead};

use crate::{
    db::models::{product, stock},
    graphql::{
        loaders,
        loaders::{CategoryKey, ProductKey, ProductStocksKey, StoreKey},
        render::View,
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
                .ensure(rows.iter().map(|p| CategoryKey(p.category_id)))
                .await;
        }
    };
    let stocks = async {
        if let Some(stock_selections) = under(selections, "stocks") {
            let products = rows.iter().map(|p| ProductStocksKey(p.id));
            if loaders.ensure(products).await.is_err() {
                return;
            }
            let stores = || {
                cached_keys(ctx, |view| {
                    rows.iter()
                        .filter_map(|p| view.get(&ProductStocksKey(p.id)))
                        .flatten()
                        .map(|s| StoreKey(s.store_id))
                        .collect()
                })
            };
            stores_of(ctx, &stock_selections, stores).await;
        }
    };
    futures::join!(categories, stocks);
}

/// Caches products another statement read along with its rows (a store's stock page reads its
/// rows' products), so that no wave loads them again. Only a query document caches; a product
/// already cached keeps its value, so that a request shows one version of each row.
pub fn products_read_along<'r>(
    ctx: &Context<'_>,
    products: impl Iterator<Item = &'r product::Joined>,
) {
    let loaders = loaders(ctx);
    let Some(view) = loaders.cached() else {
        return;
    };
    let fresh: Vec<(ProductKey, product::Product)> = products
        .filter(|p| view.get(&ProductKey(p.id)).is_none())
        .map(|p| (ProductKey(p.id), p.clone().into()))
        .collect();
    drop(view); // the cache's lock, taken again to feed it
    loaders.feed(fresh);
}

/// Loads what the selected fields of these stock rows need: their stores, their products and
/// those products' categories.
pub async fn stocks(ctx: &Context<'_>, selections: &[Lookahead<'_>], rows: &[&stock::Stock]) {
    let loaders = loaders(ctx);
    if !loaders.caching() || rows.is_empty() {
        return;
    }
    let stores = stores_of(ctx, selections, || {
        rows.iter().map(|s| StoreKey(s.store_id)).collect()
    });
    let products = async {
        if let Some(product_selections) = under(selections, "product") {
            let products = rows.iter().map(|s| ProductKey(s.product_id));
            if loaders.ensure(products).await.is_err() {
                return;
            }
            if under(&product_selections, "category").is_some() {
                let categories = cached_keys(ctx, |view| {
                    rows.iter()
                        .filter_map(|s| view.get(&ProductKey(s.product_id)))
                        .map(|p| CategoryKey(p.category_id))
                        .collect()
                });
                let _ = loaders.ensure(categories).await;
            }
        }
    };
    futures::join!(stores, products);
}

/// The stores of stock rows (`stores` lists their keys), when selected.
async fn stores_of(
    ctx: &Context<'_>,
    selections: &[Lookahead<'_>],
    stores: impl FnOnce() -> Vec<StoreKey>,
) {
    if under(selections, "store").is_some() {
        let _ = loaders(ctx).ensure(stores()).await;
    }
}

/// Keys read from the loaded values in the request's cache (the cache's lock is released
/// before the next load).
fn cached_keys<K>(ctx: &Context<'_>, read: impl FnOnce(&View<'_>) -> Vec<K>) -> Vec<K> {
    loaders(ctx)
        .cached()
        .map(|view| read(&view))
        .unwrap_or_default()
}
