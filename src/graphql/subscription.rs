//! The `Subscription` root: live stock changes from every instance (see `crate::live`).

use async_graphql::{Context, ID, Result, Subscription};
use futures::{Stream, StreamExt};
use tokio_stream::wrappers::{BroadcastStream, errors::BroadcastStreamRecvError};

use crate::{
    db::{
        DbPool,
        models::{stock, transaction},
    },
    error::AppResult,
    graphql::{
        ids,
        types::{stock::Stock, stock_change::StockChange, transaction::InventoryTransaction},
    },
    live::{LiveHub, StockEvent},
};

/// The live entry points (graphql-transport-ws).
pub struct Subscription;

/// Events of the hub that pass `keep`, skipping ahead when the subscriber lagged.
fn events<K>(ctx: &Context<'_>, keep: K) -> impl Stream<Item = StockEvent> + Send + 'static + use<K>
where
    K: Fn(&StockEvent) -> bool + Send + 'static,
{
    let receiver = ctx.data_unchecked::<LiveHub>().subscribe();
    BroadcastStream::new(receiver).filter_map(move |item| {
        let event = match item {
            Ok(event) if keep(&event) => Some(event),
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                tracing::warn!(missed, "live updates: a slow subscriber skipped events");
                None
            }
        };
        async move { event }
    })
}

/// The committed state behind an event: the stock row as it is now and the ledger row.
async fn load_change(pool: &DbPool, event: StockEvent) -> AppResult<Option<StockChange>> {
    let mut conn = pool.get().await?;
    let Some(row) = stock::by_pair(&mut conn, event.product_id, event.store_id).await? else {
        return Ok(None);
    };
    let ledger = match event.transaction_id {
        Some(id) => transaction::by_id(&mut conn, id).await?,
        None => None,
    };
    Ok(Some(StockChange {
        stock: Stock(row),
        transaction: ledger.map(InventoryTransaction),
    }))
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
        let pool = ctx.data_unchecked::<DbPool>().clone();
        let keep = move |e: &StockEvent| {
            store.is_none_or(|s| s == e.store_id) && product.is_none_or(|p| p == e.product_id)
        };
        Ok(events(ctx, keep).filter_map(move |event| {
            let pool = pool.clone();
            async move {
                load_change(&pool, event)
                    .await
                    .map_err(Into::into)
                    .transpose()
            }
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
        let pool = ctx.data_unchecked::<DbPool>().clone();
        let keep = move |e: &StockEvent| e.low_crossed && store.is_none_or(|s| s == e.store_id);
        Ok(events(ctx, keep).filter_map(move |event| {
            let pool = pool.clone();
            async move {
                load_change(&pool, event)
                    .await
                    .map(|change| change.map(|c| c.stock))
                    .map_err(Into::into)
                    .transpose()
            }
        }))
    }
}
