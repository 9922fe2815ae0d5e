//! API tokens: `sr_` followed by 43 characters of base64url randomness (256 bits); only their
//! SHA-256 is stored.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The prefix that makes a stockroom token recognisable (to people and secret scanners).
pub const TOKEN_PREFIX: &str = "sr_";

/// A freshly generated token, in clear text: shown once, never stored.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The hash under which a token is stored and looked up.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
