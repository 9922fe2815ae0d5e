//! The relations of a user: the user by id and the stores the user is scoped to.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::DbLoader;
use crate::{
    db::models::{store, user},
    with_read,
};

key!(
    /// A user by id.
    UserKey(i32)
);
key!(
    /// The stores a user is scoped to (code order).
    UserStoresKey(i32)
);

impl Loader<UserKey> for DbLoader {
    type Value = user::User;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[UserKey]) -> Result<HashMap<UserKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => user::by_ids(c, &ids).await)?;
        Ok(rows.into_iter().map(|r| (UserKey(r.id), r)).collect())
    }
}

impl Loader<UserStoresKey> for DbLoader {
    type Value = Vec<store::Store>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[UserStoresKey],
    ) -> Result<HashMap<UserStoresKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = with_read!(&self.reads, c => store::for_users(c, &ids).await)?;
        let mut out: HashMap<UserStoresKey, Self::Value> = HashMap::new();
        for r in rows {
            out.entry(UserStoresKey(r.user_id))
                .or_default()
                .push(r.store);
        }
        Ok(out)
    }
}
