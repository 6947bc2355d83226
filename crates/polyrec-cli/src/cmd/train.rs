//! `polyrec train` and `polyrec eval`: train a multi-scenario multi-task model from a
//! dataset spec, write a model directory, and score it again later.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use polyrec::Pipeline;
use polyrec::pipeline::{load_dataset, test_metrics};
use polyrec::rank::collective::Collective;
use polyrec::rank::prepare::make_split;
use polyrec::rank::retrieval::RetrievalRunConfig;
use polyrec::rank::train::{EpochRecord, Observer};
use polyrec::rank::{DeviceRequest, ModelConfig, RunConfig, SplitConfig, model_dir};
use polyrec::retrieval::RetrievalPipeline;
use serde_json::Value;

fn models_help() -> String {
    let mut s = String::from("Models (--model):\n");
    for (name, line) in polyrec::rank::MODEL_HELP {
        let _ = writeln!(s, "  {name:<14} {line}");
    }
    let _ = writeln!(
        s,
        "  {:<14} two-tower retrieval (ids, attributes, text, graph, ordered history); top-K metrics, with --split loo",
        "two_tower"
    );
    let k = polyrec::rank::TrainConfig::default().ensemble;
    let _ = writeln!(
        s,
        "\nA ranking model trains as an ensemble of {k} copies whose outputs are averaged (the\n\
         default, best on the ML-100K protocol); `--set train.ensemble=1` trains one, in about\n\
         1/{k} of the time."
    );
    s.push_str(
        "\nExample:\n  polyrec train --spec examples/data/ml-100k.toml --model pepnet --out runs/ml100k",
    );
    s
}

/// Arguments of `polyrec train`.
#[derive(Debug, clap::Args)]
#[command(after_help = models_help())]
pub struct TrainArgs {
    /// The dataset spec (TOML).
    #[arg(long)]
    spec: PathBuf,
    /// A run configuration (TOML: [model], [features], [train], [split]); defaults otherwise.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The model (overrides the config's [model] with that model's defaults); `two_tower`
    /// trains the retrieval model (top-K metrics, usually with `--split loo`).
    #[arg(long)]
    model: Option<String>,
    /// `random`, `temporal`, `cold-items`, `cold-users`, `loo` (leave-one-out by time) or
    /// `file:PATH`.
    #[arg(long)]
    split: Option<String>,
    /// Seed of every random choice.
    #[arg(long)]
    seed: Option<u64>,
    /// Maximum epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    device: DeviceRequest,
    /// CPU threads for libtorch (default: libtorch's choice).
    #[arg(long)]
    threads: Option<i32>,
    /// Folder of the data files (overrides the spec's data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Sentence-transformers model folder for text inputs (default: all-MiniLM-L6-v2 from the set-up).
    #[arg(long)]
    text_model: Option<PathBuf>,
    /// Override one config value, e.g. `--set features.text=true --set train.lr=0.001`
    /// (the value is TOML; a bare word is a string). Applied after --config and --model.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// The model directory to write.
    #[arg(long)]
    out: PathBuf,
    /// For checking a data-parallel job: every rank writes `rank-R.txt` in this folder, its
    /// process id on the first line, then `step S SHA256` after every optimiser step (the
    /// digest of its parameters; equal on every rank when the ranks agree).
    #[arg(long, hide = true)]
    digest_dir: Option<PathBuf>,
}

/// Applies `KEY=VALUE` overrides (dotted keys, TOML values) to a run configuration.
fn apply_sets<T: serde::Serialize + serde::de::DeserializeOwned>(
    cfg: T,
    sets: &[String],
) -> anyhow::Result<T> {
    if sets.is_empty() {
        return Ok(cfg);
    }
    let mut root = toml::Value::try_from(&cfg)?;
    for s in sets {
        let (key, raw) = s
            .split_once('=')
            .with_context(|| format!("--set {s}: expected KEY=VALUE"))?;
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_string()));
        let parts: Vec<&str> = key.trim().split('.').collect();
        let mut node = &mut root;
        for (i, part) in parts.iter().enumerate() {
            let table = node
                .as_table_mut()
                .with_context(|| format!("--set {s}: `{}` is not a table", parts[..i].join(".")))?;
            if i + 1 == parts.len() {
                table.insert((*part).to_string(), value.clone());
                break;
            }
            node = table
                .entry((*part).to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        }
    }
    root.try_into()
        .map_err(|e| anyhow::anyhow!("--set: the resulting config is invalid: {e}"))
}

/// Arguments of `polyrec eval`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  polyrec eval --model runs/ml100k --json")]
pub struct EvalArgs {
    /// A model directory written by `polyrec train`.
    #[arg(long)]
    model: PathBuf,
    /// The dataset spec (default: the one the model was trained on).
    #[arg(long)]
    spec: Option<PathBuf>,
    /// The split (default: the one the model was trained with).
    #[arg(long)]
    split: Option<String>,
    /// Folder of the data files (overrides the spec's data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: DeviceRequest,
    /// CPU threads for libtorch.
    #[arg(long)]
    threads: Option<i32>,
    /// Print the metrics as JSON (the shape of metrics.json).
    #[arg(long)]
    json: bool,
}

pub(crate) struct Bars {
    pub(crate) bar: Option<indicatif::ProgressBar>,
}

impl Observer for Bars {
    fn stage(&mut self, line: &str) {
        eprintln!("{line}");
    }
    fn epoch_start(&mut self, epoch: usize, batches: usize) {
        let bar = indicatif::ProgressBar::new(batches as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} batches, {msg}, eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(epoch.to_string());
        self.bar = Some(bar);
    }
    fn batch(&mut self, done: usize, loss: f64, sps: f64) {
        if let Some(b) = &self.bar {
            b.set_position(done as u64);
            b.set_message(format!("loss {loss:.4}, {sps:.0} samples/s"));
        }
    }
    fn epoch_end(&mut self, r: &EpochRecord) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        eprintln!(
            "epoch {:>3}: loss {:.4}, {:.0} samples/s, valid score {:.4}  {}",
            r.epoch,
            r.train_loss,
            r.samples_per_sec,
            r.valid_score,
            summary_line(&r.valid)
        );
    }
}

/// The observer of one rank: rank 0 draws the bars, every rank writes its parameter
/// digests when asked (`--digest-dir`).
struct RankObserver {
    bars: Option<Bars>,
    digests: Option<std::io::LineWriter<std::fs::File>>,
}

impl RankObserver {
    fn new(comm: &dyn Collective, digest_dir: Option<&Path>) -> anyhow::Result<Self> {
        let digests = match digest_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let path = dir.join(format!("rank-{}.txt", comm.rank()));
                let mut f = std::io::LineWriter::new(
                    std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?,
                );
                use std::io::Write as _;
                writeln!(f, "pid {}", std::process::id())
                    .with_context(|| format!("writing {}", path.display()))?;
                Some(f)
            }
            None => None,
        };
        Ok(Self {
            bars: comm.is_root().then_some(Bars { bar: None }),
            digests,
        })
    }
}

impl Observer for RankObserver {
    fn stage(&mut self, line: &str) {
        if let Some(b) = &mut self.bars {
            b.stage(line);
        }
    }
    fn epoch_start(&mut self, epoch: usize, batches: usize) {
        if let Some(b) = &mut self.bars {
            b.epoch_start(epoch, batches);
        }
    }
    fn batch(&mut self, done: usize, loss: f64, sps: f64) {
        if let Some(b) = &mut self.bars {
            b.batch(done, loss, sps);
        }
    }
    fn epoch_end(&mut self, r: &EpochRecord) {
        if let Some(b) = &mut self.bars {
            b.epoch_end(r);
        }
    }
    fn wants_parameter_digest(&self) -> bool {
        self.digests.is_some()
    }
    fn parameters(&mut self, step: i64, digest: &str) {
        use std::io::Write as _;
        if let Some(f) = &mut self.digests
            && writeln!(f, "step {step} {digest}").is_err()
        {
            // A full disk loses the check, not the run.
            self.digests = None;
        }
    }
}

fn summary_line(report: &Value) -> String {
    let mut s = Vec::new();
    if let Some(o) = report["overall"].as_object() {
        if let Some(ndcg) = o.get("ndcg@10").and_then(Value::as_f64) {
            let hit = o.get("hit@10").and_then(Value::as_f64).unwrap_or(f64::NAN);
            s.push(format!("hit@10 {hit:.4}, ndcg@10 {ndcg:.4}"));
        }
        for (task, m) in o {
            for key in ["auc", "rmse", "accuracy"] {
                if let Some(v) = m[key].as_f64() {
                    s.push(format!("{task} {key} {v:.4}"));
                }
            }
        }
    }
    s.join(", ")
}

fn set_threads(threads: Option<i32>) -> anyhow::Result<()> {
    if let Some(t) = threads {
        anyhow::ensure!(
            (1..=1024).contains(&t),
            "--threads {t}: must be in 1..=1024"
        );
        polyrec::encode::tch::set_num_threads(t);
    }
    Ok(())
}

/// Whether the run trains the two-tower retrieval model: `--model two_tower`, or a config
/// whose `[model]` has `kind = "two_tower"` (without another `--model`).
fn is_two_tower(a: &TrainArgs) -> anyhow::Result<bool> {
    if let Some(m) = &a.model {
        return Ok(m == "two_tower");
    }
    let Some(p) = &a.config else {
        return Ok(false);
    };
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    let table: toml::Table = toml::from_str(&text).with_context(|| format!("{}", p.display()))?;
    Ok(table
        .get("model")
        .and_then(|m| m.get("kind"))
        .and_then(toml::Value::as_str)
        == Some("two_tower"))
}

fn train_two_tower(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = match &a.config {
        Some(p) => RetrievalRunConfig::from_toml_file(p)?,
        None => RetrievalRunConfig::default(),
    };
    if let Some(s) = &a.split {
        cfg.split = SplitConfig::parse_cli(s)?;
    }
    cfg = apply_sets(cfg, &a.sets)?;
    if let Some(s) = a.seed {
        cfg.train.seed = s;
    }
    if let Some(e) = a.epochs {
        cfg.train.epochs = e;
    }
    let pipeline = RetrievalPipeline {
        spec: a.spec,
        run: cfg,
        data_dir: a.data_dir,
        text_model: a.text_model,
        device: a.device,
        cache_dir: None,
    };
    let trained = pipeline.run(&a.out, &mut Bars { bar: None })?;
    println!("{}", topk_markdown(&trained.metrics));
    println!(
        "best epoch {} of {}; model directory: {}",
        trained.summary.best_epoch,
        trained.summary.history.len(),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A table of the top-K metrics: one row per group (overall, scenarios, cold items) of the
/// model and one for the most-popular baseline.
fn topk_markdown(metrics: &Value) -> String {
    const KEYS: [&str; 4] = ["hit@10", "ndcg@10", "recall@20", "mrr@20"];
    let mut s = format!(
        "| model | group | users | {} |\n|---|---|---|{}\n",
        KEYS.join(" | "),
        "---|".repeat(KEYS.len())
    );
    for (label, key) in [("two_tower", "topk"), ("most popular", "most_popular")] {
        let Some(groups) = metrics[key].as_object() else {
            continue;
        };
        let order = std::iter::once("overall").chain(
            groups
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "overall"),
        );
        for g in order {
            let m = &groups[g];
            let _ = write!(s, "| {label} | {g} | {} |", m["users"]);
            for k in KEYS {
                let _ = write!(s, " {:.4} |", m[k].as_f64().unwrap_or(f64::NAN));
            }
            s.push('\n');
        }
    }
    s
}

/// `polyrec train`; under an MPI launcher, one rank of a data-parallel job.
pub fn train(a: TrainArgs, comm: &dyn Collective) -> anyhow::Result<ExitCode> {
    set_threads(a.threads)?;
    if is_two_tower(&a)? {
        anyhow::ensure!(
            comm.size() == 1,
            "the two-tower model trains in one process: run it without mpirun (data-parallel training covers the ranking models)"
        );
        return train_two_tower(a);
    }
    let mut cfg = match &a.config {
        Some(p) => RunConfig::from_toml_file(p)?,
        None => RunConfig::default(),
    };
    if let Some(m) = &a.model {
        cfg.model = ModelConfig::from_name(m)?;
    }
    if let Some(s) = &a.split {
        cfg.split = SplitConfig::parse_cli(s)?;
    }
    cfg = apply_sets(cfg, &a.sets)?;
    if let Some(s) = a.seed {
        cfg.train.seed = s;
    }
    if let Some(e) = a.epochs {
        cfg.train.epochs = e;
    }
    let pipeline = Pipeline {
        spec: a.spec,
        run: cfg,
        data_dir: a.data_dir,
        text_model: a.text_model,
        device: a.device,
        cache_dir: None,
    };
    let mut observer = RankObserver::new(comm, a.digest_dir.as_deref())?;
    let Some(trained) = pipeline.run_on(&a.out, &mut observer, comm)? else {
        return Ok(ExitCode::SUCCESS);
    };
    println!("{}", polyrec::eval::report::to_markdown(&trained.metrics));
    println!(
        "best epoch {} of {}; model directory: {}",
        trained.summary.best_epoch,
        trained.summary.history.len(),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn eval(a: EvalArgs) -> anyhow::Result<ExitCode> {
    set_threads(a.threads)?;
    if a.model.join("tower.json").is_file() {
        anyhow::bail!(
            "{} holds a two-tower retrieval model: its top-K metrics are in metrics.json (`topk`), written by `polyrec train --model two_tower`",
            a.model.display()
        );
    }
    let device = a.device.resolve()?;
    let (model, mut cfg) = model_dir::load(&a.model, device)?;
    let spec_path = match (&a.spec, &cfg.spec) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => PathBuf::from(s),
        (None, None) => anyhow::bail!("the model directory names no spec: pass --spec"),
    };
    if let Some(s) = &a.split {
        cfg.split = SplitConfig::parse_cli(s)?;
    }
    let (spec, ds) = load_dataset(&spec_path, a.data_dir.as_deref())?;
    let split = make_split(&ds, &cfg.split, cfg.train.seed, Path::new("."))?;
    let data = polyrec::rank::prepare::prepare_for(&ds, Some(&spec), &cfg, model.space(), split)?;
    let metrics = test_metrics(&model, &data, &ds, &cfg);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&metrics)?);
    } else {
        println!("{}", polyrec::eval::report::to_markdown(&metrics));
    }
    Ok(ExitCode::SUCCESS)
}
