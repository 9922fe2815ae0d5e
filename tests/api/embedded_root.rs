//! The first command for everyone, and stops that never stop half-way: the real binary as
//! root with its data directory below a 0700 directory and in a path with spaces, as an
//! ordinary user, against links planted in the data directory and a reused pid, with clear
//! errors; clients dripping a request, and a WebSocket movement in flight at SIGTERM.
//! The root-only tests print a message and pass when not run as root.

use std::{
    os::unix::fs::{MetadataExt, PermissionsExt, symlink},
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use stockroom::{
    config::{Connections, ServeSettings},
    embedded_pg::EmbeddedPostgres,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::Command,
};
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

use crate::helpers::{BIN, Served, TempDir, TestApp, post_graphql as graphql};

fn root_or_skip(test: &str) -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    if !root {
        eprintln!("skipped {test}: it runs stockroom as root (run the tests as root)");
    }
    root
}

const COUNT: &str = "{ products(first: 1) { totalCount } }";

/// Runs a stockroom command to its end (as `uid` when given); returns (success, stdout, stderr).
async fn run(
    args: &[&str],
    envs: &[(&str, &str)],
    uid: Option<u32>,
    cwd: Option<&Path>,
) -> (bool, String, String) {
    let copy = uid.map(|_| runnable_copy());
    let mut cmd = Command::new(
        copy.as_ref()
            .map_or(Path::new(BIN), |(_, bin)| bin.as_path()),
    );
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("XDG_RUNTIME_DIR")
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let out = tokio::time::timeout(Duration::from_secs(90), async {
        // A copy just written may still be open for writing in a child that another test's
        // thread forked and has not yet exec'd: exec fails with ETXTBSY until that child
        // execs (CI saw "Text file busy" once). Try again for up to a second.
        let mut tries = 0;
        loop {
            match cmd.output().await {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => break other,
            }
        }
    })
    .await
    .expect("the command ends")
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Removes a cluster kept under /var/lib/stockroom for `data_dir` (after its server stopped).
fn remove_relocated_cluster(data_dir: &Path) {
    if let Ok(home) = std::fs::read_to_string(data_dir.join("cluster-home")) {
        let home = PathBuf::from(home.trim_end());
        assert!(
            home.starts_with("/var/lib/stockroom/"),
            "{}",
            home.display()
        );
        let _ = std::fs::remove_dir_all(home);
    }
}

/// A directory only its owner may enter, like `mktemp -d` makes.
/// A copy of the binary that another user can run, in a directory anyone may enter: the
/// checkout's own may sit below a directory only root can (a clone in a `mktemp -d`).
fn runnable_copy() -> (TempDir, PathBuf) {
    let dir = TempDir::new("bin");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.0.join("stockroom");
    std::fs::copy(BIN, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, bin)
}

fn private_dir(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn as_root_serve_user_token_and_import_work_below_a_0700_directory_in_a_path_with_spaces() {
    if !root_or_skip("as_root_serve_user_token_and_import_work_below_a_0700_directory") {
        return;
    }
    let private = private_dir("private");
    let data = private.0.join("my shop/.stockroom");
    let env = [("STOCKROOM_DATA_DIR", data.to_str().unwrap())];
    let served = Served::embedded(&data).await;
    let token = served.token.clone().expect("a first run prints a token");
    let body = graphql(&served.base, &token, COUNT, json!({})).await;
    assert_eq!(body["data"]["products"]["totalCount"], 50, "{body}");

    // The user's directories are not opened up; the data directory and its lock stay root's.
    assert_eq!(std::fs::metadata(&private.0).unwrap().mode() & 0o777, 0o700);
    let top = std::fs::metadata(&data).unwrap();
    assert_eq!(top.uid(), 0);
    let lock = std::fs::symlink_metadata(data.join("stockroom.lock")).unwrap();
    assert!(lock.is_file() && lock.uid() == 0);
    let home = std::fs::read_to_string(data.join("cluster-home")).unwrap();
    assert!(home.starts_with("/var/lib/stockroom/stockroom-"), "{home}");

    // A command while `serve` runs reaches its server.
    let (ok, out, err) = run(&["user", "list"], &env, None, None).await;
    assert!(ok, "{err}");
    assert!(out.contains("admin\tADMIN"), "{out}");
    assert!(served.terminate().await.success());

    // Commands that start the cluster themselves.
    let (ok, out, err) = run(&["token", "list", "admin"], &env, None, None).await;
    assert!(ok, "{err}");
    assert!(out.lines().count() >= 2, "{out}");
    let csv = TempDir::new("import");
    std::fs::write(
        csv.0.join("stores.csv"),
        "id,code,name\n900,NEW9,New Store\n",
    )
    .unwrap();
    let (ok, _, err) = run(&["import", csv.0.to_str().unwrap()], &env, None, None).await;
    assert!(ok, "{err}");
    let again = Served::embedded(&data).await;
    assert!(again.token.is_none(), "the data is kept");
    assert!(again.terminate().await.success());
    remove_relocated_cluster(&data);
}

#[tokio::test(flavor = "multi_thread")]
async fn as_an_ordinary_user_the_first_command_works_in_their_home() {
    if !root_or_skip("as_an_ordinary_user_the_first_command_works_in_their_home") {
        return;
    }
    let home = private_dir("home of nobody");
    let nobody = 65534;
    std::os::unix::fs::chown(&home.0, Some(nobody), Some(nobody)).unwrap();
    let (_bin_dir, bin) = runnable_copy();
    let mut cmd = Command::new(&bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .env_remove("STOCKROOM_DATA_DIR")
        .env_remove("XDG_RUNTIME_DIR")
        .env("HOME", &home.0)
        .current_dir(&home.0)
        .uid(nobody)
        .gid(nobody)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let served = Served::from_command(cmd).await;
    let token = served.token.clone().expect("a first run prints a token");
    let body = graphql(&served.base, &token, COUNT, json!({})).await;
    assert_eq!(body["data"]["products"]["totalCount"], 50, "{body}");
    let data = home.0.join(".stockroom");
    assert_eq!(
        std::fs::metadata(data.join("pgdata")).unwrap().uid(),
        nobody
    );
    assert!(!data.join("cluster-home").exists());
    assert!(served.terminate().await.success());

    // And where that user may not write, the error says so in one sentence.
    let (ok, _, err) = run(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("STOCKROOM_DATA_DIR", "/root/stockroom-data")],
        Some(nobody),
        Some(Path::new("/")),
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("/root/stockroom-data")
            && err.contains("user nobody")
            && err.contains("permission was denied")
            && err.contains("STOCKROOM_DATA_DIR"),
        "{err}"
    );
    assert!(!err.contains("os error"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn links_planted_where_postgres_could_write_are_never_followed() {
    if !root_or_skip("links_planted_where_postgres_could_write_are_never_followed") {
        return;
    }
    let dir = TempDir::new("links");
    let data = dir.0.join("data");
    let served = Served::embedded(&data).await;
    let token = served.token.clone().unwrap();
    assert!(served.terminate().await.success());

    // Stand-ins for /etc/shadow: root's files and directory that must not change.
    let victims = TempDir::new("victims");
    let file = |name: &str| {
        let path = victims.0.join(name);
        std::fs::write(&path, "root's").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        path
    };
    let (log, lock, pid) = (file("log"), file("lock"), file("pid"));
    let run_dir = victims.0.join("run");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let swap = |at: PathBuf, to: &Path| {
        if at.is_dir() {
            std::fs::remove_dir_all(&at).unwrap();
        } else {
            let _ = std::fs::remove_file(&at);
        }
        symlink(to, &at).unwrap();
    };
    swap(data.join("run"), &run_dir);
    swap(data.join("postgres.log"), &log);
    swap(data.join("stockroom.lock"), &lock);
    swap(data.join("pgdata/postmaster.pid"), &pid);

    let served = Served::embedded(&data).await;
    let body = graphql(&served.base, &token, COUNT, json!({})).await;
    assert_eq!(body["data"]["products"]["totalCount"], 50, "{body}");
    for victim in [&log, &lock, &pid] {
        let meta = std::fs::metadata(victim).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o777),
            (0, 0, 0o640),
            "{}",
            victim.display()
        );
        assert_eq!(std::fs::read_to_string(victim).unwrap(), "root's");
    }
    let meta = std::fs::metadata(&run_dir).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o755));
    assert_eq!(
        std::fs::read_dir(&run_dir).unwrap().count(),
        0,
        "no socket in the victim"
    );
    let postgres = nix::unistd::User::from_name("postgres")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    let run = std::fs::symlink_metadata(data.join("run")).unwrap();
    assert!(run.is_dir() && run.uid() == postgres);
    let lock_file = std::fs::symlink_metadata(data.join("stockroom.lock")).unwrap();
    assert!(lock_file.is_file() && lock_file.uid() == 0);
    assert_eq!(
        std::fs::metadata(&data).unwrap().uid(),
        0,
        "the top level stays root's"
    );
    assert!(served.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pid_reused_by_another_postgres_process_is_left_running() {
    if !root_or_skip("a_pid_reused_by_another_postgres_process_is_left_running") {
        return;
    }
    let dir = TempDir::new("reused");
    let data = dir.0.join("data");
    let served = Served::embedded(&data).await;
    let token = served.token.clone().unwrap();
    assert!(served.terminate().await.success());

    // A process named postgres, of the postgres user, that pg_ctl could signal; it works in
    // another directory than this cluster's pgdata.
    let postgres = nix::unistd::User::from_name("postgres").unwrap().unwrap();
    let mut other = Command::new("bash")
        .args(["-c", "exec -a 'postgres: other cluster' sleep 600"])
        .current_dir("/")
        .uid(postgres.uid.as_raw())
        .gid(postgres.gid.as_raw())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = other.id().unwrap();
    let pgdata = data.join("pgdata");
    std::fs::write(
        pgdata.join("postmaster.pid"),
        format!(
            "{pid}\n{}\n0\n5432\n\n\n",
            pgdata.canonicalize().unwrap().display()
        ),
    )
    .unwrap();
    let served = Served::embedded(&data).await;
    let body = graphql(&served.base, &token, COUNT, json!({})).await;
    assert_eq!(body["data"]["products"]["totalCount"], 50, "{body}");
    assert!(
        other.try_wait().unwrap().is_none(),
        "the other process still runs"
    );
    assert!(served.terminate().await.success());
    other.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn what_cannot_work_is_said_in_one_sentence_with_the_directory_and_the_fix() {
    if !root_or_skip("what_cannot_work_is_said_in_one_sentence_with_the_directory_and_the_fix") {
        return;
    }
    let serve = ["serve", "--listen", "127.0.0.1:0"];
    // A cluster of another major version.
    let dir = TempDir::new("version");
    std::fs::create_dir_all(dir.0.join("pgdata")).unwrap();
    std::fs::write(dir.0.join("pgdata/PG_VERSION"), "11\n").unwrap();
    let (ok, _, err) = run(
        &serve,
        &[("STOCKROOM_DATA_DIR", dir.0.to_str().unwrap())],
        None,
        None,
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("PostgreSQL 11") && err.contains("STOCKROOM_PG_BINDIR"),
        "{err}"
    );
    assert!(
        err.contains(&dir.0.join("pgdata").display().to_string()),
        "{err}"
    );

    // No short enough place for the socket.
    let deep = TempDir::new("deep");
    let data = deep.0.join("d".repeat(100));
    let tmp = deep.0.join("t".repeat(100));
    let (ok, _, err) = run(
        &serve,
        &[
            ("STOCKROOM_DATA_DIR", data.to_str().unwrap()),
            ("TMPDIR", tmp.to_str().unwrap()),
        ],
        None,
        None,
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("unix socket path") && err.contains("TMPDIR"),
        "{err}"
    );
    assert!(!data.join("pgdata").exists() || data.join("pgdata/PG_VERSION").exists());

    // A full disk: a small tmpfs when this machine lets us mount one.
    let disk = TempDir::new("full");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&disk.0)
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        let (ok, _, err) = run(
            &serve,
            &[("STOCKROOM_DATA_DIR", disk.0.join("data").to_str().unwrap())],
            None,
            None,
        )
        .await;
        let _ = std::process::Command::new("umount").arg(&disk.0).status();
        assert!(!ok);
        assert!(
            err.contains("is full") && err.contains("free some space"),
            "{err}"
        );
        assert!(err.contains(&disk.0.display().to_string()), "{err}");
        assert!(!err.contains("os error"), "{err}");
    } else {
        eprintln!(
            "full-disk case not run: cannot mount a tmpfs here (the unit tests of embedded_pg::error cover its message)"
        );
    }
}

/// Writes `bytes` one at a time, `every` apart, until the peer closes or `stop` passes.
async fn drip(stream: &mut TcpStream, bytes: &[u8], every: Duration) {
    for b in bytes.iter().cycle() {
        if stream.write_all(&[*b]).await.is_err() {
            return;
        }
        tokio::time::sleep(every).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_dripping_headers_or_a_body_is_cut_off_at_the_read_timeout() {
    let app = TestApp::spawn_with(ServeSettings {
        connections: Connections {
            read_timeout_seconds: 1,
            ..Connections::default()
        },
        ..ServeSettings::default()
    })
    .await;
    let started = Instant::now();
    let mut headers = TcpStream::connect(app.addr).await.unwrap();
    headers
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (mut reader, mut writer) = headers.into_split();
    let dripper = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(b"X").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut sink))
        .await
        .expect("the server closes a connection whose headers never end");
    dripper.abort();
    assert!(started.elapsed() < Duration::from_secs(4));

    let started = Instant::now();
    let mut body = TcpStream::connect(app.addr).await.unwrap();
    body.write_all(
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        let (mut reader, mut writer) = body.into_split();
        let dripper = tokio::spawn(async move {
            for _ in 0..100 {
                if writer.write_all(b" ").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out).await;
        dripper.abort();
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .expect("the server answers a body that never ends, and closes");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_dripping_a_request_do_not_hold_up_a_stop() {
    if !root_or_skip("clients_dripping_a_request_do_not_hold_up_a_stop") {
        return;
    }
    let dir = TempDir::new("drip");
    let served = Served::start(&[
        ("DATABASE_URL", None),
        ("STOCKROOM_DATA_DIR", Some(dir.0.to_str().unwrap())),
        ("STOCKROOM_READ_TIMEOUT_SECONDS", Some("2")),
        ("STOCKROOM_SHUTDOWN_GRACE_SECONDS", Some("30")),
    ])
    .await;
    let addr = served.base.trim_start_matches("http://").to_string();
    let mut slow_headers = TcpStream::connect(&addr).await.unwrap();
    slow_headers
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut slow_body = TcpStream::connect(&addr).await.unwrap();
    slow_body
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n")
        .await
        .unwrap();
    let h = tokio::spawn(async move {
        drip(&mut slow_headers, b"X-A: b\r\n", Duration::from_millis(200)).await
    });
    let b =
        tokio::spawn(async move { drip(&mut slow_body, b" ", Duration::from_millis(200)).await });
    // The service shows no sign of a request that has not finished arriving: give the
    // drips time to be accepted and read from before the stop (a late accept only makes
    // the stop quicker, which the assertion below would catch).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    assert!(served.terminate().await.success());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "stopped in {:?}, well within the 30 s grace",
        started.elapsed()
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1200),
        "the stop waited for the requests in flight until their read timeout: {:?}",
        started.elapsed()
    );
    h.abort();
    b.abort();
}

async fn ws_next(socket: &mut crate::helpers::ws::WsStream) -> Message {
    tokio::time::timeout(Duration::from_secs(30), socket.next())
        .await
        .expect("a message within 30 s")
        .expect("the socket is open")
        .expect("a message")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_movement_in_flight_at_sigterm_is_answered_durable_and_the_socket_closes_1001()
{
    if !root_or_skip("a_websocket_movement_in_flight_at_sigterm_is_answered_durable") {
        return;
    }
    let dir = TempDir::new("ws stop");
    let data = dir.0.to_str().unwrap();
    let env = [
        ("DATABASE_URL", None),
        ("STOCKROOM_DATA_DIR", Some(data)),
        ("STOCKROOM_POOL_TIMEOUT_MS", Some("30000")),
    ];
    let served = Served::start(&env).await;
    let token = served.token.clone().unwrap();
    let ids = graphql(
        &served.base,
        &token,
        "{ products(first: 1) { edges { node { id } } } stores(first: 1) { edges { node { id } } } }",
        json!({}),
    )
    .await;
    let product = ids["data"]["products"]["edges"][0]["node"]["id"].clone();
    let store = ids["data"]["stores"]["edges"][0]["node"]["id"].clone();

    let mut socket = crate::helpers::ws::ws_open(&format!("{}/graphql/ws", served.base)).await;
    let send = |v: Value| Message::text(v.to_string());
    socket
        .send(send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}})))
        .await
        .unwrap();
    assert!(matches!(ws_next(&mut socket).await, Message::Text(t) if t.contains("connection_ack")));
    socket
        .send(send(json!({"id": "live", "type": "subscribe", "payload": {"query":
            "subscription($s: ID!, $p: ID!) { stockChanged(storeId: $s, productId: $p) { quantity } }",
            "variables": {"s": store, "p": product}}})))
        .await
        .unwrap();

    // Hold the stock table so the movement is still in flight when SIGTERM comes.
    let url = EmbeddedPostgres::running_url(&dir.0.canonicalize().unwrap(), 5432, "stockroom");
    let blocker = crate::helpers::sql(&url).await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE stocks IN EXCLUSIVE MODE")
        .await
        .unwrap();
    socket
        .send(send(json!({"id": "move", "type": "subscribe", "payload": {"query":
            "mutation($i: AdjustStockInput!) { adjustStock(input: $i) { newStock } }",
            "variables": {"i": {"productId": product, "storeId": store, "countedQuantity": 777, "reason": "stop"}}}})))
        .await
        .unwrap();
    // The movement is in flight: it waits for the table the blocker holds.
    // (Seen from a session of its own: one inside a transaction sees a frozen snapshot.)
    crate::helpers::until_a_session_waits_for_a_lock(&crate::helpers::sql(&url).await).await;
    let pid = nix::unistd::Pid::from_raw(served.child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    crate::helpers::until(
        crate::helpers::ws::WAIT,
        "new connections are still accepted while stopping",
        || async {
            TcpStream::connect(served.base.trim_start_matches("http://"))
                .await
                .is_err()
        },
    )
    .await;
    socket
        .send(send(json!({"id": "late", "type": "subscribe", "payload": {"query": "{ viewer { username } }"}})))
        .await
        .unwrap();
    blocker.batch_execute("COMMIT").await.unwrap();

    let mut answered = None;
    let mut refused = false;
    let close = loop {
        match ws_next(&mut socket).await {
            Message::Text(text) => {
                let msg: Value = serde_json::from_str(&text).unwrap();
                match (msg["id"].as_str(), msg["type"].as_str()) {
                    (Some("move"), Some("next")) => answered = Some(msg["payload"].clone()),
                    (Some("late"), Some("error")) => refused = true,
                    _ => {}
                }
            }
            Message::Close(frame) => break frame,
            _ => {}
        }
    };
    let answered = answered.expect("the movement in flight was answered");
    assert_eq!(
        answered["data"]["adjustStock"]["newStock"], 777,
        "{answered}"
    );
    assert!(refused, "an operation sent while stopping is refused");
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Away));
    let mut child = served.child;
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("serve stops")
        .unwrap();
    assert!(status.success());

    // Durable: the next start reads it back.
    let again = Served::start(&env).await;
    let body = graphql(
        &again.base,
        &token,
        "query($s: ID!, $p: ID!) { stock(productId: $p, storeId: $s) { quantity } }",
        json!({"s": store, "p": product}),
    )
    .await;
    assert_eq!(body["data"]["stock"]["quantity"], 777, "{body}");
    assert!(again.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_too_deep_for_a_socket_gets_a_private_socket_directory() {
    if !root_or_skip("a_data_directory_too_deep_for_a_socket_gets_a_private_socket_directory") {
        return;
    }
    let deep = TempDir::new("deep socket");
    let data = deep.0.join("d".repeat(100));
    let env = [("STOCKROOM_DATA_DIR", data.to_str().unwrap())];
    let served = Served::start(&[
        ("DATABASE_URL", None),
        ("STOCKROOM_DATA_DIR", Some(data.to_str().unwrap())),
        ("TMPDIR", None),
        ("XDG_RUNTIME_DIR", None),
    ])
    .await;
    let recorded = std::fs::read_to_string(data.join("socket-dir")).unwrap();
    let socket_dir = PathBuf::from(recorded.trim_end());
    assert!(recorded.starts_with("/tmp/stockroom-"), "{recorded}");
    let postgres = nix::unistd::User::from_name("postgres")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    let meta = std::fs::symlink_metadata(&socket_dir).unwrap();
    assert!(meta.is_dir() && meta.uid() == postgres && meta.mode() & 0o777 == 0o700);
    // Commands reach the running server through the recorded directory.
    let (ok, out, err) = run(&["user", "list"], &env, None, None).await;
    assert!(ok, "{err}");
    assert!(out.contains("admin"), "{out}");
    assert!(served.terminate().await.success());
    // The next start makes a new one and removes the old.
    let again = Served::start(&[
        ("DATABASE_URL", None),
        ("STOCKROOM_DATA_DIR", Some(data.to_str().unwrap())),
        ("TMPDIR", None),
    ])
    .await;
    assert!(
        !socket_dir.exists(),
        "the previous socket directory is removed"
    );
    assert!(again.terminate().await.success());
    let last = std::fs::read_to_string(data.join("socket-dir")).unwrap();
    let _ = std::fs::remove_dir_all(last.trim_end());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigterm_stops_at_once_and_still_stops_postgresql() {
    if !root_or_skip("a_second_sigterm_stops_at_once_and_still_stops_postgresql") {
        return;
    }
    let dir = TempDir::new("twice");
    let mut served = Served::start(&[
        ("DATABASE_URL", None),
        ("STOCKROOM_DATA_DIR", Some(dir.0.to_str().unwrap())),
        ("STOCKROOM_READ_TIMEOUT_SECONDS", Some("120")),
        ("STOCKROOM_SHUTDOWN_GRACE_SECONDS", Some("120")),
    ])
    .await;
    // A body that keeps coming holds the graceful stop up to the grace period.
    let mut slow_body = TcpStream::connect(served.base.trim_start_matches("http://"))
        .await
        .unwrap();
    slow_body
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n")
        .await
        .unwrap();
    let dripper =
        tokio::spawn(async move { drip(&mut slow_body, b" ", Duration::from_millis(200)).await });
    // Accepted and in flight before the stop begins (nothing outside shows a request whose
    // body is still arriving, so this one wait stays; a late accept fails the test below).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = nix::unistd::Pid::from_raw(served.child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    // Two seconds after the first signal the service must still be waiting: the wait is
    // the test.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        served.child.try_wait().unwrap().is_none(),
        "the first signal waits for the request"
    );
    let started = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), served.child.wait())
        .await
        .expect("the second signal stops at once")
        .unwrap();
    assert!(status.success());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(
        !dir.0.join("pgdata/postmaster.pid").exists(),
        "PostgreSQL was stopped too"
    );
    dripper.abort();
}
