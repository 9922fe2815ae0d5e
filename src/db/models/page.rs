//! What the list queries share: keyset page requests and a small builder for the dynamic SQL
//! of filtered, keyset-paginated and per-parent (LATERAL) reads.
//!
//! A keyset page never uses OFFSET: it continues from the sort key of a row (`after`/`before`)
//! with a range condition an index can serve, and fetches one row more than asked so the caller
//! knows whether rows follow.

use chrono::{DateTime, Utc};
use diesel::{
    QueryResult,
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    serialize::ToSql,
    sql_types::{
        Array, BigInt, Binary, Bool, HasSqlType, Integer, Nullable, Text, Timestamptz, Untyped,
    },
};

/// A keyset page request over rows whose sort key is `K`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Keyset<K> {
    /// Rows strictly after this key (in the connection's order).
    pub after: Option<K>,
    /// Rows strictly before this key.
    pub before: Option<K>,
    /// Page size asked for (0..=100).
    pub limit: i64,
    /// `last`/`before` paging: the page ends at `before` and is read in reverse.
    pub backward: bool,
}

impl<K> Keyset<K> {
    /// Rows to read: one more than the page, to tell whether more follow.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Whether the rows are read in ascending order of the key, for a connection whose own
    /// order is ascending (`asc`) or not.
    pub fn scan_ascending(&self, asc: bool) -> bool {
        asc != self.backward
    }
}

/// A value bound to a placeholder of a [`SqlBuilder`].
#[derive(Debug, Clone)]
pub enum Bind {
    /// `integer`.
    Int(i32),
    /// `bigint`.
    BigInt(i64),
    /// `text`.
    Text(String),
    /// `timestamptz`.
    Ts(DateTime<Utc>),
    /// `boolean`.
    Bool(bool),
    /// `integer[]`.
    Ints(Vec<i32>),
    /// `timestamptz[]`.
    Tss(Vec<DateTime<Utc>>),
    /// `integer`, possibly NULL.
    OptInt(Option<i32>),
    /// `bytea`.
    Bytes(Vec<u8>),
    /// `text`, possibly NULL.
    OptText(Option<String>),
}

/// Dynamic SQL with `$n` placeholders and their values, in order.
#[derive(Debug, Default)]
pub struct SqlBuilder {
    /// The text between placeholders: one more piece than there are binds.
    pieces: Vec<String>,
    binds: Vec<Bind>,
}

impl SqlBuilder {
    /// Starts with a piece of SQL.
    pub fn new(sql: &str) -> Self {
        Self {
            pieces: vec![sql.to_string()],
            binds: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        match self.pieces.last_mut() {
            Some(last) => last.push_str(sql),
            None => self.pieces.push(sql.to_string()),
        }
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: Bind) -> &mut Self {
        if self.pieces.is_empty() {
            self.pieces.push(String::new());
        }
        self.binds.push(value);
        self.pieces.push(String::new());
        self
    }

    /// The statement, ready to load into a `QueryableByName` type (columns found by name).
    pub fn build(self) -> Prepared {
        self.build_as()
    }

    /// The statement, its columns of the SQL types `ST` in this order, ready to load into a
    /// `Queryable` type (columns taken by position: no name looked up per row and field).
    pub fn build_as<ST>(self) -> Prepared<ST> {
        Prepared {
            pieces: self.pieces,
            binds: self.binds,
            sql_type: std::marker::PhantomData,
        }
    }
}

/// A statement of a [`SqlBuilder`]. Unlike diesel's `sql_query`, which marks every statement
/// unsafe to cache (so each run is parsed, planned and sent as two round trips), it is
/// prepared once per connection and text: the text depends on the shape of a read (filters,
/// page direction), never on the number of keys (those are bound as one array), so the
/// connection's statement cache stays small.
#[derive(Debug)]
pub struct Prepared<ST = Untyped> {
    pieces: Vec<String>,
    binds: Vec<Bind>,
    sql_type: std::marker::PhantomData<ST>,
}

impl<ST> QueryFragment<Pg> for Prepared<ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let mut pieces = self.pieces.iter();
        if let Some(first) = pieces.next() {
            out.push_sql(first);
        }
        for (value, piece) in self.binds.iter().zip(pieces) {
            match value {
                Bind::Int(v) => push::<Integer, _>(&mut out, v)?,
                Bind::BigInt(v) => push::<BigInt, _>(&mut out, v)?,
                Bind::Text(v) => push::<Text, _>(&mut out, v)?,
                Bind::Ts(v) => push::<Timestamptz, _>(&mut out, v)?,
                Bind::Bool(v) => push::<Bool, _>(&mut out, v)?,
                Bind::Ints(v) => push::<Array<Integer>, _>(&mut out, v)?,
                Bind::Tss(v) => push::<Array<Timestamptz>, _>(&mut out, v)?,
                Bind::OptInt(v) => push::<Nullable<Integer>, _>(&mut out, v)?,
                Bind::Bytes(v) => push::<Binary, _>(&mut out, v)?,
                Bind::OptText(v) => push::<Nullable<Text>, _>(&mut out, v)?,
            }
            out.push_sql(piece);
        }
        Ok(())
    }
}

fn push<'b, ST, U>(out: &mut AstPass<'_, 'b, Pg>, value: &'b U) -> QueryResult<()>
where
    Pg: HasSqlType<ST>,
    U: ToSql<ST, Pg>,
{
    out.push_bind_param::<ST, U>(value)
}

impl<ST> QueryId for Prepared<ST> {
    type QueryId = ();
    // No static id: the connection's statement cache keys it by its text and bind types.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST> Query for Prepared<ST> {
    type SqlType = ST;
}

/// Appends the keyset range of `ks` over the row expression `key_sql` (e.g. `(p.name, p.id)`),
/// for a connection whose order is ascending (`asc`) or not; `bind` appends a key's values as a
/// row expression of placeholders.
pub fn keyset_range<K>(
    sql: &mut SqlBuilder,
    ks: &Keyset<K>,
    key_sql: &str,
    asc: bool,
    bind: impl Fn(&mut SqlBuilder, &K),
) {
    if let Some(after) = &ks.after {
        sql.push(" AND ")
            .push(key_sql)
            .push(if asc { " > " } else { " < " });
        bind(sql, after);
    }
    if let Some(before) = &ks.before {
        sql.push(" AND ")
            .push(key_sql)
            .push(if asc { " < " } else { " > " });
        bind(sql, before);
    }
}

/// Ends a per-parent page in product-SKU order (the inside of a `CROSS JOIN LATERAL (…) x`
/// whose rows join `products p`): the keyset range of `ks` on `p.sku`, the order in the
/// page's read direction, the limit, and the closing `) x`.
pub fn sku_page_tail(sql: &mut SqlBuilder, ks: &Keyset<String>) {
    keyset_range(sql, ks, "p.sku", true, |sql, sku| {
        sql.bind(Bind::Text(sku.clone()));
    });
    sql.push(&format!(
        " ORDER BY p.sku {} LIMIT ",
        dir(ks.scan_ascending(true))
    ))
    .bind(Bind::BigInt(ks.fetch()))
    .push(") x");
}

/// `ASC` or `DESC` for the direction rows are read in.
pub fn dir(ascending: bool) -> &'static str {
    if ascending { "ASC" } else { "DESC" }
}

/// A `LIKE` pattern matching `text` anywhere, ASCII-lowercased like `lower()` on the `"C"`
/// collated columns it is compared with, with `%`, `_` and `\` taken literally.
pub fn contains_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.to_ascii_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A `count(*)` result.
#[derive(Debug, diesel::QueryableByName)]
pub struct CountRow {
    /// The count.
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// A sum per key (a product, a category subtree...).
#[derive(Debug, diesel::QueryableByName)]
pub struct KeyTotal {
    /// The key.
    #[diesel(sql_type = Integer)]
    pub key: i32,
    /// The sum.
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}
