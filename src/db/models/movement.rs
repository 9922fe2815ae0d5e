//! Stock movements: inbound, outbound, transfers, stocktake adjustments and batches of lines.
//!
//! Each movement is ONE database transaction that changes the stock row and appends the
//! ledger row together, so for every (product, store) the stock equals the sum of its ledger
//! and each row's `quantity_after` is the running sum. Stock never goes below zero: a removal
//! is a conditional `UPDATE … WHERE quantity + change >= 0`, which PostgreSQL re-checks on the
//! newest row version after waiting for a concurrent writer, so N concurrent outbounds succeed
//! exactly as often as the stock allows. An addition is an upsert (a first inbound creates the
//! row with reorder point 0). Movements that touch several rows (transfers, batches) lock them
//! first in (product, store) order, so two of them can never wait on each other in a cycle.
//! Ledger timestamps are taken after the row lock is held (`clock_timestamp()`), so
//! (created_at, id) order is the order in which changes were applied.

use diesel::{
    prelude::*,
    sql_types::{Array, Bool, Int4, Int8, Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use crate::{
    db::models::{
        idempotency::{self, Claim, Idempotency},
        page::{Bind, SqlBuilder},
        row_time::RowTime,
        stock::Stock,
        transaction::InventoryTransaction,
    },
    domain::ledger::TransactionType,
    error::{AppError, AppResult},
};

/// A rule a movement broke, found by the database (which line is told by [`MovementError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The product does not exist.
    UnknownProduct,
    /// The store does not exist.
    UnknownStore,
    /// The product is archived.
    ArchivedProduct,
    /// A removal larger than the stock (both read under the row's lock).
    InsufficientStock {
        /// Stock on hand.
        available: i64,
        /// Quantity asked for.
        requested: i64,
    },
    /// The stock would exceed the largest storable quantity.
    StockTooLarge,
}

/// Why a movement did not happen; nothing was written either way.
#[derive(Debug)]
pub enum MovementError {
    /// Line `line` of the command (0-based; an adjustment is line 0) broke `rule`.
    Refused {
        /// Which line.
        line: usize,
        /// Which rule.
        rule: Rule,
    },
    /// Anything else (database unavailable, idempotency conflict, …).
    Failed(AppError),
}

impl From<AppError> for MovementError {
    fn from(err: AppError) -> Self {
        Self::Failed(err)
    }
}

impl From<diesel::result::Error> for MovementError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Failed(err.into())
    }
}

/// One change of one stock row, with its ledger row.
#[derive(Debug, Clone)]
pub struct Line {
    /// The ledger kind.
    pub kind: TransactionType,
    /// The product.
    pub product_id: i32,
    /// The store.
    pub store_id: i32,
    /// Signed change (never 0).
    pub change: i32,
    /// Free text for the ledger row.
    pub note: Option<String>,
    /// Shared by the legs of a transfer.
    pub reference: Option<String>,
}

/// A stocktake: set the row to a counted quantity.
#[derive(Debug, Clone)]
pub struct Adjustment {
    /// The product.
    pub product_id: i32,
    /// The store.
    pub store_id: i32,
    /// The counted quantity (>= 0).
    pub counted: i32,
    /// The reason, written as the ledger row's note.
    pub reason: String,
}

/// What a movement does.
#[derive(Debug, Clone)]
pub enum Command {
    /// Lines applied in order, all or nothing (inbound, outbound, transfer, batch).
    Lines(Vec<Line>),
    /// A stocktake of one row.
    Adjust(Adjustment),
}

impl Command {
    /// What the command does, as bytes for its idempotency fingerprint: every line's kind,
    /// product, store, change and note (not a transfer's reference: it is drawn per call), or
    /// the adjustment's row, count and reason. Lengths are written before texts, so no two
    /// commands share an encoding.
    pub fn canonical(&self) -> Vec<u8> {
        fn text(out: &mut Vec<u8>, text: Option<&str>) {
            match text {
                None => out.push(0),
                Some(text) => {
                    out.push(1);
                    out.extend_from_slice(&(text.len() as u64).to_be_bytes());
                    out.extend_from_slice(text.as_bytes());
                }
            }
        }
        let mut out = Vec::new();
        match self {
            Self::Lines(lines) => {
                out.push(b'L');
                out.extend_from_slice(&(lines.len() as u64).to_be_bytes());
                for line in lines {
                    text(&mut out, Some(line.kind.as_str()));
                    out.extend_from_slice(&line.product_id.to_be_bytes());
                    out.extend_from_slice(&line.store_id.to_be_bytes());
                    out.extend_from_slice(&line.change.to_be_bytes());
                    text(&mut out, line.note.as_deref());
                }
            }
            Self::Adjust(adj) => {
                out.push(b'A');
                out.extend_from_slice(&adj.product_id.to_be_bytes());
                out.extend_from_slice(&adj.store_id.to_be_bytes());
                out.extend_from_slice(&adj.counted.to_be_bytes());
                text(&mut out, Some(&adj.reason));
            }
        }
        out
    }
}

/// Who asks, and the idempotency key of the request if any.
#[derive(Debug, Clone)]
pub struct Request {
    /// The acting user (written on ledger rows; scope of the key).
    pub user_id: i32,
    /// The client's key and the fingerprint of the movement.
    pub idempotency: Option<Idempotency>,
}

/// The result of a movement (or the replay of a stored one).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The ledger rows written, in line order (empty when an adjustment matched the count).
    pub transactions: Vec<InventoryTransaction>,
    /// The stock row after each line (for an adjustment: its one row).
    pub stocks: Vec<Stock>,
    /// The stock of the last row touched, right after the movement.
    pub new_stock: i32,
    /// Whether the caller announces `transactions` to live subscribers (`LiveHub::announce`):
    /// their commit sent no notification, as every ledger row of a movement is written by
    /// [`line_sql`], which asks the trigger not to. False for a replay (nothing was written).
    pub announce: bool,
}

impl Outcome {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "transactions": self.transactions.iter().map(|t| t.id).collect::<Vec<_>>(),
            "stocks": self.stocks.iter().map(|s| [s.product_id, s.store_id]).collect::<Vec<_>>(),
            "newStock": self.new_stock,
        })
    }
}

/// A ledger row as written, with the stock row it left behind.
#[derive(QueryableByName)]
struct Applied {
    #[diesel(sql_type = Int8)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: TransactionType,
    #[diesel(sql_type = Int4)]
    product_id: i32,
    #[diesel(sql_type = Int4)]
    store_id: i32,
    #[diesel(sql_type = Nullable<Int4>)]
    user_id: Option<i32>,
    #[diesel(sql_type = Int4)]
    quantity: i32,
    #[diesel(sql_type = Int4)]
    quantity_after: i32,
    #[diesel(sql_type = Nullable<Text>)]
    note: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    reference: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    created_at: chrono::DateTime<chrono::Utc>,
    #[diesel(sql_type = Int4)]
    reorder_point: i32,
    #[diesel(sql_type = Timestamptz)]
    stock_updated_at: RowTime,
}

impl Applied {
    fn split(self) -> (InventoryTransaction, Stock) {
        let stock = Stock {
            product_id: self.product_id,
            store_id: self.store_id,
            quantity: self.quantity_after,
            reorder_point: self.reorder_point,
            updated_at: self.stock_updated_at,
        };
        let tx = InventoryTransaction {
            id: self.id,
            kind: self.kind,
            product_id: self.product_id,
            store_id: self.store_id,
            user_id: self.user_id,
            quantity: self.quantity,
            quantity_after: self.quantity_after,
            note: self.note,
            reference: self.reference,
            created_at: self.created_at,
        };
        (tx, stock)
    }
}

/// The statement that applies one line: changes (or creates) the stock row `s` and appends
/// the ledger row to it, returning both. One prepared statement per direction (its text
/// depends only on the sign of the change).
///
/// It also sets `stockroom.announce = 'after'` for its transaction (`a`), so the ledger
/// trigger leaves the row's announcement to the caller, after the commit (see
/// [`Outcome::announce`]): a notifying commit would hold PostgreSQL's database-wide
/// notification lock across its WAL flush.
fn line_sql(user_id: i32, line: &Line) -> SqlBuilder {
    let mut sql = if line.change > 0 {
        // Adds stock: creates the row (reorder point 0) or adds to it; nothing for an
        // archived or unknown product or an unknown store.
        let mut sql = SqlBuilder::new(
            "WITH s AS (INSERT INTO stocks AS st \
             (product_id, store_id, quantity, reorder_point, updated_at) SELECT p.id, ",
        );
        sql.bind(Bind::Int(line.store_id))
            .push(", ")
            .bind(Bind::Int(line.change))
            .push(", 0, clock_timestamp() FROM products p WHERE p.id = ")
            .bind(Bind::Int(line.product_id))
            .push(" AND NOT p.archived AND EXISTS (SELECT 1 FROM stores WHERE id = ")
            .bind(Bind::Int(line.store_id))
            .push(
                ") ON CONFLICT (product_id, store_id) DO UPDATE \
                 SET quantity = st.quantity + EXCLUDED.quantity, updated_at = clock_timestamp()",
            );
        sql
    } else {
        // Removes stock only when enough is there (re-checked on the newest row version).
        let mut sql =
            SqlBuilder::new("WITH s AS (UPDATE stocks AS st SET quantity = st.quantity + ");
        sql.bind(Bind::Int(line.change))
            .push(", updated_at = clock_timestamp() FROM products p WHERE st.product_id = ")
            .bind(Bind::Int(line.product_id))
            .push(" AND st.store_id = ")
            .bind(Bind::Int(line.store_id))
            .push(" AND p.id = st.product_id AND NOT p.archived AND st.quantity + ")
            .bind(Bind::Int(line.change))
            .push(" >= 0");
        sql
    };
    sql.push(
        " RETURNING st.product_id, st.store_id, st.quantity, st.reorder_point, st.updated_at\
         ), t AS (INSERT INTO inventory_transactions (type, product_id, store_id, user_id, \
         quantity, quantity_after, note, reference, created_at) SELECT ",
    )
    .bind(Bind::Text(line.kind.as_str().to_string()))
    .push(", s.product_id, s.store_id, ")
    .bind(Bind::Int(user_id))
    .push(", ")
    .bind(Bind::Int(line.change))
    .push(", s.quantity, ")
    .bind(Bind::OptText(line.note.clone()))
    .push(", ")
    .bind(Bind::OptText(line.reference.clone()))
    .push(
        ", clock_timestamp() FROM s RETURNING *), \
         a AS (SELECT set_config('stockroom.announce', 'after', true)) \
         SELECT t.id, t.type AS kind, t.product_id, t.store_id, t.user_id, t.quantity, \
         t.quantity_after, t.note, t.reference, t.created_at, s.reorder_point, \
         s.updated_at AS stock_updated_at FROM t CROSS JOIN s CROSS JOIN a",
    );
    sql
}

/// Why a line wrote nothing. The stock row, when there is one, is read under its lock
/// (`FOR UPDATE`), so the quantity is exact until the transaction ends: a refusal can quote it
/// and an addition that committed meanwhile cannot be missed.
#[derive(QueryableByName)]
struct Diagnosis {
    #[diesel(sql_type = Nullable<Bool>)]
    archived: Option<bool>,
    #[diesel(sql_type = Bool)]
    store_exists: bool,
    #[diesel(sql_type = Nullable<Int4>)]
    quantity: Option<i32>,
}

async fn diagnose(
    conn: &mut AsyncPgConnection,
    product_id: i32,
    store_id: i32,
) -> AppResult<Diagnosis> {
    Ok(diesel::sql_query(
        "SELECT (SELECT archived FROM products WHERE id = $1) AS archived, \
                EXISTS (SELECT 1 FROM stores WHERE id = $2) AS store_exists, \
                (SELECT quantity FROM stocks WHERE product_id = $1 AND store_id = $2 \
                 FOR UPDATE) AS quantity",
    )
    .bind::<Int4, _>(product_id)
    .bind::<Int4, _>(store_id)
    .get_result(conn)
    .await?)
}

/// The rule a line on an unknown or archived product or an unknown store breaks, if any.
fn refusal(d: &Diagnosis) -> Option<Rule> {
    match d.archived {
        None => Some(Rule::UnknownProduct),
        Some(_) if !d.store_exists => Some(Rule::UnknownStore),
        Some(true) => Some(Rule::ArchivedProduct),
        Some(false) => None,
    }
}

/// Whether a database error is integer overflow (a stock that would exceed the column).
fn is_overflow(err: &diesel::result::Error) -> bool {
    matches!(err, diesel::result::Error::DatabaseError(_, info) if info.message().contains("out of range"))
}

/// Runs a line's statement: the ledger row and the stock row it changed, or `None` when it
/// wrote nothing (unknown or archived product, unknown store, not enough stock).
async fn write_line(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    at: usize,
    line: &Line,
) -> Result<Option<Applied>, MovementError> {
    line_sql(user_id, line)
        .build()
        .get_result(conn)
        .await
        .optional()
        .map_err(|err| {
            if is_overflow(&err) {
                MovementError::Refused {
                    line: at,
                    rule: Rule::StockTooLarge,
                }
            } else {
                err.into()
            }
        })
}

/// Applies one line inside the caller's transaction.
///
/// A removal that wrote nothing is diagnosed with the row locked. When the locked quantity
/// covers the removal after all (an addition committed between the failed update's check and
/// the lock), the line is written again, and then it cannot fail for lack of stock: the row
/// stays locked. So INSUFFICIENT_STOCK always quotes a locked quantity below the request.
async fn apply(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    at: usize,
    line: &Line,
) -> Result<(InventoryTransaction, Stock), MovementError> {
    if let Some(applied) = write_line(conn, user_id, at, line).await? {
        return Ok(applied.split());
    }
    let d = diagnose(conn, line.product_id, line.store_id).await?;
    if let Some(rule) = refusal(&d) {
        return Err(MovementError::Refused { line: at, rule });
    }
    if line.change < 0 {
        let available = i64::from(d.quantity.unwrap_or(0));
        let requested = -i64::from(line.change);
        if available < requested {
            return Err(MovementError::Refused {
                line: at,
                rule: Rule::InsufficientStock {
                    available,
                    requested,
                },
            });
        }
        if let Some(applied) = write_line(conn, user_id, at, line).await? {
            return Ok(applied.split());
        }
    }
    Err(AppError::internal(anyhow::anyhow!(
        "a stock movement wrote nothing without a reason"
    ))
    .into())
}

/// Locks the existing stock rows of these pairs in (product, store) order.
async fn lock_pairs(conn: &mut AsyncPgConnection, pairs: &[(i32, i32)]) -> AppResult<()> {
    let (products, stores): (Vec<i32>, Vec<i32>) = pairs.iter().copied().unzip();
    diesel::sql_query(
        "SELECT 1 FROM stocks \
         WHERE (product_id, store_id) IN (SELECT * FROM unnest($1::int4[], $2::int4[])) \
         ORDER BY product_id, store_id FOR UPDATE",
    )
    .bind::<Array<Int4>, _>(products)
    .bind::<Array<Int4>, _>(stores)
    .execute(conn)
    .await?;
    Ok(())
}

async fn apply_lines(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    lines: &[Line],
) -> Result<Outcome, MovementError> {
    if lines.len() > 1 {
        let mut pairs: Vec<(i32, i32)> = lines.iter().map(|l| (l.product_id, l.store_id)).collect();
        pairs.sort_unstable();
        pairs.dedup();
        lock_pairs(conn, &pairs).await?;
    }
    let mut outcome = Outcome {
        transactions: Vec::with_capacity(lines.len()),
        stocks: Vec::with_capacity(lines.len()),
        new_stock: 0,
        announce: true,
    };
    for (at, line) in lines.iter().enumerate() {
        let (tx, stock) = apply(conn, user_id, at, line).await?;
        outcome.new_stock = stock.quantity;
        outcome.transactions.push(tx);
        outcome.stocks.push(stock);
    }
    Ok(outcome)
}

/// The quantity of a stock row, read under its lock; `None` when the pair has no row.
async fn lock_quantity(
    conn: &mut AsyncPgConnection,
    product_id: i32,
    store_id: i32,
) -> AppResult<Option<i32>> {
    use crate::db::schema::stocks;
    Ok(stocks::table
        .find((product_id, store_id))
        .select(stocks::quantity)
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// A stocktake. The row is locked before it is read; a pair without a row gets an empty one
/// first (`INSERT … ON CONFLICT DO NOTHING`, then the lock), because `FOR UPDATE` locks nothing
/// where no row exists: two first counts would both see 0 and both add the count.
async fn apply_adjustment(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    adj: &Adjustment,
) -> Result<Outcome, MovementError> {
    use crate::db::schema::stocks;
    let mut current = lock_quantity(conn, adj.product_id, adj.store_id).await?;
    let d = diagnose(conn, adj.product_id, adj.store_id).await?;
    if let Some(rule) = refusal(&d) {
        return Err(MovementError::Refused { line: 0, rule });
    }
    if current.is_none() {
        diesel::insert_into(stocks::table)
            .values((
                stocks::product_id.eq(adj.product_id),
                stocks::store_id.eq(adj.store_id),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        current = lock_quantity(conn, adj.product_id, adj.store_id).await?;
    }
    let change = adj.counted - current.unwrap_or(0);
    if change == 0 {
        let stock: Stock = stocks::table
            .find((adj.product_id, adj.store_id))
            .select(Stock::as_select())
            .first(conn)
            .await?;
        return Ok(Outcome {
            transactions: Vec::new(),
            new_stock: stock.quantity,
            stocks: vec![stock],
            announce: false,
        });
    }
    let line = Line {
        kind: TransactionType::Adjustment,
        product_id: adj.product_id,
        store_id: adj.store_id,
        change,
        note: Some(adj.reason.clone()),
        reference: None,
    };
    apply_lines(conn, user_id, std::slice::from_ref(&line)).await
}

/// Rebuilds a stored outcome: the same ledger rows, the stock rows as they are now.
async fn replay(conn: &mut AsyncPgConnection, stored: &serde_json::Value) -> AppResult<Outcome> {
    use crate::db::schema::{inventory_transactions, stocks};
    let bad = || AppError::internal(anyhow::anyhow!("malformed idempotency record"));
    let ids: Vec<i64> =
        serde_json::from_value(stored["transactions"].clone()).map_err(|_| bad())?;
    let pairs: Vec<(i32, i32)> =
        serde_json::from_value(stored["stocks"].clone()).map_err(|_| bad())?;
    let new_stock = stored["newStock"]
        .as_i64()
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(bad)?;
    let rows: Vec<InventoryTransaction> = inventory_transactions::table
        .filter(inventory_transactions::id.eq_any(&ids))
        .select(InventoryTransaction::as_select())
        .load(conn)
        .await?;
    let transactions = ids
        .iter()
        .map(|id| rows.iter().find(|r| r.id == *id).cloned().ok_or_else(bad))
        .collect::<AppResult<Vec<_>>>()?;
    let mut stocks_now = Vec::with_capacity(pairs.len());
    for pair in pairs {
        stocks_now.push(
            stocks::table
                .find(pair)
                .select(Stock::as_select())
                .first(conn)
                .await?,
        );
    }
    Ok(Outcome {
        transactions,
        stocks: stocks_now,
        new_stock,
        announce: false,
    })
}

/// Whether an error is PostgreSQL's deadlock detection.
fn is_deadlock(err: &MovementError) -> bool {
    match err {
        MovementError::Failed(AppError::Internal(cause)) => cause
            .downcast_ref::<diesel::result::Error>()
            .is_some_and(|e| matches!(e, diesel::result::Error::DatabaseError(_, info) if info.message().contains("deadlock detected"))),
        _ => false,
    }
}

/// Executes a movement in one transaction: claims the idempotency key (or replays what it
/// stored; a record older than `key_retention` is taken over instead), applies the command,
/// stores the result under the key, commits. On any error nothing is written. A movement
/// that lost a deadlock (it should not happen: rows are locked in a fixed order) is retried
/// `deadlock_retries` times before the error is returned.
pub async fn execute(
    conn: &mut AsyncPgConnection,
    request: &Request,
    command: &Command,
    key_retention: std::time::Duration,
    deadlock_retries: usize,
) -> Result<Outcome, MovementError> {
    // One line without a key is one statement when it succeeds: atomic on its own (the stock
    // row and its ledger row commit together), so it needs no BEGIN/COMMIT round trips, and
    // touching one row it cannot deadlock.
    if let (None, Command::Lines(lines)) = (&request.idempotency, command)
        && let [line] = lines.as_slice()
    {
        match write_line(conn, request.user_id, 0, line).await {
            Ok(Some(applied)) => {
                let (tx, stock) = applied.split();
                return Ok(Outcome {
                    new_stock: stock.quantity,
                    transactions: vec![tx],
                    stocks: vec![stock],
                    announce: true,
                });
            }
            // Wrote nothing, or lost a deadlock: the transaction below decides (and retries).
            Ok(None) => {}
            Err(err) if is_deadlock(&err) => {}
            Err(err) => return Err(err),
        }
    }
    // Anything else, a line that wrote nothing included (it is diagnosed, and retried,
    // with its row locked), runs in a transaction.
    let mut attempt = 0;
    loop {
        let result = conn
            .transaction(async |conn| {
                if let Some(key) = &request.idempotency
                    && let Claim::Replay(stored) =
                        idempotency::claim(conn, request.user_id, key, key_retention).await?
                {
                    return Ok(replay(conn, &stored).await?);
                }
                let outcome = match command {
                    Command::Lines(lines) => apply_lines(conn, request.user_id, lines).await?,
                    Command::Adjust(adj) => apply_adjustment(conn, request.user_id, adj).await?,
                };
                if let Some(key) = &request.idempotency {
                    idempotency::store_result(conn, request.user_id, &key.key, &outcome.to_json())
                        .await?;
                }
                Ok::<_, MovementError>(outcome)
            })
            .await;
        match result {
            Err(err) if attempt < deadlock_retries && is_deadlock(&err) => {
                attempt += 1;
                tracing::warn!(attempt, "movement lost a deadlock; retrying");
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(note: Option<&str>, reference: Option<&str>) -> Line {
        Line {
            kind: TransactionType::Outbound,
            product_id: 1,
            store_id: 2,
            change: -3,
            note: note.map(str::to_string),
            reference: reference.map(str::to_string),
        }
    }

    #[test]
    fn the_canonical_form_tells_apart_what_differs_and_ignores_a_transfers_reference() {
        let of = |lines: Vec<Line>| Command::Lines(lines).canonical();
        assert_eq!(
            of(vec![line(None, Some("TR-1"))]),
            of(vec![line(None, Some("TR-2"))])
        );
        assert_ne!(of(vec![line(None, None)]), of(vec![line(Some(""), None)]));
        assert_ne!(
            of(vec![line(Some("ab"), None), line(Some("c"), None)]),
            of(vec![line(Some("a"), None), line(Some("bc"), None)])
        );
        let mut inbound = line(None, None);
        inbound.kind = TransactionType::Inbound;
        assert_ne!(of(vec![inbound]), of(vec![line(None, None)]));
    }
}
