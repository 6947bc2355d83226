//! Load test of the HTTP service on loopback: the service runs in this process (as
//! `polyrec serve` does) over a model directory of `polyrec train`; CLIENTS threads with one
//! keep-alive connection each send REQUESTS top-10 requests in total for random known users
//! in random scenarios, then a second round with free-text queries. A short cold round comes
//! first (before `Service::warm_up` fills the per-user prediction cache). Prints errors,
//! p50/p99 latency of every round and, measured apart, the query encoding's own p50/p99.
//!
//! `cargo run --release --example serve_load -- MODEL_DIR [CLIENTS] [REQUESTS] [REPLICAS]`

use std::sync::Arc;
use std::time::Instant;

use polyrec::serve::{Client, Service, serve};
use polyrec::{LoadOptions, Recommender};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

const QUERIES: &[&str] = &[
    "a light comedy for a rainy evening",
    "scary horror",
    "an epic war film",
    "romantic drama set in Paris",
    "animated film for children",
    "a clever science fiction thriller",
];

/// Sends `total` requests from `clients` threads; returns sorted latencies (ms) and errors.
fn round(
    addr: &str,
    clients: usize,
    total: usize,
    users: &[String],
    scenarios: &[String],
    query: bool,
) -> anyhow::Result<(Vec<f64>, usize)> {
    let per = total.div_ceil(clients);
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (addr, users, scenarios) = (addr.to_string(), users.to_vec(), scenarios.to_vec());
            std::thread::spawn(move || -> anyhow::Result<(Vec<f64>, usize)> {
                let mut client = Client::connect(&addr)?;
                let mut lat = Vec::with_capacity(per);
                let mut errors = 0;
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1);
                for _ in 0..per {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let user = &users[(x % users.len() as u64) as usize];
                    let scen = &scenarios[((x >> 20) % scenarios.len() as u64) as usize];
                    let body = if query {
                        let q = QUERIES[((x >> 40) % QUERIES.len() as u64) as usize];
                        serde_json::json!({"user": user, "scenario": scen, "query": q, "k": 10})
                    } else {
                        serde_json::json!({"user": user, "scenario": scen, "k": 10})
                    };
                    let body = serde_json::to_vec(&body)?;
                    let t = Instant::now();
                    let (status, _) = client.send("POST", "/recommend", &body)?;
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                    if status != 200 {
                        errors += 1;
                    }
                }
                Ok((lat, errors))
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    let mut errors = 0;
    for h in handles {
        let (l, e) = h
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        all.extend(l);
        errors += e;
    }
    all.sort_by(f64::total_cmp);
    Ok((all, errors))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let model = args.next().ok_or_else(|| {
        anyhow::anyhow!("usage: serve_load MODEL_DIR [CLIENTS] [REQUESTS] [REPLICAS]")
    })?;
    let clients: usize = args.next().map_or(Ok(8), |s| s.parse())?;
    let total: usize = args.next().map_or(Ok(20_000), |s| s.parse())?;
    let replicas: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    polyrec::encode::tch::set_num_threads(1);
    let recs = (0..replicas)
        .map(|_| Recommender::load(std::path::Path::new(&model), &LoadOptions::default()))
        .collect::<Result<Vec<_>, _>>()?;
    let users: Vec<String> = recs[0].dataset().users.ids.names().to_vec();
    let scenarios = recs[0].dataset().scenarios.clone();
    // The query encoding alone, on one thread, as the service does it.
    let mut enc = Vec::new();
    for i in 0..600 {
        let t = Instant::now();
        let _ =
            polyrec::encode::TextEncoder::encode(recs[0].encoder(), &[QUERIES[i % QUERIES.len()]])?;
        enc.push(t.elapsed().as_secs_f64() * 1e3);
    }
    enc.sort_by(f64::total_cmp);
    // The library call alone on this thread (request -> `Response` -> JSON bytes), for the
    // first 200 users in every scenario, their predictions cached first (the service's
    // warm-up below reuses them: the replicas share the first one's cache).
    let sample = users.len().min(200);
    let n_scen = scenarios.len().max(1);
    let keys: Vec<(u32, u32)> = (0..sample as u32)
        .flat_map(|u| (0..n_scen as u32).map(move |s| (u, s)))
        .collect();
    recs[0].warm_up(&keys);
    let mut lib = Vec::new();
    for i in 0..5_000 {
        let req = polyrec::Request {
            user: Some(users[i % sample].clone()),
            scenario: scenarios.get((i / sample) % n_scen).cloned(),
            k: Some(10),
            ..Default::default()
        };
        let t = Instant::now();
        let body = serde_json::to_vec(&recs[0].recommend(&req)?)?;
        lib.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(body);
    }
    lib.sort_by(f64::total_cmp);
    let items = recs[0].catalog_len();
    let service = Arc::new(Service::new(recs)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?.to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(serve(Arc::clone(&service), listener, async {
        let _ = stopped.await;
    }));
    // Cold: requests that find nothing in the per-user prediction cache run the model over
    // the catalog. Then the service's warm-up fills the cache for every (user, scenario),
    // and the measured rounds follow.
    let (cold, e0) = round(&addr, clients, 200, &users, &scenarios, false)?;
    let t = Instant::now();
    let warmed = service.warm_up();
    let warm_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (plain, e1) = round(&addr, clients, total, &users, &scenarios, false)?;
    let plain_s = t.elapsed().as_secs_f64();
    let n_query = total / 4;
    let (with_query, e2) = round(&addr, clients, n_query, &users, &scenarios, true)?;
    let _ = stop.send(());
    rt.block_on(server)??;
    println!("catalog {items} items; {clients} clients, {replicas} replicas, loopback");
    println!(
        "cold (before the warm-up; mostly cache misses): {} requests, {} errors, latency p50 {:.2} ms, p99 {:.2} ms",
        cold.len(),
        e0,
        percentile(&cold, 0.5),
        percentile(&cold, 0.99)
    );
    println!("warm-up: {warmed} (user, scenario) prediction rows in {warm_s:.1} s");
    println!(
        "top-10, no query: {} requests, {} errors, {:.0} requests/s, latency p50 {:.2} ms, p99 {:.2} ms",
        plain.len(),
        e1,
        plain.len() as f64 / plain_s,
        percentile(&plain, 0.5),
        percentile(&plain, 0.99)
    );
    println!(
        "top-10 with a query: {} requests, {} errors, latency p50 {:.2} ms, p99 {:.2} ms",
        with_query.len(),
        e2,
        percentile(&with_query, 0.5),
        percentile(&with_query, 0.99)
    );
    println!(
        "top-10 in-process (recommend + JSON, one thread, warm, no HTTP): {} calls, p50 {:.3} ms, p99 {:.3} ms",
        lib.len(),
        percentile(&lib, 0.5),
        percentile(&lib, 0.99)
    );
    println!(
        "query encoding alone (one thread): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&enc, 0.5),
        percentile(&enc, 0.99)
    );
    anyhow::ensure!(e0 + e1 + e2 == 0, "{} requests failed", e0 + e1 + e2);
    Ok(())
}
