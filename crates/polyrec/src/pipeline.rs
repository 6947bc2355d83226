//! The whole flow as one call: ingest a dataset from its spec, encode its texts with the
//! language model (through the embedding cache), build the knowledge graph, train a
//! multi-scenario multi-task model, evaluate it per scenario x task, write the model
//! directory, and return a [`Recommender`] over the trained model.
//!
//! ```no_run
//! use polyrec::pipeline::Pipeline;
//! use polyrec::rank::train::SilentObserver;
//!
//! // One TOML: `spec = "..."` plus the run configuration's [model], [features], [train]
//! // and [split] tables (see docs/training.md), and optionally `text_model`, `data_dir`
//! // and `device`.
//! let pipeline = Pipeline::from_toml_file("examples/train/protocol-mmoe.toml".as_ref())?;
//! let trained = pipeline.run("runs/mmoe".as_ref(), &mut SilentObserver)?;
//! println!("{}", polyrec::eval::report::to_markdown(&trained.metrics));
//! let answer = trained.recommender.recommend(&polyrec::Request {
//!     user: Some("196".into()),
//!     query: Some("a light comedy for a rainy evening".into()),
//!     ..Default::default()
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
use std::path::{Path, PathBuf};

use polyrec_data::{Dataset, DatasetSpec};
use polyrec_encode::{EmbeddingCache, EncoderOptions, SentenceEncoder, TextEncoder};
use polyrec_eval::plot::{LogEntry, bars_svg, curves_svg};
use polyrec_rank::collective::{Collective, SingleProcess};
use polyrec_rank::evaluate::{Part, evaluate};
use polyrec_rank::prepare::{Prepared, TextInputs, make_split, prepare, texts};
use polyrec_rank::train::{FitOptions, Observer, TrainSummary, fit};
use polyrec_rank::{
    DeviceRequest, Ranker, RunConfig, SplitConfig, TextEncoderSpec, TextTuning, model_dir,
};
use serde_json::Value;
use tch::Tensor;

use crate::recommend::{Error, Recommender};

/// Keys of a pipeline TOML beside the run configuration's.
const PIPELINE_KEYS: [&str; 3] = ["text_model", "data_dir", "device"];

/// A training run from a dataset spec to a [`Recommender`].
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The dataset spec (TOML).
    pub spec: PathBuf,
    /// The model, inputs, trainer and split.
    pub run: RunConfig,
    /// Folder of the data files (default: the spec's `data_dir`).
    pub data_dir: Option<PathBuf>,
    /// The sentence-transformers model folder (default: the set-up's all-MiniLM-L6-v2).
    pub text_model: Option<PathBuf>,
    /// Where the ranker trains.
    pub device: DeviceRequest,
    /// The embedding cache folder (default: `embeddings` in [`crate::home_dir`]).
    pub cache_dir: Option<PathBuf>,
}

/// What [`Pipeline::run`] returns.
#[derive(Debug)]
pub struct Trained {
    /// The trained model, ready to answer requests.
    pub recommender: Recommender,
    /// Test metrics per scenario x task (the content of `metrics.json`).
    pub metrics: Value,
    /// Epochs, best epoch and validation scores.
    pub summary: TrainSummary,
    /// The model directory written.
    pub dir: PathBuf,
}

impl Pipeline {
    /// A pipeline with the default run configuration over a dataset spec.
    pub fn new(spec: impl Into<PathBuf>) -> Self {
        Self {
            spec: spec.into(),
            run: RunConfig::default(),
            data_dir: None,
            text_model: None,
            device: DeviceRequest::Auto,
            cache_dir: None,
        }
    }

    /// Reads a pipeline TOML: `spec` (relative paths are relative to the file), optional
    /// `text_model`, `data_dir` and `device`, and the run configuration's tables.
    pub fn from_toml_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Load(format!("{}: {e}", path.display())))?;
        Self::from_toml_str(&text, path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| Error::Load(format!("{}: {e}", path.display())))
    }

    /// Parses a pipeline TOML whose relative paths are relative to `base`.
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Self, Error> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| Error::Load(format!("invalid TOML: {e}")))?;
        let path_key = |table: &mut toml::Table, key: &str| -> Result<Option<PathBuf>, Error> {
            match table.remove(key) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(base.join(s))),
                Some(other) => Err(Error::Load(format!(
                    "`{key}` must be a path string, not `{other}`"
                ))),
            }
        };
        let spec = path_key(&mut table, "spec")?
            .ok_or_else(|| Error::Load("`spec` (the dataset spec's path) is missing".into()))?;
        let text_model = path_key(&mut table, PIPELINE_KEYS[0])?;
        let data_dir = path_key(&mut table, PIPELINE_KEYS[1])?;
        let device = match table.remove(PIPELINE_KEYS[2]) {
            None => DeviceRequest::Auto,
            Some(toml::Value::String(s)) => s
                .parse()
                .map_err(|e| Error::Load(format!("`device`: {e}")))?,
            Some(other) => {
                return Err(Error::Load(format!(
                    "`device` must be a string, not `{other}`"
                )));
            }
        };
        let run: RunConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e| Error::Load(format!("invalid run configuration: {e}")))?;
        Ok(Self {
            spec,
            run,
            data_dir,
            text_model,
            device,
            cache_dir: None,
        })
    }

    /// Ingests, encodes, trains, evaluates and writes the model directory `out`
    /// (`model.safetensors`, `train.toml`, `metrics.json`, `history.jsonl`, `report.md`
    /// and the plots), then returns the trained [`Recommender`].
    pub fn run(&self, out: &Path, observer: &mut dyn Observer) -> Result<Trained, Error> {
        self.run_on(out, observer, &SingleProcess)?
            .ok_or_else(|| Error::Load("a single-process run returned no model".into()))
    }

    /// [`Pipeline::run`] as one rank of a data-parallel job: every rank ingests and
    /// prepares the data and trains (see [`polyrec_rank::train::fit`]); rank 0 alone
    /// writes the embedding cache (the others read it after it), validates, and writes the
    /// model directory, and only rank 0 returns the trained model (`None` elsewhere).
    pub fn run_on(
        &self,
        out: &Path,
        observer: &mut dyn Observer,
        comm: &dyn Collective,
    ) -> Result<Option<Trained>, Error> {
        let mut cfg = self.run.clone();
        cfg.spec = Some(absolute(&self.spec)?.display().to_string());
        if let SplitConfig::File { path } = &mut cfg.split {
            *path = absolute(Path::new(path.as_str()))?.display().to_string();
        }
        cfg.check()?;
        if cfg.features.finetune_layers > 0 && cfg.train.ensemble > 1 {
            observer.stage(&format!(
                "fine-tuning the language model trains one model, not an ensemble of {}: \
                 train.ensemble = 1",
                cfg.train.ensemble
            ));
            cfg.train.ensemble = 1;
        }
        let device = self.device.resolve_for_rank(comm.local_rank())?;
        observer.stage(&format!("ingest: {}", self.spec.display()));
        let (spec, ds) = load_dataset(&self.spec, self.data_dir.as_deref())?;
        let split = make_split(&ds, &cfg.split, cfg.train.seed, Path::new("."))?;
        let encoder = load_encoder(self.text_model.as_deref())?;
        let cache_dir = self
            .cache_dir
            .clone()
            .unwrap_or_else(|| crate::home_dir().join("embeddings"));
        observer.stage(&format!(
            "text: {} ({} dimensions)",
            encoder.files().dir.display(),
            encoder.dim()
        ));
        // One writer of the embedding cache: rank 0 fills it, the others read it after.
        let text = if comm.is_root() {
            let text = text_inputs(&cfg, &ds, &encoder, &cache_dir, true);
            comm.barrier();
            text?
        } else {
            comm.barrier();
            text_inputs(&cfg, &ds, &encoder, &cache_dir, false)?
        };
        let (data, side) = prepare(&ds, Some(&spec), &cfg, split, text)?;
        tch::manual_seed(cfg.train.seed as i64);
        let mut model = Ranker::ensemble(
            data.space.clone(),
            cfg.model.clone(),
            side,
            device,
            cfg.train.uncertainty,
            cfg.train.ensemble,
        )?;
        observer.stage(&format!(
            "training {} on {} ({} train / {} valid / {} test rows; fields: {}; {} parameters; {device:?})",
            model_title(&cfg),
            ds.name,
            data.split.train.len(),
            data.split.valid.len(),
            data.split.test.len(),
            data.space.field_names().join(", "),
            model.trainable_parameters()
        ));
        // The model directory holds what was learned from users' data: owner-only.
        if comm.is_root() {
            std::fs::create_dir_all(out)
                .and_then(|()| polyrec_data::persist::make_private(out))
                .map_err(|e| Error::Load(format!("creating {}: {e}", out.display())))?;
        }
        let run_key = cfg.to_toml()?;
        let summary = fit(
            &mut model,
            &data,
            &ds,
            &cfg.train,
            FitOptions {
                checkpoint: Some(&out.join("checkpoint")),
                stop_after: None,
                run_key: Some(&run_key),
                collective: Some(comm),
            },
            observer,
        )?;
        if !comm.is_root() {
            return Ok(None);
        }
        let metrics = test_metrics(&model, &data, &ds, &cfg);
        model_dir::save(out, &model, &cfg)?;
        write_outputs(out, &cfg, &data, &summary, &metrics)?;
        polyrec_data::persist::make_private(out)
            .map_err(|e| Error::Load(format!("{}: {e}", out.display())))?;
        let recommender = Recommender::new(model, cfg, ds, encoder)?;
        Ok(Some(Trained {
            recommender,
            metrics,
            summary,
            dir: out.to_path_buf(),
        }))
    }
}

fn absolute(p: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(p).map_err(|e| Error::Load(format!("{}: {e}", p.display())))
}

/// Reads a dataset spec and loads its data (from `data_dir`, else the spec's folder).
pub fn load_dataset(
    spec_path: &Path,
    data_dir: Option<&Path>,
) -> Result<(DatasetSpec, Dataset), Error> {
    let spec = DatasetSpec::from_toml_file(spec_path)?;
    spec.check_outputs(spec_path)?;
    let dir = spec.resolve_data_dir(spec_path, data_dir, &crate::setup::spec_vars())?;
    if !dir.is_dir() {
        return Err(Error::Load(format!(
            "data folder {} not found (the default MovieLens-100K data is installed by scripts/setup.sh)",
            dir.display()
        )));
    }
    let ds = Dataset::load_spec(&spec, &dir)?;
    Ok((spec, ds))
}

/// Loads the sentence encoder from `dir`, else the set-up's default model, on the CPU.
pub fn load_encoder(dir: Option<&Path>) -> Result<SentenceEncoder, Error> {
    let dir = match dir {
        Some(m) => m.to_path_buf(),
        None => crate::setup::model_dir().ok_or_else(|| {
            Error::Load(
                "the language model is not installed: run scripts/setup.sh (or pass a model folder)"
                    .into(),
            )
        })?,
    };
    Ok(SentenceEncoder::load(
        &dir,
        EncoderOptions {
            device: tch::Device::Cpu,
            ..Default::default()
        },
    )?)
}

/// The item and user text embeddings (through the cache) and, when the configuration
/// fine-tunes the language model, its inputs.
pub(crate) fn text_inputs(
    cfg: &RunConfig,
    ds: &Dataset,
    encoder: &SentenceEncoder,
    cache_dir: &Path,
    write_cache: bool,
) -> Result<TextInputs, Error> {
    let (items, users) = texts(ds);
    let any = |v: &[&str]| v.iter().any(|t| !t.is_empty());
    if !cfg.features.text || !(any(&items) || any(&users)) {
        return Ok(TextInputs::default());
    }
    let mut cache = EmbeddingCache::open(cache_dir, encoder);
    let item_emb = if any(&items) {
        Some(cache.encode(encoder, &items)?.0)
    } else {
        None
    };
    let user_emb = if any(&users) {
        Some(cache.encode(encoder, &users)?.0)
    } else {
        None
    };
    if write_cache {
        cache.save()?;
    }
    let k = cfg.features.finetune_layers;
    let item_tuning = if k > 0 && item_emb.is_some() {
        Some(finetune_inputs(encoder, &items, k)?)
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
) -> Result<(TextEncoderSpec, TextTuning), Error> {
    let files = encoder.files();
    let total = files.bert.num_hidden_layers as usize;
    if k > total {
        return Err(Error::Load(format!(
            "features.finetune_layers = {k}: the model {} has {total} layers",
            files.dir.display()
        )));
    }
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
pub fn test_metrics(model: &Ranker, data: &Prepared, ds: &Dataset, cfg: &RunConfig) -> Value {
    let cold = match &cfg.split {
        SplitConfig::ColdItems { .. } => Some("cold_items"),
        SplitConfig::ColdUsers { .. } => Some("cold_users"),
        _ => None,
    };
    evaluate(model, data, ds, Part::Test, cold, cfg.train.eval_batch_size)
}

/// The headline metric of a task's metric object: AUC, else accuracy, else RMSE.
fn headline(m: &Value) -> Option<(&'static str, f64)> {
    ["auc", "accuracy", "rmse"]
        .into_iter()
        .find_map(|k| m[k].as_f64().map(|v| (k, v)))
}

/// `scenarios.svg`: each task's headline test metric per scenario.
fn scenario_plot(metrics: &Value) -> Option<String> {
    let obj = metrics.as_object()?;
    let scenarios: Vec<String> = obj
        .keys()
        .filter(|k| k.as_str() != "overall" && !obj[k.as_str()]["overall"].is_object())
        .cloned()
        .collect();
    if scenarios.is_empty() {
        return None;
    }
    let tasks = obj.get("overall")?.as_object()?;
    let series: Vec<(String, Vec<f64>)> = tasks
        .iter()
        .filter_map(|(task, m)| {
            let (key, _) = headline(m)?;
            let values = scenarios
                .iter()
                .map(|s| metrics[s][task][key].as_f64().unwrap_or(f64::NAN))
                .collect();
            Some((format!("{task} {key}"), values))
        })
        .collect();
    (!series.is_empty()).then(|| bars_svg("Test metrics per scenario", &scenarios, &series))
}

fn write_outputs(
    out: &Path,
    cfg: &RunConfig,
    data: &Prepared,
    summary: &TrainSummary,
    metrics: &Value,
) -> Result<(), Error> {
    let write = |name: &str, bytes: &[u8]| -> Result<(), Error> {
        Ok(polyrec_rank::io::atomic_write(&out.join(name), bytes)?)
    };
    let json = |e: serde_json::Error| Error::Load(format!("serialising: {e}"));
    write(
        "metrics.json",
        serde_json::to_string_pretty(metrics)
            .map_err(json)?
            .as_bytes(),
    )?;
    let mut lines = String::new();
    let mut log = Vec::new();
    for r in &summary.history {
        lines.push_str(&serde_json::to_string(r).map_err(json)?);
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
        curves_svg(&format!("{} training", model_title(cfg)), &log).as_bytes(),
    )?;
    let scenarios = scenario_plot(metrics);
    if let Some(svg) = &scenarios {
        write("scenarios.svg", svg.as_bytes())?;
    }
    let sps: Vec<f64> = summary.history.iter().map(|r| r.samples_per_sec).collect();
    let report = format!(
        "# {} on {}\n\nBest epoch {} of {} (validation score {:.4}{}). Training {:.0} samples/s (mean over epochs).\n\nInput fields: {}.\n\n## Test metrics\n\n{}\n\n![curves](curves.svg)\n{}\n## Configuration\n\n```toml\n{}```\n\n",
        model_title(cfg),
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
        polyrec_eval::report::to_markdown(metrics),
        if scenarios.is_some() {
            "\n![per scenario](scenarios.svg)\n"
        } else {
            ""
        },
        cfg.to_toml()?
    );
    write("report.md", report.as_bytes())
}

/// The model's name, with the ensemble's size when it is one ("mmoe (an ensemble of 3)").
fn model_title(cfg: &RunConfig) -> String {
    match cfg.train.ensemble {
        1 => cfg.model.name().to_string(),
        k => format!("{} (an ensemble of {k})", cfg.model.name()),
    }
}
