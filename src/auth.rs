//! Who is asking: the `Authorization: Bearer` token resolved to a user.

use diesel_async::AsyncPgConnection;

use crate::{
    db::models::{token, user::User},
    error::{AppError, AppResult},
};

/// The caller of one request.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The token's user; `None` for an anonymous request.
    pub user: Option<User>,
}

/// Resolves an `Authorization` header value; an unknown or revoked token is UNAUTHENTICATED.
pub async fn authenticate(conn: &mut AsyncPgConnection, header: Option<&str>) -> AppResult<Viewer> {
    let Some(header) = header else {
        return Ok(Viewer::default());
    };
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            AppError::Unauthenticated("the Authorization header must be `Bearer <token>`".into())
        })?;
    let user = token::user_for_token(conn, token)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("the token is unknown or revoked".into()))?;
    Ok(Viewer { user: Some(user) })
}
