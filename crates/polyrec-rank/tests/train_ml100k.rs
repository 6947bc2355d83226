//! Training on real MovieLens-100K (installed by scripts/setup.sh): every model beats a
//! constant predictor on every task after a short run; a CPU run repeats bit for bit; an
//! interrupted run resumes and ends where an uninterrupted run ends.

#[path = "../../../tests/support/setup_paths.rs"]
mod setup_paths;
use std::path::Path;

use polyrec_data::{Dataset, DatasetSpec};
use polyrec_rank::evaluate::{Part, evaluate};
use polyrec_rank::prepare::{Prepared, TextInputs, make_split, prepare};
use polyrec_rank::train::{FitOptions, SilentObserver, fit};
use polyrec_rank::{ModelConfig, Ranker, RunConfig, SplitConfig};
use serde_json::Value;
use tch::Device;

/// libtorch's CPU random generator is global to the process, and the test harness runs the
/// tests of this file on parallel threads: each test holds this lock so that a seed set by
/// one is not consumed by another (a training run is repeatable within a process that
/// trains one model at a time).
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    TORCH_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// ML-100K with three age scenarios and four tasks: like (rating >= 4), love (rating 5, a
/// funnel after like for ESMM/AITM), rating, and the user's gender (user-level).
const SPEC: &str = r#"
name = "ml-100k"
[interactions]
path = "ml-100k.inter"
user = "user_id"
item = "item_id"
timestamp = "timestamp"
[users]
path = "ml-100k.user"
id = "user_id"
categorical = ["gender", "occupation"]
numeric = ["age"]
[items]
path = "ml-100k.item"
id = "item_id"
categorical = ["release_year", "class"]
[scenario]
from = "user"
field = "age"
buckets = [{ name = "age 1-24", max = 24 }, { name = "age 25-34", max = 34 }, { name = "age 35+" }]
[[tasks]]
name = "like"
kind = "binary"
field = "rating"
rule = { op = ">=", threshold = 4 }
[[tasks]]
name = "love"
kind = "binary"
field = "rating"
rule = { op = ">=", threshold = 5 }
[[tasks]]
name = "rating"
kind = "regression"
field = "rating"
range = [1, 5]
[[tasks]]
name = "gender"
kind = "binary"
from = "user"
field = "gender"
positive = "F"
[kg]
triples = { path = "ml-100k.kg" }
links = { path = "ml-100k.link" }
"#;

fn load() -> Result<(DatasetSpec, Dataset), Box<dyn std::error::Error>> {
    let spec = DatasetSpec::from_toml_str(SPEC, Path::new("ml-100k.toml"))?;
    let ds = Dataset::load_spec(&spec, &setup_paths::ml100k_dir())?;
    Ok((spec, ds))
}

fn config(model: &str, epochs: usize) -> Result<RunConfig, Box<dyn std::error::Error>> {
    let mut cfg = RunConfig {
        model: ModelConfig::from_name(model)?,
        ..Default::default()
    };
    cfg.features.text = false;
    cfg.features.derive = vec![polyrec_rank::features::DerivedAttribute {
        name: "first_genre".into(),
        from: "class".into(),
        transform: polyrec_rank::features::Transform::FirstToken,
    }];
    cfg.train.epochs = epochs;
    cfg.train.batch_size = 1024;
    cfg.split = SplitConfig::Random {
        valid: 0.1,
        test: 0.1,
    };
    Ok(cfg)
}

fn setup(
    spec: &DatasetSpec,
    ds: &Dataset,
    cfg: &RunConfig,
) -> Result<(Prepared, Ranker), Box<dyn std::error::Error>> {
    let split = make_split(ds, &cfg.split, cfg.train.seed, Path::new("."))?;
    let (data, side) = prepare(ds, Some(spec), cfg, split, TextInputs::default())?;
    tch::manual_seed(cfg.train.seed as i64);
    let model = Ranker::new(
        data.space.clone(),
        cfg.model.clone(),
        side,
        Device::Cpu,
        false,
    )?;
    Ok((data, model))
}

fn metric(report: &Value, task: &str, key: &str) -> f64 {
    report["overall"][task][key].as_f64().unwrap_or(f64::NAN)
}

#[test]
fn every_model_beats_a_constant_predictor_on_every_task() -> Result<(), Box<dyn std::error::Error>>
{
    let _rng = rng_lock();
    tch::set_num_threads(2);
    let (spec, ds) = load()?;
    let labels = &ds.interactions.labels[ds.task_index("rating").ok_or("no rating")?];
    for (name, _) in polyrec_rank::MODEL_HELP {
        let cfg = config(name, 2)?;
        let (data, mut model) = setup(&spec, &ds, &cfg)?;
        // The constant predictor: the training mean rating.
        let mean = data
            .split
            .train
            .iter()
            .map(|&r| f64::from(labels[r as usize]))
            .sum::<f64>()
            / data.split.train.len() as f64;
        let const_rmse = (data
            .split
            .test
            .iter()
            .map(|&r| (f64::from(labels[r as usize]) - mean).powi(2))
            .sum::<f64>()
            / data.split.test.len() as f64)
            .sqrt();
        fit(
            &mut model,
            &data,
            &ds,
            &cfg.train,
            FitOptions::default(),
            &mut SilentObserver,
        )?;
        let r = evaluate(&model, &data, &ds, Part::Test, None, 8192);
        let (like, love, gender) = (
            metric(&r, "like", "auc"),
            metric(&r, "love", "auc"),
            metric(&r, "gender", "auc"),
        );
        let rmse = metric(&r, "rating", "rmse");
        eprintln!(
            "{name}: like AUC {like:.4}, love AUC {love:.4}, rating RMSE {rmse:.4} (constant {const_rmse:.4}), gender AUC {gender:.4} on {} held-out users",
            r["overall"]["gender"]["count"]
        );
        assert!(like > 0.70, "{name}: like AUC {like}");
        assert!(love > 0.70, "{name}: love AUC {love}");
        assert!(
            rmse < const_rmse - 0.05,
            "{name}: rating RMSE {rmse} vs constant {const_rmse}"
        );
        assert!(gender > 0.55, "{name}: gender AUC {gender}");
        for s in &ds.scenarios {
            assert!(
                r[s]["like"]["auc"].as_f64().is_some_and(|a| a > 0.65),
                "{name}: {s}"
            );
        }
        // The gender task is scored on held-out users only, once per user.
        assert_eq!(
            r["overall"]["gender"]["count"].as_u64(),
            Some(data.test_users.len() as u64)
        );
    }
    Ok(())
}

#[test]
fn a_cpu_run_repeats_and_a_resumed_run_ends_where_an_uninterrupted_one_ends()
-> Result<(), Box<dyn std::error::Error>> {
    let _rng = rng_lock();
    tch::set_num_threads(2);
    let (spec, ds) = load()?;
    let mut cfg = config("pepnet", 3)?;
    cfg.train.patience = 0;
    cfg.train.schedule = polyrec_rank::train::config::Schedule::Cosine;
    let run =
        |opts: FitOptions<'_>| -> Result<(Ranker, Prepared, Vec<f64>), Box<dyn std::error::Error>> {
            let (data, mut model) = setup(&spec, &ds, &cfg)?;
            let s = fit(
                &mut model,
                &data,
                &ds,
                &cfg.train,
                opts,
                &mut SilentObserver,
            )?;
            Ok((
                model,
                data,
                s.history.iter().map(|h| h.train_loss).collect(),
            ))
        };
    let (a, data, loss_a) = run(FitOptions::default())?;
    let (b, _, loss_b) = run(FitOptions::default())?;
    assert_eq!(loss_a, loss_b, "two runs with one seed differ");
    for ((ka, va), (kb, vb)) in a.snapshot().iter().zip(&b.snapshot()) {
        assert_eq!(ka, kb);
        assert!(
            va.equal(vb),
            "parameter {ka} differs between two runs with one seed"
        );
    }
    let dir = tempfile::tempdir()?;
    let ck = dir.path().join("checkpoint");
    let first = run(FitOptions {
        checkpoint: Some(&ck),
        stop_after: Some(1),
        run_key: None,
        collective: None,
    })?;
    assert_eq!(first.2.len(), 1);
    let (c, _, loss_c) = run(FitOptions {
        checkpoint: Some(&ck),
        stop_after: None,
        run_key: None,
        collective: None,
    })?;
    assert_eq!(loss_c, loss_a, "the resumed run's history differs");
    let (pa, pc) = (
        evaluate(&a, &data, &ds, Part::Test, None, 8192),
        evaluate(&c, &data, &ds, Part::Test, None, 8192),
    );
    assert_eq!(pa, pc, "the resumed run ends elsewhere");
    Ok(())
}
