//! The schema extension that stands between a document and its execution, in one place:
//! Apollo persisted queries (a bounded cache), the query limits, an `extensions.code` on every
//! parse and validation error, the anonymous-access rule, and no mutation over GET.

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex},
};

use async_graphql::{
    Data, ErrorExtensionValues, Request, Response, ServerError, ServerResult, ValidationResult,
    Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
        NextPrepareRequest, NextValidation,
    },
    parser::types::{ExecutableDocument, OperationType},
};
use sha2::{Digest, Sha256};

use crate::{
    auth::{Credentials, Viewer},
    config::Limits,
    db::DbPool,
    error::{AppError, code},
    graphql::limits::{self, DocumentFacts, SchemaShape},
};

/// `extensions.code` of a mutation sent over GET (the HTTP layer answers 405).
pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
/// `extensions.code` of an APQ hash the server does not know (the client resends the text).
pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
/// Largest query text kept in the persisted-query cache (bounds its memory with its size).
const MAX_PERSISTED_QUERY_BYTES: usize = 64 * 1024;

/// Request data: the request came as HTTP GET (mutations are refused).
#[derive(Debug, Clone, Copy)]
pub struct HttpGet;

/// Request data the guard fills in for the HTTP layer: the type of the operation that ran.
#[derive(Debug, Clone, Default)]
pub struct Probe(Arc<Mutex<Option<OperationType>>>);

impl Probe {
    /// The operation type, once the document was parsed and the operation chosen.
    pub fn operation_type(&self) -> Option<OperationType> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, ty: OperationType) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(ty);
    }
}

/// Everything the guard needs, shared by all requests.
struct Shared {
    shape: SchemaShape,
    limits: Limits,
    public_read: bool,
    persisted: Mutex<lru::LruCache<String, String>>,
}

/// The extension factory to register on the schema.
#[derive(Clone)]
pub struct Guard(Arc<Shared>);

impl Guard {
    /// A guard for a schema of this shape, these limits and this anonymous-read setting.
    pub fn new(shape: SchemaShape, limits: &Limits, public_read: bool) -> Self {
        let cap = NonZeroUsize::new(limits.apq_cache_size.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self(Arc::new(Shared {
            shape,
            limits: limits.clone(),
            public_read,
            persisted: Mutex::new(lru::LruCache::new(cap)),
        }))
    }
}

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardExtension {
            shared: self.0.clone(),
            facts: Mutex::new(None),
        })
    }
}

/// The per-request instance.
struct GuardExtension {
    shared: Arc<Shared>,
    facts: Mutex<Option<DocumentFacts>>,
}

/// A `ServerError` with a code and nothing else.
fn coded(message: impl Into<String>, code: &str) -> ServerError {
    let mut err = ServerError::new(message, None);
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", code);
    err.extensions = Some(ext);
    err
}

/// A request-level `ServerError` (no location, no path) from an [`AppError`].
pub fn from_app(err: AppError) -> ServerError {
    let err = async_graphql::Error::from(err);
    let mut server = ServerError::new(err.message, None);
    server.extensions = err.extensions;
    server
}

/// Whether an error already carries a code.
pub fn has_code(err: &ServerError) -> bool {
    err.extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
}

fn set_code(err: &mut ServerError, code: &str, limit: Option<usize>) {
    let ext = err.extensions.get_or_insert_with(Default::default);
    ext.set("code", code);
    if let Some(limit) = limit {
        ext.set("limit", limit as u64);
    }
}

impl GuardExtension {
    /// Apollo APQ: a hash alone is looked up; a hash with its text is checked and stored.
    fn persisted(&self, request: &mut Request) -> ServerResult<()> {
        let Some(value) = request.extensions.remove("persistedQuery") else {
            return Ok(());
        };
        let value = value.into_json().unwrap_or_default();
        let version = value.get("version").and_then(serde_json::Value::as_i64);
        let hash = value
            .get("sha256Hash")
            .and_then(serde_json::Value::as_str)
            .map(str::to_ascii_lowercase);
        let (Some(1), Some(hash)) = (version, hash) else {
            return Err(coded(
                "extensions.persistedQuery needs version 1 and a sha256Hash",
                code::BAD_REQUEST,
            ));
        };
        let mut cache = self
            .shared
            .persisted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if request.query.is_empty() {
            let query = cache
                .get(&hash)
                .ok_or_else(|| coded("PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND))?;
            request.query = query.clone();
            return Ok(());
        }
        if format!("{:x}", Sha256::digest(request.query.as_bytes())) != hash {
            return Err(coded(
                "provided sha does not match query",
                code::BAD_REQUEST,
            ));
        }
        if request.query.len() <= MAX_PERSISTED_QUERY_BYTES {
            cache.put(hash, request.query.clone());
        }
        Ok(())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for GuardExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.persisted(&mut request)?;
        if request.query.is_empty() {
            return Err(coded("the request has no query", code::BAD_REQUEST));
        }
        // Parsed and measured here, before async-graphql's own passes (its recursion check
        // expands fragments, which a fragment "bomb" makes exponential).
        let limits = &self.shared.limits;
        limits::check_text(&request.query, limits).map_err(from_app)?;
        let doc = async_graphql::parser::parse_query(&request.query).map_err(|err| {
            let mut err = ServerError::from(err);
            if err.message.to_ascii_lowercase().contains("recursion") {
                set_code(&mut err, code::QUERY_TOO_COMPLEX, Some(limits.max_depth));
            } else {
                set_code(&mut err, code::GRAPHQL_PARSE_FAILED, None);
            }
            err
        })?;
        self.shared.shape.ready().await;
        let facts = limits::check(&doc, &request.variables, &self.shared.shape, limits)
            .map_err(from_app)?;
        *self
            .facts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(facts);
        request.set_parsed_query(doc);
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let limits = &self.shared.limits;
        let doc = next.run(ctx, query, variables).await.map_err(|mut err| {
            if !has_code(&err) {
                if err.message.contains("recursion depth") {
                    set_code(&mut err, code::QUERY_TOO_COMPLEX, Some(limits.max_depth));
                } else if err.message.contains("directives") {
                    set_code(
                        &mut err,
                        code::QUERY_TOO_COMPLEX,
                        Some(limits.max_directives),
                    );
                } else {
                    set_code(&mut err, code::GRAPHQL_PARSE_FAILED, None);
                }
            }
            err
        })?;
        // Over GET, a document with no query at all is refused before validation (405).
        let has_query = self
            .facts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_none_or(DocumentFacts::has_query);
        if ctx.data_opt::<HttpGet>().is_some() && !has_query {
            return Err(coded(
                "only queries may be sent with GET; use POST",
                METHOD_NOT_ALLOWED,
            ));
        }
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let limits = &self.shared.limits;
        next.run(ctx).await.map_err(|mut errors| {
            for err in errors.iter_mut().filter(|e| !has_code(e)) {
                if err.message.contains("too complex") {
                    set_code(err, code::QUERY_TOO_COMPLEX, Some(limits.max_complexity));
                } else if err.message.contains("nested too deep") {
                    set_code(err, code::QUERY_TOO_COMPLEX, Some(limits.max_depth));
                } else {
                    set_code(err, code::GRAPHQL_VALIDATION_FAILED, None);
                }
            }
            errors
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let facts = self
            .facts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(|f| f.operation(operation_name));
        if let (Some(facts), Some(probe)) = (facts, ctx.data_opt::<Probe>()) {
            probe.set(facts.ty);
        }
        let ty = facts.map(|f| f.ty);
        if ty != Some(OperationType::Query) && ctx.data_opt::<HttpGet>().is_some() {
            return Response::from_errors(vec![coded(
                "only queries may be sent with GET; use POST",
                METHOD_NOT_ALLOWED,
            )]);
        }
        // Who is asking: a WebSocket session brings its Viewer (authenticated at
        // connection_init); an HTTP request its Credentials, looked up only now, after the
        // limits passed (a refused document costs no SQL, not even the token lookup).
        let viewer = match (ctx.data_opt::<Viewer>(), ctx.data_opt::<Credentials>()) {
            (Some(viewer), _) => viewer.clone(),
            (None, Some(credentials)) => {
                let Some(pool) = ctx.data_opt::<DbPool>() else {
                    return Response::from_errors(vec![from_app(AppError::ServiceUnavailable)]);
                };
                match credentials.viewer(pool).await {
                    Ok(viewer) => viewer,
                    Err(err) => return Response::from_errors(vec![from_app(err)]),
                }
            }
            (None, None) => Viewer::default(),
        };
        // The read rule, for every operation: without a token only introspection, unless
        // public reads are on (the resolvers' role checks then refuse anonymous writes).
        let introspection_only = facts.is_some_and(|f| f.introspection_only);
        if viewer.user.is_none() && !self.shared.public_read && !introspection_only {
            return Response::from_errors(vec![from_app(AppError::Unauthenticated(
                "a bearer token is required (Authorization: Bearer <token>)".into(),
            ))]);
        }
        let mut data = Data::default();
        data.insert(viewer);
        next.run_with_data(ctx, operation_name, data).await
    }
}
