//! The relations of a user: the user by id and the stores the user is scoped to.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::DbLoader;
use crate::{
    db::models::{store, user},
    with_read,
};

row_by_id!(
    /// A user by id.
    UserKey(i32) => user::User, user::by_ids
);
key!(
    /// The stores a user is scoped to (code order).
    UserStoresKey(i32)
);

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
