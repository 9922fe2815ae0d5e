//! The `Subscription` root: live stock changes from every instance (see `crate::live`).
//!
//! The hub hands every subscription the same loaded rows of an event (the stock row, the
//! ledger row, the product and the store); a subscription only filters them, feeds product
//! and store to its loaders (emptied first, so nothing cached for an earlier event is served)
//! and builds its answer. So an event costs no SQL per subscription for those rows; relations
//! further out (`stock { product { category { name } } }`) are loaded by each subscription.

use std::sync::Arc;

use async_graphql::{Context, ID, Result, Subscription};
use futures::{Stream, StreamExt};
use tokio_stream::wrappers::{BroadcastStream, errors::BroadcastStreamRecvError};

use crate::{
    error::AppError,
    graphql::{
        ids, loaders,
        loaders::{Loaders, ProductKey, StoreKey},
        types::{stock::Stock, stock_change::StockChange, transaction::InventoryTransaction},
    },
    live::{LiveChange, LiveHub, StockEvent},
};

/// The live entry points (graphql-transport-ws).
pub struct Subscription;

/// Changes of the hub whose event passes `keep`, skipping ahead when the subscriber lagged.
fn changes<K>(
    ctx: &Context<'_>,
    keep: K,
) -> impl Stream<Item = Arc<LiveChange>> + Send + 'static + use<K>
where
    K: Fn(&StockEvent) -> bool + Send + 'static,
{
    let receiver = ctx.data_unchecked::<LiveHub>().subscribe();
    BroadcastStream::new(receiver).filter_map(move |item| {
        let change = match item {
            Ok(change) if keep(&change.event) => Some(change),
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                tracing::warn!(missed, "live updates: a slow subscriber skipped events");
                None
            }
        };
        async move { change }
    })
}

/// The committed state behind a change: the stock row as it was read after the commit and
/// the ledger row (`None` when the stock row no longer exists). The subscription's loaders
/// start the event with its product and store, and nothing else, cached.
fn stock_change(loaders: &Loaders, change: &LiveChange) -> Option<Result<StockChange>> {
    match &change.rows {
        Ok(rows) => {
            loaders.forget();
            loaders.enable_all_cache(true);
            if let Some(product) = &rows.product {
                loaders.feed([(ProductKey(product.id), product.clone())]);
            }
            if let Some(store) = &rows.store {
                loaders.feed([(StoreKey(store.id), store.clone())]);
            }
            rows.stock.clone().map(|row| {
                Ok(StockChange {
                    stock: Stock(row),
                    transaction: rows.transaction.clone().map(InventoryTransaction),
                })
            })
        }
        Err(()) => Some(Err(AppError::ServiceUnavailable.into())),
    }
}

#[Subscription]
impl Subscription {
    /// Every committed change to matching stock rows, from any server instance.
    async fn stock_changed(
        &self,
        ctx: &Context<'_>,
        store_id: Option<ID>,
        product_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<StockChange>> + use<>> {
        let store = store_id
            .map(|id| ids::store_id(&id, "storeId"))
            .transpose()?;
        let product = product_id
            .map(|id| ids::product_id(&id, "productId"))
            .transpose()?;
        let keep = move |e: &StockEvent| {
            store.is_none_or(|s| s == e.store_id) && product.is_none_or(|p| p == e.product_id)
        };
        let loaders = loaders(ctx).clone();
        Ok(changes(ctx, keep).filter_map(move |change| {
            let change = stock_change(&loaders, &change);
            async move { change }
        }))
    }

    /// A row crossing down to or below its reorder point.
    async fn low_stock_reached(
        &self,
        ctx: &Context<'_>,
        store_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<Stock>> + use<>> {
        let store = store_id
            .map(|id| ids::store_id(&id, "storeId"))
            .transpose()?;
        let keep = move |e: &StockEvent| e.low_crossed && store.is_none_or(|s| s == e.store_id);
        let loaders = loaders(ctx).clone();
        Ok(changes(ctx, keep).filter_map(move |change| {
            let stock = stock_change(&loaders, &change).map(|c| c.map(|c| c.stock));
            async move { stock }
        }))
    }
}
