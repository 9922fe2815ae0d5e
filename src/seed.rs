//! The demo catalogue of a first run of the embedded default: two-level categories, 50
//! products, 3 stores, stock rows and a ledger history that sums to them, and the `admin`
//! user with a fresh token. The SQL is in the models (`db::models::demo`, `user`, `token`);
//! this is the order they run in, in one transaction.

use diesel_async::{AsyncConnection, AsyncPgConnection};

use crate::{
    db::models::{demo, token, user},
    domain::role::Role,
    error::AppResult,
};

/// Seeds the demo catalogue and the `admin` user into an empty database, in one transaction.
/// Returns the admin's new token, or `None` when the database already had users.
pub async fn seed_if_empty(conn: &mut AsyncPgConnection) -> AppResult<Option<String>> {
    if user::any_exist(conn).await? {
        return Ok(None);
    }
    conn.transaction(async |conn| {
        let admin = user::create(conn, "admin", "Administrator", Role::Admin, &[]).await?;
        demo::insert_catalogue(conn, admin.id).await?;
        let (_, clear) = token::create(conn, admin.id).await?;
        Ok(Some(clear))
    })
    .await
}
