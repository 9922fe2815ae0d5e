//! Where the cluster of a data directory lives.
//!
//! Normally in the data directory itself (`pgdata/`, `postgres.log`, `run/`). As root,
//! PostgreSQL runs as the `postgres` user, which must be able to reach those: when a
//! directory on the way is closed to it (root's 0700 home, a `mktemp -d` folder) the cluster
//! is kept in a directory of its own under `/var/lib/stockroom` instead — created for this
//! data directory, recorded in its `cluster-home` file and shown in the log. The user's own
//! directories are never opened up.

use std::{
    fs::{self, DirBuilder},
    io,
    os::unix::fs::{DirBuilderExt, MetadataExt},
    path::{Path, PathBuf},
};

use super::{ServerUser, error::EmbeddedPgError, safe_fs};

/// Parent of the clusters kept out of their data directories.
pub const RELOCATED_ROOT: &str = "/var/lib/stockroom";
/// The file in a data directory that names the directory its cluster lives in.
pub const HOME_RECORD: &str = "cluster-home";
/// The file in a relocated cluster's directory that names its data directory (for people).
const DATA_DIR_NOTE: &str = "data-dir";

/// The data directory and the directory its cluster lives in.
#[derive(Debug, Clone)]
pub struct Place {
    /// The data directory (canonical): holds `stockroom.lock`, owned by the invoking user.
    pub data_dir: PathBuf,
    /// Where `pgdata/`, `postgres.log` and `run/` are: the data directory, or its directory
    /// under [`RELOCATED_ROOT`].
    pub home: PathBuf,
}

impl Place {
    /// The PostgreSQL data directory.
    pub fn pgdata(&self) -> PathBuf {
        self.home.join("pgdata")
    }

    /// Where initdb writes before the result is renamed to `pgdata`.
    pub fn scratch(&self) -> PathBuf {
        self.home.join("pgdata.init")
    }

    /// The server log.
    pub fn log(&self) -> PathBuf {
        self.home.join("postgres.log")
    }

    /// Whether the cluster lives outside the data directory.
    pub fn relocated(&self) -> bool {
        self.home != self.data_dir
    }
}

/// The cluster home recorded in `data_dir`, if any (unchecked: for reaching a running server).
pub fn recorded_home(data_dir: &Path) -> Option<PathBuf> {
    let text = safe_fs::read_to_string(&data_dir.join(HOME_RECORD)).ok()?;
    Some(PathBuf::from(text.trim_end_matches('\n')))
}

/// Decides where the cluster of `data_dir` (canonical, existing) lives, creating its own
/// directory under [`RELOCATED_ROOT`] when `server` cannot reach the data directory.
pub fn choose(data_dir: &Path, server: &ServerUser, me: &str) -> Result<Place, EmbeddedPgError> {
    let record = data_dir.join(HOME_RECORD);
    let fs_err = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |err: io::Error| EmbeddedPgError::fs(data_dir, me, action, &path, &err)
    };
    match safe_fs::read_to_string(&record) {
        Ok(text) => {
            let home = PathBuf::from(text.trim_end_matches('\n'));
            let sound = home.starts_with(RELOCATED_ROOT)
                && fs::symlink_metadata(&home).is_ok_and(|m| m.is_dir() && m.uid() == 0);
            if !sound {
                return Err(EmbeddedPgError::ClusterMissing {
                    data_dir: data_dir.to_path_buf(),
                    home,
                    record,
                });
            }
            tracing::info!(data_dir = %data_dir.display(), cluster = %home.display(),
                "the cluster of this data directory lives in its own directory (see cluster-home)");
            return Ok(Place {
                data_dir: data_dir.to_path_buf(),
                home,
            });
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(fs_err("reading", &record)(err)),
    }
    let here = Place {
        data_dir: data_dir.to_path_buf(),
        home: data_dir.to_path_buf(),
    };
    if !server.switch {
        return Ok(here);
    }
    let Some(closed) = first_closed(data_dir, server) else {
        return Ok(here);
    };
    if fs::symlink_metadata(here.pgdata()).is_ok() {
        return Err(closed.unreachable(data_dir));
    }

    let root = Path::new(RELOCATED_ROOT);
    match DirBuilder::new().mode(0o711).create(root) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(fs_err("creating", root)(err)),
    }
    let meta = fs::symlink_metadata(root).map_err(fs_err("checking", root))?;
    if !meta.is_dir() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(EmbeddedPgError::fs_because(
            data_dir,
            me,
            "checking",
            root,
            "it is not a directory that only root may write".into(),
            format!("remove {RELOCATED_ROOT} or make it root's with mode 0711"),
        ));
    }
    let name = home_name(data_dir);
    let mut home = PathBuf::new();
    for attempt in 0.. {
        home = root.join(format!("{name}-{:08x}", rand::random::<u32>()));
        match DirBuilder::new().mode(0o711).create(&home) {
            Ok(()) => break,
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => {}
            Err(err) => return Err(fs_err("creating", &home)(err)),
        }
    }
    if let Some(closed) = first_closed(&home, server) {
        let _ = fs::remove_dir(&home);
        return Err(closed.unreachable(&home));
    }
    safe_fs::write_record(
        &home.join(DATA_DIR_NOTE),
        &format!("{}\n", data_dir.display()),
    )
    .map_err(fs_err("writing", &home.join(DATA_DIR_NOTE)))?;
    safe_fs::write_record(&record, &format!("{}\n", home.display()))
        .map_err(fs_err("writing", &record))?;
    tracing::info!(
        data_dir = %data_dir.display(),
        closed = %closed.path.display(),
        cluster = %home.display(),
        "the postgres user cannot reach the data directory, so its cluster is kept in a \
         directory of its own (recorded in the data directory's cluster-home file)"
    );
    Ok(Place {
        data_dir: data_dir.to_path_buf(),
        home,
    })
}

/// A directory the server's user may not search.
struct Closed {
    path: PathBuf,
    mode: u32,
    owner: u32,
}

impl Closed {
    fn unreachable(&self, data_dir: &Path) -> EmbeddedPgError {
        EmbeddedPgError::Unreachable {
            data_dir: data_dir.to_path_buf(),
            blocker: self.path.clone(),
            mode: self.mode & 0o7777,
            owner: nix::unistd::User::from_uid(self.owner.into())
                .ok()
                .flatten()
                .map_or_else(|| self.owner.to_string(), |u| u.name),
        }
    }
}

/// The first directory from `/` down to `dir` (included) that `server` may not search, by
/// owner, group and mode bits (the server runs with its primary group only).
fn first_closed(dir: &Path, server: &ServerUser) -> Option<Closed> {
    let mut ancestors: Vec<&Path> = dir.ancestors().collect();
    ancestors.reverse();
    ancestors.into_iter().find_map(|path| {
        let meta = fs::metadata(path).ok()?;
        let bit = if meta.uid() == server.uid.as_raw() {
            0o100
        } else if meta.gid() == server.gid.as_raw() {
            0o010
        } else {
            0o001
        };
        (meta.mode() & bit == 0).then(|| Closed {
            path: path.to_path_buf(),
            mode: meta.mode(),
            owner: meta.uid(),
        })
    })
}

/// A readable name for a relocated cluster's directory, from its data directory's name.
fn home_name(data_dir: &Path) -> String {
    let base = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = base
        .trim_start_matches('.')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if clean.is_empty() {
        "cluster".into()
    } else {
        clean
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::home_name;
    use std::path::Path;

    #[test]
    fn a_relocated_cluster_is_named_after_its_data_directory() {
        assert_eq!(home_name(Path::new("/root/shop/.stockroom")), "stockroom");
        assert_eq!(home_name(Path::new("/tmp/x/my data")), "my_data");
        assert_eq!(home_name(Path::new("/")), "cluster");
    }
}
