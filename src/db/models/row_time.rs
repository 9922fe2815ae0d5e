//! A row's timestamp as read: converted to a `DateTime` only when shown.

use chrono::{DateTime, Utc};
use diesel::{
    deserialize::{FromSql, FromSqlRow},
    pg::{Pg, PgValue},
    sql_types::{BigInt, Timestamptz},
};

/// A `timestamptz` as PostgreSQL sends it: microseconds since 2000-01-01 UTC. [`RowTime::at`]
/// makes it a `DateTime` when it is shown; a page of rows is seldom asked for it, and
/// converting each stock row's on reading was 2 % of a product page's CPU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromSqlRow)]
pub struct RowTime(i64);

/// 2000-01-01 UTC (PostgreSQL's epoch) in microseconds since 1970-01-01 UTC.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl RowTime {
    /// The moment. PostgreSQL's `±infinity` and years beyond chrono's range (which the
    /// service never writes: it stores `now()` or what chrono parsed) show as 1970-01-01.
    pub fn at(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0.saturating_add(PG_EPOCH_MICROS)).unwrap_or_default()
    }
}

impl FromSql<Timestamptz, Pg> for RowTime {
    fn from_sql(bytes: PgValue<'_>) -> diesel::deserialize::Result<Self> {
        <i64 as FromSql<BigInt, Pg>>::from_sql(bytes).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_time_counts_microseconds_from_the_first_moment_of_2000() {
        assert_eq!(RowTime(0).at().to_rfc3339(), "2000-01-01T00:00:00+00:00");
        let at = RowTime(850_000_000_000_001).at();
        assert_eq!(at.to_rfc3339(), "2026-12-07T23:06:40.000001+00:00");
    }
}
