//! The import's careful pass, the error path: COPY into text staging tables that keep every
//! row's line, casts into typed copies, set-based checks that name every problem's file,
//! line and column, then `INSERT … SELECT` table by table. Staging tables live only in the
//! import's transaction (opened and closed by `session`).

use tokio_postgres::{Client, error::SqlState};

use super::{
    ImportError, Problem, Progress, reader,
    session::{self, CopyOutcome, Offsets, Present, Result},
    spec::{self, FileSpec, Kind},
};

/// Problems reported per check (and in all, about).
pub const MAX_REPORTED: usize = 50;

/// Runs the careful pass in a new transaction; returns the rows per file.
pub(super) async fn run(
    client: &Client,
    present: &Present,
    progress: &Progress,
) -> Result<Vec<(&'static str, u64)>> {
    session::begin(client).await?;
    for spec in spec::ALL {
        let columns: Vec<String> = spec
            .columns
            .iter()
            .map(|c| format!("\"{}\" text", c.name))
            .collect();
        client
            .batch_execute(&format!(
                "CREATE TEMP TABLE {} (ln bigint NOT NULL, {}) ON COMMIT DROP",
                spec.stage(),
                columns.join(", ")
            ))
            .await?;
    }

    // 1. Stream every file into its staging table.
    let mut counts = Vec::new();
    for (spec, path, header) in present {
        progress.phase(&format!("loading {}", spec.file));
        let sql = format!(
            "COPY {} (ln, {}) FROM STDIN",
            spec.stage(),
            spec.column_list()
        );
        let encoder = Box::new(reader::stage_row);
        let CopyOutcome::Rows(rows) =
            session::copy_file(client, spec, path, header, progress, &sql, encoder).await?
        else {
            return Err(anyhow::anyhow!("the staging encoder declined a row").into());
        };
        counts.push((spec.file, rows));
    }
    progress.spin();
    let has = |s: &FileSpec| session::has(present, s);

    // 2. Per-row checks: typed copies by casts plus cheap tests; only when something is
    //    wrong do the (slower, regular-expression) checks run to say exactly what and where.
    progress.phase("checking values");
    let mut problems = Vec::new();
    for spec in spec::ALL {
        problems.extend(typed_copy(client, spec).await?);
    }
    refuse_if_any(problems)?;

    // 3. Links between the files, and the category tree.
    progress.phase("checking links");
    let links: [(&FileSpec, &str, &FileSpec); 7] = [
        (&spec::CATEGORIES, "parent_id", &spec::CATEGORIES),
        (&spec::PRODUCTS, "category_id", &spec::CATEGORIES),
        (&spec::STOCKS, "product_id", &spec::PRODUCTS),
        (&spec::STOCKS, "store_id", &spec::STORES),
        (&spec::LEDGER, "product_id", &spec::PRODUCTS),
        (&spec::LEDGER, "store_id", &spec::STORES),
        (&spec::LEDGER, "user_id", &spec::USERS),
    ];
    let mut problems = Vec::new();
    for (child, column, parent) in &links {
        if has(child) {
            problems.extend(link_problems(client, child, column, parent).await?);
        }
    }
    refuse_if_any(problems)?;
    if has(&spec::CATEGORIES) {
        refuse_if_any(cycle_problems(client).await?)?;
    }

    // 4. The ledger against the stock: running sums and totals.
    if has(&spec::LEDGER) {
        progress.phase("checking the ledger (running sums)");
        refuse_if_any(running_sum_problems(client).await?)?;
        progress.phase("checking the ledger (totals against stocks.csv)");
        refuse_if_any(total_problems(client).await?)?;
    }

    // 5. Insert, table by table, referenced before referencing.
    let mut offsets = Offsets::default();
    for spec in spec::ALL {
        if !has(spec) {
            continue;
        }
        if spec.has_ids() {
            offsets.set(spec, offset(client, spec).await?);
        }
    }
    let mut rebuilds = Vec::new();
    for (spec, _, _) in present {
        let rows = counts
            .iter()
            .find(|(f, _)| *f == spec.file)
            .map_or(0, |(_, n)| *n);
        if session::is_bulk(client, spec, rows).await? {
            progress.phase(&format!("dropping the secondary indexes of {}", spec.name));
            rebuilds.push(session::drop_indexes(client, spec).await?);
        }
        progress.phase(&format!("inserting {}", spec.name));
        insert(client, spec, &offsets).await?;
    }
    session::rebuild(client, &rebuilds, progress).await?;

    // 6. Identities continue after the imported ids; fresh statistics; commit.
    session::finish(client, present, progress).await?;
    Ok(counts)
}

fn refuse_if_any(problems: Vec<Problem>) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ImportError::Refused(problems))
    }
}

/// Runs a query whose rows are `(line bigint, column text, reason text)`.
async fn problems_of(client: &Client, file: &'static str, sql: &str) -> Result<Vec<Problem>> {
    let rows = client.query(sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let line: i64 = row.get(0);
            let column: Option<String> = row.get(1);
            let reason: String = row.get(2);
            Problem {
                file,
                line: u64::try_from(line).unwrap_or(0),
                column,
                reason,
            }
        })
        .collect())
}

/// Quotes a value for a message: `"12,5"` (shortened when long).
fn show(sql_text: &str) -> String {
    format!(
        "'\"' || CASE WHEN length({sql_text}) > 60 THEN left({sql_text}, 60) || '…' ELSE {sql_text} END || '\"'"
    )
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Casts the staging table of `spec` into `typed_<name>`; returns the exact problems when a
/// cast fails or a cheap test flags a row.
async fn typed_copy(client: &Client, spec: &'static FileSpec) -> Result<Vec<Problem>> {
    let columns: Vec<String> = spec
        .columns
        .iter()
        .map(|c| format!("{} AS \"{}\"", spec::typed_expr(c), c.name))
        .collect();
    client.batch_execute("SAVEPOINT import_typed").await?;
    let created = client
        .batch_execute(&format!(
            "CREATE TEMP TABLE {typed} ON COMMIT DROP AS
                 SELECT ln, {columns}, {bad} AS bad FROM {stage}",
            typed = spec.typed(),
            columns = columns.join(", "),
            bad = spec::cheap_bad(spec),
            stage = spec.stage(),
        ))
        .await;
    let flagged = match created {
        Ok(()) => {
            client
                .batch_execute("RELEASE SAVEPOINT import_typed")
                .await?;
            session::scalar::<bool>(
                client,
                &format!("SELECT EXISTS (SELECT 1 FROM {} WHERE bad)", spec.typed()),
                &[],
            )
            .await?
        }
        Err(err) if err.code().is_some_and(|c| c.code().starts_with("22")) => {
            client
                .batch_execute("ROLLBACK TO SAVEPOINT import_typed")
                .await?;
            let problems = row_problems(client, spec).await?;
            return if problems.is_empty() {
                Err(err.into())
            } else {
                Ok(problems)
            };
        }
        Err(err) => return Err(err.into()),
    };
    if !flagged {
        client
            .batch_execute(&format!("ANALYZE {}", spec.typed()))
            .await?;
        return Ok(Vec::new());
    }
    let problems = row_problems(client, spec).await?;
    if problems.is_empty() {
        return Err(anyhow::anyhow!("{} has a value the import cannot read", spec.file).into());
    }
    Ok(problems)
}

async fn row_problems(client: &Client, spec: &'static FileSpec) -> Result<Vec<Problem>> {
    let checks = spec::row_checks(spec);
    if checks.is_empty() {
        return Ok(Vec::new());
    }
    let mut problems = problems_of(client, spec.file, &row_checks_sql(spec, &checks)).await?;
    problems.truncate(MAX_REPORTED);
    Ok(problems)
}

/// One query per file: the first bad rows, then one line per failed check of each.
fn row_checks_sql(spec: &FileSpec, checks: &[spec::RowCheck]) -> String {
    let any_bad: Vec<&str> = checks.iter().map(|c| c.bad.as_str()).collect();
    let per_check: Vec<String> = checks
        .iter()
        .map(|c| {
            format!(
                "SELECT ln, {col}::text AS col, coalesce({value} || ' ', '') || {reason} AS reason, {order} AS ord
                 FROM bad WHERE {bad}",
                col = quote_literal(c.column),
                value = show(&format!("\"{}\"", c.column)),
                reason = quote_literal(&c.reason),
                order = spec
                    .columns
                    .iter()
                    .position(|x| x.name == c.column)
                    .unwrap_or(0),
                bad = c.bad,
            )
        })
        .collect();
    format!(
        "WITH bad AS MATERIALIZED (SELECT * FROM {stage} WHERE {any} ORDER BY ln LIMIT {MAX_REPORTED})
         SELECT ln, col, reason FROM ({union}) x ORDER BY ln, ord",
        stage = spec.stage(),
        any = any_bad.join(" OR "),
        union = per_check.join(" UNION ALL "),
    )
}

/// Rows of `child` whose `column` names no row of `parent`.
async fn link_problems(
    client: &Client,
    child: &'static FileSpec,
    column: &str,
    parent: &FileSpec,
) -> Result<Vec<Problem>> {
    let sql = format!(
        "SELECT c.ln, {col_lit}::text, 'names ' || c.\"{column}\" || ' but {pfile} has no row with that id' \
           || CASE WHEN NOT EXISTS (SELECT 1 FROM {pstage}) THEN ' ({pfile} is missing or empty; \
              links resolve only within the imported files)' ELSE '' END
         FROM {cstage} c
         WHERE c.\"{column}\" IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM {pstage} p WHERE p.id = c.\"{column}\")
         ORDER BY c.ln LIMIT {MAX_REPORTED}",
        col_lit = quote_literal(column),
        pfile = parent.file,
        pstage = parent.typed(),
        cstage = child.typed(),
    );
    problems_of(client, child.file, &sql).await
}

/// Categories that cannot reach a root through their parents: a cycle.
async fn cycle_problems(client: &Client) -> Result<Vec<Problem>> {
    let sql = format!(
        "WITH RECURSIVE reach(id) AS (
             SELECT id FROM stockroom_import_typed_categories WHERE parent_id IS NULL
             UNION
             SELECT c.id FROM stockroom_import_typed_categories c JOIN reach r ON c.parent_id = r.id
         )
         SELECT c.ln, 'parent_id'::text, 'is part of a cycle of parents (no root above this category)'
         FROM stockroom_import_typed_categories c
         WHERE c.id NOT IN (SELECT id FROM reach)
         ORDER BY c.ln LIMIT {MAX_REPORTED}"
    );
    problems_of(client, spec::CATEGORIES.file, &sql).await
}

/// Ledger rows whose quantity_after is not the running sum of their pair.
async fn running_sum_problems(client: &Client) -> Result<Vec<Problem>> {
    // One sort serves both ledger checks: the rows whose quantity_after is off, and the last
    // row of every pair (its running sum is the pair's total, compared with stocks.csv next).
    client
        .batch_execute(
            "CREATE TEMP TABLE stockroom_import_ledger_ends ON COMMIT DROP AS
             SELECT ln, product_id, store_id, quantity_after AS qa, run, last FROM (
                 SELECT ln, product_id, store_id, quantity_after,
                        sum(quantity::bigint) OVER w AS run,
                        lead(ln) OVER w IS NULL AS last
                 FROM stockroom_import_typed_inventory_transactions
                 WINDOW w AS (PARTITION BY product_id, store_id ORDER BY created_at, id
                              ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
             ) w
             WHERE last OR run <> quantity_after",
        )
        .await?;
    let sql = format!(
        "SELECT ln, 'quantity_after'::text,
                'is ' || qa || ' but the running sum of this product and store in (created_at, id) order is ' || run
         FROM stockroom_import_ledger_ends
         WHERE qa <> run
         ORDER BY ln LIMIT {MAX_REPORTED}"
    );
    problems_of(client, spec::LEDGER.file, &sql).await
}

/// Stock rows that differ from the sum of their ledger rows, and ledger pairs without stock.
async fn total_problems(client: &Client) -> Result<Vec<Problem>> {
    let rows = client
        .query(
            &format!(
                "SELECT s.ln, g.ln, s.quantity, g.total
                 FROM (SELECT product_id AS p, store_id AS s, run::bigint AS total, ln
                       FROM stockroom_import_ledger_ends WHERE last) g
                 FULL JOIN (SELECT ln, product_id AS p, store_id AS s,
                                   quantity::bigint AS quantity FROM stockroom_import_typed_stocks) s
                   ON g.p = s.p AND g.s = s.s
                 WHERE g.total IS DISTINCT FROM s.quantity
                   AND NOT (g.total IS NULL AND s.quantity = 0)
                 ORDER BY s.ln NULLS LAST, g.ln LIMIT {MAX_REPORTED}"
            ),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let stock_line: Option<i64> = row.get(0);
            let ledger_line: Option<i64> = row.get(1);
            let quantity: Option<i64> = row.get(2);
            let total: Option<i64> = row.get(3);
            let line = |l: Option<i64>| l.and_then(|l| u64::try_from(l).ok()).unwrap_or(0);
            match (stock_line, total) {
                (Some(l), Some(total)) => Problem::column(
                    spec::STOCKS.file,
                    line(Some(l)),
                    "quantity",
                    format!(
                        "is {} but the ledger rows of this product and store sum to {total}",
                        quantity.unwrap_or(0)
                    ),
                ),
                (Some(l), None) => Problem::column(
                    spec::STOCKS.file,
                    line(Some(l)),
                    "quantity",
                    format!(
                        "is {} but {} has no rows for this product and store",
                        quantity.unwrap_or(0),
                        spec::LEDGER.file
                    ),
                ),
                (None, _) => Problem::column(
                    spec::LEDGER.file,
                    line(ledger_line),
                    "product_id",
                    format!(
                        "this product and store have no row in {}",
                        spec::STOCKS.file
                    ),
                ),
            }
        })
        .collect())
}

/// The offset that places the file's ids above the table's largest id.
async fn offset(client: &Client, spec: &'static FileSpec) -> Result<i64> {
    let row = client
        .query_one(
            &format!(
                "SELECT (SELECT coalesce(max(id), 0)::bigint FROM {t}),
                        min(id), max(id) FROM {s}",
                t = spec.name,
                s = spec.typed()
            ),
            &[],
        )
        .await?;
    let base: i64 = row.get(0);
    let (Some(min), Some(max)): (Option<i64>, Option<i64>) = (row.get(1), row.get(2)) else {
        return Ok(0);
    };
    let limit = spec.id_max();
    let span = i128::from(max) - i128::from(min) + 1;
    if i128::from(base) + span > i128::from(limit) {
        return Err(ImportError::Refused(vec![Problem::column(
            spec.file,
            1,
            "id",
            format!(
                "the ids run from {min} to {max}: after the database's largest id {base} that \
                 range does not fit the table's ids (renumber the file more densely)"
            ),
        )]));
    }
    // Ids from 1 keep their value above the base (so an import into an empty database keeps
    // the files' ids, as the quick pass does); others are shifted to start right after it.
    if min >= 1 && i128::from(base) + i128::from(max) <= i128::from(limit) {
        Ok(base)
    } else {
        Ok(base - min + 1)
    }
}

/// `INSERT … SELECT` of one staging table into its target; a unique violation (a duplicate
/// in the file or a clash with existing rows) is turned into precise problems.
async fn insert(client: &Client, spec: &'static FileSpec, offsets: &Offsets) -> Result<()> {
    let key =
        |file: &FileSpec, col: &str| -> String { format!("(\"{col}\" + ({}))", offsets.of(file)) };
    let sql = match spec.name {
        "categories" => format!(
            "INSERT INTO categories (id, parent_id, name)
             SELECT {id}::int, {parent}::int, name FROM stockroom_import_typed_categories",
            id = key(&spec::CATEGORIES, "id"),
            parent = key(&spec::CATEGORIES, "parent_id"),
        ),
        "stores" => format!(
            "INSERT INTO stores (id, code, name) SELECT {id}::int, code, name FROM stockroom_import_typed_stores",
            id = key(&spec::STORES, "id"),
        ),
        "users" => format!(
            "INSERT INTO users (id, username, display_name, role)
             SELECT {id}::int, username, coalesce(display_name, ''), 'VIEWER' FROM stockroom_import_typed_users",
            id = key(&spec::USERS, "id"),
        ),
        "products" => format!(
            "INSERT INTO products (id, sku, name, description, price, category_id, created_at, updated_at)
             SELECT {id}::int, sku, name, coalesce(description, ''), price::numeric(14, 2),
                    {cat}::int, now(), now()
             FROM stockroom_import_typed_products",
            id = key(&spec::PRODUCTS, "id"),
            cat = key(&spec::CATEGORIES, "category_id"),
        ),
        "stocks" => format!(
            "INSERT INTO stocks (product_id, store_id, quantity, reorder_point, updated_at)
             SELECT {p}::int, {s}::int, quantity, coalesce(reorder_point, 0), now()
             FROM stockroom_import_typed_stocks",
            p = key(&spec::PRODUCTS, "product_id"),
            s = key(&spec::STORES, "store_id"),
        ),
        _ => format!(
            "INSERT INTO inventory_transactions
                 (id, type, product_id, store_id, user_id, quantity, quantity_after, note, reference, created_at)
             SELECT {id}, type, {p}::int, {s}::int, {u}::int, quantity, quantity_after,
                    note, reference, created_at
             FROM stockroom_import_typed_inventory_transactions",
            id = key(&spec::LEDGER, "id"),
            p = key(&spec::PRODUCTS, "product_id"),
            s = key(&spec::STORES, "store_id"),
            u = key(&spec::USERS, "user_id"),
        ),
    };
    client.batch_execute("SAVEPOINT import_insert").await?;
    match client.batch_execute(&sql).await {
        Ok(()) => {
            client
                .batch_execute("RELEASE SAVEPOINT import_insert")
                .await?;
            Ok(())
        }
        Err(err) if err.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            client
                .batch_execute("ROLLBACK TO SAVEPOINT import_insert")
                .await?;
            let problems = duplicate_problems(client, spec).await?;
            if problems.is_empty() {
                Err(err.into())
            } else {
                Err(ImportError::Refused(problems))
            }
        }
        Err(err) => Err(err.into()),
    }
}

/// Why an insert met a unique violation: repeated keys in the file, or clashes with the
/// database's rows (an import never overwrites).
async fn duplicate_problems(client: &Client, spec: &'static FileSpec) -> Result<Vec<Problem>> {
    let stage = spec.typed();
    let mut problems = Vec::new();
    let (key_sql, key_column, what) = if spec.name == spec::STOCKS.name {
        (
            "product_id, store_id",
            "product_id",
            "product_id and store_id",
        )
    } else {
        ("id", "id", "id")
    };
    problems.extend(
        problems_of(
            client,
            spec.file,
            &format!(
                "SELECT ln, '{key_column}'::text, 'repeats the {what} of line ' || first
                 FROM (SELECT ln, min(ln) OVER (PARTITION BY {key_sql}) AS first FROM {stage}) d
                 WHERE ln <> first ORDER BY ln LIMIT {MAX_REPORTED}"
            ),
        )
        .await?,
    );
    let unique_text = spec
        .columns
        .iter()
        .find(|c| matches!(c.name, "sku" | "code" | "username"))
        .filter(|c| c.kind == Kind::Text);
    if let Some(column) = unique_text {
        let c = column.name;
        let table = spec.name;
        problems.extend(
            problems_of(
                client,
                spec.file,
                &format!(
                    "SELECT ln, '{c}'::text, 'repeats the {c} \"' || {c} || '\" of line ' || first
                     FROM (SELECT ln, {c}, min(ln) OVER (PARTITION BY {c}) AS first FROM {stage}) d
                     WHERE ln <> first ORDER BY ln LIMIT {MAX_REPORTED}"
                ),
            )
            .await?,
        );
        problems.extend(
            problems_of(
                client,
                spec.file,
                &format!(
                    "SELECT s.ln, '{c}'::text, '\"' || s.{c} || '\" already exists in the database \
                       (an import adds new rows only, it never overwrites)'
                     FROM {stage} s JOIN {table} t ON t.{c} = s.{c}
                     ORDER BY s.ln LIMIT {MAX_REPORTED}"
                ),
            )
            .await?,
        );
    }
    problems.sort_by_key(|p| p.line);
    Ok(problems)
}
