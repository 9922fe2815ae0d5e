//! The `Mutation` root: stock movements and catalogue edits.
//!
//! Each resolver checks access, parses its input into domain values (every refusal names the
//! argument as written, e.g. `input.lines.2.quantity`) and hands one command to a model
//! function. Stock movements run on a task of their own (`tokio::spawn`), so a client that
//! disconnects mid-request cannot cancel a transaction half-way: the movement commits or
//! rolls back as a whole, whatever happens to the HTTP connection.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use async_graphql::{Context, ID, MaybeUndefined, Object, Result};

use crate::{
    auth::viewer,
    config::Movements,
    db::{
        DbPool,
        models::{
            category as category_model,
            idempotency::{self, Idempotency},
            movement::{self, Adjustment, Command, Line, MovementError, Outcome, Request, Rule},
            product as product_model, stock as stock_model, store as store_model,
        },
    },
    domain::{
        ledger::{QuantitySign, TransactionType},
        money::Price,
        quantity::{Quantity, StockLevel},
        role::Role,
        text::{Description, IdempotencyKey, Name, Note, Sku, StoreCode},
    },
    error::{AppError, AppResult, Missing},
    graphql::{
        conn,
        fanout::Fanout,
        ids,
        types::{
            adjust_stock_input::AdjustStockInput, adjust_stock_payload::AdjustStockPayload,
            category::Category, create_category_input::CreateCategoryInput,
            create_product_input::CreateProductInput, create_store_input::CreateStoreInput,
            movement_direction::MovementDirection, product::Product,
            record_movements_input::RecordMovementsInput,
            record_movements_payload::RecordMovementsPayload,
            set_reorder_point_input::SetReorderPointInput, stock::Stock,
            stock_movement_input::StockMovementInput, stock_movement_payload::StockMovementPayload,
            store::Store, transaction::InventoryTransaction,
            transfer_stock_input::TransferStockInput, transfer_stock_payload::TransferStockPayload,
            update_category_input::UpdateCategoryInput, update_product_input::UpdateProductInput,
            update_store_input::UpdateStoreInput,
        },
    },
};

/// The write entry points.
pub struct Mutation;

/// The acting user's id after a role check.
fn acting_user(ctx: &Context<'_>, role: Role) -> AppResult<i32> {
    Ok(viewer(ctx).require(role)?.id)
}

/// The request of a movement: who asks and, with a key, the movement's fingerprint (from
/// the command; `input` only for the version-1 fingerprint of keys stored before it).
fn movement_request(
    user_id: i32,
    key: Option<&str>,
    operation: &str,
    input: &impl serde::Serialize,
    command: &Command,
) -> AppResult<Request> {
    let idempotency = match key {
        None => None,
        Some(key) => {
            let key = IdempotencyKey::parse(key, "input.idempotencyKey")?;
            let legacy = idempotency::legacy_fingerprint(operation, input)?;
            Some(Idempotency::new(
                key.into_inner(),
                operation,
                command,
                legacy,
            ))
        }
    };
    Ok(Request {
        user_id,
        idempotency,
    })
}

/// How long idempotency keys are remembered (schema data, from the settings).
#[derive(Debug, Clone, Copy)]
pub struct KeyRetention(pub std::time::Duration);

/// Request data shared with the HTTP layer: the stock movements of this request that have
/// started and not yet finished. At the request timeout the HTTP layer [`closes`] the watch;
/// while a movement is still [`running`] it keeps waiting for the operation (a movement ends
/// within the lock, statement and pool timeouts), so a movement that commits is answered with
/// its outcome, never with SERVICE_UNAVAILABLE. A closed watch lets no new movement start.
///
/// [`closes`]: MovementWatch::close
/// [`running`]: MovementWatch::running
#[derive(Debug, Clone, Default)]
pub struct MovementWatch(Arc<WatchState>);

#[derive(Debug, Default)]
struct WatchState {
    running: AtomicUsize,
    closed: AtomicBool,
}

impl MovementWatch {
    /// Lets no new movement start; returns whether one is running.
    pub fn close(&self) -> bool {
        self.0.closed.store(true, Ordering::SeqCst);
        self.running()
    }

    /// Whether a movement has started and not finished.
    pub fn running(&self) -> bool {
        self.0.running.load(Ordering::SeqCst) > 0
    }

    /// Counts a movement as running until the returned guard drops; `None` once closed.
    fn start(&self) -> Option<RunningMovement> {
        if self.0.closed.load(Ordering::SeqCst) {
            return None;
        }
        self.0.running.fetch_add(1, Ordering::SeqCst);
        Some(RunningMovement(self.0.clone()))
    }
}

/// One running movement of a [`MovementWatch`].
struct RunningMovement(Arc<WatchState>);

impl Drop for RunningMovement {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Where, in the client's input, each part of a movement's line came from (for
/// `extensions.field`).
#[derive(Debug, Clone)]
struct FieldPaths {
    /// The product argument, e.g. `input.productId`.
    product: String,
    /// The store argument, e.g. `input.fromStoreId`.
    store: String,
    /// The quantity argument, e.g. `input.lines.2.quantity`.
    quantity: String,
}

impl FieldPaths {
    /// Paths under one prefix with the usual product argument (`{prefix}.productId`, …).
    fn under(prefix: &str, store_arg: &str, quantity_arg: &str) -> Self {
        Self {
            product: format!("{prefix}.productId"),
            store: format!("{prefix}.{store_arg}"),
            quantity: format!("{prefix}.{quantity_arg}"),
        }
    }
}

/// A movement's error in the client's words: a broken rule names the argument of its line.
fn movement_error(err: MovementError, paths: &[FieldPaths]) -> AppError {
    let (line, rule) = match err {
        MovementError::Failed(err) => return err,
        MovementError::Refused { line, rule } => (line, rule),
    };
    let Some(at) = paths.get(line) else {
        return AppError::internal(anyhow::anyhow!("line {line} refused, but it has no paths"));
    };
    match rule {
        Rule::UnknownProduct => AppError::not_found(format!("`{}` names no product", at.product)),
        Rule::UnknownStore => AppError::not_found(format!("`{}` names no store", at.store)),
        Rule::ArchivedProduct => AppError::bad_input(
            at.product.clone(),
            "the product is archived and accepts no stock movements",
        ),
        Rule::InsufficientStock {
            available,
            requested,
        } => AppError::InsufficientStock {
            available,
            requested,
            field: Some(at.quantity.clone()),
        },
        Rule::StockTooLarge => AppError::bad_input(
            at.quantity.clone(),
            "the stock would exceed the largest storable quantity",
        ),
    }
}

/// Runs a movement on its own task, so that dropping the request does not drop the
/// transaction half-way; the request's [`MovementWatch`] counts it while it runs. `paths`
/// are the arguments of the command's lines, for its errors.
async fn run(
    ctx: &Context<'_>,
    request: Request,
    command: Command,
    paths: &[FieldPaths],
) -> AppResult<Outcome> {
    let pool = ctx.data_unchecked::<DbPool>().clone();
    let KeyRetention(retention) = *ctx.data_unchecked::<KeyRetention>();
    let deadlock_retries = ctx.data_unchecked::<Movements>().deadlock_retries;
    let _running = match ctx.data_opt::<MovementWatch>() {
        Some(watch) => Some(watch.start().ok_or(AppError::ServiceUnavailable)?),
        None => None,
    };
    tokio::spawn(async move {
        let mut conn = pool.get().await.map_err(AppError::from)?;
        movement::execute(&mut conn, &request, &command, retention, deadlock_retries).await
    })
    .await
    .map_err(AppError::internal)?
    .map_err(|err| movement_error(err, paths))
}

/// Tells the fan-out numbers of the limits that categories or stores changed.
fn fanout_changed(ctx: &Context<'_>) {
    if let Some(fanout) = ctx.data_opt::<Fanout>() {
        fanout.changed();
    }
}

/// Parses one line of a movement (its arguments under `prefix`, its store argument named
/// `store_arg`) and checks the caller may move stock in its store.
#[allow(clippy::too_many_arguments)]
fn parse_line(
    ctx: &Context<'_>,
    kind: TransactionType,
    prefix: &str,
    store_arg: &str,
    product_id: &ID,
    store_id: &ID,
    quantity: i32,
    note: Option<&str>,
) -> AppResult<(Line, FieldPaths)> {
    let fields = FieldPaths::under(prefix, store_arg, "quantity");
    let product_id = ids::product_id(product_id, &fields.product)?;
    let store_id = ids::store_id(store_id, &fields.store)?;
    let max_quantity = ctx.data_unchecked::<Movements>().max_movement_quantity;
    let quantity = Quantity::parse(quantity, max_quantity, &fields.quantity)?;
    let note = Note::parse_opt(note, &format!("{prefix}.note"))?;
    viewer(ctx).require_store(store_id)?;
    let change = match kind.sign() {
        QuantitySign::Negative => -quantity.get(),
        QuantitySign::Positive | QuantitySign::NonZero => quantity.get(),
    };
    let line = Line {
        kind,
        product_id,
        store_id,
        change,
        note: note.map(Note::into_inner),
        reference: None,
    };
    Ok((line, fields))
}

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
impl Mutation {
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

    /// Adds a product to the catalogue.
    async fn create_product(
        &self,
        ctx: &Context<'_>,
        input: CreateProductInput,
    ) -> Result<Option<Product>> {
        acting_user(ctx, Role::Manager)?;
        let sku = Sku::parse(&input.sku, "input.sku")?;
        let name = Name::parse(&input.name, "input.name")?;
        let description = Description::parse(
            input.description.as_deref().unwrap_or(""),
            "input.description",
        )?;
        let price = Price::parse(input.price.0, "input.price")?;
        let category_id = ids::category_id(&input.category_id, "input.categoryId")?;
        let mut conn = conn(ctx).await?;
        let row = product_model::create(&mut conn, &sku, &name, &description, &price, category_id)
            .await
            .map_err(|e| e.naming(&[(Missing::Category, "input.categoryId")], None))?;
        Ok(Some(Product(row)))
    }

    /// Changes a product's name, description, price or category.
    async fn update_product(
        &self,
        ctx: &Context<'_>,
        input: UpdateProductInput,
    ) -> Result<Option<Product>> {
        acting_user(ctx, Role::Manager)?;
        let id = ids::product_id(&input.id, "input.id")?;
        let changes = product_model::ProductChanges {
            name: input
                .name
                .as_deref()
                .map(|n| Name::parse(n, "input.name").map(Name::into_inner))
                .transpose()?,
            description: input
                .description
                .as_deref()
                .map(|d| Description::parse(d, "input.description").map(Description::into_inner))
                .transpose()?,
            price: input
                .price
                .map(|p| Price::parse(p.0, "input.price").map(|p| p.get().clone()))
                .transpose()?,
            category_id: input
                .category_id
                .as_ref()
                .map(|c| ids::category_id(c, "input.categoryId"))
                .transpose()?,
        };
        let mut conn = conn(ctx).await?;
        Ok(Some(Product(
            product_model::update(&mut conn, id, &changes)
                .await
                .map_err(|e| {
                    e.naming(
                        &[
                            (Missing::Product, "input.id"),
                            (Missing::Category, "input.categoryId"),
                        ],
                        None,
                    )
                })?,
        )))
    }

    /// Archived products keep their stock and history but leave default listings.
    async fn archive_product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>> {
        acting_user(ctx, Role::Manager)?;
        let id = ids::product_id(&id, "id")?;
        let mut conn = conn(ctx).await?;
        let row = product_model::archive(&mut conn, id)
            .await
            .map_err(|e| e.naming(&[(Missing::Product, "id")], None))?;
        Ok(Some(Product(row)))
    }

    /// Adds a category (a root when no parent is given).
    async fn create_category(
        &self,
        ctx: &Context<'_>,
        input: CreateCategoryInput,
    ) -> Result<Option<Category>> {
        acting_user(ctx, Role::Manager)?;
        let name = Name::parse(&input.name, "input.name")?;
        let parent_id = input
            .parent_id
            .as_ref()
            .map(|p| ids::category_id(p, "input.parentId"))
            .transpose()?;
        let mut conn = conn(ctx).await?;
        let category = category_model::create(&mut conn, &name, parent_id)
            .await
            .map_err(|e| e.naming(&[(Missing::ParentCategory, "input.parentId")], None))?;
        fanout_changed(ctx);
        Ok(Some(Category(category)))
    }

    /// Renames or moves a category; it cannot become its own ancestor.
    async fn update_category(
        &self,
        ctx: &Context<'_>,
        input: UpdateCategoryInput,
    ) -> Result<Option<Category>> {
        acting_user(ctx, Role::Manager)?;
        let id = ids::category_id(&input.id, "input.id")?;
        let name = input
            .name
            .as_deref()
            .map(|n| Name::parse(n, "input.name"))
            .transpose()?;
        let parent = match &input.parent_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(p) => Some(Some(ids::category_id(p, "input.parentId")?)),
        };
        if parent == Some(Some(id)) {
            return Err(AppError::bad_input(
                "input.parentId",
                "a category cannot be its own parent",
            )
            .into());
        }
        let mut conn = conn(ctx).await?;
        let category = category_model::update(&mut conn, id, name.as_ref(), parent)
            .await
            .map_err(|e| {
                e.naming(
                    &[
                        (Missing::Category, "input.id"),
                        (Missing::ParentCategory, "input.parentId"),
                    ],
                    Some("input.parentId"),
                )
            })?;
        if parent.is_some() {
            fanout_changed(ctx);
        }
        Ok(Some(Category(category)))
    }

    /// Adds a store.
    async fn create_store(
        &self,
        ctx: &Context<'_>,
        input: CreateStoreInput,
    ) -> Result<Option<Store>> {
        acting_user(ctx, Role::Manager)?;
        let code = StoreCode::parse(&input.code, "input.code")?;
        let name = Name::parse(&input.name, "input.name")?;
        let mut conn = conn(ctx).await?;
        let store = store_model::create(&mut conn, &code, &name).await?;
        fanout_changed(ctx);
        Ok(Some(Store(store)))
    }

    /// Renames a store.
    async fn update_store(
        &self,
        ctx: &Context<'_>,
        input: UpdateStoreInput,
    ) -> Result<Option<Store>> {
        acting_user(ctx, Role::Manager)?;
        let id = ids::store_id(&input.id, "input.id")?;
        let name = input
            .name
            .as_deref()
            .map(|n| Name::parse(n, "input.name"))
            .transpose()?;
        let mut conn = conn(ctx).await?;
        Ok(Some(Store(
            store_model::update(&mut conn, id, name.as_ref())
                .await
                .map_err(|e| e.naming(&[(Missing::Store, "input.id")], None))?,
        )))
    }
}
