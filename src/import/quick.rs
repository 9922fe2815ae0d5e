//! The import's quick pass: every value is checked in Rust while the file streams, rows go
//! through `COPY` straight into their tables (ids already mapped), and the checks that span
//! rows run on the tables: duplicates by their keys and unique constraints, links by the
//! foreign keys (rebuilt after a bulk load), the category tree and the ledger against the
//! stock by set-based queries that answer only "all is well" or not.
//!
//! It never accepts what the careful pass (`careful`) would refuse: whatever it cannot vouch
//! for — an odd value, a constraint that fires, a check that fails — makes it give up; the
//! transaction is rolled back and the careful pass runs, which names every problem's file,
//! line and column. Valid imports, the common case, never pay for staging tables.

use std::{fs::File, io::Read as _, path::Path};

use tokio_postgres::Client;

use super::{
    Progress,
    reader::{Encoder, escape_into},
    session::{self, CopyOutcome, Offsets, Present, Result},
    spec::{self, FileSpec, INT_DIGITS, KEY_DIGITS, Kind, PRICE_DECIMALS, PRICE_WHOLE_DIGITS},
};
use crate::domain::ledger::TransactionType;

/// Whether the quick pass can answer for these files: every file it links to is imported too
/// (links resolve within the files), and a ledger comes with its stock rows.
pub(super) fn applies(present: &Present) -> bool {
    let has = |s: &FileSpec| session::has(present, s);
    present.iter().all(|(spec, _, _)| {
        spec.columns
            .iter()
            .filter(|c| matches!(c.kind, Kind::Key | Kind::OptKey))
            .all(|c| has(key_target(spec, c.name)))
    }) && (!has(&spec::LEDGER) || has(&spec::STOCKS))
}

/// The table a key column names: its own (`id`) or the one it links to.
fn key_target(spec: &'static FileSpec, column: &str) -> &'static FileSpec {
    match column {
        "parent_id" | "category_id" => &spec::CATEGORIES,
        "product_id" => &spec::PRODUCTS,
        "store_id" => &spec::STORES,
        "user_id" => &spec::USERS,
        _ => spec,
    }
}

/// Runs the import the quick way; `Ok(None)` means "give up, take the careful pass" (the
/// transaction is then still open and must be rolled back).
pub(super) async fn attempt(
    client: &Client,
    present: &Present,
    progress: &Progress,
) -> Result<Option<Vec<(&'static str, u64)>>> {
    session::begin(client).await?;
    // A file's id `n` becomes `n + base`, base being the table's largest id before the import.
    let mut bases = Offsets::default();
    for (spec, _, _) in present {
        if spec.has_ids() {
            let base: i64 = session::scalar(
                client,
                &format!("SELECT coalesce(max(id), 0)::bigint FROM {}", spec.name),
                &[],
            )
            .await?;
            bases.set(spec, base);
        }
    }

    // 1. Big loads go without secondary indexes and foreign keys; an empty table that gets
    //    one is truncated first, so COPY can write its rows frozen (and, with wal_level
    //    minimal as in the embedded cluster, without WAL).
    let mut bulk = Vec::new();
    for (spec, path, _) in present {
        if session::is_bulk(client, spec, estimated_rows(path)).await? {
            bulk.push(spec.name);
        }
    }
    let fresh = truncate_empty(client, &bulk).await?;

    // 2. Stream every file into its table, each value checked on the way.
    let mut counts = Vec::new();
    let mut rebuilds = Vec::new();
    for (spec, path, header) in present {
        if bulk.contains(&spec.name) {
            progress.phase(&format!("dropping the secondary indexes of {}", spec.name));
            rebuilds.push(session::drop_indexes(client, spec).await?);
        }
        progress.phase(&format!("loading {}", spec.file));
        let sql = format!(
            "COPY {} ({}) FROM STDIN{}",
            spec.name,
            spec.column_list(),
            if fresh.contains(&spec.name) {
                " WITH (FREEZE)"
            } else {
                ""
            }
        );
        let copied = session::copy_file(
            client,
            spec,
            path,
            header,
            progress,
            &sql,
            encoder(spec, &bases),
        )
        .await;
        match copied {
            Ok(CopyOutcome::Rows(rows)) => counts.push((spec.file, rows)),
            Ok(CopyOutcome::Declined) => return Ok(None),
            Err(err) if err.is_data_error() => return Ok(None),
            Err(err) => return Err(err),
        }
    }
    progress.spin();
    let has = |s: &FileSpec| session::has(present, s);

    // 3. What spans rows: the category tree, the ledger's running sums and totals.
    if has(&spec::CATEGORIES) {
        progress.phase("checking the category tree");
        if !categories_form_a_tree(client, bases.of(&spec::CATEGORIES)).await? {
            return Ok(None);
        }
    }
    if has(&spec::LEDGER) {
        progress.phase("checking the ledger against the stock");
        let ledger_base = bases.of(&spec::LEDGER);
        let product_base = bases.of(&spec::PRODUCTS);
        if !ledger_sums_up(client, ledger_base, product_base).await? {
            return Ok(None);
        }
    }

    // 4. Indexes and foreign keys back (the keys check every link).
    match session::rebuild(client, &rebuilds, progress).await {
        Ok(()) => {}
        Err(err) if err.is_data_error() => return Ok(None),
        Err(err) => return Err(err),
    }
    session::finish(client, present, progress).await?;
    Ok(Some(counts))
}

/// Truncates the tables among `bulk` (products, stocks, ledger) that are empty, with the
/// tables that reference them (empty too, by their foreign keys); returns their names.
async fn truncate_empty(client: &Client, bulk: &[&'static str]) -> Result<Vec<&'static str>> {
    let mut fresh = Vec::new();
    for spec in [&spec::PRODUCTS, &spec::STOCKS, &spec::LEDGER] {
        if !bulk.contains(&spec.name) {
            continue;
        }
        let empty: bool = session::scalar(
            client,
            &format!("SELECT NOT EXISTS (SELECT 1 FROM {})", spec.name),
            &[],
        )
        .await?;
        if empty {
            fresh.push(spec.name);
        }
    }
    if fresh.contains(&spec::PRODUCTS.name) {
        for referencing in [spec::STOCKS.name, spec::LEDGER.name] {
            if !fresh.contains(&referencing) {
                fresh.push(referencing);
            }
        }
    }
    if !fresh.is_empty() {
        client
            .batch_execute(&format!("TRUNCATE {}", fresh.join(", ")))
            .await?;
    }
    Ok(fresh)
}

/// Rows of a file, estimated from its size and its first MiB (to decide on a bulk load
/// before reading it).
fn estimated_rows(path: &Path) -> u64 {
    let Ok(mut file) = File::open(path) else {
        return 0;
    };
    let size = file.metadata().map_or(0, |m| m.len());
    let mut head = vec![0; 1 << 20];
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    let lines = head[..read].iter().filter(|&&b| b == b'\n').count() as u64;
    if read == 0 || lines == 0 {
        return 0;
    }
    size * lines / read as u64
}

/// Every imported category reaches a root through its parents.
async fn categories_form_a_tree(client: &Client, base: i64) -> Result<bool> {
    let stray: i64 = session::scalar(
        client,
        "WITH RECURSIVE reach(id) AS (
             SELECT id FROM categories WHERE parent_id IS NULL
             UNION
             SELECT c.id FROM categories c JOIN reach r ON c.parent_id = r.id
         )
         SELECT count(*) FROM categories
         WHERE id > $1 AND id NOT IN (SELECT id FROM reach)",
        &[&i32::try_from(base).unwrap_or(i32::MAX)],
    )
    .await?;
    Ok(stray == 0)
}

/// Every imported ledger row's quantity_after is the running sum of its pair in
/// (created_at, id) order, and every imported stock row equals its pair's sum (0 without
/// ledger rows): one sort of the ledger, merged with the stock rows.
async fn ledger_sums_up(client: &Client, ledger_base: i64, product_base: i64) -> Result<bool> {
    let product_base = i32::try_from(product_base).unwrap_or(i32::MAX);
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE w.run <> w.quantity_after),
                    count(*) FILTER (WHERE w.last AND s.quantity IS DISTINCT FROM w.run),
                    count(*) FILTER (WHERE w.last AND w.run <> 0)
             FROM (SELECT * FROM (
                       SELECT product_id, store_id, quantity_after,
                              sum(quantity::bigint) OVER w AS run,
                              lead(id) OVER w IS NULL AS last
                       FROM inventory_transactions WHERE id > $1
                       WINDOW w AS (PARTITION BY product_id, store_id ORDER BY created_at, id
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) x
                   WHERE last OR run <> quantity_after) w
             LEFT JOIN stocks s
               ON w.last AND s.product_id = w.product_id AND s.store_id = w.store_id",
            &[&ledger_base],
        )
        .await?;
    let (bad_runs, bad_totals, pairs): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    if bad_runs > 0 || bad_totals > 0 {
        return Ok(false);
    }
    let held: i64 = session::scalar(
        client,
        "SELECT count(*) FROM stocks WHERE product_id > $1 AND quantity <> 0",
        &[&product_base],
    )
    .await?;
    Ok(held == pairs)
}

/// How one column of a file becomes one column of its table.
#[derive(Debug, Clone, Copy)]
struct Plan {
    kind: Kind,
    /// For keys: added to the file's id.
    base: i64,
    /// For keys: the largest id the table takes.
    limit: i64,
    /// For optional text: the table wants '' rather than NULL.
    empty_text: bool,
}

/// The encoder of `spec`'s rows for `COPY` into its table, or `None` for a row it cannot
/// vouch for.
fn encoder(spec: &'static FileSpec, bases: &Offsets) -> Box<Encoder> {
    let plans: Vec<Plan> = spec
        .columns
        .iter()
        .map(|c| {
            let target = key_target(spec, c.name);
            Plan {
                kind: c.kind,
                base: bases.of(target),
                limit: target.id_max(),
                empty_text: matches!(c.name, "description" | "display_name"),
            }
        })
        .collect();
    let row_rule = match spec.name {
        "categories" => RowRule::NotOwnParent,
        "inventory_transactions" => RowRule::SignMatchesType,
        _ => RowRule::None,
    };
    Box::new(move |_line, fields, buf| {
        let start = buf.len();
        let ok = encode_row(&plans, row_rule, fields, buf).is_some();
        if !ok {
            buf.truncate(start);
        }
        ok
    })
}

/// A check across the fields of one row.
#[derive(Debug, Clone, Copy)]
enum RowRule {
    None,
    /// categories: `parent_id` (column 1) is not `id` (column 0).
    NotOwnParent,
    /// ledger: the sign of `quantity` (column 5) fits `type` (column 4).
    SignMatchesType,
}

fn encode_row(
    plans: &[Plan],
    rule: RowRule,
    fields: &[Option<&[u8]>],
    buf: &mut Vec<u8>,
) -> Option<()> {
    match rule {
        RowRule::None => {}
        RowRule::NotOwnParent => {
            if let (Some(id), Some(parent)) = (fields[0], fields[1])
                && parse_int(id, KEY_DIGITS)? == parse_int(parent, KEY_DIGITS)?
            {
                return None;
            }
        }
        RowRule::SignMatchesType => {
            let quantity = parse_int(fields[5]?, INT_DIGITS)?;
            if !tx_type(fields[4]?)?.sign().admits(quantity) {
                return None;
            }
        }
    }
    let mut number = itoa::Buffer::new();
    for (i, (plan, field)) in plans.iter().zip(fields).enumerate() {
        if i > 0 {
            buf.push(b'\t');
        }
        match (plan.kind, field) {
            (Kind::OptKey, None) => buf.extend_from_slice(b"\\N"),
            (Kind::Key | Kind::OptKey, Some(field)) => {
                let local = parse_int(field, KEY_DIGITS)?;
                if local < 1 {
                    return None;
                }
                let id = local
                    .checked_add(plan.base)
                    .filter(|id| *id <= plan.limit)?;
                buf.extend_from_slice(number.format(id).as_bytes());
            }
            (Kind::OptInt { .. }, None) => buf.push(b'0'),
            (Kind::Int { nonneg } | Kind::OptInt { nonneg }, Some(field)) => {
                let value = i32::try_from(parse_int(field, INT_DIGITS)?).ok()?;
                if nonneg && value < 0 {
                    return None;
                }
                buf.extend_from_slice(number.format(value).as_bytes());
            }
            (Kind::Price, Some(field)) if is_price(field) => buf.extend_from_slice(field),
            (Kind::Timestamp, Some(field)) if is_timestamp(field) => buf.extend_from_slice(field),
            (Kind::TxType, Some(field)) if tx_type(field).is_some() => buf.extend_from_slice(field),
            (Kind::Text | Kind::OptText, Some(field)) => escape_into(buf, field),
            (Kind::OptText, None) => {
                if !plan.empty_text {
                    buf.extend_from_slice(b"\\N");
                }
            }
            _ => return None,
        }
    }
    buf.push(b'\n');
    Some(())
}

/// PostgreSQL's `\s`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `^\s*[+-]?[0-9]{1,max_digits}\s*$` (max_digits ≤ 18, so it fits an i64).
fn parse_int(field: &[u8], max_digits: usize) -> Option<i64> {
    let start = field.iter().position(|b| !is_space(*b))?;
    let end = field.iter().rposition(|b| !is_space(*b))? + 1;
    let text = &field[start..end];
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > max_digits || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0i64, |v, d| v * 10 + i64::from(d - b'0'));
    Some(if negative { -value } else { value })
}

/// `^[0-9]{1,PRICE_WHOLE_DIGITS}(\.[0-9]{1,PRICE_DECIMALS})?$`.
fn is_price(field: &[u8]) -> bool {
    let (whole, cents) = match field.iter().position(|b| *b == b'.') {
        Some(dot) => (&field[..dot], Some(&field[dot + 1..])),
        None => (field, None),
    };
    let digits =
        |s: &[u8], max: usize| !s.is_empty() && s.len() <= max && s.iter().all(u8::is_ascii_digit);
    digits(whole, PRICE_WHOLE_DIGITS) && cents.is_none_or(|c| digits(c, PRICE_DECIMALS))
}

/// The ledger type `field` names exactly, if any.
fn tx_type(field: &[u8]) -> Option<TransactionType> {
    TransactionType::parse(std::str::from_utf8(field).ok()?)
}

/// `YYYY-MM-DD[Tt ]hh:mm:ss[.f{1,9}]` then `Z`, or an offset `±hh`, `±hhmm`, `±hh:mm`
/// (hours up to 15), with a day that exists in its month.
fn is_timestamp(field: &[u8]) -> bool {
    fn num(s: &[u8]) -> Option<u32> {
        s.iter().try_fold(0u32, |v, d| {
            d.is_ascii_digit().then(|| v * 10 + u32::from(d - b'0'))
        })
    }
    let date_time = || -> Option<()> {
        if field.len() < 20 {
            return None;
        }
        let (year, month, day) = (num(&field[0..4])?, num(&field[5..7])?, num(&field[8..10])?);
        let (hour, minute, second) = (
            num(&field[11..13])?,
            num(&field[14..16])?,
            num(&field[17..19])?,
        );
        let separators = field[4] == b'-'
            && field[7] == b'-'
            && matches!(field[10], b'T' | b't' | b' ')
            && field[13] == b':'
            && field[16] == b':';
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (separators && (1..=days).contains(&day) && hour <= 23 && minute <= 59 && second <= 59)
            .then_some(())?;
        let mut rest = &field[19..];
        if rest.first() == Some(&b'.') {
            let digits = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if !(1..=9).contains(&digits) {
                return None;
            }
            rest = &rest[1 + digits..];
        }
        match rest {
            [b'Z' | b'z'] => Some(()),
            [b'+' | b'-', offset @ ..] => {
                let (hours, minutes) = match offset {
                    [h1, h2] => ([*h1, *h2], None),
                    [h1, h2, m1, m2] | [h1, h2, b':', m1, m2] => ([*h1, *h2], Some([*m1, *m2])),
                    _ => return None,
                };
                (num(&hours)? <= 15 && minutes.map_or(Some(0), |m| num(&m))? <= 59).then_some(())
            }
            _ => None,
        }
    };
    date_time().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_read_as_the_careful_path_reads_them() {
        assert_eq!(parse_int(b"12", INT_DIGITS), Some(12));
        assert_eq!(parse_int(b" +7 ", INT_DIGITS), Some(7));
        assert_eq!(parse_int(b"-0", INT_DIGITS), Some(0));
        assert_eq!(parse_int(b"12345678901", INT_DIGITS), None);
        for bad in [
            &b""[..],
            b" ",
            b"1.5",
            b"1e3",
            b"--1",
            b"+",
            b"12a",
            b"0x10",
        ] {
            assert_eq!(parse_int(bad, KEY_DIGITS), None, "{bad:?}");
        }
    }

    #[test]
    fn prices_have_at_most_two_decimals_and_no_sign() {
        for good in [&b"0"[..], b"12.5", b"12.50", b"999999999999.99"] {
            assert!(is_price(good), "{good:?}");
        }
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b"1.",
            b".5",
            b"1.234",
            b"1,50",
            b"1e2",
            b"1 ",
        ] {
            assert!(!is_price(bad), "{bad:?}");
        }
    }

    #[test]
    fn date_times_need_a_real_date_and_an_offset() {
        for good in [
            &b"2024-01-01T00:34:45Z"[..],
            b"2024-01-01 00:00:12+00",
            b"2024-02-29 10:00:00.123456-08:00",
            b"2024-12-31t23:59:59.5+0530",
            b"2024-06-30 00:00:00z",
        ] {
            assert!(is_timestamp(good), "{}", String::from_utf8_lossy(good));
        }
        for bad in [
            &b"2024-01-01 00:00:00"[..],
            b"2023-02-29 00:00:00+00",
            b"2024-04-31 00:00:00+00",
            b"2024-13-01 00:00:00+00",
            b"2024-01-01 24:00:00+00",
            b"2024-01-01 00:00+00",
            b"2024-01-01 00:00:00.+00",
            b"2024-01-01 00:00:00+16",
            b"2024-01-01 00:00:00+1",
            b"2024-01-01 00:00:00 +00",
            b"24-01-01 00:00:00+00",
        ] {
            assert!(!is_timestamp(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn ledger_rows_with_the_wrong_sign_are_declined() {
        let plans: Vec<Plan> = spec::LEDGER
            .columns
            .iter()
            .map(|c| Plan {
                kind: c.kind,
                base: 0,
                limit: i64::MAX,
                empty_text: false,
            })
            .collect();
        let row = |kind: &'static [u8], quantity: &'static [u8]| {
            let fields: Vec<Option<&[u8]>> = vec![
                Some(b"1"),
                Some(b"2"),
                Some(b"3"),
                None,
                Some(kind),
                Some(quantity),
                Some(b"5"),
                None,
                None,
                Some(b"2024-01-01 00:00:00+00"),
            ];
            let mut buf = Vec::new();
            encode_row(&plans, RowRule::SignMatchesType, &fields, &mut buf).map(|()| buf)
        };
        assert_eq!(
            row(b"INBOUND", b"5").as_deref(),
            Some(&b"1\t2\t3\t\\N\tINBOUND\t5\t5\t\\N\t\\N\t2024-01-01 00:00:00+00\n"[..])
        );
        assert!(row(b"OUTBOUND", b"5").is_none());
        assert!(row(b"ADJUSTMENT", b"0").is_none());
        assert!(row(b"inbound", b"5").is_none());
    }
}
