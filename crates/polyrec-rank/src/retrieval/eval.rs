//! Full-ranking top-K evaluation of retrieval: every user's held-out item is ranked against
//! all items except the ones the user trained on (and, for the test part, validated on);
//! hit, NDCG, recall, precision and MRR at 10 and 20, averaged over users, overall, per
//! scenario (the scenario of the user's held-out row) and over the users whose test item is
//! a cold item. Scores come from blocked matrix products of user and item vectors.

use std::collections::{BTreeMap, HashSet};

use polyrec_data::Dataset;
use polyrec_eval::topk::{TopK, full_ranking};
use serde_json::{Map, Value, json};
use tch::{Kind, Tensor};

use super::data::{Sequences, histories};
use super::model::TwoTower;
use crate::evaluate::Part;

/// The cut-offs reported.
pub const KS: [usize; 2] = [10, 20];

/// Users scored per matrix product.
const USER_BLOCK: i64 = 1024;

/// `[users x items]` scores, row-major (dataset indices), of every user after reading the
/// history of `part` (for the test part, the validation item too).
pub fn score_matrix(model: &TwoTower, ds: &Dataset, seqs: &Sequences, part: Part) -> Vec<f32> {
    let len = model.config().history_len;
    let hist = histories(ds, seqs, len, part == Part::Test);
    let n = seqs.users() as i64;
    let device = model.device();
    tch::no_grad(|| {
        let raw = model.item_vectors_raw(false);
        let items = model.for_scoring(&raw).narrow(0, 1, raw.size()[0] - 1);
        let mut out = Vec::with_capacity((n * items.size()[0]) as usize);
        let mut start = 0;
        while start < n {
            let b = (n - start).min(USER_BLOCK);
            let users = Tensor::arange_start(start + 1, start + 1 + b, (Kind::Int64, device));
            let h = hist.narrow(0, start, b).to_device(device);
            let u = model.user_vectors(&users, &h, &raw, false);
            let last = model.for_scoring(&u.select(1, u.size()[1] - 1)) * model.score_scale();
            let s = last
                .matmul(&items.transpose(0, 1))
                .to_kind(Kind::Float)
                .to_device(tch::Device::Cpu)
                .contiguous()
                .view([-1]);
            out.extend(Vec::<f32>::try_from(&s).unwrap_or_default());
            start += b;
        }
        out
    })
}

/// Scores of the most-popular baseline: training interactions per item, the same for all.
pub fn popularity(ds: &Dataset, seqs: &Sequences) -> Vec<f32> {
    let mut c = vec![0f32; ds.items.ids.len()];
    for s in &seqs.train {
        for &code in s {
            c[(code - 1) as usize] += 1.0;
        }
    }
    c
}

/// Per-user held-out item of `part` (dataset index).
fn held_out(ds: &Dataset, seqs: &Sequences, part: Part) -> Vec<Option<(u32, u32)>> {
    let rows = match part {
        Part::Valid => &seqs.valid,
        Part::Test => &seqs.test,
    };
    rows.iter()
        .map(|r| r.map(|r| (ds.interactions.item[r as usize], r)))
        .collect()
}

fn means(acc: &TopK) -> Value {
    let mut m: Map<String, Value> = acc
        .means()
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    m.insert("users".into(), json!(acc.users()));
    Value::Object(m)
}

/// The report of `part` for scores `score(user, buffer)` (one score per dataset item):
/// `{"overall": {...}, SCENARIO: {...}, "cold_items": {...}}`.
pub fn topk_report<F>(ds: &Dataset, seqs: &Sequences, part: Part, score: F) -> Value
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let n_items = ds.items.ids.len();
    let held = held_out(ds, seqs, part);
    let excluded: Vec<HashSet<u32>> = seqs
        .train
        .iter()
        .enumerate()
        .map(|(u, s)| {
            let mut e: HashSet<u32> = s.iter().map(|&c| (c - 1) as u32).collect();
            if part == Part::Test
                && let Some(r) = seqs.valid[u]
            {
                e.insert(ds.interactions.item[r as usize]);
            }
            e
        })
        .collect();
    let relevant_where = |keep: &dyn Fn(u32, u32) -> bool| -> Vec<HashSet<u32>> {
        held.iter()
            .map(|h| match h {
                Some((item, row)) if keep(*item, *row) => HashSet::from([*item]),
                _ => HashSet::new(),
            })
            .collect()
    };
    let run = |rel: &[HashSet<u32>]| means(&full_ranking(n_items, &excluded, rel, &KS, &score));
    let mut out = BTreeMap::new();
    out.insert("overall".to_string(), run(&relevant_where(&|_, _| true)));
    for (s, name) in ds.scenarios.iter().enumerate() {
        let rel = relevant_where(&|_, row| ds.interactions.scenario[row as usize] as usize == s);
        if rel.iter().any(|r| !r.is_empty()) {
            out.insert(name.clone(), run(&rel));
        }
    }
    if !seqs.cold_items.is_empty() {
        let cold: HashSet<u32> = seqs.cold_items.iter().copied().collect();
        out.insert(
            "cold_items".to_string(),
            run(&relevant_where(&|item, _| cold.contains(&item))),
        );
    }
    json!(out)
}

/// The model's report of `part`.
pub fn evaluate_topk(model: &TwoTower, ds: &Dataset, seqs: &Sequences, part: Part) -> Value {
    let n_items = ds.items.ids.len();
    let scores = score_matrix(model, ds, seqs, part);
    topk_report(ds, seqs, part, |u, buf: &mut [f32]| {
        buf.copy_from_slice(&scores[u * n_items..(u + 1) * n_items]);
    })
}

/// The most-popular baseline's report of `part`.
pub fn most_popular_topk(ds: &Dataset, seqs: &Sequences, part: Part) -> Value {
    let pop = popularity(ds, seqs);
    topk_report(ds, seqs, part, |_, buf: &mut [f32]| {
        buf.copy_from_slice(&pop)
    })
}
