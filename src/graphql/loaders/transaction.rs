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

key!(
    /// A ledger row by id.
    TransactionKey(i64)
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

impl Loader<TransactionKey> for DbLoader {
    type Value = transaction::InventoryTransaction;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TransactionKey],
    ) -> Result<HashMap<TransactionKey, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => transaction::by_ids(c, &ids).await)?;
        Ok(rows
            .into_iter()
            .map(|r| (TransactionKey(r.id), r))
            .collect())
    }
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
