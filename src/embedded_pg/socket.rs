//! The directory of the server's unix socket (it listens on no TCP address).
//!
//! `run/` beside `pgdata/` when the socket path fits in a unix socket address and is plain
//! enough to pass through `pg_ctl`; else a directory of `$XDG_RUNTIME_DIR` (when it is private
//! to us and PostgreSQL runs as us); else a new directory under the temp dir, created
//! exclusively with its owner and mode checked. Such a directory elsewhere is recorded in the
//! data directory's `socket-dir` file, so commands can reach a running server, and removed by
//! the next start.

use std::{
    fs, io,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use nix::unistd::Uid;

use super::{ServerUser, error::EmbeddedPgError, place::Place, safe_fs};

/// Longest path of a unix socket (`sun_path` is 108 bytes with the closing NUL).
pub const MAX_SOCKET_PATH: usize = 107;
/// The file in a data directory naming a socket directory kept elsewhere.
pub const SOCKET_RECORD: &str = "socket-dir";
/// Prefix of socket directories made outside the data directory.
const PREFIX: &str = "stockroom-";

/// The socket file of `port` in `dir`.
pub fn socket_path(dir: &Path, port: u16) -> PathBuf {
    dir.join(format!(".s.PGSQL.{port}"))
}

/// Whether `dir` can hold the socket of `port`: short enough, and without the characters that
/// PostgreSQL's list syntax or pg_ctl's shell would read as syntax.
fn fits(dir: &Path, port: u16) -> bool {
    let text = dir.to_string_lossy();
    socket_path(dir, port).as_os_str().len() <= MAX_SOCKET_PATH
        && dir.is_absolute()
        && !text
            .chars()
            .any(|c| matches!(c, '\'' | '"' | ',' | '\\') || c.is_control())
        && text.trim() == text
}

/// The socket directory recorded by the running (or last) start, when it is not `run/`.
pub fn recorded(data_dir: &Path) -> Option<PathBuf> {
    let text = safe_fs::read_to_string(&data_dir.join(SOCKET_RECORD)).ok()?;
    Some(PathBuf::from(text.trim_end_matches('\n')))
}

/// Prepares the socket directory of `place` for `port`, PostgreSQL running as `server`.
pub fn prepare(
    place: &Place,
    server: &ServerUser,
    port: u16,
    me: &str,
) -> Result<PathBuf, EmbeddedPgError> {
    let record = place.data_dir.join(SOCKET_RECORD);
    let fs_err = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |err: io::Error| EmbeddedPgError::fs(&place.data_dir, me, action, &path, &err)
    };
    forget_previous(place, server);

    let run = place.home.join("run");
    if fits(&run, port) {
        safe_fs::ensure_dir(&run, 0o700, server.owner()).map_err(fs_err("preparing", &run))?;
        return Ok(run);
    }
    let mut shortest = socket_path(&run, port);
    let digest = {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(place.data_dir.as_os_str().as_encoded_bytes());
        digest[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    if let Some(runtime) = private_runtime_dir(server) {
        let dir = runtime.join(format!("{PREFIX}{digest}"));
        if fits(&dir, port) {
            safe_fs::ensure_dir(&dir, 0o700, None).map_err(fs_err("preparing", &dir))?;
            safe_fs::write_record(&record, &format!("{}\n", dir.display()))
                .map_err(fs_err("writing", &record))?;
            return Ok(dir);
        }
        shortest = shorter(shortest, socket_path(&dir, port));
    }
    let temp = std::env::temp_dir();
    let probe = temp.join(format!("{PREFIX}00000000"));
    if fits(&probe, port) {
        let owner = (server.uid.as_raw(), server.gid.as_raw());
        for attempt in 0.. {
            let dir = temp.join(format!("{PREFIX}{:08x}", rand::random::<u32>()));
            match safe_fs::create_private_dir(&dir, 0o700, owner) {
                Ok(()) => {
                    safe_fs::write_record(&record, &format!("{}\n", dir.display()))
                        .map_err(fs_err("writing", &record))?;
                    tracing::info!(socket_dir = %dir.display(),
                        "the socket path in the data directory would be too long: using a private directory instead");
                    return Ok(dir);
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => {}
                Err(err) => return Err(fs_err("creating", &dir)(err)),
            }
        }
    }
    shortest = shorter(shortest, socket_path(&probe, port));
    Err(EmbeddedPgError::SocketPathTooLong {
        len: shortest.as_os_str().len(),
        path: shortest,
        max: MAX_SOCKET_PATH,
        user: me.to_string(),
    })
}

/// Removes the socket directory an earlier start made outside the data directory (it is
/// ours when it has our prefix and belongs to the server's user), and its record.
fn forget_previous(place: &Place, server: &ServerUser) {
    let Some(dir) = recorded(&place.data_dir) else {
        return;
    };
    let ours = dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(PREFIX))
        && fs::symlink_metadata(&dir).is_ok_and(|m| {
            m.is_dir() && (m.uid() == server.uid.as_raw() || m.uid() == Uid::effective().as_raw())
        });
    if ours {
        let _ = fs::remove_dir_all(&dir);
    }
    let _ = fs::remove_file(place.data_dir.join(SOCKET_RECORD));
}

/// `$XDG_RUNTIME_DIR` when PostgreSQL runs as us and it is ours alone.
fn private_runtime_dir(server: &ServerUser) -> Option<PathBuf> {
    if server.switch {
        return None;
    }
    let dir = PathBuf::from(std::env::var_os("XDG_RUNTIME_DIR")?);
    let meta = fs::symlink_metadata(&dir).ok()?;
    (dir.is_absolute()
        && meta.is_dir()
        && meta.uid() == Uid::effective().as_raw()
        && meta.mode() & 0o077 == 0)
        .then_some(dir)
}

fn shorter(a: PathBuf, b: PathBuf) -> PathBuf {
    if b.as_os_str().len() < a.as_os_str().len() {
        b
    } else {
        a
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_directory_must_be_short_and_plain() {
        assert!(fits(Path::new("/tmp/a b/run"), 5432));
        assert!(!fits(Path::new("/tmp/it's/run"), 5432));
        assert!(!fits(Path::new("/tmp/a,b/run"), 5432));
        assert!(!fits(Path::new("relative/run"), 5432));
        let long = format!("/tmp/{}/run", "x".repeat(90));
        assert!(!fits(Path::new(&long), 5432));
        let edge = format!(
            "/{}",
            "x".repeat(MAX_SOCKET_PATH - 1 - ".s.PGSQL.5432".len() - 1)
        );
        assert_eq!(
            socket_path(Path::new(&edge), 5432).as_os_str().len(),
            MAX_SOCKET_PATH
        );
        assert!(fits(Path::new(&edge), 5432));
    }
}
