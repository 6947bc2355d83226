//! The HTTP JSON service behind `polyrec serve` (tokio + axum).
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /recommend` | a [`Request`] (`{"user": ID, "scenario": S, "query": TEXT, "k": 10, "weights": {TASK: W}}`; a new user sends `"profile"`) | a [`crate::Response`] |
//! | `POST /items` | a [`NewItem`] (`{"id": ..., "name": ..., "text": ...}`) | `201 {"item": ID}` |
//! | `GET /health` | | `{"status": "ok", ...}` |
//! | `GET /metrics` | | Prometheus text: requests and errors by route and status, a latency histogram |
//! | `GET /` | | the web page ([`crate::web`]): try requests, read reasons, see the model's metrics |
//! | `GET /users?prefix=P&limit=N` | | `{"users": [ID, ...], "more": bool}`: users whose id starts with `P` |
//! | `GET /users/{id}?limit=N` | | the user's attributes and latest interactions, with item names |
//! | `GET /model` | | dataset, model, scenarios, tasks, `metrics.json`, the training config, the plots |
//! | `GET /model/plots/{name}` | | one SVG plot of the model directory (`image/svg+xml`) |
//!
//! The model loads once per replica; each replica sits behind its own lock (libtorch
//! tensors are not shared between threads), requests take a free replica, and model work
//! runs on tokio's blocking pool, off the async threads. Bodies are limited to
//! [`MAX_BODY`] bytes and K to [`crate::recommend::MAX_K`]. A bad request gets a 4xx JSON
//! error `{"error": ..., "field": ...}` naming the field; the service never panics on input.
//! Graceful shutdown drains in-flight requests.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::recommend::{Error, NewItem, Recommender, Request};
use crate::web::UserIndex;

/// The largest request body, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// Latency histogram bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Recommender replicas and the service's counters.
pub struct Service {
    replicas: Vec<Mutex<Recommender>>,
    /// One permit per replica: model work waits for one on the async side, so that no more
    /// blocking threads run than there are replicas to run on.
    permits: tokio::sync::Semaphore,
    next: AtomicUsize,
    stats: Mutex<BTreeMap<&'static str, RouteStats>>,
    started: Instant,
    users: UserIndex,
    model_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("replicas", &self.replicas.len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside one request must not take the service down with it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Service {
    /// A service over one or more replicas of the same model (at least one).
    pub fn new(replicas: Vec<Recommender>) -> Result<Self, Error> {
        if replicas.is_empty() {
            return Err(Error::Load(
                "a service needs at least one recommender".into(),
            ));
        }
        let mut replicas = replicas;
        let (first, rest) = replicas.split_at_mut(1);
        for r in rest {
            r.share_caches(&first[0]);
        }
        let users = UserIndex::new(replicas[0].dataset());
        Ok(Self {
            permits: tokio::sync::Semaphore::new(replicas.len()),
            replicas: replicas.into_iter().map(Mutex::new).collect(),
            next: AtomicUsize::new(0),
            stats: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
            users,
            model_dir: None,
        })
    }

    /// The model directory the replicas were loaded from: `GET /model` reads its
    /// `metrics.json` and lists its SVG plots (without it, those are absent).
    pub fn with_model_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.model_dir = Some(dir.into());
        self
    }

    /// The model directory, when the service was given one.
    pub fn model_dir(&self) -> Option<&std::path::Path> {
        self.model_dir.as_deref()
    }

    pub(crate) fn users(&self) -> &UserIndex {
        &self.users
    }

    /// Runs `f` on a free replica (waiting for one when all are busy).
    pub(crate) fn with_replica<T>(&self, f: impl FnOnce(&Recommender) -> T) -> T {
        let n = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(r) = self.replicas[(start + i) % n].try_lock() {
                return f(&r);
            }
        }
        f(&lock(&self.replicas[start % n]))
    }

    /// Runs `f` on a replica that is free now, if any (`None` when all are busy or `f`
    /// declines).
    fn try_with_free_replica<T>(&self, f: impl FnOnce(&Recommender) -> Option<T>) -> Option<T> {
        let n = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .find_map(|i| self.replicas[(start + i) % n].try_lock().ok())
            .and_then(|r| f(&r))
    }

    /// Computes every known user's predictions in every scenario before serving, the
    /// replicas splitting the work (they share one cache). Returns how many were computed.
    pub fn warm_up(&self) -> usize {
        let keys: Vec<(u32, u32)> = {
            let r = lock(&self.replicas[0]);
            let ds = r.dataset();
            let scenarios = ds.scenarios.len().max(1) as u32;
            (0..ds.users.ids.len() as u32)
                .flat_map(|u| (0..scenarios).map(move |s| (u, s)))
                .collect()
        };
        let n = self.replicas.len();
        let chunk = keys.len().div_ceil(n).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .replicas
                .iter()
                .zip(keys.chunks(chunk))
                .map(|(r, part)| scope.spawn(move || lock(r).warm_up(part)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        })
    }

    /// Runs `f` on every replica (a change every replica must see).
    fn with_all<T>(
        &self,
        mut f: impl FnMut(&mut Recommender) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut guards: Vec<MutexGuard<'_, Recommender>> = self.replicas.iter().map(lock).collect();
        let mut out = None;
        for g in &mut guards {
            out = Some(f(g)?);
        }
        out.ok_or_else(|| Error::Load("no replica".into()))
    }

    fn record(&self, route: &'static str, status: StatusCode, seconds: f64) {
        let mut stats = lock(&self.stats);
        let s = stats.entry(route).or_default();
        *s.by_status.entry(status.as_u16()).or_default() += 1;
        s.count += 1;
        s.sum += seconds;
        for (b, &le) in s.buckets.iter_mut().zip(&BUCKETS) {
            if seconds <= le {
                *b += 1;
            }
        }
    }

    /// The counters in Prometheus text format.
    pub fn metrics_text(&self) -> String {
        use std::fmt::Write as _;
        let stats = lock(&self.stats);
        let mut s = String::new();
        s.push_str("# HELP polyrec_requests_total Requests by route and HTTP status.\n");
        s.push_str("# TYPE polyrec_requests_total counter\n");
        for (route, st) in stats.iter() {
            for (status, n) in &st.by_status {
                let _ = writeln!(
                    s,
                    "polyrec_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        s.push_str("# HELP polyrec_errors_total Requests answered with a 4xx or 5xx status.\n");
        s.push_str("# TYPE polyrec_errors_total counter\n");
        for (route, st) in stats.iter() {
            let errors: u64 = st
                .by_status
                .iter()
                .filter(|(c, _)| **c >= 400)
                .map(|(_, n)| n)
                .sum();
            let _ = writeln!(s, "polyrec_errors_total{{route=\"{route}\"}} {errors}");
        }
        // Replicas share their caches: any free one tells; none free, no cache lines.
        let caches = self
            .replicas
            .iter()
            .find_map(|r| r.try_lock().ok().map(|r| r.cache_stats()))
            .unwrap_or_default();
        s.push_str("# HELP polyrec_cache_entries Entries of the per-user caches.\n");
        s.push_str("# TYPE polyrec_cache_entries gauge\n");
        for (name, (len, _, _)) in ["predictions", "reasons"].iter().zip(caches) {
            let _ = writeln!(s, "polyrec_cache_entries{{cache=\"{name}\"}} {len}");
        }
        s.push_str("# HELP polyrec_cache_lookups_total Cache lookups by result.\n");
        s.push_str("# TYPE polyrec_cache_lookups_total counter\n");
        for (name, (_, hits, misses)) in ["predictions", "reasons"].iter().zip(caches) {
            let _ = writeln!(
                s,
                "polyrec_cache_lookups_total{{cache=\"{name}\",result=\"hit\"}} {hits}"
            );
            let _ = writeln!(
                s,
                "polyrec_cache_lookups_total{{cache=\"{name}\",result=\"miss\"}} {misses}"
            );
        }
        s.push_str("# HELP polyrec_request_seconds Request latency, body read to answer.\n");
        s.push_str("# TYPE polyrec_request_seconds histogram\n");
        for (route, st) in stats.iter() {
            for (b, le) in st.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    s,
                    "polyrec_request_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {b}"
                );
            }
            let _ = writeln!(
                s,
                "polyrec_request_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                st.count
            );
            let _ = writeln!(
                s,
                "polyrec_request_seconds_sum{{route=\"{route}\"}} {}",
                st.sum
            );
            let _ = writeln!(
                s,
                "polyrec_request_seconds_count{{route=\"{route}\"}} {}",
                st.count
            );
        }
        let _ = writeln!(
            s,
            "# TYPE polyrec_uptime_seconds gauge\npolyrec_uptime_seconds {}",
            self.started.elapsed().as_secs_f64()
        );
        s
    }
}

pub(crate) fn error(status: StatusCode, message: String, field: Option<String>) -> HttpResponse {
    let body = match field {
        Some(f) => json!({ "error": message, "field": f }),
        None => json!({ "error": message }),
    };
    (status, Json(body)).into_response()
}

fn from_error(e: &Error) -> HttpResponse {
    match e {
        Error::Request { field, .. } => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
            Some((*field).to_string()),
        ),
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None),
    }
}

/// Parses a JSON body; a malformed one becomes a 400 naming the field at fault.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Box<HttpResponse>> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("invalid request body: {}", e.inner()),
            field,
        ))
    })
}

/// Runs model work on the blocking pool, off the async threads, at most one task per
/// replica at a time (the others wait here, without a thread: more threads than replicas
/// would only queue on the replicas' locks and crowd the cores).
pub(crate) async fn blocking(
    service: &Arc<Service>,
    run: impl FnOnce(Arc<Service>) -> HttpResponse + Send + 'static,
) -> HttpResponse {
    let Ok(_permit) = service.permits.acquire().await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is shutting down".into(),
            None,
        );
    };
    let s = Arc::clone(service);
    match tokio::task::spawn_blocking(move || run(s)).await {
        Ok(r) => r,
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("request failed: {e}"),
            None,
        ),
    }
}

/// Counts and times every request, those refused before a handler (too large, wrong
/// method) included.
async fn track(
    State(service): State<Arc<Service>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> HttpResponse {
    let route = match req.uri().path() {
        "/recommend" => "recommend",
        "/items" => "items",
        "/health" => "health",
        "/metrics" => "metrics",
        "/" => "page",
        p if p.starts_with("/assets/") => "page",
        p if p == "/users" || p.starts_with("/users/") => "users",
        p if p == "/model" || p.starts_with("/model/") => "model",
        _ => "other",
    };
    let t = Instant::now();
    let resp = next.run(req).await;
    service.record(route, resp.status(), t.elapsed().as_secs_f64());
    resp
}

async fn recommend(State(service): State<Arc<Service>>, body: Bytes) -> HttpResponse {
    // A request the caches answer (a known user's top K without text) runs here on the
    // async thread when a replica is free at once: it costs well under a millisecond, less
    // than handing it to another thread. Everything else goes to the blocking pool.
    if let Ok(req) = serde_json::from_slice::<Request>(&body)
        && let Ok(_permit) = service.permits.try_acquire()
        && let Some(resp) = service.try_with_free_replica(|r| {
            r.answers_from_cache(&req).then(|| match r.recommend(&req) {
                Ok(resp) => (StatusCode::OK, Json(resp)).into_response(),
                Err(e) => from_error(&e),
            })
        })
    {
        return resp;
    }
    blocking(&service, move |s| {
        let req: Request = match parse(&body) {
            Ok(r) => r,
            Err(resp) => return *resp,
        };
        match s.with_replica(|r| r.recommend(&req)) {
            Ok(resp) => (StatusCode::OK, Json(resp)).into_response(),
            Err(e) => from_error(&e),
        }
    })
    .await
}

async fn items(State(service): State<Arc<Service>>, body: Bytes) -> HttpResponse {
    blocking(&service, move |s| {
        let item: NewItem = match parse(&body) {
            Ok(r) => r,
            Err(resp) => return *resp,
        };
        let id = item.id.clone();
        match s.with_all(|r| r.add_item(item.clone())) {
            Ok(_) => (StatusCode::CREATED, Json(json!({ "item": id }))).into_response(),
            Err(e) => from_error(&e),
        }
    })
    .await
}

async fn health(State(service): State<Arc<Service>>) -> HttpResponse {
    let (dataset, model, items) = service.with_replica(|r| {
        (
            r.dataset().name.clone(),
            r.ranker().config().name().to_string(),
            r.catalog_len(),
        )
    });
    Json(json!({
        "status": "ok",
        "dataset": dataset,
        "model": model,
        "items": items,
        "replicas": service.replicas.len(),
    }))
    .into_response()
}

async fn metrics(State(service): State<Arc<Service>>) -> HttpResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        service.metrics_text(),
    )
        .into_response()
}

async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        format!("no route {method} {}", uri.path()),
        None,
    )
}

/// The routes, over `service`.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/recommend", post(recommend))
        .route("/items", post(items))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(crate::web::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&service),
            track,
        ))
        .with_state(service)
}

/// Serves `service` on `listener` until `shutdown` completes, then drains in-flight
/// requests and returns.
pub async fn serve(
    service: Arc<Service>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(service))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// A minimal blocking HTTP/1.1 client with keep-alive (no TLS, no chunked bodies), enough
/// for smoke checks and the load test of this service.
#[derive(Debug)]
pub struct Client {
    stream: std::io::BufReader<std::net::TcpStream>,
    host: String,
}

impl Client {
    /// Connects to `addr` (`127.0.0.1:8080`).
    pub fn connect(addr: &str) -> std::io::Result<Self> {
        let stream = std::net::TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: std::io::BufReader::new(stream),
            host: addr.to_string(),
        })
    }

    /// Sends one request and reads the answer: `(status, body)`.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        use std::io::{BufRead, Read, Write};
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let mut line = String::new();
        self.stream.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let mut len = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line)? == 0 {
                return Err(bad("connection closed in the headers"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().map_err(|_| bad("bad content-length"))?;
            }
        }
        let mut out = vec![0u8; len];
        self.stream.read_exact(&mut out)?;
        Ok((status, out))
    }
}
