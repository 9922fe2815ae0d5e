//! Who is asking, and what they may do: the `Authorization: Bearer` token resolved to a user
//! with a role and a store scope, and the checks resolvers call (one policy, not scattered ifs).
//! HTTP and the WebSocket authenticate through the same [`Credentials::authenticate`]; they
//! differ only in where the credentials come from and how a [`Refusal`] is answered.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use async_graphql::Context;
use axum::http::{HeaderMap, header};

use crate::{
    db::{
        models::{reference::Tables, token, user::User},
        reads::ReadSource,
    },
    domain::role::Role,
    error::{AppError, AppResult},
};

/// The caller of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

    /// Whether the caller may read at all: with a token, or anonymously when public reads are
    /// on (`public_read`). Anonymous introspection is the guard's exception.
    pub fn may_read(&self, public_read: bool) -> bool {
        self.user.is_some() || public_read
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

/// What a caller presented to prove who they are: the `Authorization` of an HTTP request, or
/// of a WebSocket's `connection_init`. [`Credentials::authenticate`] is the one path from them
/// to a [`Viewer`], for HTTP and WebSocket alike.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    authorization: Option<String>,
}

/// Why presented credentials were not accepted.
#[derive(Debug)]
pub enum Refusal {
    /// The token is malformed, unknown or revoked, or its user deleted: UNAUTHENTICATED over
    /// HTTP, close code 4403 on a WebSocket.
    Rejected(&'static str),
    /// The token could not be checked (the database is unavailable): SERVICE_UNAVAILABLE
    /// over HTTP; on a WebSocket close code 1013 at `connection_init`, an `error` message at
    /// `subscribe`, another try at the next periodic check.
    Unchecked(AppError),
}

impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Rejected(message) => AppError::Unauthenticated(message.into()),
            Refusal::Unchecked(err) => err,
        }
    }
}

impl Credentials {
    /// The `Authorization` header of a request (an HTTP request, or a WebSocket's upgrade).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            authorization: headers
                .get(header::AUTHORIZATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        }
    }

    /// A WebSocket's credentials: the `Authorization` (or `authorization`) of its
    /// `connection_init` payload, else `upgrade`'s (its upgrade request's header).
    pub fn from_connection_init(payload: Option<&serde_json::Value>, upgrade: Self) -> Self {
        payload
            .and_then(|p| p.get("Authorization").or_else(|| p.get("authorization")))
            .and_then(serde_json::Value::as_str)
            .map_or(upgrade, |authorization| Self {
                authorization: Some(authorization.to_string()),
            })
    }

    /// Whether a token (valid or not) was presented.
    pub fn sent(&self) -> bool {
        self.authorization.is_some()
    }

    /// The presented token: none without an `Authorization`, a refusal when it is not
    /// `Bearer <token>`.
    fn token(&self) -> Result<Option<&str>, Refusal> {
        let Some(authorization) = self.authorization.as_deref() else {
            return Ok(None);
        };
        authorization
            .strip_prefix("Bearer ")
            .or_else(|| authorization.strip_prefix("bearer "))
            .map(|token| Some(token.trim()))
            .ok_or(Refusal::Rejected(
                "the Authorization header must be `Bearer <token>`",
            ))
    }

    /// The caller: anonymous without a token (no SQL), else the token's user, looked up with
    /// one statement on the primary (`primary`: a token revoked a moment ago must not pass on
    /// a lagging replica).
    pub async fn authenticate(&self, primary: &ReadSource) -> Result<Viewer, Refusal> {
        Ok(self.check(primary).await?.viewer)
    }

    /// [`Credentials::authenticate`], with the reference tables as of the token check's
    /// snapshot when the process's copy is (or has just become) that version.
    async fn check(&self, primary: &ReadSource) -> Result<Authenticated, Refusal> {
        let Some(token) = self.token()? else {
            return Ok(Authenticated::default());
        };
        let copy = primary.reference();
        let known = copy.known_version();
        let found =
            crate::with_read!(primary, conn => token::user_for_token(conn, token, known).await)
                .map_err(Refusal::Unchecked)?;
        let found = found.ok_or(Refusal::Rejected("the token is unknown or revoked"))?;
        let reference = found.reference_version.and_then(|version| {
            copy.settle(version, found.reference.as_ref())
                .unwrap_or_else(|err| {
                    tracing::warn!(error = ?err, "reference tables not kept");
                    None
                })
        });
        Ok(Authenticated {
            viewer: Viewer {
                user: Some(found.user),
                store_ids: found.store_ids,
            },
            reference,
        })
    }
}

/// A caller, and the reference tables as of its token check (when the process's copy is that
/// version; see [`crate::db::models::reference`]).
#[derive(Debug, Clone, Default)]
pub struct Authenticated {
    /// Who is asking.
    pub viewer: Viewer,
    /// The stores and categories as the token check's snapshot saw them.
    pub reference: Option<Arc<Tables>>,
}

/// An HTTP request's credentials, authenticated only when an operation is about to run (after
/// the limits passed: a refused document costs no SQL), and once per request (a batch shares
/// the caller).
#[derive(Debug, Default)]
pub struct RequestCredentials {
    credentials: Credentials,
    checked: tokio::sync::OnceCell<Authenticated>,
    /// The token's hash, the key of [`RecentCallers`] (computed once per request).
    key: std::sync::OnceLock<Option<Vec<u8>>>,
    /// A mutation of this request has run: the reference tables its token check read may be
    /// older than what that mutation wrote.
    wrote: AtomicBool,
}

impl RequestCredentials {
    /// The request's `credentials`, not looked up yet.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            checked: tokio::sync::OnceCell::new(),
            key: std::sync::OnceLock::new(),
            wrote: AtomicBool::new(false),
        }
    }

    /// Whether a token (valid or not) was sent.
    pub fn sent(&self) -> bool {
        self.credentials.sent()
    }

    /// The caller, authenticated on the first call (see [`Credentials::authenticate`]), with
    /// the reference tables of its token check unless a mutation of this request has run
    /// since; a refusal is not kept, the next operation of a batch tries again. What the
    /// first call finds is remembered in `recent` (a refused token is forgotten there).
    pub async fn viewer(
        &self,
        primary: &ReadSource,
        recent: &RecentCallers,
    ) -> Result<Authenticated, Refusal> {
        let checked = self
            .checked
            .get_or_try_init(|| async {
                let checked = self.credentials.check(primary).await;
                if let Some(key) = self.key() {
                    match &checked {
                        Ok(found) => recent.remember(key, &found.viewer),
                        Err(Refusal::Rejected(_)) => recent.forget(key),
                        Err(Refusal::Unchecked(_)) => {}
                    }
                }
                checked
            })
            .await;
        let mut checked = checked.cloned()?;
        if self.wrote.load(Ordering::Acquire) {
            checked.reference = None;
        }
        Ok(checked)
    }

    /// The caller this request's token had when it last passed a check, if it did lately
    /// and this request's own check has not run yet: the caller a query may run as while its
    /// check is in flight (see `graphql::guard`).
    pub fn guess(&self, recent: &RecentCallers) -> Option<Viewer> {
        if self.checked.initialized() {
            return None;
        }
        recent.get(self.key()?)
    }

    /// The token's hash, the key of [`RecentCallers`].
    fn key(&self) -> Option<&[u8]> {
        self.key
            .get_or_init(|| {
                let token = self.credentials.token().ok()??;
                Some(crate::domain::token::hash(token))
            })
            .as_deref()
    }

    /// Records that an operation of this request other than a query (a mutation) is about to
    /// run: the rest of the request reads stores and categories from the database.
    pub fn writing(&self) {
        self.wrote.store(true, Ordering::Release);
    }
}

/// How many tokens [`RecentCallers`] remembers.
const RECENT_TOKENS: usize = 4096;

/// The callers of the tokens that passed a check lately (by token hash, the last
/// [`RECENT_TOKENS`] of them). A guess and nothing more: every request's token is still
/// checked; what is remembered only lets a query start before its check has answered.
pub struct RecentCallers(Mutex<lru::LruCache<Vec<u8>, Viewer>>);

impl Default for RecentCallers {
    fn default() -> Self {
        let cap = std::num::NonZeroUsize::new(RECENT_TOKENS).unwrap_or(std::num::NonZeroUsize::MIN);
        Self(Mutex::new(lru::LruCache::new(cap)))
    }
}

impl RecentCallers {
    fn lock(&self) -> std::sync::MutexGuard<'_, lru::LruCache<Vec<u8>, Viewer>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &[u8]) -> Option<Viewer> {
        self.lock().get(key).cloned()
    }

    fn remember(&self, key: &[u8], viewer: &Viewer) {
        let mut recent = self.lock();
        if recent.get(key) != Some(viewer) {
            recent.put(key.to_vec(), viewer.clone());
        }
    }

    fn forget(&self, key: &[u8]) {
        self.lock().pop(key);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn upgrade(authorization: &str) -> Credentials {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            axum::http::HeaderValue::from_str(authorization).unwrap_or_else(|_| unreachable!()),
        );
        Credentials::from_headers(&headers)
    }

    #[test]
    fn a_connection_init_payload_token_wins_over_the_upgrade_requests_header() {
        let from = |payload: serde_json::Value| {
            Credentials::from_connection_init(Some(&payload), upgrade("Bearer header"))
                .authorization
        };
        assert_eq!(
            from(json!({"Authorization": "Bearer payload"})).as_deref(),
            Some("Bearer payload")
        );
        assert_eq!(
            from(json!({"authorization": "Bearer lower"})).as_deref(),
            Some("Bearer lower")
        );
        // Not a string, or not there: the upgrade request's header.
        assert_eq!(
            from(json!({"Authorization": 7})).as_deref(),
            Some("Bearer header")
        );
        assert_eq!(from(json!({})).as_deref(), Some("Bearer header"));
        let none = Credentials::from_connection_init(None, Credentials::default());
        assert!(!none.sent());
    }
}
