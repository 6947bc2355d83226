//! Shared set-up of the end-to-end tests: a small model trained on real MovieLens-100K
//! (installed by scripts/setup.sh), saved as `polyrec train` saves it.

use std::path::{Path, PathBuf};

use polyrec::data::{Dataset, DatasetSpec};
use polyrec::encode::{EmbeddingCache, EncoderOptions, SentenceEncoder, default_model_dir};
use polyrec::eval::plot::{LogEntry, curves_svg, scenarios_svg};
use polyrec::rank::evaluate::{Part, evaluate};
use polyrec::rank::prepare::{TextInputs, make_split, prepare, texts};
use polyrec::rank::train::{FitOptions, SilentObserver, fit};
use polyrec::rank::{Ranker, RunConfig, model_dir};

pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

pub fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/ml-100k.toml")
}

/// Trains the default model (every input family) for `epochs` epochs and saves it in
/// `dir` with its test metrics (`metrics.json`) and plots (`curves.svg`, `scenarios.svg`).
pub fn train(dir: &Path, epochs: usize) -> Res<()> {
    let spec = DatasetSpec::from_toml_file(spec_path())?;
    let ds = Dataset::load_spec(&spec, &spec.resolve_data_dir(&spec_path(), None)?)?;
    let mut cfg = RunConfig {
        spec: Some(spec_path().display().to_string()),
        ..Default::default()
    };
    cfg.train.epochs = epochs;
    let split = make_split(&ds, &cfg.split, cfg.train.seed, Path::new("."))?;
    let model_dir_path = default_model_dir().ok_or("run scripts/setup.sh: no language model")?;
    let encoder = SentenceEncoder::load(
        &model_dir_path,
        EncoderOptions {
            device: polyrec::encode::tch::Device::Cpu,
            ..Default::default()
        },
    )?;
    let mut cache = EmbeddingCache::open(&polyrec::home_dir().join("embeddings"), &encoder);
    let (items, users) = texts(&ds);
    let (item_emb, _) = cache.encode(&encoder, &items)?;
    let (user_emb, _) = cache.encode(&encoder, &users)?;
    let text = TextInputs {
        items: Some(item_emb),
        users: Some(user_emb),
        item_tuning: None,
    };
    let (data, side) = prepare(&ds, Some(&spec), &cfg, split, text)?;
    polyrec::encode::tch::manual_seed(cfg.train.seed as i64);
    let mut model = Ranker::new(
        data.space.clone(),
        cfg.model.clone(),
        side,
        polyrec::encode::tch::Device::Cpu,
        false,
    )?;
    let summary = fit(
        &mut model,
        &data,
        &ds,
        &cfg.train,
        FitOptions::default(),
        &mut SilentObserver,
    )?;
    model_dir::save(dir, &model, &cfg)?;
    let metrics = evaluate(
        &model,
        &data,
        &ds,
        Part::Test,
        None,
        cfg.train.eval_batch_size,
    );
    std::fs::write(
        dir.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?,
    )?;
    // The curves `polyrec train` draws: training loss and validation metrics per epoch.
    let mut log = Vec::new();
    for r in &summary.history {
        log.push(LogEntry {
            epoch: r.epoch as u32,
            split: "train".into(),
            task: "all".into(),
            metric: "loss".into(),
            value: r.train_loss,
        });
        for (task, m) in r.valid["overall"].as_object().into_iter().flatten() {
            for key in ["auc", "rmse"] {
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
    std::fs::write(dir.join("curves.svg"), curves_svg("training", &log))?;
    std::fs::write(
        dir.join("scenarios.svg"),
        scenarios_svg("test metrics per scenario", &metrics),
    )?;
    Ok(())
}
