//! The kinds of ledger rows, as stored in `inventory_transactions.type` (GraphQL shows them
//! as `TransactionType`, see `graphql/types/enums.rs`).

/// Kinds of ledger rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

impl TransactionType {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "INBOUND",
            Self::Outbound => "OUTBOUND",
            Self::TransferIn => "TRANSFER_IN",
            Self::TransferOut => "TRANSFER_OUT",
            Self::Adjustment => "ADJUSTMENT",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Inbound,
            Self::Outbound,
            Self::TransferIn,
            Self::TransferOut,
            Self::Adjustment,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}
