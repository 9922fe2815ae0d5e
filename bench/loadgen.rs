//! Load generator of the stockroom benchmark (`bench/run.sh`): sends one of the documents of
//! issue 10 (W1 product page, W2 store view, W3 product detail, M1 one outbound) over N
//! keep-alive connections, each back to back, for a fixed time or a fixed number of requests,
//! and prints one line of `key=value` figures: requests, errors, rate, latency p50/p99.
//!
//! A response counts as an error when it is not JSON, has `errors`, or has no `data`; the first
//! one is printed on stderr in full.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use stockroom::graphql::ids::NodeId;

const W1: &str = "query W1 { products(first: 50, orderBy: {field: SKU, direction: ASC}) {
  edges { node { sku name category { name } stocks { quantity store { name } } } } } }";
const W2: &str = "query W2($code: String!) { store(code: $code) { stocks(first: 100) {
  edges { node { quantity product { sku name category { name } } } } } } }";
const W3: &str =
    "query W3($sku: String!) { product(sku: $sku) { sku name stocks { quantity store { name } }
  transactions(first: 10) { edges { node { type quantity createdAt } } } } }";
const M1: &str = "mutation M1($p: ID!, $s: ID!) { recordOutbound(input: {productId: $p, storeId: $s, quantity: 1}) {
  newStock transaction { id } } }";

/// Which document to send.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
enum Doc {
    /// `products(first: 50)` with category and stocks with their store.
    W1,
    /// `store(code:)` with 100 stocks and their product and category.
    W2,
    /// `product(sku:)` with stocks and 10 ledger rows.
    W3,
    /// `recordOutbound` of 1 on a random pair of `--pairs`.
    M1,
    /// `{ __typename }`: no field reads the database (only the token check does): the floor
    /// of one request's latency and CPU.
    W0,
}

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Sends one stockroom benchmark document over N connections, back to back")]
struct Args {
    /// GraphQL endpoint, e.g. `http://127.0.0.1:18089/graphql`.
    url: String,
    /// Bearer token.
    token: String,
    /// The document.
    doc: Doc,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Seconds to run (each connection stops sending when they are over).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Stop each connection after this many requests instead (no time limit).
    #[arg(long)]
    requests: Option<u64>,
    /// W2's store code.
    #[arg(long, default_value = "S001")]
    code: String,
    /// W3's SKU.
    #[arg(long, default_value = "")]
    sku: String,
    /// M1's (product id, store id) pairs: one `product_id store_id` line each.
    #[arg(long)]
    pairs: Option<PathBuf>,
}

/// Set once the first error has been printed (one is enough to see what went wrong).
static ERROR_SHOWN: AtomicBool = AtomicBool::new(false);

/// What one connection saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
}

/// Reads the `product_id store_id` lines of `path` as the global IDs M1 sends.
fn read_pairs(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).expect("cannot read --pairs");
    let pairs: Vec<_> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut ids = l.split_whitespace().map(|v| v.parse::<i32>().unwrap());
            let (p, s) = (ids.next().unwrap(), ids.next().unwrap());
            (NodeId::Product(p).encode().0, NodeId::Store(s).encode().0)
        })
        .collect();
    assert!(!pairs.is_empty(), "--pairs names no pair");
    pairs
}

/// One connection: sends requests back to back until `deadline` or `requests` are done.
async fn connection(
    args: &Args,
    pairs: &[(String, String)],
    fixed_body: &[u8],
    seed: u64,
    deadline: Instant,
) -> Tally {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let mut seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut tally = Tally::default();
    let mut sent = 0u64;
    loop {
        match args.requests {
            Some(n) if sent >= n => break,
            None if Instant::now() >= deadline => break,
            _ => {}
        }
        sent += 1;
        let body = if let Doc::M1 = args.doc {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let (p, s) = &pairs[(seed % pairs.len() as u64) as usize];
            serde_json::to_vec(&json!({"query": M1, "variables": {"p": p, "s": s}})).unwrap()
        } else {
            fixed_body.to_vec()
        };
        let started = Instant::now();
        let answer = async {
            let res = client
                .post(&args.url)
                .bearer_auth(&args.token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let bytes = res.bytes().await.map_err(|e| e.to_string())?;
            // The latency ends with the response's last byte; checking it is the client's time.
            let latency = started.elapsed();
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) if v.get("errors").is_none() && !v["data"].is_null() => Ok(latency),
                _ => Err(String::from_utf8_lossy(&bytes).into_owned()),
            }
        }
        .await;
        match answer {
            Ok(latency) => tally.latencies.push(latency),
            Err(text) => {
                tally.errors += 1;
                if !ERROR_SHOWN.swap(true, Ordering::Relaxed) {
                    eprintln!("loadgen: {:?} error: {text}", args.doc);
                }
            }
        }
    }
    tally
}

#[tokio::main]
async fn main() {
    let args: &'static Args = Box::leak(Box::new(Args::parse()));
    let pairs: &'static [(String, String)] = match (args.doc, &args.pairs) {
        (Doc::M1, Some(path)) => read_pairs(path).leak(),
        (Doc::M1, None) => panic!("M1 needs --pairs"),
        _ => &[],
    };
    let fixed_body: &'static [u8] = serde_json::to_vec(&match args.doc {
        Doc::W1 => json!({"query": W1}),
        Doc::W2 => json!({"query": W2, "variables": {"code": args.code}}),
        Doc::W3 => json!({"query": W3, "variables": {"sku": args.sku}}),
        Doc::W0 => json!({"query": "query W0 { __typename }"}),
        Doc::M1 => json!(null),
    })
    .unwrap()
    .leak();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let tasks: Vec<_> = (0..args.connections)
        .map(|c| tokio::spawn(connection(args, pairs, fixed_body, c as u64 + 1, deadline)))
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let tally = task.await.unwrap();
        latencies.extend(tally.latencies);
        errors += tally.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "doc={:?} connections={} requests={} errors={errors} seconds={elapsed:.2} rate={:.1} p50_ms={:.3} p99_ms={:.3}",
        args.doc,
        args.connections,
        latencies.len() as u64 + errors,
        latencies.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
}
