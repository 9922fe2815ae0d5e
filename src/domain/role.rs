//! Roles, each including the ones below it: VIEWER < STAFF < MANAGER < ADMIN.

use std::{fmt, str::FromStr};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Read everything.
    Viewer,
    /// Record stock movements (in its stores when it has any).
    Staff,
    /// Edit the catalogue.
    Manager,
    /// Everything, users and tokens included.
    Admin,
}

impl Role {
    /// The name stored in the database and shown on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "VIEWER",
            Self::Staff => "STAFF",
            Self::Manager => "MANAGER",
            Self::Admin => "ADMIN",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "VIEWER" => Ok(Self::Viewer),
            "STAFF" => Ok(Self::Staff),
            "MANAGER" => Ok(Self::Manager),
            "ADMIN" => Ok(Self::Admin),
            other => Err(format!(
                "unknown role `{other}` (expected ADMIN, MANAGER, STAFF or VIEWER)"
            )),
        }
    }
}
