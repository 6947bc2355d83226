//! The two-tower retrieval model on real MovieLens-100K (installed by scripts/setup.sh),
//! leave-one-out by time: the split follows the protocol, one short epoch already retrieves
//! better than the most-popular baseline, the metrics are well formed, cold items are
//! scored apart, and a training step repeats on the CPU.

#[path = "../../../tests/support/setup_paths.rs"]
mod setup_paths;
use std::collections::HashSet;
use std::path::Path;

use polyrec_data::{Dataset, DatasetSpec};
use polyrec_rank::evaluate::Part;
use polyrec_rank::prepare::TextInputs;
use polyrec_rank::retrieval::data::histories;
use polyrec_rank::retrieval::eval::{evaluate_topk, most_popular_topk, score_matrix};
use polyrec_rank::retrieval::train::{Catalog, batch_loss, fit};
use polyrec_rank::retrieval::{
    ItemIndex, RetrievalData, RetrievalRunConfig, TwoTower, TwoTowerConfig, data::windows,
    prepare_retrieval,
};
use polyrec_rank::train::SilentObserver;
use polyrec_rank::train::config::TrainConfig;
use serde_json::Value;
use tch::{Device, Tensor};

/// libtorch's CPU generator is global to the process and the tests of this file run on
/// parallel threads: each test that seeds it holds this lock.
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    TORCH_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
[kg]
triples = { path = "ml-100k.kg" }
links = { path = "ml-100k.link" }
"#;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn load() -> Res<(DatasetSpec, Dataset)> {
    let spec = DatasetSpec::from_toml_str(SPEC, Path::new("ml-100k.toml"))?;
    let ds = Dataset::load_spec(&spec, &setup_paths::ml100k_dir())?;
    Ok((spec, ds))
}

/// A small model (no text: the language model is not needed here), one epoch.
fn config(cold_items: f64) -> RetrievalRunConfig {
    RetrievalRunConfig {
        model: TwoTowerConfig {
            dim: 32,
            text: false,
            history_len: 20,
            layers: 1,
            ..Default::default()
        },
        train: TrainConfig {
            epochs: 1,
            batch_size: 64,
            lr: 2e-3,
            seed: 1,
            patience: 0,
            ..Default::default()
        },
        cold_items,
        ..Default::default()
    }
}

fn prepared(cfg: &RetrievalRunConfig) -> Res<(Dataset, RetrievalData)> {
    let (spec, ds) = load()?;
    let data = prepare_retrieval(&ds, Some(&spec), cfg, TextInputs::default())?;
    Ok((ds, data))
}

fn metric(report: &Value, group: &str, key: &str) -> f64 {
    report[group][key].as_f64().unwrap_or(f64::NAN)
}

#[test]
fn leave_one_out_holds_out_each_users_latest_two_interactions() -> Res<()> {
    let (ds, data) = prepared(&config(0.0))?;
    let seqs = &data.seqs;
    assert_eq!(seqs.users(), 943);
    let at = |r: u32| (ds.interactions.timestamp[r as usize], r);
    let mut train_latest = vec![(i64::MIN, 0u32); 943];
    for r in 0..ds.interactions.len() as u32 {
        let u = ds.interactions.user[r as usize] as usize;
        if Some(r) != seqs.valid[u] && Some(r) != seqs.test[u] {
            train_latest[u] = train_latest[u].max(at(r));
        }
    }
    for (u, latest) in train_latest.iter().enumerate() {
        let (Some(v), Some(t)) = (seqs.valid[u], seqs.test[u]) else {
            panic!("user {u} lacks a validation or test row");
        };
        assert!(*latest < at(v) && at(v) < at(t), "user {u}");
    }
    assert_eq!(seqs.interactions() + 2 * 943, ds.interactions.len());
    Ok(())
}

#[test]
fn one_epoch_beats_most_popular_with_well_formed_metrics() -> Res<()> {
    let _g = rng_lock();
    let cfg = config(0.0);
    let (ds, data) = prepared(&cfg)?;
    tch::manual_seed(1);
    let mut model = TwoTower::new(&cfg.model, data.shapes.clone(), data.tables, Device::Cpu)?;
    let summary = fit(&mut model, &ds, &data.seqs, &cfg.train, &mut SilentObserver)?;
    assert_eq!(summary.history.len(), 1);
    let m = evaluate_topk(&model, &ds, &data.seqs, Part::Test);
    let pop = most_popular_topk(&ds, &data.seqs, Part::Test);
    assert_eq!(m["overall"]["users"].as_u64(), Some(943));
    let scenario_users: u64 = ["age 1-24", "age 25-34", "age 35+"]
        .iter()
        .map(|s| m[*s]["users"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(scenario_users, 943);
    for key in ["hit@10", "ndcg@10", "recall@20", "mrr@20"] {
        let v = metric(&m, "overall", key);
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    // One relevant item per user: recall@20 is hit@20 >= hit@10 >= ndcg@10 >= mrr@10.
    assert!(metric(&m, "overall", "recall@20") >= metric(&m, "overall", "hit@10"));
    assert!(metric(&m, "overall", "hit@10") >= metric(&m, "overall", "ndcg@10"));
    assert!(metric(&m, "overall", "ndcg@10") >= metric(&m, "overall", "mrr@10"));
    let (ours, base) = (
        metric(&m, "overall", "hit@10"),
        metric(&pop, "overall", "hit@10"),
    );
    assert!(
        ours > base,
        "two-tower hit@10 {ours:.4} does not beat most-popular {base:.4}"
    );
    // The exported index, searched exactly, ranks like the evaluation.
    let dir = tempfile::tempdir()?;
    polyrec_rank::retrieval::save(dir.path(), &model, &data.space, &cfg)?;
    let index = ItemIndex::load(dir.path())?;
    assert_eq!(index.len(), ds.items.ids.len());
    let scores = score_matrix(&model, &ds, &data.seqs, Part::Test);
    let hist = histories(&ds, &data.seqs, cfg.model.history_len, true);
    let (_, users) = model.encode(&Tensor::from_slice(&[1i64, 2, 3]), &hist.narrow(0, 0, 3));
    let n = ds.items.ids.len();
    for u in 0..3 {
        let query = Vec::<f32>::try_from(&users.get(u as i64).contiguous())?;
        let mut seen: HashSet<usize> = data.seqs.train[u]
            .iter()
            .map(|&c| (c - 1) as usize)
            .collect();
        if let Some(r) = data.seqs.valid[u] {
            seen.insert(ds.interactions.item[r as usize] as usize);
        }
        let got: Vec<usize> = index
            .search(&query, 10, &seen)?
            .into_iter()
            .map(|x| x.0)
            .collect();
        let row = &scores[u * n..(u + 1) * n];
        let mut want: Vec<usize> = (0..n).filter(|i| !seen.contains(i)).collect();
        want.sort_by(|a, b| row[*b].total_cmp(&row[*a]).then(a.cmp(b)));
        let overlap = got.iter().filter(|i| want[..10].contains(i)).count();
        assert!(
            overlap >= 9,
            "user {u}: index top-10 {got:?} vs evaluation {:?}",
            &want[..10]
        );
    }
    Ok(())
}

#[test]
fn cold_items_leave_training_and_are_scored_apart() -> Res<()> {
    let _g = rng_lock();
    let cfg = config(0.1);
    let (ds, data) = prepared(&cfg)?;
    let cold: std::collections::HashSet<i64> = data
        .seqs
        .cold_items
        .iter()
        .map(|&i| i64::from(i) + 1)
        .collect();
    assert_eq!(
        cold.len(),
        (ds.items.ids.len() as f64 * 0.1).round() as usize
    );
    assert!(data.seqs.train.iter().flatten().all(|c| !cold.contains(c)));
    tch::manual_seed(1);
    let model = TwoTower::new(&cfg.model, data.shapes.clone(), data.tables, Device::Cpu)?;
    let m = evaluate_topk(&model, &ds, &data.seqs, Part::Test);
    let users = m["cold_items"]["users"].as_u64().unwrap_or(0);
    let expected = data
        .seqs
        .test
        .iter()
        .flatten()
        .filter(|&&r| cold.contains(&(i64::from(ds.interactions.item[r as usize]) + 1)))
        .count() as u64;
    assert!(users > 0 && users == expected, "{users} vs {expected}");
    Ok(())
}

#[test]
fn a_training_step_repeats_on_the_cpu() -> Res<()> {
    let _g = rng_lock();
    let cfg = config(0.0);
    let (ds, data) = prepared(&cfg)?;
    let ws = windows(&data.seqs, cfg.model.history_len);
    let catalog = Catalog::new(&data.seqs, ds.items.ids.len(), Device::Cpu);
    let (spec, ds2) = load()?;
    let mut losses = Vec::new();
    for _ in 0..2 {
        let again = prepare_retrieval(&ds2, Some(&spec), &cfg, TextInputs::default())?;
        tch::manual_seed(5);
        let model = TwoTower::new(&cfg.model, again.shapes, again.tables, Device::Cpu)?;
        losses.push(batch_loss(&model, &catalog, &data.seqs, &ws[..64], true).double_value(&[]));
    }
    assert!(losses[0].is_finite());
    assert_eq!(losses[0], losses[1]);
    Ok(())
}
