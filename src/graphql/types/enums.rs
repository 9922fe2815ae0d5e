//! The GraphQL faces of the domain's enums (`Role`, `TransactionType`): the domain stays free of
//! async-graphql, and async-graphql's `remote` derive keeps the variants in step with it (a
//! variant added on one side and not the other does not compile).

use async_graphql::Enum;

use crate::domain::{ledger, role};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "Role", remote = "role::Role")]
pub enum Role {
    /// Read everything.
    Viewer,
    /// Record stock movements (in its stores when it has any).
    Staff,
    /// Edit the catalogue.
    Manager,
    /// Everything, users and tokens included.
    Admin,
}

/// Kinds of ledger rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(
    name = "TransactionType",
    remote = "ledger::TransactionType",
    rename_items = "SCREAMING_SNAKE_CASE"
)]
pub enum TransactionType {
    /// Goods received.
    Inbound,
    /// Goods sold or shipped.
    Outbound,
    /// Incoming leg of a transfer.
    TransferIn,
    /// Outgoing leg of a transfer.
    TransferOut,
    /// Stocktake correction.
    Adjustment,
}
