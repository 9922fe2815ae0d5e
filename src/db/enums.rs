//! The domain's enums as stored: `users.role` and `inventory_transactions.type` are text
//! columns with a CHECK on their names; rows read them into [`Role`] and [`TransactionType`]
//! directly, and a name outside the enum is an error, never a default.

use std::io::Write as _;

use diesel::{
    deserialize::{self, FromSql, Queryable},
    pg::{Pg, PgValue},
    serialize::{self, IsNull, Output, ToSql},
    sql_types::Text,
};

use crate::domain::{ledger::TransactionType, role::Role};

/// Reads and writes an enum as its stored name (`as_str` and `parse`).
macro_rules! stored_as_text {
    ($ty:ty, $what:literal, $parse:expr) => {
        impl FromSql<Text, Pg> for $ty {
            fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                let name = std::str::from_utf8(value.as_bytes())?;
                let parse: fn(&str) -> Option<$ty> = $parse;
                parse(name)
                    .ok_or_else(|| format!("unknown {} `{name}` in the database", $what).into())
            }
        }

        impl ToSql<Text, Pg> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                out.write_all(self.as_str().as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl Queryable<Text, Pg> for $ty {
            type Row = Self;

            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }
    };
}

stored_as_text!(Role, "role", |s| s.parse().ok());
stored_as_text!(TransactionType, "ledger type", TransactionType::parse);
