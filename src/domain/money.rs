//! Prices: exact, non-negative, at most two decimals and within the column's range.

use bigdecimal::BigDecimal;

use crate::error::{AppError, AppResult};

/// Most decimals a price may carry.
pub const PRICE_SCALE: i64 = 2;
/// Digits before the decimal point the database column holds (numeric(14, 2)).
pub const PRICE_INTEGER_DIGITS: u32 = 12;

/// A unit price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price(BigDecimal);

impl Price {
    /// Validates a price; `field` names the argument in errors.
    pub fn parse(value: BigDecimal, field: &str) -> AppResult<Self> {
        if value.sign() == bigdecimal::num_bigint::Sign::Minus {
            return Err(AppError::bad_input(
                field,
                format!("`{field}` must not be negative"),
            ));
        }
        if value.fractional_digit_count() > PRICE_SCALE {
            return Err(AppError::bad_input(
                field,
                format!("`{field}` has more than {PRICE_SCALE} decimals"),
            ));
        }
        let scaled = value.with_scale(PRICE_SCALE);
        if scaled.digits() > u64::from(PRICE_INTEGER_DIGITS) + PRICE_SCALE.unsigned_abs() {
            return Err(AppError::bad_input(
                field,
                format!("`{field}` is too large"),
            ));
        }
        Ok(Self(scaled))
    }

    /// The price with two decimals.
    pub fn get(&self) -> &BigDecimal {
        &self.0
    }
}

impl serde::Serialize for Price {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_overprecise_and_huge_prices_are_refused() {
        let p = |s: &str| Price::parse(s.parse().unwrap_or_default(), "price");
        assert!(p("-0.01").is_err());
        assert!(p("1.005").is_err());
        assert!(p("1000000000000").is_err());
        assert!(p("1E12").is_err());
        assert!(p("999999999999.99").is_ok());
        assert_eq!(
            p("12.5").map(|x| x.get().to_string()).ok(),
            Some("12.50".into())
        );
    }
}
