//! The stock half of `Mutation`: inbound, outbound, transfers, stocktakes, batches of lines
//! (each run by `movement.rs`) and reorder points.

use async_graphql::{Context, Object, Result};

use super::{
    acting_user,
    movement::{FieldPaths, movement_request, parse_line, run},
};
use crate::{
    auth::viewer,
    config::Movements,
    db::models::{
        movement::{Adjustment, Command, Line, Outcome},
        stock as stock_model,
    },
    domain::{ledger::TransactionType, quantity::StockLevel, role::Role, text::Note},
    error::{AppError, AppResult, Missing},
    graphql::{
        conn, ids,
        types::{
            adjust_stock_input::AdjustStockInput, adjust_stock_payload::AdjustStockPayload,
            movement_direction::MovementDirection, record_movements_input::RecordMovementsInput,
            record_movements_payload::RecordMovementsPayload,
            set_reorder_point_input::SetReorderPointInput, stock::Stock,
            stock_movement_input::StockMovementInput, stock_movement_payload::StockMovementPayload,
            transaction::InventoryTransaction, transfer_stock_input::TransferStockInput,
            transfer_stock_payload::TransferStockPayload,
        },
    },
};

/// The stock mutations.
#[derive(Default)]
pub struct StockMutation;

/// The one row of a single-line outcome.
fn single(outcome: Outcome) -> AppResult<StockMovementPayload> {
    let missing = || AppError::internal(anyhow::anyhow!("movement without a ledger row"));
    let transaction = outcome
        .transactions
        .into_iter()
        .next()
        .ok_or_else(missing)?;
    let stock = outcome.stocks.into_iter().next().ok_or_else(missing)?;
    Ok(StockMovementPayload {
        transaction: InventoryTransaction(transaction),
        new_stock: outcome.new_stock,
        stock: Stock(stock),
    })
}

/// Records one inbound or outbound line (`operation` names it for the idempotency key).
async fn record_one(
    ctx: &Context<'_>,
    kind: TransactionType,
    operation: &str,
    input: StockMovementInput,
) -> AppResult<StockMovementPayload> {
    let user_id = acting_user(ctx, Role::Staff)?;
    let (line, paths) = parse_line(
        ctx,
        kind,
        "input",
        "storeId",
        &input.product_id,
        &input.store_id,
        input.quantity,
        input.note.as_deref(),
    )?;
    let command = Command::Lines(vec![line]);
    let key = input.idempotency_key.as_deref();
    let request = movement_request(user_id, key, operation, &input, &command)?;
    single(run(ctx, request, command, &[paths]).await?)
}

/// A random reference shared by the two legs of a transfer.
fn transfer_reference() -> String {
    format!("TR-{:016x}", rand::random::<u64>())
}

#[Object]
impl StockMutation {
    /// Goods received: adds stock (creating the row on a first inbound).
    async fn record_inbound(
        &self,
        ctx: &Context<'_>,
        input: StockMovementInput,
    ) -> Result<Option<StockMovementPayload>> {
        Ok(Some(
            record_one(ctx, TransactionType::Inbound, "recordInbound", input).await?,
        ))
    }

    /// Goods sold or shipped: removes stock, never below zero (else INSUFFICIENT_STOCK).
    async fn record_outbound(
        &self,
        ctx: &Context<'_>,
        input: StockMovementInput,
    ) -> Result<Option<StockMovementPayload>> {
        Ok(Some(
            record_one(ctx, TransactionType::Outbound, "recordOutbound", input).await?,
        ))
    }

    /// Moves stock between two stores: both legs or neither.
    async fn transfer_stock(
        &self,
        ctx: &Context<'_>,
        input: TransferStockInput,
    ) -> Result<Option<TransferStockPayload>> {
        let user_id = acting_user(ctx, Role::Staff)?;
        let from = ids::store_id(&input.from_store_id, "input.fromStoreId")?;
        let to = ids::store_id(&input.to_store_id, "input.toStoreId")?;
        if from == to {
            return Err(AppError::bad_input(
                "input.toStoreId",
                "a transfer needs two different stores",
            )
            .into());
        }
        let (mut out, out_paths) = parse_line(
            ctx,
            TransactionType::TransferOut,
            "input",
            "fromStoreId",
            &input.product_id,
            &input.from_store_id,
            input.quantity,
            input.note.as_deref(),
        )?;
        let (mut inn, in_paths) = parse_line(
            ctx,
            TransactionType::TransferIn,
            "input",
            "toStoreId",
            &input.product_id,
            &input.to_store_id,
            input.quantity,
            input.note.as_deref(),
        )?;
        let reference = transfer_reference();
        out.reference = Some(reference.clone());
        inn.reference = Some(reference);
        let command = Command::Lines(vec![out, inn]);
        let key = input.idempotency_key.as_deref();
        let request = movement_request(user_id, key, "transferStock", &input, &command)?;
        let outcome = run(ctx, request, command, &[out_paths, in_paths]).await?;
        let mut txs = outcome.transactions.into_iter();
        let mut stocks = outcome.stocks.into_iter();
        let missing = || AppError::internal(anyhow::anyhow!("transfer without two legs"));
        Ok(Some(TransferStockPayload {
            outbound: InventoryTransaction(txs.next().ok_or_else(missing)?),
            inbound: InventoryTransaction(txs.next().ok_or_else(missing)?),
            from_stock: Stock(stocks.next().ok_or_else(missing)?),
            to_stock: Stock(stocks.next().ok_or_else(missing)?),
        }))
    }

    /// A stocktake: sets the stock to the counted quantity, recording the difference.
    async fn adjust_stock(
        &self,
        ctx: &Context<'_>,
        input: AdjustStockInput,
    ) -> Result<Option<AdjustStockPayload>> {
        let user_id = acting_user(ctx, Role::Staff)?;
        let fields = FieldPaths::under("input", "storeId", "countedQuantity");
        let product_id = ids::product_id(&input.product_id, &fields.product)?;
        let store_id = ids::store_id(&input.store_id, &fields.store)?;
        let counted = StockLevel::parse(input.counted_quantity, &fields.quantity)?;
        let reason = Note::parse(&input.reason, "input.reason")?;
        if reason.as_str().is_empty() {
            return Err(
                AppError::bad_input("input.reason", "`input.reason` must not be empty").into(),
            );
        }
        viewer(ctx).require_store(store_id)?;
        let command = Command::Adjust(Adjustment {
            product_id,
            store_id,
            counted: counted.get(),
            reason: reason.into_inner(),
        });
        let key = input.idempotency_key.as_deref();
        let request = movement_request(user_id, key, "adjustStock", &input, &command)?;
        let outcome = run(ctx, request, command, &[fields]).await?;
        let stock = outcome
            .stocks
            .into_iter()
            .next()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("adjustment without a row")))?;
        Ok(Some(AdjustStockPayload {
            transaction: outcome
                .transactions
                .into_iter()
                .next()
                .map(InventoryTransaction),
            new_stock: outcome.new_stock,
            stock: Stock(stock),
        }))
    }

    /// Several inbound/outbound lines, applied in order, all or nothing.
    async fn record_movements(
        &self,
        ctx: &Context<'_>,
        input: RecordMovementsInput,
    ) -> Result<Option<RecordMovementsPayload>> {
        let user_id = acting_user(ctx, Role::Staff)?;
        let max_lines = ctx.data_unchecked::<Movements>().max_lines();
        if input.lines.is_empty() || input.lines.len() > max_lines {
            return Err(AppError::bad_input(
                "input.lines",
                format!("give between 1 and {max_lines} lines"),
            )
            .into());
        }
        let lines = input
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let kind = match l.direction {
                    MovementDirection::Inbound => TransactionType::Inbound,
                    MovementDirection::Outbound => TransactionType::Outbound,
                };
                parse_line(
                    ctx,
                    kind,
                    &format!("input.lines.{i}"),
                    "storeId",
                    &l.product_id,
                    &l.store_id,
                    l.quantity,
                    l.note.as_deref(),
                )
            })
            .collect::<AppResult<Vec<_>>>()?;
        let (lines, paths): (Vec<Line>, Vec<FieldPaths>) = lines.into_iter().unzip();
        let command = Command::Lines(lines);
        let key = input.idempotency_key.as_deref();
        let request = movement_request(user_id, key, "recordMovements", &input, &command)?;
        let outcome = run(ctx, request, command, &paths).await?;
        Ok(Some(RecordMovementsPayload {
            transactions: outcome
                .transactions
                .into_iter()
                .map(InventoryTransaction)
                .collect(),
        }))
    }

    /// Sets the reorder point of a (product, store) pair (creating an empty row if needed).
    async fn set_reorder_point(
        &self,
        ctx: &Context<'_>,
        input: SetReorderPointInput,
    ) -> Result<Option<Stock>> {
        acting_user(ctx, Role::Manager)?;
        let product_id = ids::product_id(&input.product_id, "input.productId")?;
        let store_id = ids::store_id(&input.store_id, "input.storeId")?;
        let level = StockLevel::parse(input.reorder_point, "input.reorderPoint")?;
        let mut conn = conn(ctx).await?;
        let row = stock_model::set_reorder_point(&mut conn, product_id, store_id, level)
            .await
            .map_err(|e| {
                e.naming(
                    &[
                        (Missing::Product, "input.productId"),
                        (Missing::Store, "input.storeId"),
                    ],
                    None,
                )
            })?;
        Ok(Some(Stock(row)))
    }
}
