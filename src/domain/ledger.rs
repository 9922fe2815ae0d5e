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

/// The sign a ledger row's quantity must have for its type (the database checks the same in
/// `inventory_transactions_sign_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantitySign {
    /// Greater than 0 (goods come in).
    Positive,
    /// Less than 0 (goods go out).
    Negative,
    /// Anything but 0 (a correction either way).
    NonZero,
}

impl QuantitySign {
    /// Whether `quantity` has this sign.
    pub fn admits(self, quantity: i64) -> bool {
        match self {
            Self::Positive => quantity > 0,
            Self::Negative => quantity < 0,
            Self::NonZero => quantity != 0,
        }
    }
}

impl TransactionType {
    /// Every kind, in the order the ledger's documentation lists them.
    pub const ALL: [Self; 5] = [
        Self::Inbound,
        Self::Outbound,
        Self::TransferIn,
        Self::TransferOut,
        Self::Adjustment,
    ];

    /// The sign this kind's quantity must have.
    pub fn sign(self) -> QuantitySign {
        match self {
            Self::Inbound | Self::TransferIn => QuantitySign::Positive,
            Self::Outbound | Self::TransferOut => QuantitySign::Negative,
            Self::Adjustment => QuantitySign::NonZero,
        }
    }

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
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_reads_back_from_its_stored_name_and_has_the_databases_sign() {
        for kind in TransactionType::ALL {
            assert_eq!(TransactionType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(TransactionType::parse("inbound"), None);
        assert!(TransactionType::Inbound.sign().admits(1));
        assert!(!TransactionType::TransferIn.sign().admits(0));
        assert!(TransactionType::Outbound.sign().admits(-1));
        assert!(!TransactionType::TransferOut.sign().admits(1));
        assert!(TransactionType::Adjustment.sign().admits(-3));
        assert!(!TransactionType::Adjustment.sign().admits(0));
    }
}
