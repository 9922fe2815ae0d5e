//! The private PostgreSQL cluster behind the embedded default (and the test harness).
//!
//! It runs the system's PostgreSQL binaries on a data directory of ours, listening on a unix
//! socket only. As root, the binaries run as the `postgres` OS user (initdb and pg_ctl refuse
//! root): what they write is handed to that user, while the data directory itself and its
//! `stockroom.lock` stay the invoking user's. A lock file held for the life of the owning
//! process tells a leftover cluster of a crashed run (stopped and restarted) from one that
//! another live process uses (refused).
//!
//! - [`place`]: where the cluster lives (in the data directory, or — when `postgres` cannot
//!   reach it — in a directory of its own under `/var/lib/stockroom`);
//! - [`socket`]: where the unix socket goes;
//! - [`safe_fs`]: file operations that never follow a link planted by `postgres`;
//! - [`binaries`]: finding the server binaries and their major version;
//! - [`error`]: one-sentence errors naming the directory, the user, the reason and the fix.

pub mod binaries;
pub mod error;
pub mod place;
pub mod safe_fs;
pub mod socket;

use std::{
    fs::{self, DirBuilder, File},
    io,
    os::unix::{
        fs::{DirBuilderExt, MetadataExt},
        process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use nix::{
    fcntl::{Flock, FlockArg},
    unistd::{Gid, Uid, User},
};

pub use binaries::find_bindir;
pub use error::EmbeddedPgError;
use place::Place;

type Result<T> = std::result::Result<T, EmbeddedPgError>;

/// How to start the cluster.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// The port (it only names the socket file, as the server listens on no TCP address).
    pub port: u16,
    /// Durable writes; turn off only for throwaway clusters such as the tests'.
    pub fsync: bool,
    /// Largest number of connections the server accepts.
    pub max_connections: u32,
    /// Feed streaming replicas (`wal_level=replica`, WAL senders); off, the cluster writes
    /// the minimal WAL of a single private node.
    pub replication: bool,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            port: 5432,
            fsync: true,
            max_connections: 100,
            replication: false,
        }
    }
}

/// The OS user the server runs as.
#[derive(Debug, Clone)]
pub struct ServerUser {
    /// Its uid.
    pub uid: Uid,
    /// Its primary group.
    pub gid: Gid,
    /// Its name.
    pub name: String,
    /// Whether it is another user than ours (we are root, it is `postgres`).
    pub switch: bool,
}

impl ServerUser {
    /// `postgres` when we are root, else ourselves.
    fn for_this_process() -> Result<Self> {
        if Uid::effective().is_root() {
            let user = User::from_name("postgres")
                .ok()
                .flatten()
                .ok_or(EmbeddedPgError::NoPostgresUser)?;
            Ok(Self {
                uid: user.uid,
                gid: user.gid,
                name: user.name,
                switch: true,
            })
        } else {
            Ok(Self {
                uid: Uid::effective(),
                gid: Gid::effective(),
                name: user_name(Uid::effective()),
                switch: false,
            })
        }
    }

    /// Who should own what the server writes, when that is not us.
    fn owner(&self) -> safe_fs::Owner {
        self.switch.then(|| (self.uid.as_raw(), self.gid.as_raw()))
    }
}

fn user_name(uid: Uid) -> String {
    User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

/// A running private PostgreSQL cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    place: Place,
    socket_dir: PathBuf,
    bindir: PathBuf,
    port: u16,
    server: ServerUser,
    me: String,
    created: bool,
    _lock: Flock<File>,
}

impl EmbeddedPostgres {
    /// Creates the cluster under `root` on first use, then starts it and waits until it answers.
    pub async fn start(root: &Path, options: StartOptions) -> Result<Self> {
        let root = root.to_path_buf();
        let cluster = tokio::task::spawn_blocking(move || Self::start_blocking(&root, &options))
            .await
            .map_err(|e| EmbeddedPgError::Command {
                what: "starting PostgreSQL".into(),
                detail: e.to_string(),
            })??;
        Ok(cluster)
    }

    fn start_blocking(root: &Path, options: &StartOptions) -> Result<Self> {
        let mut bindir = find_bindir(None)?;
        let server = ServerUser::for_this_process()?;
        let me = user_name(Uid::effective());
        let data_dir = open_data_dir(root, &server, &me)?;
        let lock_path = data_dir.join("stockroom.lock");
        let lock_file = safe_fs::ensure_file(&lock_path, 0o600, None)
            .map_err(fs_error(&data_dir, &me, "opening", &lock_path))?;
        let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock)
            .map_err(|_| EmbeddedPgError::InUse(data_dir.clone()))?;
        let place = place::choose(&data_dir, &server, &me)?;
        if let Ok(text) = safe_fs::read_to_string(&place.pgdata().join("PG_VERSION")) {
            let data_version = text.trim().to_string();
            bindir = find_bindir(Some(&data_version))?;
            let bin_version = binaries::major_version(&bindir).unwrap_or_default();
            if bin_version != data_version {
                return Err(EmbeddedPgError::OtherMajorVersion {
                    pgdata: place.pgdata(),
                    data_version,
                    bin_version,
                    bindir,
                });
            }
        }
        let mut cluster = Self {
            place,
            socket_dir: PathBuf::new(),
            bindir,
            port: options.port,
            server,
            me,
            created: false,
            _lock: lock,
        };
        cluster.init_if_needed()?;
        cluster.socket_dir =
            socket::prepare(&cluster.place, &cluster.server, cluster.port, &cluster.me)?;
        cluster.clear_leftover_server()?;
        cluster.pg_ctl_start(options)?;
        Ok(cluster)
    }

    /// Whether this start created the cluster (its first run).
    pub fn created(&self) -> bool {
        self.created
    }

    /// The data directory given to `start`, made absolute.
    pub fn root(&self) -> &Path {
        &self.place.data_dir
    }

    /// The directory the cluster lives in: the data directory, or its own directory under
    /// `/var/lib/stockroom` when the `postgres` user cannot reach the data directory.
    pub fn cluster_home(&self) -> &Path {
        &self.place.home
    }

    /// A connection URL for `database` as the `postgres` superuser, over the unix socket.
    pub fn url(&self, database: &str) -> String {
        socket_url(&self.socket_dir, self.port, database)
    }

    /// The URL of `database` on the cluster that another process (a running `serve`) started
    /// in `root` (canonical) with `port`, without touching it.
    pub fn running_url(root: &Path, port: u16, database: &str) -> String {
        let socket_dir = socket::recorded(root).unwrap_or_else(|| {
            place::recorded_home(root)
                .unwrap_or_else(|| root.to_path_buf())
                .join("run")
        });
        socket_url(&socket_dir, port, database)
    }

    /// Creates `database` unless it exists.
    pub async fn ensure_database(&self, database: &str) -> Result<()> {
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .map_err(|e| EmbeddedPgError::Connect(e.to_string()))?;
        let connection = tokio::spawn(connection);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
            .await
            .map_err(|e| EmbeddedPgError::Connect(e.to_string()))?
            .is_some();
        if !exists {
            let quoted = database.replace('"', "\"\"");
            client
                .batch_execute(&format!("CREATE DATABASE \"{quoted}\""))
                .await
                .map_err(|e| EmbeddedPgError::Connect(e.to_string()))?;
        }
        drop(client);
        let _ = connection.await;
        Ok(())
    }

    /// Stops the server (fast shutdown: open transactions roll back) and waits for it.
    pub fn stop(&self) -> Result<()> {
        self.run(
            "stopping PostgreSQL",
            self.pg_ctl().args(["stop", "-m", "fast", "-w", "-t", "60"]),
        )
        .map(|_| ())
    }

    /// Copies the running cluster (started with `replication`) into `root` as a streaming
    /// replica of it (`pg_basebackup -R`: the copy follows this server once started with
    /// [`start`](Self::start) on `root`). The initdb defaults let local connections
    /// replicate.
    pub fn base_backup(&self, root: &Path) -> Result<()> {
        let data_dir = open_data_dir(root, &self.server, &self.me)?;
        let pgdata = data_dir.join("pgdata");
        safe_fs::ensure_dir(&pgdata, 0o700, self.server.owner())
            .map_err(self.fs_err("creating", &pgdata))?;
        let mut backup = self.command("pg_basebackup");
        backup
            .arg("-D")
            .arg(&pgdata)
            .args(["-R", "-X", "stream", "-c", "fast", "-U", "postgres", "-h"])
            .arg(&self.socket_dir)
            .args(["-p", &self.port.to_string()]);
        self.run("pg_basebackup", &mut backup).map(|_| ())
    }

    /// Starts the server again after [`stop`](Self::stop) (for tests of outages).
    pub fn restart(&self, options: &StartOptions) -> Result<()> {
        self.pg_ctl_start(options)
    }

    /// Starts a detached watchdog that stops the server once process `pid` has exited and then
    /// deletes the data directory (and the cluster's and socket's directories kept elsewhere):
    /// for throwaway clusters whose owner may exit without cleanup (a test binary's statics
    /// are never dropped).
    pub fn stop_and_remove_when_process_exits(&self, pid: u32) -> io::Result<()> {
        let stop = format!(
            "{} -D {} stop -m immediate -w",
            shell_quote(&self.bindir.join("pg_ctl")),
            shell_quote(&self.place.pgdata()),
        );
        let stop = if self.server.switch {
            format!(
                "runuser -u {} -- {stop}",
                shell_quote(Path::new(&self.server.name))
            )
        } else {
            stop
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {stop} >/dev/null 2>&1; rm -rf {root} {home} {sock}",
            root = shell_quote(&self.place.data_dir),
            home = shell_quote(&self.place.home),
            sock = shell_quote(&self.socket_dir),
        );
        Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(|_| ())
    }

    fn fs_err(
        &self,
        action: &'static str,
        path: &Path,
    ) -> impl FnOnce(io::Error) -> EmbeddedPgError + use<> {
        fs_error(&self.place.data_dir, &self.me, action, path)
    }

    fn init_if_needed(&mut self) -> Result<()> {
        let pgdata = self.place.pgdata();
        if fs::symlink_metadata(pgdata.join("PG_VERSION")).is_ok() {
            return Ok(());
        }
        if fs::symlink_metadata(&pgdata).is_ok() {
            return Err(EmbeddedPgError::fs_because(
                &self.place.data_dir,
                &self.me,
                "using",
                &pgdata,
                "it exists but holds no PostgreSQL cluster (it has no PG_VERSION)".into(),
                "remove it, or choose another data directory with STOCKROOM_DATA_DIR".into(),
            ));
        }
        // initdb writes into a scratch directory that is renamed only once complete, so an
        // interrupted first run leaves nothing that breaks the next one.
        let scratch = self.place.scratch();
        if fs::symlink_metadata(&scratch).is_ok() {
            // Removes links, never what they point at.
            fs::remove_dir_all(&scratch)
                .or_else(|_| fs::remove_file(&scratch))
                .map_err(self.fs_err("removing", &scratch))?;
        }
        safe_fs::ensure_dir(&scratch, 0o700, self.server.owner())
            .map_err(self.fs_err("creating", &scratch))?;
        let mut initdb = self.command("initdb");
        initdb.args([
            "-D",
            "pgdata.init",
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]);
        self.run("initialising the cluster (initdb)", &mut initdb)?;
        fs::rename(&scratch, &pgdata).map_err(self.fs_err("renaming", &scratch))?;
        self.created = true;
        Ok(())
    }

    /// A server left running by a crashed owner is stopped; a `postmaster.pid` whose process
    /// is gone, or is not this cluster's postmaster (its working directory is not this
    /// `pgdata`: another program, or another PostgreSQL that reused the pid), is removed and
    /// that process left alone.
    fn clear_leftover_server(&self) -> Result<()> {
        let pgdata = self.place.pgdata();
        let pid_file = pgdata.join("postmaster.pid");
        let contents = match safe_fs::read_to_string(&pid_file) {
            Ok(contents) => contents,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            // Unreadable (a planted link, say): not a pid file of a server of ours.
            Err(_) => String::new(),
        };
        let mut lines = contents.lines();
        let pid = lines
            .next()
            .and_then(|l| l.trim().parse::<i32>().ok())
            .filter(|pid| *pid > 0);
        let recorded = lines.next().map(PathBuf::from);
        if let (Some(pid), Some(recorded)) = (pid, recorded)
            && is_postmaster_of(pid, &recorded, &pgdata)
        {
            tracing::warn!(pid, "stopping a PostgreSQL left running by an earlier run");
            return self.stop();
        }
        tracing::warn!(
            ?pid,
            "removing a stale postmaster.pid (its process is not this cluster's server)"
        );
        fs::remove_file(&pid_file).map_err(self.fs_err("removing", &pid_file))
    }

    fn pg_ctl_start(&self, options: &StartOptions) -> Result<()> {
        let log = self.place.log();
        let log_offset = fs::symlink_metadata(&log)
            .ok()
            .filter(|m| m.is_file())
            .map_or(0, |m| m.len());
        safe_fs::ensure_file(&log, 0o600, self.server.owner())
            .map_err(self.fs_err("opening", &log))?;
        // pg_ctl passes these to the server through `sh -c`: the socket directory is quoted
        // for the shell (and holds no character PostgreSQL's list syntax reads, see `socket`).
        // A private single-node cluster: no replicas to feed, so WAL only what crash recovery
        // needs (tables created or truncated in a transaction, and new indexes, are synced at
        // commit instead of logged: a bulk import writes half as much).
        let wal = if options.replication {
            "-c wal_level=replica -c max_wal_senders=10 -c hot_standby=on"
        } else {
            "-c wal_level=minimal -c max_wal_senders=0"
        };
        let mut server_options = format!(
            "-c listen_addresses='' -c unix_socket_directories={} -p {} -c max_connections={} \
             {wal}",
            shell_quote(&self.socket_dir),
            self.port,
            options.max_connections
        );
        if !options.fsync {
            server_options
                .push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let mut start = self.pg_ctl();
        start.args([
            "-l",
            "postgres.log",
            "-o",
            &server_options,
            "-w",
            "-t",
            "60",
            "start",
        ]);
        self.run("starting PostgreSQL", &mut start)
            .map_err(|err| match err {
                EmbeddedPgError::Command { what, detail } => {
                    let tail = safe_fs::tail(&log, log_offset, 20);
                    self.classify(what, format!("{detail}\nserver log:\n{tail}"))
                }
                other => other,
            })?;
        Ok(())
    }

    /// `pg_ctl -D pgdata`, run in the cluster's home (relative paths: no path of ours passes
    /// through pg_ctl's shell).
    fn pg_ctl(&self) -> Command {
        let mut cmd = self.command("pg_ctl");
        cmd.args(["-D", "pgdata"]);
        cmd
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(program));
        cmd.current_dir(&self.place.home)
            .stdin(Stdio::null())
            .env_remove("PGDATA");
        if self.server.switch {
            cmd.uid(self.server.uid.as_raw())
                .gid(self.server.gid.as_raw());
        }
        cmd
    }

    fn run(&self, what: &str, cmd: &mut Command) -> Result<String> {
        let output = cmd.output().map_err(|e| {
            if e.kind() == io::ErrorKind::PermissionDenied {
                EmbeddedPgError::PermissionDenied {
                    path: self.place.home.clone(),
                    user: self.server.name.clone(),
                    what: what.into(),
                    detail: error::reason(&e),
                }
            } else {
                EmbeddedPgError::Command {
                    what: what.into(),
                    detail: error::reason(&e),
                }
            }
        })?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if output.status.success() {
            Ok(text)
        } else {
            Err(self.classify(what.into(), text.trim().to_string()))
        }
    }

    /// A failed step's error, told by what PostgreSQL wrote: a full disk and a refused
    /// access get their own sentences.
    fn classify(&self, what: String, detail: String) -> EmbeddedPgError {
        if detail.contains("No space left on device") {
            return EmbeddedPgError::DiskFull {
                path: self.place.home.clone(),
                user: self.server.name.clone(),
                what,
            };
        }
        if let Some(line) = detail.lines().find(|l| l.contains("Permission denied")) {
            return EmbeddedPgError::PermissionDenied {
                path: self.place.home.clone(),
                user: self.server.name.clone(),
                what,
                detail: line.trim().to_string(),
            };
        }
        EmbeddedPgError::Command { what, detail }
    }
}

/// Creates the data directory (its parents as any `mkdir -p`), and returns it made absolute.
/// As root it is made 0711 (so `postgres` may pass through to the cluster inside, not list
/// it); one that an earlier version handed to `postgres` is taken back.
fn open_data_dir(root: &Path, server: &ServerUser, me: &str) -> Result<PathBuf> {
    let err = |action, path: &Path| fs_error(root, me, action, path);
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(err("creating", parent))?;
    }
    let mode = if server.switch { 0o711 } else { 0o700 };
    match DirBuilder::new().mode(mode).create(root) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err("creating", root)(e)),
    }
    let dir = fs::canonicalize(root).map_err(err("opening", root))?;
    let meta = fs::metadata(&dir).map_err(err("opening", &dir))?;
    if !meta.is_dir() {
        return Err(err("opening", &dir)(io::Error::from(
            io::ErrorKind::NotADirectory,
        )));
    }
    if server.switch && meta.uid() == server.uid.as_raw() {
        tracing::info!(data_dir = %dir.display(), "taking back the data directory from the postgres user");
        let me_ids = (Uid::effective().as_raw(), Gid::effective().as_raw());
        safe_fs::ensure_dir(&dir, 0o711, Some(me_ids)).map_err(err("taking back", &dir))?;
    }
    Ok(dir)
}

fn fs_error(
    data_dir: &Path,
    me: &str,
    action: &'static str,
    path: &Path,
) -> impl FnOnce(io::Error) -> EmbeddedPgError + use<> {
    let (data_dir, path, user) = (data_dir.to_path_buf(), path.to_path_buf(), me.to_string());
    move |err| EmbeddedPgError::fs(&data_dir, &user, action, &path, &err)
}

/// Whether `pid` is the postmaster of `pgdata`: its working directory (a postmaster works in
/// its data directory) is `pgdata`, and so is the data directory its pid file names.
fn is_postmaster_of(pid: i32, recorded: &Path, pgdata: &Path) -> bool {
    let Ok(cwd) = fs::read_link(format!("/proc/{pid}/cwd")) else {
        return false;
    };
    let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    cwd == canonical(pgdata) && canonical(recorded) == cwd
}

/// `path` in single quotes for `sh`.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// A URL on the socket in `socket_dir` (percent-encoded: a path may hold spaces).
fn socket_url(socket_dir: &Path, port: u16, database: &str) -> String {
    let host: String = socket_dir
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("postgres://postgres@/{database}?host={host}&port={port}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_url_survives_spaces_in_the_path() {
        assert_eq!(
            socket_url(Path::new("/tmp/my data/run"), 5432, "db"),
            "postgres://postgres@/db?host=/tmp/my%20data/run&port=5432"
        );
        let config: tokio_postgres::Config = socket_url(Path::new("/tmp/my data/run"), 5432, "db")
            .parse()
            .unwrap();
        assert_eq!(
            config.get_hosts(),
            &[tokio_postgres::config::Host::Unix(
                "/tmp/my data/run".into()
            )]
        );
    }

    #[test]
    fn a_process_that_reused_the_pid_is_not_the_postmaster() {
        // This test process works elsewhere than in any pgdata.
        let pgdata = std::env::temp_dir().join("sr-no-such-pgdata");
        assert!(!is_postmaster_of(
            std::process::id() as i32,
            &pgdata,
            &pgdata
        ));
        let cwd = std::env::current_dir().unwrap();
        assert!(is_postmaster_of(std::process::id() as i32, &cwd, &cwd));
        assert!(!is_postmaster_of(std::process::id() as i32, &pgdata, &cwd));
    }

    #[test]
    fn shell_quoting_keeps_a_path_one_word() {
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
