//! `polyrec train` and `polyrec eval`: train a multi-scenario multi-task model from a
//! dataset spec, write a model directory, and score it again later.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use polyrec::data::{Dataset, DatasetSpec};
use polyrec::encode::tch::Tensor;
use polyrec::encode::{EmbeddingCache, EncoderOptions, SentenceEncoder, default_model_dir};
use polyrec::eval::plot::{LogEntry, curves_svg};
use polyrec::rank::evaluate::{Part, evaluate};
use polyrec::rank::prepare::{Prepared, TextInputs, make_split, prepare, texts};
use polyrec::rank::train::{EpochRecord, FitOptions, Observer, fit};
use polyrec::rank::{
    DeviceRequest, ModelConfig, Ranker, RunConfig, SplitConfig, TextEncoderSpec, TextTuning,
    model_dir,
};
use serde_json::Value;

fn models_help() -> String {
    let mut s = String::from("Models (--model):\n");
    for (name, line) in polyrec::rank::MODEL_HELP {
        let _ = writeln!(s, "  {name:<14} {line}");
    }
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
    /// The model (overrides the config's [model] with that model's defaults).
    #[arg(long)]
    model: Option<String>,
    /// `random`, `temporal`, `cold-items`, `cold-users` or `file:PATH`.
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
}

/// Applies `KEY=VALUE` overrides (dotted keys, TOML values) to a run configuration.
fn apply_sets(cfg: RunConfig, sets: &[String]) -> anyhow::Result<RunConfig> {
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

struct Bars {
    bar: Option<indicatif::ProgressBar>,
}

impl Observer for Bars {
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

fn summary_line(report: &Value) -> String {
    let mut s = Vec::new();
    if let Some(o) = report["overall"].as_object() {
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

fn load_data(spec_path: &Path, data_dir: Option<&Path>) -> anyhow::Result<(DatasetSpec, Dataset)> {
    let spec = DatasetSpec::from_toml_file(spec_path)?;
    let dir = spec.resolve_data_dir(spec_path, data_dir)?;
    anyhow::ensure!(
        dir.is_dir(),
        "data folder {} not found (the default MovieLens-100K data is installed by scripts/setup.sh)",
        dir.display()
    );
    let ds = Dataset::load_spec(&spec, &dir)?;
    Ok((spec, ds))
}

fn text_inputs(cfg: &RunConfig, ds: &Dataset, model: Option<&Path>) -> anyhow::Result<TextInputs> {
    let (items, users) = texts(ds);
    let any = |v: &[&str]| v.iter().any(|t| !t.is_empty());
    if !cfg.features.text || !(any(&items) || any(&users)) {
        return Ok(TextInputs::default());
    }
    let dir = match model {
        Some(m) => m.to_path_buf(),
        None => default_model_dir().context(
            "text inputs need a language model: run scripts/setup.sh, pass --text-model DIR, or set features.text = false",
        )?,
    };
    let encoder = SentenceEncoder::load(
        &dir,
        EncoderOptions {
            device: DeviceRequest::Cpu.resolve()?,
            ..Default::default()
        },
    )?;
    let cache_dir = polyrec::home_dir().join("embeddings");
    let mut cache = EmbeddingCache::open(&cache_dir, &encoder);
    let item_emb = any(&items)
        .then(|| super::encode_with_progress(&encoder, Some(&mut cache), &items))
        .transpose()?
        .map(|(e, _)| e);
    let user_emb = any(&users)
        .then(|| super::encode_with_progress(&encoder, Some(&mut cache), &users))
        .transpose()?
        .map(|(e, _)| e);
    cache.save()?;
    let k = cfg.features.finetune_layers;
    let item_tuning = if k > 0 && item_emb.is_some() {
        Some(finetune_inputs(&encoder, &items, k)?)
    } else {
        None
    };
    Ok(TextInputs {
        items: item_emb,
        users: user_emb,
        item_tuning,
    })
}

/// Lower-layer token states of every item text (row 0: the unknown item) and the top `k`
/// layers' weights, for fine-tuning them with the ranker.
fn finetune_inputs(
    encoder: &SentenceEncoder,
    items: &[&str],
    k: usize,
) -> anyhow::Result<(TextEncoderSpec, TextTuning)> {
    let files = encoder.files();
    let total = files.bert.num_hidden_layers as usize;
    anyhow::ensure!(
        k <= total,
        "features.finetune_layers = {k}: the model {} has {total} layers",
        files.dir.display()
    );
    eprintln!(
        "fine-tuning: lower-layer states of {} item texts",
        items.len()
    );
    let (states, mask) = encoder.lower_states(items, k)?;
    let zero_s = states.zeros_like().narrow(0, 0, 1);
    let zero_m = mask.zeros_like().narrow(0, 0, 1);
    let spec = TextEncoderSpec {
        layers: k,
        bert: files.bert.clone(),
        pooling: files.pooling.name().to_string(),
        normalize: files.normalize,
    };
    Ok((
        spec,
        TextTuning {
            states: Tensor::cat(&[zero_s, states], 0),
            mask: Tensor::cat(&[zero_m, mask], 0),
            weights: encoder.top_layer_weights(k),
        },
    ))
}

/// The test metrics, with the cold block on cold-start splits.
fn test_metrics(model: &Ranker, data: &Prepared, ds: &Dataset, cfg: &RunConfig) -> Value {
    evaluate(
        model,
        data,
        ds,
        Part::Test,
        cold_key(&cfg.split),
        cfg.train.eval_batch_size,
    )
}

fn cold_key(split: &SplitConfig) -> Option<&'static str> {
    match split {
        SplitConfig::ColdItems { .. } => Some("cold_items"),
        SplitConfig::ColdUsers { .. } => Some("cold_users"),
        _ => None,
    }
}

pub fn train(a: TrainArgs) -> anyhow::Result<ExitCode> {
    set_threads(a.threads)?;
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
    cfg.spec = Some(std::path::absolute(&a.spec)?.display().to_string());
    if let SplitConfig::File { path } = &mut cfg.split {
        *path = std::path::absolute(&*path)?.display().to_string();
    }
    cfg.check()?;
    let device = a.device.resolve()?;
    let (spec, ds) = load_data(&a.spec, a.data_dir.as_deref())?;
    let split = make_split(&ds, &cfg.split, cfg.train.seed, Path::new("."))?;
    let text = text_inputs(&cfg, &ds, a.text_model.as_deref())?;
    let (data, side) = prepare(&ds, Some(&spec), &cfg, split, text)?;
    polyrec::encode::tch::manual_seed(cfg.train.seed as i64);
    let mut model = Ranker::new(
        data.space.clone(),
        cfg.model.clone(),
        side,
        device,
        cfg.train.uncertainty,
    )?;
    eprintln!(
        "training {} on {} ({} train / {} valid / {} test rows; fields: {}; {} parameters; {device:?})",
        cfg.model.name(),
        ds.name,
        data.split.train.len(),
        data.split.valid.len(),
        data.split.test.len(),
        data.space.field_names().join(", "),
        model.trainable_parameters()
    );
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let summary = fit(
        &mut model,
        &data,
        &ds,
        &cfg.train,
        FitOptions {
            checkpoint: Some(&a.out.join("checkpoint")),
            stop_after: None,
            run_key: Some(&cfg.to_toml()?),
        },
        &mut Bars { bar: None },
    )?;
    let metrics = test_metrics(&model, &data, &ds, &cfg);
    model_dir::save(&a.out, &model, &cfg)?;
    write_outputs(&a.out, &cfg, &data, &summary, &metrics)?;
    println!("{}", polyrec::eval::report::to_markdown(&metrics));
    println!(
        "best epoch {} of {}; model directory: {}",
        summary.best_epoch,
        summary.history.len(),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn write_outputs(
    out: &Path,
    cfg: &RunConfig,
    data: &Prepared,
    summary: &polyrec::rank::train::TrainSummary,
    metrics: &Value,
) -> anyhow::Result<()> {
    let write = |name: &str, bytes: &[u8]| polyrec::rank::io::atomic_write(&out.join(name), bytes);
    write(
        "metrics.json",
        serde_json::to_string_pretty(metrics)?.as_bytes(),
    )?;
    let mut lines = String::new();
    let mut log = Vec::new();
    for r in &summary.history {
        lines.push_str(&serde_json::to_string(r)?);
        lines.push('\n');
        log.push(LogEntry {
            epoch: r.epoch as u32,
            split: "train".into(),
            task: "all".into(),
            metric: "loss".into(),
            value: r.train_loss,
        });
        if let Some(o) = r.valid["overall"].as_object() {
            for (task, m) in o {
                for key in ["auc", "rmse", "accuracy"] {
                    if let Some(v) = m[key].as_f64() {
                        log.push(LogEntry {
                            epoch: r.epoch as u32,
                            split: "valid".into(),
                            task: task.clone(),
                            metric: key.into(),
                            value: v,
                        });
                    }
                }
            }
        }
    }
    write("history.jsonl", lines.as_bytes())?;
    write(
        "curves.svg",
        curves_svg(&format!("{} training", cfg.model.name()), &log).as_bytes(),
    )?;
    let sps: Vec<f64> = summary.history.iter().map(|r| r.samples_per_sec).collect();
    let mut report = format!(
        "# {} on {}\n\nBest epoch {} of {} (validation score {:.4}{}). Training {:.0} samples/s (mean over epochs).\n\nInput fields: {}.\n\n## Test metrics\n\n{}\n\n![curves](curves.svg)\n\n## Configuration\n\n```toml\n{}```\n",
        cfg.model.name(),
        cfg.spec.as_deref().unwrap_or("?"),
        summary.best_epoch,
        summary.history.len(),
        summary.best_score,
        if summary.stopped_early {
            ", stopped early"
        } else {
            ""
        },
        sps.iter().sum::<f64>() / sps.len().max(1) as f64,
        data.space.field_names().join(", "),
        polyrec::eval::report::to_markdown(metrics),
        cfg.to_toml()?
    );
    report.push('\n');
    write("report.md", report.as_bytes())?;
    Ok(())
}

pub fn eval(a: EvalArgs) -> anyhow::Result<ExitCode> {
    set_threads(a.threads)?;
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
    let (spec, ds) = load_data(&spec_path, a.data_dir.as_deref())?;
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
