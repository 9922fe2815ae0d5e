//! How a stock movement runs, between its resolver and `db::models::movement`: the request
//! (who asks, the idempotency key and fingerprint), the watch the HTTP layer keeps on
//! running movements, the line parsed from its arguments, and its errors in the client's
//! words.
//!
//! A movement runs on a task of its own (`tokio::spawn`), so a client that disconnects
//! mid-request cannot cancel a transaction half-way: the movement commits or rolls back as a
//! whole, whatever happens to the HTTP connection.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use async_graphql::{Context, ID};

use crate::{
    auth::viewer,
    config::Movements,
    db::{
        DbPool,
        models::{
            idempotency::{self, Idempotency},
            movement::{self, Command, Line, MovementError, Outcome, Request, Rule},
        },
    },
    domain::{
        ledger::{QuantitySign, TransactionType},
        quantity::Quantity,
        text::{IdempotencyKey, Note},
    },
    error::{AppError, AppResult},
    graphql::ids,
    live::LiveHub,
};

/// The request of a movement: who asks and, with a key, the movement's fingerprint (from
/// the command; `input` only for the version-1 fingerprint of keys stored before it).
pub(super) fn movement_request(
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
pub(super) struct FieldPaths {
    /// The product argument, e.g. `input.productId`.
    pub(super) product: String,
    /// The store argument, e.g. `input.fromStoreId`.
    pub(super) store: String,
    /// The quantity argument, e.g. `input.lines.2.quantity`.
    pub(super) quantity: String,
}

impl FieldPaths {
    /// Paths under one prefix with the usual product argument (`{prefix}.productId`, …).
    pub(super) fn under(prefix: &str, store_arg: &str, quantity_arg: &str) -> Self {
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
/// transaction half-way (nor the announcement of what it committed, sent after the commit);
/// the request's [`MovementWatch`] counts it while it runs. `paths` are the arguments of the
/// command's lines, for its errors.
pub(super) async fn run(
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
    let live = ctx.data_unchecked::<LiveHub>().clone();
    tokio::spawn(async move {
        let mut conn = pool.get().await.map_err(AppError::from)?;
        let outcome =
            movement::execute(&mut conn, &request, &command, retention, deadlock_retries).await?;
        live.announce(&outcome);
        Ok(outcome)
    })
    .await
    .map_err(AppError::internal)?
    .map_err(|err| movement_error(err, paths))
}

/// Parses one line of a movement (its arguments under `prefix`, its store argument named
/// `store_arg`) and checks the caller may move stock in its store.
#[allow(clippy::too_many_arguments)]
pub(super) fn parse_line(
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
