//! What the list queries share: keyset page requests and a small builder for the dynamic SQL
//! of filtered, keyset-paginated and per-parent (LATERAL) reads.
//!
//! A keyset page never uses OFFSET: it continues from the sort key of a row (`after`/`before`)
//! with a range condition an index can serve, and fetches one row more than asked so the caller
//! knows whether rows follow.

use chrono::{DateTime, Utc};
use diesel::{
    pg::Pg,
    query_builder::{BoxedSqlQuery, SqlQuery},
    sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz},
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
}

/// Dynamic SQL with `$n` placeholders and their values, in order.
#[derive(Debug, Default)]
pub struct SqlBuilder {
    text: String,
    binds: Vec<Bind>,
}

impl SqlBuilder {
    /// Starts with a piece of SQL.
    pub fn new(sql: &str) -> Self {
        Self {
            text: sql.to_string(),
            binds: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        let n = self.binds.len();
        self.text.push_str(&format!("${n}"));
        self
    }

    /// The statement, ready to load.
    pub fn build(self) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
        let mut query = diesel::sql_query(self.text).into_boxed::<Pg>();
        for value in self.binds {
            query = match value {
                Bind::Int(v) => query.bind::<Integer, _>(v),
                Bind::BigInt(v) => query.bind::<BigInt, _>(v),
                Bind::Text(v) => query.bind::<Text, _>(v),
                Bind::Ts(v) => query.bind::<Timestamptz, _>(v),
                Bind::Bool(v) => query.bind::<Bool, _>(v),
                Bind::Ints(v) => query.bind::<Array<Integer>, _>(v),
                Bind::Tss(v) => query.bind::<Array<Timestamptz>, _>(v),
                Bind::OptInt(v) => query.bind::<Nullable<Integer>, _>(v),
            };
        }
        query
    }
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
