//! `MovementDirection`: whether a batch line adds or removes stock.

use async_graphql::Enum;

/// Direction of one line of `recordMovements`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum MovementDirection {
    /// Goods received.
    Inbound,
    /// Goods sold or shipped.
    Outbound,
}
