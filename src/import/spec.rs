//! The import format: its files, their columns, the value rules each column's kind implies,
//! and those rules as per-row checks (SQL over the text staging columns).
//!
//! The rules are written once: the limits here ([`KEY_DIGITS`], [`INT_DIGITS`]) and the
//! domain's (price digits in `domain::money`, ledger types and their signs in
//! `domain::ledger`) are read by the quick pass's Rust checks and interpolated into the
//! careful pass's SQL.

use crate::domain::{
    ledger::{QuantitySign, TransactionType},
    money::{PRICE_INTEGER_DIGITS, PRICE_SCALE},
};

/// What a column holds, which decides its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A local integer key (required).
    Key,
    /// A local integer key that may be empty.
    OptKey,
    /// Text that must not be empty.
    Text,
    /// Text that may be empty (becomes NULL, or '' where the table requires text).
    OptText,
    /// A 32-bit integer (required); `nonneg` refuses negatives.
    Int {
        /// Negative values are refused.
        nonneg: bool,
    },
    /// A 32-bit integer that may be empty; `nonneg` refuses negatives.
    OptInt {
        /// Negative values are refused.
        nonneg: bool,
    },
    /// A price: non-negative, at most two decimals.
    Price,
    /// A timestamp with an offset.
    Timestamp,
    /// A ledger row type.
    TxType,
}

impl Kind {
    /// Whether a value is required (an empty field is refused).
    pub const fn is_required(self) -> bool {
        matches!(
            self,
            Self::Key
                | Self::Text
                | Self::Int { .. }
                | Self::Price
                | Self::Timestamp
                | Self::TxType
        )
    }
}

/// One column of a file.
#[derive(Debug)]
pub struct Column {
    /// Header name (also the staging column name).
    pub name: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// Whether the header must name it (optional columns may be left out: all empty).
    pub header_required: bool,
}

/// One file of the import format.
#[derive(Debug)]
pub struct FileSpec {
    /// Short name; staging table `stage_<name>`, target table `<name>`.
    pub name: &'static str,
    /// The file name.
    pub file: &'static str,
    /// Its columns.
    pub columns: &'static [Column],
}

impl FileSpec {
    /// The staging table's name.
    pub fn stage(&self) -> String {
        format!("stockroom_import_stage_{}", self.name)
    }

    /// The column names, quoted and comma-separated, for a `COPY` column list.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The typed copy of the staging table.
    pub fn typed(&self) -> String {
        format!("stockroom_import_typed_{}", self.name)
    }

    /// Whether the file carries the table's own ids (its first column is `id`).
    pub fn has_ids(&self) -> bool {
        self.columns[0].name == "id"
    }

    /// The largest id the table takes: `bigint` for the ledger, `integer` for the others.
    pub fn id_max(&self) -> i64 {
        if self.name == LEDGER.name {
            i64::MAX
        } else {
            i64::from(i32::MAX)
        }
    }
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        header_required: kind.is_required(),
    }
}

/// `categories.csv`.
pub static CATEGORIES: FileSpec = FileSpec {
    name: "categories",
    file: "categories.csv",
    columns: &[
        col("id", Kind::Key),
        col("parent_id", Kind::OptKey),
        col("name", Kind::Text),
    ],
};
/// `stores.csv`.
pub static STORES: FileSpec = FileSpec {
    name: "stores",
    file: "stores.csv",
    columns: &[
        col("id", Kind::Key),
        col("code", Kind::Text),
        col("name", Kind::Text),
    ],
};
/// `users.csv`.
pub static USERS: FileSpec = FileSpec {
    name: "users",
    file: "users.csv",
    columns: &[
        col("id", Kind::Key),
        col("username", Kind::Text),
        col("display_name", Kind::OptText),
    ],
};
/// `products.csv`.
pub static PRODUCTS: FileSpec = FileSpec {
    name: "products",
    file: "products.csv",
    columns: &[
        col("id", Kind::Key),
        col("sku", Kind::Text),
        col("name", Kind::Text),
        col("description", Kind::OptText),
        col("price", Kind::Price),
        col("category_id", Kind::Key),
    ],
};
/// `stocks.csv`.
pub static STOCKS: FileSpec = FileSpec {
    name: "stocks",
    file: "stocks.csv",
    columns: &[
        col("product_id", Kind::Key),
        col("store_id", Kind::Key),
        col("quantity", Kind::Int { nonneg: true }),
        col("reorder_point", Kind::OptInt { nonneg: true }),
    ],
};
/// `inventory_transactions.csv`.
pub static LEDGER: FileSpec = FileSpec {
    name: "inventory_transactions",
    file: "inventory_transactions.csv",
    columns: &[
        col("id", Kind::Key),
        col("product_id", Kind::Key),
        col("store_id", Kind::Key),
        col("user_id", Kind::OptKey),
        col("type", Kind::TxType),
        col("quantity", Kind::Int { nonneg: false }),
        col("quantity_after", Kind::Int { nonneg: true }),
        col("note", Kind::OptText),
        col("reference", Kind::OptText),
        col("created_at", Kind::Timestamp),
    ],
};

/// Every file, in the order they are loaded (referenced before referencing).
pub static ALL: [&FileSpec; 6] = [&CATEGORIES, &STORES, &USERS, &PRODUCTS, &STOCKS, &LEDGER];

/// Most digits of a local id (so any id fits an `i64`).
pub const KEY_DIGITS: usize = 18;
/// Most digits of an integer (a 32-bit one has 10).
pub const INT_DIGITS: usize = 10;
/// Most digits of a price before the decimal point (the column's).
pub const PRICE_WHOLE_DIGITS: usize = PRICE_INTEGER_DIGITS as usize;
/// Most decimals of a price.
pub const PRICE_DECIMALS: usize = PRICE_SCALE as usize;
// The price message of `row_checks` says "two decimals".
const _: () = assert!(PRICE_DECIMALS == 2);

/// A local id: `^\s*[+-]?[0-9]{1,KEY_DIGITS}\s*$`.
fn key_re() -> String {
    format!("^\\s*[+-]?[0-9]{{1,{KEY_DIGITS}}}\\s*$")
}

/// An integer: `^\s*[+-]?[0-9]{1,INT_DIGITS}\s*$` (its range is checked apart).
fn int_re() -> String {
    format!("^\\s*[+-]?[0-9]{{1,{INT_DIGITS}}}\\s*$")
}

/// A price: `^[0-9]{1,PRICE_WHOLE_DIGITS}(\.[0-9]{1,PRICE_DECIMALS})?$`.
fn price_re() -> String {
    format!("^[0-9]{{1,{PRICE_WHOLE_DIGITS}}}(\\.[0-9]{{1,{PRICE_DECIMALS}}})?$")
}

/// The ledger's types as an SQL list: `'INBOUND','OUTBOUND',…`.
fn tx_types_sql() -> String {
    TransactionType::ALL
        .map(|t| format!("'{}'", t.as_str()))
        .join(",")
}

/// The ledger's types for a message: `INBOUND, OUTBOUND, …`.
fn tx_types_text() -> String {
    TransactionType::ALL.map(TransactionType::as_str).join(", ")
}

/// SQL, true when `quantity` (an integer expression) has the wrong sign for the row's `type`
/// (a known type; an unknown one falls to the last branch).
fn wrong_sign_sql(quantity: &str) -> String {
    let of = |sign: QuantitySign| {
        TransactionType::ALL
            .into_iter()
            .filter(|t| t.sign() == sign)
            .map(|t| format!("'{}'", t.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "CASE WHEN type IN ({positive}) THEN {quantity} <= 0 \
         WHEN type IN ({negative}) THEN {quantity} >= 0 \
         ELSE {quantity} = 0 END",
        positive = of(QuantitySign::Positive),
        negative = of(QuantitySign::Negative),
    )
}
/// `2024-01-01T00:34:45Z`, `2024-01-01 00:34:45.5+00`, `…+05:30`, `…-0800`.
const TS_RE: &str = "^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?([Zz]|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)$";

/// A per-row check: an SQL condition on the staging row that is true when the row is bad.
#[derive(Debug)]
pub struct RowCheck {
    /// The column it blames.
    pub column: &'static str,
    /// SQL, true when bad (never NULL).
    pub bad: String,
    /// Why, for the message.
    pub reason: String,
}

/// The per-row checks of a file.
pub fn row_checks(spec: &FileSpec) -> Vec<RowCheck> {
    let mut checks = Vec::new();
    let mut check = |column: &'static str, bad: String, reason: &str| {
        checks.push(RowCheck {
            column,
            bad,
            reason: reason.to_string(),
        });
    };
    let (key_re, int_re, tx_types) = (key_re(), int_re(), tx_types_sql());
    for column in spec.columns {
        let c = column.name;
        let q = format!("\"{c}\"");
        if column.kind.is_required() {
            check(c, format!("{q} IS NULL"), "is required but empty");
        }
        match column.kind {
            Kind::Key | Kind::OptKey => check(
                c,
                format!("coalesce({q} !~ '{key_re}', false)"),
                "is not an integer id",
            ),
            Kind::Int { nonneg } | Kind::OptInt { nonneg } => {
                check(
                    c,
                    format!(
                        "coalesce(CASE WHEN {q} !~ '{int_re}' THEN true \
                         ELSE {q}::bigint NOT BETWEEN {min} AND {max} END, false)",
                        min = i32::MIN,
                        max = i32::MAX,
                    ),
                    "is not an integer (32-bit)",
                );
                if nonneg {
                    check(
                        c,
                        format!("coalesce({q} ~ '^-[0-9]*[1-9]', false)"),
                        "must not be negative",
                    );
                }
            }
            Kind::Price => {
                check(
                    c,
                    format!("coalesce({q} ~ '^-', false)"),
                    "must not be negative",
                );
                check(
                    c,
                    format!(
                        "coalesce({q} !~ '^-' AND {q} !~ '{price_re}', false)",
                        price_re = price_re()
                    ),
                    "is not a decimal number with at most two decimals (like 12.50)",
                );
            }
            Kind::Timestamp => check(
                c,
                format!(
                    "coalesce(CASE WHEN {q} !~ '{TS_RE}' THEN true \
                     WHEN substr({q}, 9, 2)::int <= 28 THEN false \
                     ELSE substr({q}, 9, 2)::int > extract(day FROM \
                       make_date(substr({q}, 1, 4)::int, substr({q}, 6, 2)::int, 1) \
                       + interval '1 month - 1 day') END, false)"
                ),
                "is not a date-time with an offset (RFC 3339 like 2024-01-01T00:34:45Z, \
                 or 2024-01-01 00:34:45+00)",
            ),
            Kind::TxType => check(
                c,
                format!("coalesce({q} NOT IN ({tx_types}), false)"),
                &format!("is not a type ({})", tx_types_text()),
            ),
            Kind::Text | Kind::OptText => {}
        }
    }
    if spec.name == CATEGORIES.name {
        check(
            "parent_id",
            format!(
                "coalesce(id ~ '{key_re}' AND parent_id ~ '{key_re}' \
                 AND id::bigint = parent_id::bigint, false)"
            ),
            "is the category's own id",
        );
    }
    if spec.name == LEDGER.name {
        check(
            "quantity",
            format!(
                "coalesce(CASE WHEN quantity !~ '{int_re}' OR type NOT IN ({tx_types}) THEN false \
                 ELSE {wrong} END, false)",
                wrong = wrong_sign_sql("quantity::bigint"),
            ),
            &format!("has the wrong sign for the type ({})", sign_rules_text()),
        );
    }
    checks
}

/// `INBOUND/TRANSFER_IN > 0, OUTBOUND/TRANSFER_OUT < 0, ADJUSTMENT <> 0`.
fn sign_rules_text() -> String {
    [
        (QuantitySign::Positive, "> 0"),
        (QuantitySign::Negative, "< 0"),
        (QuantitySign::NonZero, "<> 0"),
    ]
    .map(|(sign, rule)| {
        let types: Vec<&str> = TransactionType::ALL
            .into_iter()
            .filter(|t| t.sign() == sign)
            .map(TransactionType::as_str)
            .collect();
        format!("{} {rule}", types.join("/"))
    })
    .join(", ")
}

/// The typed value of a staging column (the cast fails on a malformed value).
pub fn typed_expr(column: &Column) -> String {
    let q = format!("\"{}\"", column.name);
    match column.kind {
        Kind::Key | Kind::OptKey => format!("{q}::bigint"),
        Kind::Int { .. } | Kind::OptInt { .. } => format!("{q}::int"),
        Kind::Price => format!("{q}::numeric"),
        Kind::Timestamp => format!("{q}::timestamptz"),
        Kind::Text | Kind::OptText | Kind::TxType => q,
    }
}

/// A cheap condition (no regular expressions) that is true for every row the casts of
/// [`typed_expr`] accept but [`row_checks`] refuses: the careful pass's first test (the
/// exact checks run only when it flags a row).
pub fn cheap_bad(spec: &FileSpec) -> String {
    let mut parts = Vec::new();
    for column in spec.columns {
        let q = format!("\"{}\"", column.name);
        if column.kind.is_required() {
            parts.push(format!("{q} IS NULL"));
        }
        match column.kind {
            Kind::Int { nonneg: true } | Kind::OptInt { nonneg: true } => {
                parts.push(format!("{q}::int < 0"));
            }
            Kind::Price => parts.push(format!(
                "{q}::numeric < 0 OR {q}::numeric >= 1e{PRICE_WHOLE_DIGITS} \
                 OR scale({q}::numeric) > {PRICE_DECIMALS} OR {q} !~ '^[0-9.]+$'"
            )),
            Kind::Timestamp => parts.push(format!(
                "substr({q}, 11, 1) NOT IN ('T', 't', ' ') OR left({q}, 1) NOT BETWEEN '0' AND '9' \
                 OR NOT (right({q}, 1) IN ('Z', 'z') \
                         OR substr({q}, length({q}) - 2, 1) IN ('+', '-') \
                         OR substr({q}, length({q}) - 4, 1) IN ('+', '-') \
                         OR substr({q}, length({q}) - 5, 1) IN ('+', '-'))"
            )),
            Kind::TxType => parts.push(format!("{q} NOT IN ({})", tx_types_sql())),
            _ => {}
        }
    }
    if spec.name == CATEGORIES.name {
        parts.push("id::bigint = parent_id::bigint".into());
    }
    if spec.name == LEDGER.name {
        parts.push(wrong_sign_sql("quantity::int"));
    }
    parts
        .iter()
        .map(|p| format!("coalesce({p}, false)"))
        .collect::<Vec<_>>()
        .join(" OR ")
}
