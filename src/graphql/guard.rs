//! What stands between a document and its execution, in one place and before `execute`:
//! Apollo persisted queries (a bounded cache), the query limits, the caller's token, the
//! anonymous-access rule, and no mutation over GET; and an `extensions.code` for every parse
//! and validation error.
//!
//! A query whose token passed a check lately does not wait for its own check: it runs as the
//! caller that check found while the token is checked again, and its response is kept only if
//! the check passes with the same caller ([`Gate::speculate`]); its stores and categories wait
//! for the check's reference tables.
//!
//! The checks run before the schema is asked to execute, so the schema carries no extension
//! (with one, async-graphql runs the extension chain and builds a `ResolveInfo` for every
//! field it resolves). A refusal that the GraphQL spec orders after validation (a missing
//! token, a mutation over GET) runs the document through a second schema whose one extension
//! answers the refusal instead of executing: a document with errors still gets its validation
//! errors first.

use std::{
    num::NonZeroUsize,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use async_graphql::{
    ErrorExtensionValues, Request, Response, ServerError, ServerResult,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute},
    parser::types::{ExecutableDocument, OperationType},
};
use futures::{StreamExt, future::Either, stream::BoxStream};
use sha2::{Digest, Sha256};

use crate::{
    auth::{Authenticated, RecentCallers, RequestCredentials, Viewer},
    config::Limits,
    db::{
        DbPool,
        reads::{Lsn, ReadSource, Reads},
    },
    error::{AppError, code},
    graphql::{
        limits::{self, SchemaShape},
        loaders,
        schema::StockroomSchema,
    },
};

/// `extensions.code` of a mutation sent over GET (the HTTP layer answers 405).
pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
/// `extensions.code` of an APQ hash the server does not know (the client resends the text).
pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
/// Largest query text kept in the persisted-query cache and in the parsed-document cache
/// (bounds their memory with their size).
const MAX_PERSISTED_QUERY_BYTES: usize = 64 * 1024;

/// Who is asking.
#[derive(Clone, Copy)]
pub enum Caller<'a> {
    /// An HTTP request's `Authorization` header, looked up only once the limits passed (a
    /// refused document costs no SQL), once per HTTP request (a batch shares it).
    Http(&'a RequestCredentials),
    /// A WebSocket session's caller, authenticated at `connection_init`.
    Socket(&'a Viewer),
}

/// How one operation came in.
#[derive(Clone, Copy)]
pub struct Arrival<'a> {
    /// Who sent it.
    pub caller: Caller<'a>,
    /// Sent with HTTP GET (only queries may run).
    pub get: bool,
    /// The consistency token the client sent back (`stockroom-consistency`): a query is
    /// then served only by a node that has replayed that far.
    pub consistency: Option<Lsn>,
}

/// The checks before execution and the schemas, shared by every request.
#[derive(Clone)]
pub struct Gate(Arc<Shared>);

/// The same schema three times, for what the gate decided about an operation.
pub struct Schemas {
    /// Executes, after async-graphql's full validation (no extension).
    pub strict: StockroomSchema,
    /// Executes a document known valid: built with `ValidationMode::Fast`, which skips the
    /// validation rules and keeps the depth and complexity backstops.
    pub trusting: StockroomSchema,
    /// Answers a refusal after validation (built with [`Gate::refuser`]).
    pub refusing: StockroomSchema,
}

/// A document as parsed once, and whether it is known valid.
struct Parsed {
    doc: ExecutableDocument,
    /// One operation, no variables: whether it is valid depends on its text alone (the
    /// schema is fixed), so once it passed the rules it always does.
    plain: bool,
    /// A plain document that passed the full validation in an execution without errors.
    valid: AtomicBool,
}

struct Shared {
    schema: StockroomSchema,
    trusting: StockroomSchema,
    refusing: StockroomSchema,
    pool: DbPool,
    reads: Reads,
    shape: SchemaShape,
    limits: Limits,
    public_read: bool,
    persisted: Mutex<lru::LruCache<String, String>>,
    /// Parsed documents by their text (as many as persisted queries, the same size bound):
    /// clients send the same few documents over and over, and parsing was a tenth of a
    /// product page's CPU.
    parsed: Mutex<lru::LruCache<String, Arc<Parsed>>>,
    /// The callers of tokens that passed a check lately: a query with one of them starts
    /// alongside its token check instead of after it.
    recent: RecentCallers,
}

/// How an operation over a WebSocket is answered.
pub enum Execution {
    /// One response (a query, a mutation, or any refusal).
    Once(Box<Response>),
    /// A subscription's responses, one per event, coded like [`Gate::run`]'s.
    Stream(BoxStream<'static, Response>),
}

/// What the checks decided about one operation.
enum Admission<'a> {
    /// Execute it, as this caller (with the reference tables of its token check).
    Run(Request, Authenticated),
    /// A query whose token passed a check lately: execute it as that check's caller while
    /// these credentials are checked again (see [`Gate::speculate`]).
    Speculate(Request, &'a RequestCredentials, Viewer),
    /// Refused after validation: validation errors first, else this error.
    Refuse(Request, ServerError),
    /// Refused before anything else (bad request, parse error, limits).
    Reject(ServerError),
}

/// When a query's token is checked.
enum Checked<'a> {
    /// Before it runs: it runs as this caller.
    Before(Authenticated),
    /// While it runs, as the caller the token had at its last check.
    Alongside(&'a RequestCredentials, Viewer),
}

/// How a query that ran alongside its token check ends.
enum Speculation {
    /// The check passed with the caller it ran as: its response stands.
    Kept(Box<Response>, Authenticated),
    /// The check found another caller: the query runs again, as this one.
    Again(Authenticated),
    /// The check refused the token: this error is the answer.
    Refused(ServerError),
}

/// What is needed to build an operation's request again (a query run once more).
struct Again {
    query: String,
    variables: async_graphql::Variables,
    operation_name: Option<String>,
}

impl Again {
    fn of(request: &Request) -> Self {
        Self {
            query: request.query.clone(),
            variables: request.variables.clone(),
            operation_name: request.operation_name.clone(),
        }
    }

    /// The request again, with its document from the gate's parse cache when it is there.
    fn request(&self, gate: &Gate) -> Request {
        let mut request = Request::new(self.query.clone()).variables(self.variables.clone());
        if let Some(name) = &self.operation_name {
            request = request.operation_name(name.clone());
        }
        if let Ok(doc) = gate.parse(&self.query) {
            request.set_parsed_query(doc);
        }
        request
    }
}

/// Request data of the refusing schema: the error to answer instead of executing.
struct Refusal(ServerError);

/// The one extension of the refusing schema.
struct Refuser;

impl ExtensionFactory for Refuser {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Refuser)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Refuser {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        _operation_name: Option<&str>,
        _next: NextExecute<'_>,
    ) -> Response {
        let err = ctx.data_opt::<Refusal>().map_or_else(
            || coded("the operation was refused", code::FORBIDDEN),
            |r| r.0.clone(),
        );
        Response::from_errors(vec![err])
    }
}

impl Gate {
    /// A gate in front of `schemas`, weighing documents by `shape`.
    pub fn new(
        schemas: Schemas,
        pool: DbPool,
        reads: Reads,
        shape: SchemaShape,
        limits: &Limits,
        public_read: bool,
    ) -> Self {
        let cap = NonZeroUsize::new(limits.apq_cache_size.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self(Arc::new(Shared {
            shape,
            schema: schemas.strict,
            trusting: schemas.trusting,
            refusing: schemas.refusing,
            pool,
            reads,
            limits: limits.clone(),
            public_read,
            persisted: Mutex::new(lru::LruCache::new(cap)),
            parsed: Mutex::new(lru::LruCache::new(cap)),
            recent: RecentCallers::default(),
        }))
    }

    /// The extension that makes a schema the refusing one.
    pub fn refuser() -> impl ExtensionFactory {
        Refuser
    }

    /// The schema that executes (for its SDL).
    pub fn schema(&self) -> &StockroomSchema {
        &self.0.schema
    }

    /// Checks and runs one operation with its own loaders; returns its response and, once the
    /// document was parsed, the type of the operation chosen.
    pub async fn run(
        &self,
        request: Request,
        arrival: Arrival<'_>,
    ) -> (Response, Option<OperationType>) {
        let (admission, ty) = self.admit(request, arrival).await;
        (self.respond(admission, ty, arrival.consistency).await, ty)
    }

    /// Checks and runs one operation that came over a WebSocket: a subscription that passed
    /// the checks becomes a stream of responses (one per event); anything else — a query, a
    /// mutation, a refusal — is answered once, exactly as [`Gate::run`] answers it.
    pub async fn run_socket(
        &self,
        request: Request,
        arrival: Arrival<'_>,
    ) -> (Execution, Option<OperationType>) {
        let (admission, ty) = self.admit(request, arrival).await;
        match admission {
            Admission::Run(request, caller) if ty == Some(OperationType::Subscription) => {
                let limits = self.0.limits.clone();
                let stream = self
                    .0
                    .schema
                    .execute_stream(self.with_loaders(request, caller, ty, self.0.reads.primary()))
                    .map(move |response| code_request_errors(response, &limits))
                    .boxed();
                (Execution::Stream(stream), ty)
            }
            admission => (
                Execution::Once(Box::new(
                    self.respond(admission, ty, arrival.consistency).await,
                )),
                ty,
            ),
        }
    }

    /// Runs (or refuses) an admitted operation once, with its request errors coded; a query
    /// reads from a node that has replayed `consistency`.
    async fn respond(
        &self,
        admission: Admission<'_>,
        ty: Option<OperationType>,
        consistency: Option<Lsn>,
    ) -> Response {
        let response = match admission {
            Admission::Run(request, caller) if ty == Some(OperationType::Query) => {
                self.query(request, Checked::Before(caller), consistency)
                    .await
            }
            Admission::Speculate(request, credentials, guess) => {
                self.query(request, Checked::Alongside(credentials, guess), consistency)
                    .await
            }
            Admission::Run(request, caller) => {
                let source = self.0.reads.primary();
                crate::http::metrics::record_read(source.node_name());
                let response = self.execute(request, caller, ty, source).await;
                if ty == Some(OperationType::Mutation) {
                    self.with_consistency(response).await
                } else {
                    response
                }
            }
            Admission::Refuse(request, err) => {
                Box::pin(self.0.refusing.execute(request.data(Refusal(err)))).await
            }
            Admission::Reject(err) => Response::from_errors(vec![err]),
        };
        code_request_errors(response, &self.0.limits)
    }

    /// Runs a query, on the node `consistency` asks for. A query is safe to run again: once
    /// more when it failed on a pooled connection that turned out to be broken (the pool no
    /// longer pings before a checkout).
    async fn query(
        &self,
        request: Request,
        checked: Checked<'_>,
        consistency: Option<Lsn>,
    ) -> Response {
        let ty = Some(OperationType::Query);
        let again = Again::of(&request);
        let lost = crate::error::connections_lost();
        let source = self.0.reads.route(consistency).await;
        crate::http::metrics::record_read(source.node_name());
        let (response, caller) = match checked {
            Checked::Before(caller) => {
                let response = self.execute(request, caller.clone(), ty, source.clone());
                (response.await, caller)
            }
            Checked::Alongside(credentials, guess) => {
                match self.speculate(request, credentials, guess, &source).await {
                    Speculation::Kept(response, caller) => (*response, caller),
                    Speculation::Again(caller) => {
                        let response =
                            self.execute(again.request(self), caller.clone(), ty, source.clone());
                        (response.await, caller)
                    }
                    Speculation::Refused(err) => {
                        let request = again.request(self).data(Refusal(err));
                        return Box::pin(self.0.refusing.execute(request)).await;
                    }
                }
            }
        };
        if crate::error::connections_lost() != lost
            && response
                .errors
                .iter()
                .any(|e| code_of(e) == Some(code::SERVICE_UNAVAILABLE))
        {
            crate::db::pool::forget_idle(&self.0.pool);
            self.0.reads.forget();
            self.execute(again.request(self), caller, ty, source).await
        } else {
            response
        }
    }

    /// Executes a query as `guess` (the caller its token had at its last check) while the
    /// token is checked again: the check's statement and the query's first ones go to the
    /// database together, instead of one round trip after the other. The query's stores and
    /// categories wait for the reference tables the check vouches for, so it reads nothing
    /// older than the sequential path would. Its response is kept only when the check passes
    /// with that same caller; a refusal drops the execution where it stands, and a changed
    /// caller (a new role or store scope) runs the query again as the check found it.
    async fn speculate(
        &self,
        request: Request,
        credentials: &RequestCredentials,
        guess: Viewer,
        source: &ReadSource,
    ) -> Speculation {
        let (loaders, vouch) = loaders::vouched_later(source.clone());
        let request = request
            .data(guess.clone())
            .data(loaders)
            .data(source.clone());
        let primary = self.0.reads.primary();
        // The check first: polled first, its statement is queued first.
        let check = std::pin::pin!(credentials.viewer(&primary, &self.0.recent));
        let execution = Box::pin(self.run_schema(request));
        let (checked, execution) = match futures::future::select(check, execution).await {
            Either::Left((checked, execution)) => (checked, Either::Left(execution)),
            Either::Right((response, check)) => (check.await, Either::Right(response)),
        };
        let caller = match checked {
            Ok(caller) if caller.viewer == guess => caller,
            Ok(caller) => return Speculation::Again(caller),
            Err(refusal) => return Speculation::Refused(from_app(refusal.into())),
        };
        let response = match execution {
            Either::Left(execution) => {
                vouch.settle(caller.reference.clone());
                execution.await
            }
            Either::Right(response) => response,
        };
        Speculation::Kept(Box::new(response), caller)
    }

    /// Executes an admitted operation, reading from `source`.
    async fn execute(
        &self,
        request: Request,
        caller: Authenticated,
        ty: Option<OperationType>,
        source: ReadSource,
    ) -> Response {
        Box::pin(self.run_schema(self.with_loaders(request, caller, ty, source))).await
    }

    /// Executes `request` on the schema, or, when its document is plain (one operation, no
    /// variables) and passed the full validation before, on its twin that skips the rules
    /// (walking them was 3 % of a product page's CPU). A plain document is marked valid after
    /// an execution without errors, which it reaches only through the rules.
    async fn run_schema(&self, request: Request) -> Response {
        let kept = self.kept(&request.query).filter(|p| p.plain);
        if kept
            .as_ref()
            .is_some_and(|p| p.valid.load(Ordering::Relaxed))
        {
            return Box::pin(self.0.trusting.execute(request)).await;
        }
        let response = Box::pin(self.0.schema.execute(request)).await;
        if let Some(parsed) = kept
            && response.errors.is_empty()
        {
            parsed.valid.store(true, Ordering::Relaxed);
        }
        response
    }

    /// The parse cache's entry for a document's text.
    fn kept(&self, text: &str) -> Option<Arc<Parsed>> {
        let mut parsed = self.0.parsed.lock().unwrap_or_else(|e| e.into_inner());
        parsed.get(text).cloned()
    }

    /// A mutation's response with `extensions.consistency` when read replicas are configured:
    /// the primary's WAL position after it committed (a query sending it back in
    /// `stockroom-consistency` reads what it wrote).
    async fn with_consistency(&self, mut response: Response) -> Response {
        match self.0.reads.consistency_token().await {
            Ok(Some(lsn)) => {
                response.extensions.insert(
                    "consistency".into(),
                    async_graphql::Value::from(lsn.to_string()),
                );
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(error = ?err, "no consistency token for a mutation"),
        }
        response
    }

    /// The request with its caller, where it reads and its loaders (cached for the request
    /// only for a query: a mutation must see what the previous mutation of its document
    /// wrote, and a subscription lives long; only a query reads the reference tables from
    /// the copy its token check vouched for).
    fn with_loaders(
        &self,
        request: Request,
        caller: Authenticated,
        ty: Option<OperationType>,
        source: ReadSource,
    ) -> Request {
        let query = ty == Some(OperationType::Query);
        let reference = caller.reference.filter(|_| query);
        let loaders = loaders::for_request(source.clone(), reference);
        loaders.enable_all_cache(query);
        request.data(caller.viewer).data(loaders).data(source)
    }

    /// A document's syntax tree: a copy of the one parsed before for the same text, else
    /// parsed now (and kept when the text is at most as long as a persisted query may be).
    fn parse(&self, text: &str) -> Result<ExecutableDocument, async_graphql::parser::Error> {
        if let Some(kept) = self.kept(text) {
            return Ok(kept.doc.clone());
        }
        let doc = async_graphql::parser::parse_query(text)?;
        if text.len() <= MAX_PERSISTED_QUERY_BYTES {
            // A named operation is kept as `Multiple`, even alone.
            let mut operations = doc.operations.iter();
            let plain = operations
                .next()
                .is_some_and(|(_, op)| op.node.variable_definitions.is_empty())
                && operations.next().is_none();
            let parsed = Parsed {
                doc: doc.clone(),
                plain,
                valid: AtomicBool::new(false),
            };
            let mut cache = self.0.parsed.lock().unwrap_or_else(|e| e.into_inner());
            cache.put(text.to_owned(), Arc::new(parsed));
        }
        Ok(doc)
    }

    /// Everything before execution, in the order clients see refusals in.
    async fn admit<'a>(
        &self,
        mut request: Request,
        arrival: Arrival<'a>,
    ) -> (Admission<'a>, Option<OperationType>) {
        if let Err(err) = self.persisted(&mut request) {
            return (Admission::Reject(err), None);
        }
        if request.query.is_empty() {
            return (
                Admission::Reject(coded("the request has no query", code::BAD_REQUEST)),
                None,
            );
        }
        // Parsed and measured here, before async-graphql's own passes (its recursion check
        // expands fragments, which a fragment "bomb" makes exponential).
        let limits = &self.0.limits;
        if let Err(err) = limits::check_text(&request.query, limits) {
            return (Admission::Reject(from_app(err)), None);
        }
        let doc = match self.parse(&request.query) {
            Ok(doc) => doc,
            Err(err) => {
                let mut err = ServerError::from(err);
                if err.message.to_ascii_lowercase().contains("recursion") {
                    set_code(&mut err, code::QUERY_TOO_COMPLEX, Some(limits.max_depth));
                } else {
                    set_code(&mut err, code::GRAPHQL_PARSE_FAILED, None);
                }
                return (Admission::Reject(err), None);
            }
        };
        self.0.shape.ready().await;
        let facts = match limits::check(&doc, &request.variables, &self.0.shape, limits) {
            Ok(facts) => facts,
            Err(err) => return (Admission::Reject(from_app(err)), None),
        };
        request.set_parsed_query(doc);
        let not_a_query = || {
            coded(
                "only queries may be sent with GET; use POST",
                METHOD_NOT_ALLOWED,
            )
        };
        // Over GET, a document with no query at all is refused before validation (405).
        if arrival.get && !facts.has_query() {
            return (Admission::Reject(not_a_query()), None);
        }
        let operation = facts.operation(request.operation_name.as_deref());
        crate::telemetry::record_operation_name(
            facts.operation_name(request.operation_name.as_deref()),
        );
        let ty = operation.map(|op| op.ty);
        if arrival.get && ty != Some(OperationType::Query) {
            return (Admission::Refuse(request, not_a_query()), ty);
        }
        let caller = match arrival.caller {
            Caller::Socket(viewer) => Authenticated {
                viewer: viewer.clone(),
                reference: None,
            },
            Caller::Http(credentials) => {
                let query = ty == Some(OperationType::Query);
                if let Some(guess) = query.then(|| credentials.guess(&self.0.recent)).flatten() {
                    // It has a user, so it may read; the check alongside decides the rest.
                    return (Admission::Speculate(request, credentials, guess), ty);
                }
                let primary = self.0.reads.primary();
                match credentials.viewer(&primary, &self.0.recent).await {
                    Ok(caller) => {
                        if !query {
                            credentials.writing();
                        }
                        caller
                    }
                    Err(refusal) => {
                        return (Admission::Refuse(request, from_app(refusal.into())), ty);
                    }
                }
            }
        };
        let viewer = &caller.viewer;
        // The read rule, for every operation: without a token only introspection, unless
        // public reads are on (the resolvers' role checks then refuse anonymous writes).
        let introspection_only = operation.is_some_and(|op| op.introspection_only);
        if !viewer.may_read(self.0.public_read) && !introspection_only {
            let err = from_app(AppError::Unauthenticated(
                "a bearer token is required (Authorization: Bearer <token>)".into(),
            ));
            return (Admission::Refuse(request, err), ty);
        }
        (Admission::Run(request, caller), ty)
    }
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

/// The code an error carries, if any.
pub fn code_of(err: &ServerError) -> Option<&str> {
    match err.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code),
        _ => None,
    }
}

fn set_code(err: &mut ServerError, code: &str, limit: Option<usize>) {
    let ext = err.extensions.get_or_insert_with(Default::default);
    ext.set("code", code);
    if let Some(limit) = limit {
        ext.set("limit", limit as u64);
    }
}

impl Gate {
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
            .0
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

/// Gives the errors of async-graphql's own parse and validation passes their codes (the
/// limits it checks as a backstop answer QUERY_TOO_COMPLEX with the limit).
fn code_request_errors(mut response: Response, limits: &Limits) -> Response {
    if matches!(response.data, async_graphql::Value::Null) {
        for err in response.errors.iter_mut().filter(|e| e.path.is_empty()) {
            code_request_error(err, limits);
        }
    }
    response
}

fn code_request_error(err: &mut ServerError, limits: &Limits) {
    if code_of(err).is_some() {
        return;
    }
    if err.message.contains("recursion depth") || err.message.contains("nested too deep") {
        set_code(err, code::QUERY_TOO_COMPLEX, Some(limits.max_depth));
    } else if err.message.contains("directives") {
        set_code(err, code::QUERY_TOO_COMPLEX, Some(limits.max_directives));
    } else if err.message.contains("too complex") {
        set_code(err, code::QUERY_TOO_COMPLEX, Some(limits.max_complexity));
    } else {
        set_code(err, code::GRAPHQL_VALIDATION_FAILED, None);
    }
}
