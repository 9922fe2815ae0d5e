//! Validated text values: SKUs, store codes, names, descriptions, notes and idempotency keys.
//!
//! Each is trimmed of surrounding whitespace, then checked for emptiness (where required),
//! length (in characters) and control characters, so the database only ever sees clean text.
//! Text that is only looked up or searched for is checked for what PostgreSQL cannot hold (a
//! NUL character) and, for a search, its length.

use crate::error::{AppError, AppResult};

/// Longest SKU.
pub const MAX_SKU_CHARS: usize = 64;
/// Longest store code.
pub const MAX_CODE_CHARS: usize = 32;
/// Longest product, category or store name.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest product description.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Longest note or adjustment reason.
pub const MAX_NOTE_CHARS: usize = 1_000;
/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;
/// Longest product search text.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Refuses a NUL character, which no PostgreSQL text value can hold.
pub fn refuse_nul(value: &str, field: &str) -> AppResult<()> {
    if value.contains('\0') {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` must not contain a NUL character"),
        ));
    }
    Ok(())
}

/// Checks `value` (trimmed): non-empty when `required`, at most `max` characters, no control
/// characters except newlines and tabs when `multiline`.
fn checked(
    value: &str,
    field: &str,
    max: usize,
    required: bool,
    multiline: bool,
) -> AppResult<String> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` must not be empty"),
        ));
    }
    if value.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')))
    {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` must not contain control characters"),
        ));
    }
    Ok(value.to_string())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $max:expr, $required:expr, $multiline:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
        pub struct $name(String);

        impl $name {
            /// Parses and validates; `field` names the argument in errors.
            pub fn parse(value: &str, field: &str) -> AppResult<Self> {
                checked(value, field, $max, $required, $multiline).map(Self)
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The validated text, owned.
            pub fn into_inner(self) -> String {
                self.0
            }
        }
    };
}

text_type!(
    /// A stock-keeping unit: non-empty, at most [`MAX_SKU_CHARS`] characters.
    Sku, MAX_SKU_CHARS, true, false
);
text_type!(
    /// A store code: non-empty, at most [`MAX_CODE_CHARS`] characters.
    StoreCode, MAX_CODE_CHARS, true, false
);
text_type!(
    /// A display name: non-empty, at most [`MAX_NAME_CHARS`] characters.
    Name, MAX_NAME_CHARS, true, false
);
text_type!(
    /// A product description: possibly empty, at most [`MAX_DESCRIPTION_CHARS`] characters.
    Description, MAX_DESCRIPTION_CHARS, false, true
);
text_type!(
    /// A movement note or adjustment reason: at most [`MAX_NOTE_CHARS`] characters.
    Note, MAX_NOTE_CHARS, false, true
);
text_type!(
    /// A client's idempotency key: non-empty, at most [`MAX_IDEMPOTENCY_KEY_CHARS`] characters.
    IdempotencyKey, MAX_IDEMPOTENCY_KEY_CHARS, true, false
);

impl Note {
    /// An optional note: absent or blank becomes `None`.
    pub fn parse_opt(value: Option<&str>, field: &str) -> AppResult<Option<Self>> {
        match value {
            None => Ok(None),
            Some(v) => Self::parse(v, field).map(|n| (!n.0.is_empty()).then_some(n)),
        }
    }
}

/// A search text (a case-insensitive substring): at most [`MAX_SEARCH_CHARS`] characters, no
/// NUL; kept as written (spaces count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    /// Parses and validates; `field` names the argument in errors.
    pub fn parse(value: &str, field: &str) -> AppResult<Self> {
        if value.chars().count() > MAX_SEARCH_CHARS {
            return Err(AppError::bad_input(
                field,
                format!("`{field}` must be at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        refuse_nul(value, field)?;
        Ok(Self(value.to_string()))
    }

    /// The validated text, owned.
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_long_and_control_text_is_refused() {
        assert!(Sku::parse("  ", "sku").is_err());
        assert!(Sku::parse(&"x".repeat(MAX_SKU_CHARS + 1), "sku").is_err());
        assert!(Name::parse("a\u{0}b", "name").is_err());
        assert_eq!(
            Sku::parse(" AB-1 ", "sku").map(Sku::into_inner).ok(),
            Some("AB-1".into())
        );
        assert!(Description::parse("", "d").is_ok());
        assert!(Note::parse_opt(Some(" "), "n").ok().flatten().is_none());
    }

    #[test]
    fn searches_are_bounded_and_nul_is_refused_everywhere() {
        assert!(SearchText::parse(&"é".repeat(MAX_SEARCH_CHARS), "s").is_ok());
        assert!(SearchText::parse(&"é".repeat(MAX_SEARCH_CHARS + 1), "s").is_err());
        assert!(SearchText::parse("ab\0", "s").is_err());
        assert_eq!(
            SearchText::parse(" a ", "s")
                .map(SearchText::into_inner)
                .ok(),
            Some(" a ".into())
        );
        assert!(refuse_nul("a\0", "sku").is_err());
        assert!(refuse_nul("a\n", "sku").is_ok());
    }
}
