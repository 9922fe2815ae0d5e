//! A TCP proxy that delays every byte by a fixed time in each direction: a database "in
//! another zone" for tests of round trips (no root, no `tc`). It listens on 127.0.0.1 and
//! forwards to the test PostgreSQL (its unix socket, or a TCP address).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream, UnixStream},
    sync::mpsc,
    task::JoinHandle,
    time::Instant,
};

/// Where the proxy forwards to.
#[derive(Clone)]
enum Upstream {
    Unix(String),
    Tcp(String),
}

/// A running delaying proxy (stops accepting when dropped).
pub struct DelayProxy {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    accept: JoinHandle<()>,
    exchanges: Arc<Exchanges>,
}

/// Counts sequential round trips over all of the proxy's connections: a round trip begins
/// with the first bytes the service sends after the database's last answer reached it, so
/// statements sent together (pipelined, or on several connections at once) count once.
#[derive(Default)]
struct Exchanges {
    count: AtomicUsize,
    /// Whether the service sent anything since the last answer was delivered.
    sent: AtomicBool,
}

/// Which way a pump copies.
#[derive(Clone, Copy)]
enum Way {
    ToDatabase,
    ToService,
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The value of `key` in a URL's query string.
fn param<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// `postgres://user@host:port/db?…` → (`user`, `db`, upstream).
fn parse(url: &str) -> (String, String, Upstream) {
    let rest = url.split_once("://").unwrap().1;
    let (auth_host, rest) = rest.split_once('/').unwrap();
    let db = rest.split('?').next().unwrap().to_string();
    let (user, host) = auth_host.split_once('@').unwrap_or(("postgres", auth_host));
    let upstream = if host.is_empty() {
        let dir = param(url, "host").unwrap();
        let port = param(url, "port").unwrap_or("5432");
        Upstream::Unix(format!("{dir}/.s.PGSQL.{port}"))
    } else {
        let host = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:5432")
        };
        Upstream::Tcp(host)
    };
    (user.to_string(), db, upstream)
}

impl DelayProxy {
    /// A proxy in front of the server of `db_url`, adding `delay` each way.
    pub async fn start(db_url: &str, delay: Duration) -> Self {
        let (_, _, upstream) = parse(db_url);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let exchanges = Arc::new(Exchanges::default());
        let counter = exchanges.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let x = counter.clone();
                tokio::spawn(async move {
                    let _ = client.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    match upstream {
                        Upstream::Unix(path) => {
                            let Ok(server) = UnixStream::connect(path).await else {
                                return;
                            };
                            let (sr, sw) = server.into_split();
                            tokio::join!(
                                pump(cr, sw, delay, Way::ToDatabase, x.clone()),
                                pump(sr, cw, delay, Way::ToService, x)
                            );
                        }
                        Upstream::Tcp(addr) => {
                            let Ok(server) = TcpStream::connect(addr).await else {
                                return;
                            };
                            let _ = server.set_nodelay(true);
                            let (sr, sw) = server.into_split();
                            tokio::join!(
                                pump(cr, sw, delay, Way::ToDatabase, x.clone()),
                                pump(sr, cw, delay, Way::ToService, x)
                            );
                        }
                    }
                });
            }
        });
        Self {
            port,
            accept,
            exchanges,
        }
    }

    /// Sequential round trips so far (see [`Exchanges`]): compare two readings around a
    /// request when nothing else talks to the database.
    pub fn round_trips(&self) -> usize {
        self.exchanges.count.load(Ordering::SeqCst)
    }

    /// The URL of `db_url`'s database through the proxy, its sessions named
    /// `application_name` (so a test can find and end them).
    pub fn url(&self, db_url: &str, application_name: &str) -> String {
        let (user, db, _) = parse(db_url);
        format!(
            "postgres://{user}@127.0.0.1:{}/{db}?application_name={application_name}",
            self.port
        )
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read (order kept), counting the
/// round trips it begins (towards the database) or ends (towards the service).
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin + Send + 'static,
    delay: Duration,
    way: Way,
    exchanges: Arc<Exchanges>,
) {
    let delivered = exchanges.clone();
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
            if let Way::ToService = way {
                delivered.sent.store(false, Ordering::SeqCst);
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Way::ToDatabase = way
                    && !exchanges.sent.swap(true, Ordering::SeqCst)
                {
                    exchanges.count.fetch_add(1, Ordering::SeqCst);
                }
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}
