//! The import format: its files, their columns, and the per-row checks (as SQL over the text
//! staging columns) each column's kind implies.

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
}

const fn col(name: &'static str, kind: Kind) -> Column {
    let header_required = matches!(
        kind,
        Kind::Key | Kind::Text | Kind::Int { .. } | Kind::Price | Kind::Timestamp | Kind::TxType
    );
    Column {
        name,
        kind,
        header_required,
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

/// Ledger types and the sign their quantity must have.
pub const TX_TYPES: &str = "'INBOUND','OUTBOUND','TRANSFER_IN','TRANSFER_OUT','ADJUSTMENT'";

const KEY_RE: &str = "^\\s*[+-]?[0-9]{1,18}\\s*$";
const INT_RE: &str = "^\\s*[+-]?[0-9]{1,10}\\s*$";
const PRICE_RE: &str = "^[0-9]{1,12}(\\.[0-9]{1,2})?$";
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
    pub reason: &'static str,
}

/// The per-row checks of a file.
pub fn row_checks(spec: &FileSpec) -> Vec<RowCheck> {
    let mut checks = Vec::new();
    for column in spec.columns {
        let c = column.name;
        let q = format!("\"{c}\"");
        let required = matches!(
            column.kind,
            Kind::Key
                | Kind::Text
                | Kind::Int { .. }
                | Kind::Price
                | Kind::Timestamp
                | Kind::TxType
        );
        if required {
            checks.push(RowCheck {
                column: c,
                bad: format!("{q} IS NULL"),
                reason: "is required but empty",
            });
        }
        match column.kind {
            Kind::Key | Kind::OptKey => checks.push(RowCheck {
                column: c,
                bad: format!("coalesce({q} !~ '{KEY_RE}', false)"),
                reason: "is not an integer id",
            }),
            Kind::Int { nonneg } | Kind::OptInt { nonneg } => {
                checks.push(RowCheck {
                    column: c,
                    bad: format!(
                        "coalesce(CASE WHEN {q} !~ '{INT_RE}' THEN true \
                         ELSE {q}::bigint NOT BETWEEN -2147483648 AND 2147483647 END, false)"
                    ),
                    reason: "is not an integer (32-bit)",
                });
                if nonneg {
                    checks.push(RowCheck {
                        column: c,
                        bad: format!("coalesce({q} ~ '^-[0-9]*[1-9]', false)"),
                        reason: "must not be negative",
                    });
                }
            }
            Kind::Price => {
                checks.push(RowCheck {
                    column: c,
                    bad: format!("coalesce({q} ~ '^-', false)"),
                    reason: "must not be negative",
                });
                checks.push(RowCheck {
                    column: c,
                    bad: format!("coalesce({q} !~ '^-' AND {q} !~ '{PRICE_RE}', false)"),
                    reason: "is not a decimal number with at most two decimals (like 12.50)",
                });
            }
            Kind::Timestamp => checks.push(RowCheck {
                column: c,
                bad: format!(
                    "coalesce(CASE WHEN {q} !~ '{TS_RE}' THEN true \
                     WHEN substr({q}, 9, 2)::int <= 28 THEN false \
                     ELSE substr({q}, 9, 2)::int > extract(day FROM \
                       make_date(substr({q}, 1, 4)::int, substr({q}, 6, 2)::int, 1) \
                       + interval '1 month - 1 day') END, false)"
                ),
                reason: "is not a date-time with an offset (RFC 3339 like 2024-01-01T00:34:45Z, \
                         or 2024-01-01 00:34:45+00)",
            }),
            Kind::TxType => checks.push(RowCheck {
                column: c,
                bad: format!("coalesce({q} NOT IN ({TX_TYPES}), false)"),
                reason: "is not a type (INBOUND, OUTBOUND, TRANSFER_IN, TRANSFER_OUT, ADJUSTMENT)",
            }),
            Kind::Text | Kind::OptText => {}
        }
    }
    if spec.name == CATEGORIES.name {
        checks.push(RowCheck {
            column: "parent_id",
            bad: format!(
                "coalesce(id ~ '{KEY_RE}' AND parent_id ~ '{KEY_RE}' \
                 AND id::bigint = parent_id::bigint, false)"
            ),
            reason: "is the category's own id",
        });
    }
    if spec.name == LEDGER.name {
        checks.push(RowCheck {
            column: "quantity",
            bad: format!(
                "coalesce(CASE WHEN quantity !~ '{INT_RE}' OR type NOT IN ({TX_TYPES}) THEN false \
                 WHEN type IN ('INBOUND', 'TRANSFER_IN') THEN quantity::bigint <= 0 \
                 WHEN type IN ('OUTBOUND', 'TRANSFER_OUT') THEN quantity::bigint >= 0 \
                 ELSE quantity::bigint = 0 END, false)"
            ),
            reason: "has the wrong sign for the type (INBOUND/TRANSFER_IN > 0, \
                     OUTBOUND/TRANSFER_OUT < 0, ADJUSTMENT <> 0)",
        });
    }
    checks
}

fn required(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Key | Kind::Text | Kind::Int { .. } | Kind::Price | Kind::Timestamp | Kind::TxType
    )
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
/// [`typed_expr`] accept but [`row_checks`] refuses: the fast path's test.
pub fn cheap_bad(spec: &FileSpec) -> String {
    let mut parts = Vec::new();
    for column in spec.columns {
        let q = format!("\"{}\"", column.name);
        if required(column.kind) {
            parts.push(format!("{q} IS NULL"));
        }
        match column.kind {
            Kind::Int { nonneg: true } | Kind::OptInt { nonneg: true } => {
                parts.push(format!("{q}::int < 0"));
            }
            Kind::Price => parts.push(format!(
                "{q}::numeric < 0 OR {q}::numeric >= 1e12 OR scale({q}::numeric) > 2 \
                 OR {q} !~ '^[0-9.]+$'"
            )),
            Kind::Timestamp => parts.push(format!(
                "substr({q}, 11, 1) NOT IN ('T', 't', ' ') OR left({q}, 1) NOT BETWEEN '0' AND '9' \
                 OR NOT (right({q}, 1) IN ('Z', 'z') \
                         OR substr({q}, length({q}) - 2, 1) IN ('+', '-') \
                         OR substr({q}, length({q}) - 4, 1) IN ('+', '-') \
                         OR substr({q}, length({q}) - 5, 1) IN ('+', '-'))"
            )),
            Kind::TxType => parts.push(format!("{q} NOT IN ({TX_TYPES})")),
            _ => {}
        }
    }
    if spec.name == CATEGORIES.name {
        parts.push("id::bigint = parent_id::bigint".into());
    }
    if spec.name == LEDGER.name {
        parts.push(
            "CASE WHEN type IN ('INBOUND', 'TRANSFER_IN') THEN quantity::int <= 0 \
             WHEN type IN ('OUTBOUND', 'TRANSFER_OUT') THEN quantity::int >= 0 \
             ELSE quantity::int = 0 END"
                .into(),
        );
    }
    parts
        .iter()
        .map(|p| format!("coalesce({p}, false)"))
        .collect::<Vec<_>>()
        .join(" OR ")
}
