//! `polyrec serve`: the HTTP JSON service and its web page over a model directory of
//! `polyrec train`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use polyrec::Recommender;
use polyrec::serve::{Service, serve, shutdown_signal};

const EXAMPLE: &str = "Example:
  polyrec serve --model runs/ml100k --addr 127.0.0.1:8080 &
  # the web page: http://127.0.0.1:8080/
  curl -s localhost:8080/recommend -d '{\"user\": \"196\", \"query\": \"a light comedy\", \"k\": 5}'
  curl -s localhost:8080/items -d '{\"id\": \"new-1\", \"name\": \"Night Train\", \"text\": \"A tense thriller on a night train\"}'
  curl -s localhost:8080/metrics
  # with --types items,friends a request may ask for both: {\"user\": \"2\", \"types\": [\"items\", \"friends\"]}";

/// Arguments of `polyrec serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLE)]
pub struct ServeArgs {
    /// A model directory written by `polyrec train`.
    #[arg(long)]
    model: PathBuf,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Model replicas serving requests in parallel (each one intra-op thread).
    #[arg(long, default_value_t = 2)]
    replicas: usize,
    /// Before listening, compute every known user's predictions in every scenario (the
    /// per-user cache the replicas share), so that no request waits for the model.
    #[arg(long)]
    warm: bool,
    #[command(flatten)]
    sources: super::recommend::LoadArgs,
}

pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (1..=64).contains(&a.replicas),
        "--replicas {}: must be in 1..=64",
        a.replicas
    );
    // Parallelism comes from the replicas; each runs libtorch on one thread.
    polyrec::encode::tch::set_num_threads(1);
    let options = a.sources.options();
    // The friend and topic models and the HNSW graph are built once; the other replicas share them (`Service::new`).
    let rest = polyrec::LoadOptions {
        social: None,
        topics: None,
        hnsw: None,
        ..options.clone()
    };
    let replicas = (0..a.replicas)
        .map(|n| Recommender::load(&a.model, if n == 0 { &options } else { &rest }))
        .collect::<Result<Vec<_>, _>>()?;
    let service = Arc::new(Service::new(replicas)?.with_model_dir(&a.model));
    if a.warm {
        let t = std::time::Instant::now();
        let n = service.warm_up();
        eprintln!(
            "polyrec serve: warmed {n} (user, scenario) prediction rows in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&a.addr).await?;
        eprintln!(
            "polyrec serve: {} replicas of {} listening on http://{} (the web page is at /)",
            a.replicas,
            a.model.display(),
            listener.local_addr()?
        );
        serve(service, listener, shutdown_signal()).await
    })?;
    eprintln!("polyrec serve: shut down after draining in-flight requests");
    Ok(ExitCode::SUCCESS)
}
