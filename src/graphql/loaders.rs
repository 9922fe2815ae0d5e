//! DataLoaders: one per relation, keyed by a newtype, each one SQL query per request wave.
//!
//! A [`DbLoader`] is built per request (its cache must never outlive the request: it would
//! leak data between users and serve stale rows), wrapped in async-graphql's `DataLoader`.
//! Loader errors are `async_graphql::Error` (already mapped from [`AppError`]) because the
//! loader hands one error value to every key that waited on the failed query.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};

use crate::{
    db::{
        DbPool,
        models::{category, product, store, user},
    },
    error::AppError,
};

/// Loads rows for the resolvers of one request.
pub struct DbLoader {
    pool: DbPool,
}

/// The per-request loader, as resolvers find it in the context.
pub type Loaders = DataLoader<DbLoader>;

/// Builds the loaders of one request.
pub fn for_request(pool: DbPool) -> Loaders {
    DataLoader::new(DbLoader { pool }, tokio::spawn)
}

impl DbLoader {
    async fn conn(&self) -> Result<crate::db::DbConn, AppError> {
        Ok(self.pool.get().await?)
    }
}

macro_rules! key {
    ($(#[$doc:meta])* $name:ident($ty:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub $ty);
    };
}

key!(
    /// A product by id.
    ProductKey(i32)
);
key!(
    /// A category by id.
    CategoryKey(i32)
);
key!(
    /// A store by id.
    StoreKey(i32)
);
key!(
    /// A user by id.
    UserKey(i32)
);

impl Loader<ProductKey> for DbLoader {
    type Value = product::Product;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ProductKey],
    ) -> Result<HashMap<ProductKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = product::by_ids(&mut *self.conn().await?, &ids).await?;
        Ok(rows.into_iter().map(|r| (ProductKey(r.id), r)).collect())
    }
}

impl Loader<CategoryKey> for DbLoader {
    type Value = category::Category;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[CategoryKey],
    ) -> Result<HashMap<CategoryKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = category::by_ids(&mut *self.conn().await?, &ids).await?;
        Ok(rows.into_iter().map(|r| (CategoryKey(r.id), r)).collect())
    }
}

impl Loader<StoreKey> for DbLoader {
    type Value = store::Store;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[StoreKey]) -> Result<HashMap<StoreKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = store::by_ids(&mut *self.conn().await?, &ids).await?;
        Ok(rows.into_iter().map(|r| (StoreKey(r.id), r)).collect())
    }
}

impl Loader<UserKey> for DbLoader {
    type Value = user::User;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[UserKey]) -> Result<HashMap<UserKey, Self::Value>, Self::Error> {
        let ids: Vec<i32> = keys.iter().map(|k| k.0).collect();
        let rows = user::by_ids(&mut *self.conn().await?, &ids).await?;
        Ok(rows.into_iter().map(|r| (UserKey(r.id), r)).collect())
    }
}
