//! Scoring a model on a part of the split: predictions in label units, then the metrics of
//! polyrec-eval per scenario x task (`{"overall": {TASK: {...}}, SCENARIO: {TASK: {...}}}`).
//!
//! Item-level tasks are scored on the part's rows. User-level tasks are scored once per
//! held-out user (the mean prediction over that user's rows), only on users whose label
//! the model never saw.

use std::collections::BTreeMap;

use polyrec_data::Dataset;
use polyrec_eval::report::{Predictions, TaskType, breakdown};
use serde_json::{Value, json};
use tch::Tensor;

use crate::features::row_tensor;
use crate::heads::HeadKind;
use crate::prepare::Prepared;
use crate::ranker::Ranker;

/// Which part of the split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Validation rows and users.
    Valid,
    /// Test rows and users.
    Test,
}

/// Predictions of every task for `rows`, in label units: `[task][row]`.
pub fn predict_rows(model: &Ranker, data: &Prepared, rows: &[u32], batch: usize) -> Vec<Vec<f32>> {
    let t = model.heads().len();
    let mut out: Vec<Vec<f32>> = vec![Vec::with_capacity(rows.len()); t];
    for chunk in rows.chunks(batch.max(1)) {
        let (x, _) = data.rows.batch(&row_tensor(chunk), model.device());
        for (task, p) in model.predict(&x).into_iter().enumerate() {
            let p = p
                .to_device(tch::Device::Cpu)
                .to_kind(tch::Kind::Float)
                .contiguous();
            out[task].extend(Vec::<f32>::try_from(&p).unwrap_or_default());
        }
    }
    out
}

fn task_type(kind: &HeadKind) -> TaskType {
    match kind {
        HeadKind::Binary => TaskType::Binary,
        HeadKind::Regression { .. } => TaskType::Regression,
        HeadKind::Multiclass { .. } => TaskType::Multiclass,
    }
}

/// The metrics report of `part`; with `cold`, the rows of held-out items/users (cold-start
/// splits) are also scored under that key.
pub fn evaluate(
    model: &Ranker,
    data: &Prepared,
    ds: &Dataset,
    part: Part,
    cold: Option<&str>,
    batch: usize,
) -> Value {
    let (rows, users) = match part {
        Part::Valid => (&data.split.valid, &data.valid_users),
        Part::Test => (&data.split.test, &data.test_users),
    };
    let heads = model.heads();
    let labels = data.rows.labels.index_select(0, &row_tensor(rows));
    let preds = predict_rows(model, data, rows, batch);
    let mut p = Predictions::default();
    let mut types = BTreeMap::new();
    let scen = |r: usize| {
        ds.scenarios
            .get(ds.interactions.scenario[r] as usize)
            .cloned()
            .unwrap_or_default()
    };
    let user_name = |u: u32| ds.users.ids.name(u).to_string();
    // Cold-start splits put every held-out row in test: that block is scored again under
    // its own key, so reports of warm and cold runs line up.
    let held: std::collections::HashSet<u32> = data.split.held_out.iter().copied().collect();
    let is_cold = |r: usize| match cold {
        Some("cold_items") => held.contains(&ds.interactions.item[r]),
        Some(_) => held.contains(&ds.interactions.user[r]),
        None => false,
    };
    let mut c = Predictions::default();
    for (t, head) in heads.iter().enumerate() {
        types.insert(head.name.clone(), task_type(&head.kind));
        if head.user_level {
            continue;
        }
        let y = column(&labels, t);
        for (i, &r) in rows.iter().enumerate() {
            let r = r as usize;
            let target = if is_cold(r) {
                vec![&mut p, &mut c]
            } else {
                vec![&mut p]
            };
            for q in target {
                q.scenario.push(scen(r));
                q.task.push(head.name.clone());
                q.user.push(user_name(data.row_users[r]));
                q.label.push(f64::from(y[i]));
                q.score.push(f64::from(preds[t][i]));
            }
        }
    }
    if heads.iter().any(|h| h.user_level) && !users.is_empty() {
        user_level(model, data, ds, users, batch, &mut p);
    }
    let mut report = breakdown(&p, &types, None);
    if let (Some(key), Value::Object(o)) = (cold, &mut report)
        && let Value::Object(b) = breakdown(&c, &types, None)
    {
        o.insert(
            key.to_string(),
            json!({"overall": b.get("overall").cloned().unwrap_or(json!({}))}),
        );
    }
    report
}

/// User-level tasks: one prediction per held-out user (the mean over the user's rows).
fn user_level(
    model: &Ranker,
    data: &Prepared,
    ds: &Dataset,
    users: &[u32],
    batch: usize,
    p: &mut Predictions,
) {
    let wanted: std::collections::HashSet<u32> = users.iter().copied().collect();
    let rows: Vec<u32> = (0..data.row_users.len() as u32)
        .filter(|&r| wanted.contains(&data.row_users[r as usize]))
        .collect();
    let preds = predict_rows(model, data, &rows, batch);
    let labels = data.rows.labels.index_select(0, &row_tensor(&rows));
    for (t, head) in model.heads().iter().enumerate() {
        if !head.user_level {
            continue;
        }
        let y = column(&labels, t);
        let mut acc: BTreeMap<u32, (f64, f64, f64, usize)> = BTreeMap::new();
        for (i, &r) in rows.iter().enumerate() {
            let u = data.row_users[r as usize];
            let e = acc
                .entry(u)
                .or_insert((0.0, f64::from(y[i]), 0.0, r as usize));
            e.0 += f64::from(preds[t][i]);
            e.2 += 1.0;
        }
        for (u, (sum, label, n, first)) in acc {
            let s = ds
                .scenarios
                .get(ds.interactions.scenario[first] as usize)
                .cloned()
                .unwrap_or_default();
            let score = sum / n;
            p.scenario.push(s);
            p.task.push(head.name.clone());
            p.user.push(ds.users.ids.name(u).to_string());
            p.label.push(label);
            p.score
                .push(if matches!(head.kind, HeadKind::Multiclass { .. }) {
                    score.round()
                } else {
                    score
                });
        }
    }
}

/// The validation score that selects the best epoch: the weighted mean over tasks of AUC
/// (binary), accuracy (multiclass) and `-RMSE / std` (regression). A task without a weight
/// in `weights` weighs its validation count over the largest task's.
pub fn monitor_score(report: &Value, model: &Ranker, weights: &BTreeMap<String, f64>) -> f64 {
    let (mut s, mut w) = (0.0, 0.0);
    let count = |name: &str| report["overall"][name]["count"].as_f64().unwrap_or(0.0);
    let most = model
        .heads()
        .iter()
        .map(|h| count(&h.name))
        .fold(0.0, f64::max);
    for head in model.heads() {
        let m = &report["overall"][&head.name];
        let v = match &head.kind {
            HeadKind::Binary => m["auc"].as_f64(),
            HeadKind::Multiclass { .. } => m["accuracy"].as_f64(),
            HeadKind::Regression { std, .. } => m["rmse"].as_f64().map(|r| -r / f64::from(*std)),
        };
        // Without a stated weight, a task counts in proportion to its validation examples
        // (inverse variance, roughly): a profile task scored on 95 users must not steer the
        // choice of epoch as much as a task scored on 10,000 rows.
        let wt = weights.get(&head.name).copied().unwrap_or_else(|| {
            if most > 0.0 {
                count(&head.name) / most
            } else {
                1.0
            }
        });
        if let Some(v) = v.filter(|v| v.is_finite()) {
            s += wt * v;
            w += wt;
        }
    }
    if w > 0.0 { s / w } else { f64::NEG_INFINITY }
}

/// Column `t` of a `[rows, tasks]` tensor.
fn column(labels: &Tensor, t: usize) -> Vec<f32> {
    labels
        .select(1, t as i64)
        .contiguous()
        .try_into()
        .unwrap_or_default()
}
