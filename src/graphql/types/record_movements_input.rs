//! `RecordMovementsInput`: the argument of `recordMovements`.

use async_graphql::InputObject;

use crate::graphql::types::movement_line::MovementLine;

/// Lines applied in order, all or nothing.
#[derive(Debug, Clone, InputObject, serde::Serialize)]
pub struct RecordMovementsInput {
    /// The lines, applied in this order.
    pub lines: Vec<MovementLine>,
    /// Same key + same input from the same user = the first result again.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}
