//! The `Decimal` scalar: an exact decimal written as a string with two decimals (`"12.50"`).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use bigdecimal::BigDecimal;

/// Exact decimal number as a string, e.g. "12.50".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal(pub BigDecimal);

/// Most decimals an input may carry.
const MAX_SCALE: i64 = 2;
/// Longest input string (a price of the database column needs at most 16).
pub const MAX_INPUT_CHARS: usize = 32;

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        let text = match &value {
            // BigDecimal's parser is quadratic in the length: a long string is refused before.
            Value::String(s) if s.chars().count() > MAX_INPUT_CHARS => {
                return Err(InputValueError::custom(format!(
                    "a Decimal is at most {MAX_INPUT_CHARS} characters"
                )));
            }
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => return Err(InputValueError::expected_type(value)),
        };
        let valid_shape = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == '+');
        let parsed: BigDecimal =
            text.parse().ok().filter(|_| valid_shape).ok_or_else(|| {
                InputValueError::custom(format!("`{text}` is not a decimal number"))
            })?;
        if parsed.fractional_digit_count() > MAX_SCALE {
            return Err(InputValueError::custom(format!(
                "`{text}` has more than {MAX_SCALE} decimals"
            )));
        }
        Ok(Self(parsed))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.with_scale(MAX_SCALE).to_string())
    }
}
