//! Load generator of the stockroom benchmark: N connections, each sending `recordOutbound`
//! (quantity 1 on a random (product, store) pair) back to back for a fixed time; prints the
//! rate and latency percentiles. Run through `bench/run.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::json;
use stockroom::graphql::ids::NodeId;

const QUERY: &str = "mutation($input: StockMovementInput!) { recordOutbound(input: $input) { newStock transaction { id } } }";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, token, conns, secs, products, stores] = &args[..] else {
        panic!("usage: loadgen URL TOKEN CONNECTIONS SECONDS PRODUCTS STORES");
    };
    let conns: usize = conns.parse().unwrap();
    let secs: u64 = secs.parse().unwrap();
    let products: u64 = products.parse().unwrap();
    let stores: u64 = stores.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|c| {
            let (url, token) = (url.clone(), token.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                let mut seed = (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let p = 1 + (seed % products) as i32;
                    let s = 1 + ((seed / products) % stores) as i32;
                    let body = json!({"query": QUERY, "variables": {"input": {
                        "productId": NodeId::Product(p).encode().0,
                        "storeId": NodeId::Store(s).encode().0, "quantity": 1}}});
                    let t = Instant::now();
                    let res: serde_json::Value = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    if res["data"]["recordOutbound"]["newStock"].is_number() {
                        latencies.push(t.elapsed());
                    } else {
                        errors += 1;
                        if errors == 1 {
                            eprintln!("error: {res}");
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |q: f64| all[((all.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "connections={conns} ok={} errors={errors} rate={:.0}/s p50={:.2}ms p99={:.2}ms",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
}
