//! The `Mutation` root: stock movements and catalogue edits, one object each, merged into
//! one root type.
//!
//! Each resolver checks access, parses its input into domain values (every refusal names the
//! argument as written, e.g. `input.lines.2.quantity`) and hands one command to a model
//! function. `stock.rs` holds the stock resolvers (movements and reorder points) over
//! `movement.rs`, which runs a movement and words its errors; `catalogue.rs` holds the
//! product, category and store edits.

mod catalogue;
mod movement;
mod stock;

use async_graphql::{Context, MergedObject};

pub use movement::{KeyRetention, MovementWatch};

use crate::{auth::viewer, domain::role::Role, error::AppResult};

// The write entry points: the stock and the catalogue objects as one root.
#[expect(
    missing_docs,
    reason = "MergedObject publishes a doc comment as the SDL description of `Mutation`, \
              which the contract does not have"
)]
#[derive(MergedObject, Default)]
pub struct Mutation(stock::StockMutation, catalogue::CatalogueMutation);

/// The acting user's id after a role check.
fn acting_user(ctx: &Context<'_>, role: Role) -> AppResult<i32> {
    Ok(viewer(ctx).require(role)?.id)
}
