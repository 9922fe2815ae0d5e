//! The private PostgreSQL cluster behind the embedded default (and the test harness).
//!
//! It runs the system's PostgreSQL binaries (found under `/usr/lib/postgresql/*/bin` or through
//! `pg_config --bindir`) on a data directory of ours, listening on a unix socket only. As root,
//! the binaries run as the `postgres` OS user (initdb and pg_ctl refuse root), so the
//! directories they write are handed to that user. A lock file held for the life of the owning
//! process tells a leftover cluster of a crashed run (stopped and restarted) from one that
//! another live process uses (refused).

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read, Seek, SeekFrom},
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use nix::{
    fcntl::{Flock, FlockArg},
    sys::signal::kill,
    unistd::{Gid, Pid, Uid, User},
};

/// Why the private cluster could not be created or started.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    /// No PostgreSQL server binaries on this machine.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found; install them \
         (`apt-get install -y postgresql`), set STOCKROOM_PG_BINDIR to their directory, \
         or point DATABASE_URL at an existing PostgreSQL"
    )]
    BinariesMissing,
    /// Running as root, but there is no `postgres` OS user to run the server as.
    #[error(
        "running as root, PostgreSQL needs the OS user `postgres` (created by \
         `apt-get install -y postgresql`); create it or run stockroom as another user"
    )]
    NoPostgresUser,
    /// The data directory cannot be created or used.
    #[error(
        "cannot use the data directory {path}: {source}; choose another with STOCKROOM_DATA_DIR"
    )]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Another live process is using this data directory.
    #[error(
        "the data directory {0} is in use by another running stockroom; stop it or choose \
         another STOCKROOM_DATA_DIR"
    )]
    InUse(PathBuf),
    /// A PostgreSQL command failed.
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

/// A running private PostgreSQL cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    root: PathBuf,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    bindir: PathBuf,
    port: u16,
    owner: Option<(Uid, Gid)>,
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
        let bindir = find_bindir()?;
        let owner = if Uid::effective().is_root() {
            let user = User::from_name("postgres")
                .ok()
                .flatten()
                .ok_or(EmbeddedPgError::NoPostgresUser)?;
            Some((user.uid, user.gid))
        } else {
            None
        };
        let dir_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EmbeddedPgError::DataDir { path, source }
        };
        fs::create_dir_all(root).map_err(dir_err(root))?;
        let root = fs::canonicalize(root).map_err(dir_err(root))?;
        let lock_path = root.join("stockroom.lock");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(dir_err(&lock_path))?;
        let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock)
            .map_err(|_| EmbeddedPgError::InUse(root.clone()))?;
        let mut cluster = Self {
            pgdata: root.join("pgdata"),
            socket_dir: socket_dir_for(&root, options.port),
            root,
            bindir,
            port: options.port,
            owner,
            created: false,
            _lock: lock,
        };
        cluster.init_if_needed()?;
        cluster.prepare_dir(&cluster.socket_dir.clone())?;
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
        &self.root
    }

    /// A connection URL for `database` as the `postgres` superuser, over the unix socket.
    pub fn url(&self, database: &str) -> String {
        socket_url(&self.socket_dir, self.port, database)
    }

    /// The URL of `database` on the cluster that another process (a running `serve`) started
    /// in `root` with `port`, without touching it.
    pub fn running_url(root: &Path, port: u16, database: &str) -> String {
        socket_url(&socket_dir_for(root, port), port, database)
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
        let dir_err = |source| EmbeddedPgError::DataDir {
            path: root.to_path_buf(),
            source,
        };
        fs::create_dir_all(root).map_err(dir_err)?;
        let root = fs::canonicalize(root).map_err(dir_err)?;
        self.prepare_dir(&root)?;
        let mut backup = self.command("pg_basebackup");
        backup
            .arg("-D")
            .arg(root.join("pgdata"))
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
    /// deletes the data directory: for throwaway clusters whose owner may exit without cleanup
    /// (a test binary's statics are never dropped).
    pub fn stop_and_remove_when_process_exits(&self, pid: u32) -> io::Result<()> {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {stop} >/dev/null 2>&1; rm -rf '{root}' '{sock}'",
            stop = self.shell_command(&format!(
                "'{}' -D '{}' stop -m immediate -w",
                self.bindir.join("pg_ctl").display(),
                self.pgdata.display()
            )),
            root = self.root.display(),
            sock = self.socket_dir.display(),
        );
        Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(|_| ())
    }

    fn shell_command(&self, command: &str) -> String {
        match self.owner {
            Some(_) => format!("runuser -u postgres -- {command}"),
            None => command.to_string(),
        }
    }

    fn init_if_needed(&mut self) -> Result<()> {
        if self.pgdata.join("PG_VERSION").exists() {
            return Ok(());
        }
        if self.pgdata.exists() {
            return Err(EmbeddedPgError::DataDir {
                path: self.pgdata.clone(),
                source: io::Error::other("it exists but is not a PostgreSQL data directory"),
            });
        }
        // initdb writes into a scratch directory that is renamed only once complete, so an
        // interrupted first run leaves nothing that breaks the next one.
        let scratch = self.root.join("pgdata.init");
        if scratch.exists() {
            fs::remove_dir_all(&scratch).map_err(|source| EmbeddedPgError::DataDir {
                path: scratch.clone(),
                source,
            })?;
        }
        self.prepare_dir(&self.root.clone())?;
        self.prepare_dir(&scratch)?;
        let mut initdb = self.command("initdb");
        initdb.arg("-D").arg(&scratch).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]);
        self.run("initdb", &mut initdb)?;
        fs::rename(&scratch, &self.pgdata).map_err(|source| EmbeddedPgError::DataDir {
            path: self.pgdata.clone(),
            source,
        })?;
        self.created = true;
        Ok(())
    }

    /// A server left running by a crashed owner is stopped; a `postmaster.pid` whose process
    /// is gone (or is some other program now) is removed.
    fn clear_leftover_server(&self) -> Result<()> {
        let pid_file = self.pgdata.join("postmaster.pid");
        let Ok(contents) = fs::read_to_string(&pid_file) else {
            return Ok(());
        };
        let pid = contents
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<i32>().ok());
        let running_postgres = pid.is_some_and(|pid| {
            kill(Pid::from_raw(pid), None).is_ok()
                && fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|cmd| String::from_utf8_lossy(&cmd).contains("postgres"))
                    .unwrap_or(false)
        });
        if running_postgres {
            tracing::warn!(?pid, "stopping a PostgreSQL left running by an earlier run");
            self.stop()
        } else {
            tracing::warn!(?pid, "removing a stale postmaster.pid");
            fs::remove_file(&pid_file).map_err(|source| EmbeddedPgError::DataDir {
                path: pid_file,
                source,
            })
        }
    }

    fn pg_ctl_start(&self, options: &StartOptions) -> Result<()> {
        let log = self.root.join("postgres.log");
        let log_offset = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        if !log.exists() {
            File::create(&log).map_err(|source| EmbeddedPgError::DataDir {
                path: log.clone(),
                source,
            })?;
        }
        self.chown(&log)?;
        // A private single-node cluster: no replicas to feed, so WAL only what crash recovery
        // needs (tables created or truncated in a transaction, and new indexes, are synced at
        // commit instead of logged: a bulk import writes half as much).
        let wal = if options.replication {
            "-c wal_level=replica -c max_wal_senders=10 -c hot_standby=on"
        } else {
            "-c wal_level=minimal -c max_wal_senders=0"
        };
        let mut server_options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -p {} -c max_connections={} \
             {wal}",
            self.socket_dir.display(),
            self.port,
            options.max_connections
        );
        if !options.fsync {
            server_options
                .push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let mut start = self.pg_ctl();
        start
            .arg("-l")
            .arg(&log)
            .args(["-o", &server_options, "-w", "-t", "60", "start"]);
        self.run("starting PostgreSQL", &mut start).map_err(|err| {
            let tail = read_from(&log, log_offset);
            match err {
                EmbeddedPgError::Command { what, detail } => EmbeddedPgError::Command {
                    what,
                    detail: format!("{detail}\nserver log:\n{tail}"),
                },
                other => other,
            }
        })?;
        Ok(())
    }

    fn pg_ctl(&self) -> Command {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D").arg(&self.pgdata);
        cmd
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(program));
        cmd.current_dir(&self.root)
            .stdin(Stdio::null())
            .env_remove("PGDATA");
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd
    }

    fn run(&self, what: &str, cmd: &mut Command) -> Result<String> {
        let output = cmd.output().map_err(|e| EmbeddedPgError::Command {
            what: what.into(),
            detail: e.to_string(),
        })?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if output.status.success() {
            Ok(text)
        } else {
            Err(EmbeddedPgError::Command {
                what: what.into(),
                detail: text.trim().to_string(),
            })
        }
    }

    /// Creates `dir` (mode 0700) owned by the user the server runs as.
    fn prepare_dir(&self, dir: &Path) -> Result<()> {
        let err = |source| EmbeddedPgError::DataDir {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(err)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(err)?;
        self.chown(dir)
    }

    fn chown(&self, path: &Path) -> Result<()> {
        if let Some((uid, gid)) = self.owner {
            nix::unistd::chown(path, Some(uid), Some(gid)).map_err(|e| {
                EmbeddedPgError::DataDir {
                    path: path.to_path_buf(),
                    source: io::Error::from(e),
                }
            })?;
        }
        Ok(())
    }
}

fn socket_url(socket_dir: &Path, port: u16, database: &str) -> String {
    format!(
        "postgres://postgres@/{database}?host={}&port={port}",
        socket_dir.display()
    )
}

/// The socket lives in the data directory unless that path is too long for a unix socket
/// (108 bytes), in which case a directory named after it under the system's temp dir is used.
fn socket_dir_for(root: &Path, port: u16) -> PathBuf {
    let dir = root.join("run");
    let socket = dir.join(format!(".s.PGSQL.{port}"));
    if socket.as_os_str().len() < 100 {
        return dir;
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(root.as_os_str().as_encoded_bytes());
    let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    std::env::temp_dir().join(format!("stockroom-{short}"))
}

/// The directory of the PostgreSQL server binaries: `STOCKROOM_PG_BINDIR`, then
/// `pg_config --bindir`, then the newest `/usr/lib/postgresql/*/bin`.
pub fn find_bindir() -> Result<PathBuf> {
    let usable = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(dir) = std::env::var_os("STOCKROOM_PG_BINDIR").map(PathBuf::from) {
        return if usable(&dir) {
            Ok(dir)
        } else {
            Err(EmbeddedPgError::BinariesMissing)
        };
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && usable(&dir) {
            return Ok(dir);
        }
    }
    let mut candidates: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
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
        .ok_or(EmbeddedPgError::BinariesMissing)
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.seek(SeekFrom::Start(offset));
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
