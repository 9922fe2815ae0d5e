//! Why the private cluster could not be created, started or reached: one sentence each, naming
//! the directory, the OS user, the reason and the fix. No bare `os error N` reaches the user:
//! OS errors are turned into words here.

use std::{
    io,
    path::{Path, PathBuf},
};

/// Why the private cluster could not be created or started.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    /// No PostgreSQL server binaries where they were looked for.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in {searched}; \
         install them (`apt-get install -y postgresql`), set STOCKROOM_PG_BINDIR to their \
         directory, or point DATABASE_URL at an existing PostgreSQL"
    )]
    BinariesMissing {
        /// Where they were looked for.
        searched: String,
    },
    /// Running as root, but there is no `postgres` OS user to run the server as.
    #[error(
        "running as root, stockroom runs PostgreSQL as the OS user `postgres`, which does not \
         exist; create it (`apt-get install -y postgresql` does) or run stockroom as another user"
    )]
    NoPostgresUser,
    /// A file operation on the data directory (or the cluster's own directories) failed.
    #[error("{0}")]
    Fs(Box<FsFailure>),
    /// The `postgres` user cannot reach a data directory that already holds a cluster.
    #[error(
        "PostgreSQL runs as the OS user `postgres`, which cannot reach the cluster in \
         {data_dir} because {blocker} is closed to it (mode {mode:04o}, owner {owner}); let \
         postgres through with `chmod o+x {blocker}`, or move the data directory somewhere \
         postgres can reach and point STOCKROOM_DATA_DIR at it"
    )]
    Unreachable {
        /// The data directory.
        data_dir: PathBuf,
        /// The first directory on the way that postgres may not search.
        blocker: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// Its owner's name.
        owner: String,
    },
    /// The data directory was made by another major version than the binaries found.
    #[error(
        "the cluster in {pgdata} was made by PostgreSQL {data_version}, but the server \
         binaries in {bindir} are PostgreSQL {bin_version}; install PostgreSQL {data_version} \
         and set STOCKROOM_PG_BINDIR to its bin directory (or upgrade the cluster with \
         pg_upgrade), or choose another STOCKROOM_DATA_DIR"
    )]
    OtherMajorVersion {
        /// The cluster's directory.
        pgdata: PathBuf,
        /// `PG_VERSION` of the cluster.
        data_version: String,
        /// The binaries' major version.
        bin_version: String,
        /// Where the binaries are.
        bindir: PathBuf,
    },
    /// The disk under the cluster is full.
    #[error(
        "the disk holding {path} is full: PostgreSQL (user {user}) could not finish {what}; \
         free some space on it or choose a data directory on another disk with \
         STOCKROOM_DATA_DIR"
    )]
    DiskFull {
        /// The cluster's directory.
        path: PathBuf,
        /// The OS user PostgreSQL runs as.
        user: String,
        /// Which step.
        what: String,
    },
    /// PostgreSQL was refused access to a file of its cluster.
    #[error(
        "PostgreSQL (user {user}) was refused access while {what} in {path} ({detail}); give \
         user {user} access to {path} or choose another STOCKROOM_DATA_DIR"
    )]
    PermissionDenied {
        /// The cluster's directory.
        path: PathBuf,
        /// The OS user PostgreSQL runs as.
        user: String,
        /// Which step.
        what: String,
        /// The line of PostgreSQL's output that says so.
        detail: String,
    },
    /// No directory gives a unix socket path short enough.
    #[error(
        "the unix socket path {path} is {len} bytes, longer than the {max} a unix socket \
         allows; choose a shorter STOCKROOM_DATA_DIR, or set TMPDIR to a short directory user \
         {user} may write"
    )]
    SocketPathTooLong {
        /// The shortest path that was possible.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The longest a socket path may be.
        max: usize,
        /// The OS user running stockroom.
        user: String,
    },
    /// The data directory records a cluster elsewhere that is gone.
    #[error(
        "the data directory {data_dir} keeps its cluster in {home} (recorded in {record}), \
         which is missing or not a root-owned directory; restore it, or delete {record} to \
         start an empty cluster"
    )]
    ClusterMissing {
        /// The data directory.
        data_dir: PathBuf,
        /// The recorded cluster home.
        home: PathBuf,
        /// The record file.
        record: PathBuf,
    },
    /// Another live process is using this data directory.
    #[error(
        "the data directory {0} is in use by another running stockroom; stop it or choose \
         another STOCKROOM_DATA_DIR"
    )]
    InUse(PathBuf),
    /// A PostgreSQL command failed for another reason.
    #[error("{what} failed: {detail}")]
    Command {
        /// Which step.
        what: String,
        /// Its output or the end of the server log.
        detail: String,
    },
    /// The server started but could not be talked to.
    #[error("cannot connect to the embedded PostgreSQL: {0}")]
    Connect(String),
}

/// A file operation that failed, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot use the data directory {data_dir} as user {user}: {action} {path} failed because \
     {reason}; {fix}"
)]
pub struct FsFailure {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The OS user doing it.
    pub user: String,
    /// What was being done ("creating", "opening", …).
    pub action: &'static str,
    /// The path it was done to.
    pub path: PathBuf,
    /// Why it failed, in words.
    pub reason: String,
    /// What to do about it.
    pub fix: String,
}

impl EmbeddedPgError {
    /// A failed file operation: `action` on `path` by `user` for `data_dir`, told by `err`.
    pub fn fs(
        data_dir: &Path,
        user: &str,
        action: &'static str,
        path: &Path,
        err: &io::Error,
    ) -> Self {
        Self::fs_because(data_dir, user, action, path, reason(err), fix(err, user))
    }

    /// A failed file operation with its reason and fix in words.
    pub fn fs_because(
        data_dir: &Path,
        user: &str,
        action: &'static str,
        path: &Path,
        reason: String,
        fix: String,
    ) -> Self {
        Self::Fs(Box::new(FsFailure {
            data_dir: data_dir.to_path_buf(),
            user: user.to_string(),
            action,
            path: path.to_path_buf(),
            reason,
            fix,
        }))
    }
}

/// What went wrong, in words, without the `(os error N)` suffix.
pub fn reason(err: &io::Error) -> String {
    use io::ErrorKind as K;
    if err.raw_os_error() == Some(nix::libc::ELOOP) {
        return "it is a symbolic link".to_string();
    }
    let words = match err.kind() {
        K::PermissionDenied => "permission was denied",
        K::StorageFull => "the disk is full",
        K::QuotaExceeded => "the disk quota is exceeded",
        K::ReadOnlyFilesystem => "the file system is read-only",
        K::NotADirectory => "a part of the path is not a directory",
        K::NotFound => "a part of the path does not exist",
        K::AlreadyExists => "something else already exists there",
        K::IsADirectory => "it is a directory",
        K::InvalidFilename => "the name is too long",
        _ => "",
    };
    if !words.is_empty() {
        return words.to_string();
    }
    let text = err.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_lowercase(),
        None => text,
    }
}

/// What to do about an OS error met while using the data directory as `user`.
pub fn fix(err: &io::Error, user: &str) -> String {
    use io::ErrorKind as K;
    match err.kind() {
        K::PermissionDenied => format!(
            "give user {user} write access there, or choose a directory user {user} may write \
             with STOCKROOM_DATA_DIR"
        ),
        K::StorageFull | K::QuotaExceeded => "free some space on that disk, or choose a data \
                                              directory on another disk with STOCKROOM_DATA_DIR"
            .to_string(),
        K::ReadOnlyFilesystem => {
            "choose a data directory on a writable disk with STOCKROOM_DATA_DIR".to_string()
        }
        _ => "remove what is in the way, or choose another data directory with \
              STOCKROOM_DATA_DIR"
            .to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_are_told_in_words_without_their_number() {
        for code in [13, 28, 30, 20, 2, 40, 122] {
            let err = io::Error::from_raw_os_error(code);
            let words = reason(&err);
            assert!(!words.contains("os error"), "{code}: {words}");
            assert!(!words.is_empty(), "{code}");
        }
        assert_eq!(
            reason(&io::Error::from_raw_os_error(28)),
            "the disk is full"
        );
        assert_eq!(
            reason(&io::Error::from_raw_os_error(13)),
            "permission was denied"
        );
    }

    #[test]
    fn a_full_disk_is_one_sentence_with_the_directory_the_user_and_the_fix() {
        let err = io::Error::from_raw_os_error(28);
        let message = EmbeddedPgError::fs(
            Path::new("/data"),
            "root",
            "creating",
            Path::new("/data/run"),
            &err,
        )
        .to_string();
        assert_eq!(
            message,
            "cannot use the data directory /data as user root: creating /data/run failed \
             because the disk is full; free some space on that disk, or choose a data \
             directory on another disk with STOCKROOM_DATA_DIR"
        );
    }
}
