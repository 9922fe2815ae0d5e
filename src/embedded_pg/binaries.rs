//! Finding the PostgreSQL server binaries, and which major version they are.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use super::error::EmbeddedPgError;

/// Where Debian and Ubuntu install each major version's binaries.
const VERSIONED_ROOT: &str = "/usr/lib/postgresql";

fn usable(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

/// The directory of the PostgreSQL server binaries: `STOCKROOM_PG_BINDIR`, else the one of
/// major version `prefer` when given and installed, else `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin`.
pub fn find_bindir(prefer: Option<&str>) -> Result<PathBuf, EmbeddedPgError> {
    if let Some(dir) = std::env::var_os("STOCKROOM_PG_BINDIR").map(PathBuf::from) {
        return if usable(&dir) {
            Ok(dir)
        } else {
            Err(EmbeddedPgError::BinariesMissing {
                searched: format!("STOCKROOM_PG_BINDIR={}", dir.display()),
            })
        };
    }
    if let Some(version) = prefer {
        let dir = Path::new(VERSIONED_ROOT).join(version).join("bin");
        if usable(&dir) {
            return Ok(dir);
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && usable(&dir) {
            return Ok(dir);
        }
    }
    let mut candidates: Vec<(u32, PathBuf)> = fs::read_dir(VERSIONED_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            usable(&bin).then_some((version, bin))
        })
        .collect();
    candidates.sort();
    candidates
        .pop()
        .map(|(_, dir)| dir)
        .ok_or_else(|| EmbeddedPgError::BinariesMissing {
            searched: format!("the PATH (pg_config) and {VERSIONED_ROOT}/*/bin"),
        })
}

/// The major version of the binaries in `bindir` (`15` for "postgres (PostgreSQL) 15.14").
pub fn major_version(bindir: &Path) -> Option<String> {
    let out = Command::new(bindir.join("postgres"))
        .arg("--version")
        .output()
        .ok()?;
    major_of(&String::from_utf8_lossy(&out.stdout))
}

/// The major version in a `--version` line: the first number since PostgreSQL 10, the first
/// two before.
fn major_of(line: &str) -> Option<String> {
    let version = line
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let first = parts.next()?;
    if first.parse::<u32>().ok()? >= 10 {
        Some(first.to_string())
    } else {
        Some(format!("{first}.{}", parts.next()?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::major_of;

    #[test]
    fn the_major_version_is_read_from_the_version_line() {
        assert_eq!(
            major_of("postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)").as_deref(),
            Some("15")
        );
        assert_eq!(
            major_of("postgres (PostgreSQL) 17beta1").as_deref(),
            Some("17")
        );
        assert_eq!(
            major_of("postgres (PostgreSQL) 9.6.24").as_deref(),
            Some("9.6")
        );
        assert_eq!(major_of("nothing here"), None);
    }
}
