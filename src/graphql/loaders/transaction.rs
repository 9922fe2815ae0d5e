//! The relations of the ledger: a ledger row by id and a page of a product's or a store's
//! ledger.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::{DbLoader, by_parent, groups};
use crate::{
    db::models::{
        page::Keyset,
        transaction::{self, LedgerOwner, TransactionCursor},
    },
    domain::ledger::TransactionType,
    with_read,
};

row_by_id!(
    /// A ledger row by id.
    TransactionKey(i64) => transaction::InventoryTransaction, transaction::by_ids
);

/// A page of a product's or a store's ledger (raw rows in read direction).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LedgerPageKey {
    /// Product or store.
    pub owner: LedgerOwner,
    /// Its id.
    pub id: i32,
    /// Only this type.
    pub kind: Option<TransactionType>,
    /// Which page.
    pub page: Keyset<TransactionCursor>,
}

impl Loader<LedgerPageKey> for DbLoader {
    type Value = Vec<transaction::InventoryTransaction>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[LedgerPageKey],
    ) -> Result<HashMap<LedgerPageKey, Self::Value>, Self::Error> {
        Ok(with_read!(&self.reads, conn => async {
            let mut out = HashMap::new();
            for ((owner, kind, page), ids) in
                groups(keys, |k| ((k.owner, k.kind, k.page.clone()), k.id))
            {
                let rows =
                    transaction::pages_by_owner(conn, owner, &ids, kind, &page).await?;
                let parent = |r: &transaction::InventoryTransaction| match owner {
                    LedgerOwner::Product => r.product_id,
                    LedgerOwner::Store => r.store_id,
                };
                for (id, rows) in by_parent(rows, parent) {
                    let key = LedgerPageKey {
                        owner,
                        id,
                        kind,
                        page: page.clone(),
                    };
                    out.insert(key, rows);
                }
            }
            Ok(out)
        }
        .await)?)
    }
}
