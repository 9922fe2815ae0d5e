//! Quantities of stock: a strictly positive movement size, and a non-negative stock level.

use crate::error::{AppError, AppResult};

/// How many units one movement moves: 1..=the largest quantity a movement may carry
/// (`STOCKROOM_MAX_MOVEMENT_QUANTITY`; anything above is a typing mistake).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Quantity(i32);

impl Quantity {
    /// Parses a movement quantity of at most `max`; `field` names the argument in errors.
    pub fn parse(value: i32, max: i32, field: &str) -> AppResult<Self> {
        if value <= 0 {
            return Err(AppError::bad_input(
                field,
                format!("`{field}` must be greater than 0"),
            ));
        }
        if value > max {
            return Err(AppError::bad_input(
                field,
                format!("`{field}` must be at most {max}"),
            ));
        }
        Ok(Self(value))
    }

    /// The number of units.
    pub fn get(self) -> i32 {
        self.0
    }
}

/// A stock level or threshold: 0..=`i32::MAX` (a counted quantity, a reorder point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StockLevel(i32);

impl StockLevel {
    /// Parses a non-negative level; `field` names the argument in errors.
    pub fn parse(value: i32, field: &str) -> AppResult<Self> {
        if value < 0 {
            return Err(AppError::bad_input(
                field,
                format!("`{field}` must not be negative"),
            ));
        }
        Ok(Self(value))
    }

    /// The level.
    pub fn get(self) -> i32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_negative_and_absurd_quantities_are_refused() {
        assert!(Quantity::parse(0, 10, "q").is_err());
        assert!(Quantity::parse(-1, 10, "q").is_err());
        assert!(Quantity::parse(11, 10, "q").is_err());
        assert_eq!(Quantity::parse(5, 10, "q").map(Quantity::get).ok(), Some(5));
    }

    #[test]
    fn stock_levels_may_be_zero_but_not_negative() {
        assert!(StockLevel::parse(-1, "l").is_err());
        assert_eq!(StockLevel::parse(0, "l").map(StockLevel::get).ok(), Some(0));
    }
}
