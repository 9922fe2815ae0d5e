//! Who is asking, and what they may do: the `Authorization: Bearer` token resolved to a user
//! with a role and a store scope, and the checks resolvers call (one policy, not scattered ifs).

use async_graphql::Context;
use diesel_async::AsyncPgConnection;

use crate::{
    db::models::{token, user::User},
    domain::role::Role,
    error::{AppError, AppResult},
};

/// The caller of one request.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The token's user; `None` for an anonymous request.
    pub user: Option<User>,
    /// Stores a STAFF user may move stock in; empty means all stores.
    pub store_ids: Vec<i32>,
}

impl Viewer {
    /// The caller's user when its role is at least `role`: UNAUTHENTICATED without a token,
    /// FORBIDDEN with a weaker role.
    pub fn require(&self, role: Role) -> AppResult<&User> {
        let user = self
            .user
            .as_ref()
            .ok_or_else(|| AppError::Unauthenticated("a bearer token is required".into()))?;
        if user.role < role {
            return Err(AppError::Forbidden(format!(
                "this needs the {role} role; you have {}",
                user.role
            )));
        }
        Ok(user)
    }

    /// Checks that the caller may move stock in `store_id` (STAFF with stores: only there).
    pub fn require_store(&self, store_id: i32) -> AppResult<()> {
        let user = self.require(Role::Staff)?;
        if user.role == Role::Staff
            && !self.store_ids.is_empty()
            && !self.store_ids.contains(&store_id)
        {
            return Err(AppError::Forbidden(
                "you may move stock only in your own stores".into(),
            ));
        }
        Ok(())
    }

    /// The acting user's id, for ledger rows and idempotency keys.
    pub fn user_id(&self) -> Option<i32> {
        self.user.as_ref().map(|u| u.id)
    }
}

/// The caller of the current GraphQL request (anonymous when none was attached).
pub fn viewer<'a>(ctx: &Context<'a>) -> &'a Viewer {
    static ANONYMOUS: Viewer = Viewer {
        user: None,
        store_ids: Vec::new(),
    };
    ctx.data_opt::<Viewer>().unwrap_or(&ANONYMOUS)
}

/// Resolves an `Authorization` header value; an unknown or revoked token is UNAUTHENTICATED.
pub async fn authenticate(conn: &AsyncPgConnection, header: Option<&str>) -> AppResult<Viewer> {
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
    let (user, store_ids) = token::user_for_token(conn, token)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("the token is unknown or revoked".into()))?;
    Ok(Viewer {
        user: Some(user),
        store_ids,
    })
}

/// The request's `Authorization` header, resolved to a [`Viewer`] only when an operation is
/// about to run (after the limits passed), once per HTTP request (a batch shares it).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    header: Option<String>,
    resolved: std::sync::Arc<tokio::sync::OnceCell<Viewer>>,
}

impl Credentials {
    /// Credentials from a header value (`None`: anonymous).
    pub fn new(header: Option<String>) -> Self {
        Self {
            header,
            resolved: std::sync::Arc::default(),
        }
    }

    /// Whether a token (valid or not) was sent.
    pub fn sent(&self) -> bool {
        self.header.is_some()
    }

    /// The caller: anonymous without a header, else the token's user (UNAUTHENTICATED when
    /// the token is unknown, revoked or malformed). Read from the primary (`primary`): a token
    /// revoked a moment ago must not pass on a lagging replica.
    pub async fn viewer(&self, primary: &crate::db::reads::ReadSource) -> AppResult<Viewer> {
        let Some(header) = self.header.as_deref() else {
            return Ok(Viewer::default());
        };
        self.resolved
            .get_or_try_init(|| async {
                crate::with_read!(primary, conn => authenticate(conn, Some(header)).await)
            })
            .await
            .cloned()
    }
}
