//! From a loaded dataset to what the trainer and the evaluator need: the split, the
//! feature space, the encoded rows, the fixed side tables (text, graph, history) and the
//! users held out of user-level tasks.

use std::path::Path;

use polyrec_data::{ColdStart, Dataset, DatasetSpec, Split};
use polyrec_encode::Embeddings;
use polyrec_graph::KnowledgeGraph;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use crate::features::{EncodedRows, FeatureSpace, TextEncoderSpec};
use crate::input_layer::{SideTables, TextTuning};
use crate::train::config::{RunConfig, SplitConfig};
use crate::{Error, Result};

/// The split of a run, computed from its [`SplitConfig`] and seed.
pub fn make_split(ds: &Dataset, split: &SplitConfig, seed: u64, base: &Path) -> Result<Split> {
    Ok(match split {
        SplitConfig::Random { valid, test } => polyrec_data::random_split(ds, *valid, *test, seed)?,
        SplitConfig::Temporal { valid, test } => polyrec_data::temporal_split(ds, *valid, *test)?,
        SplitConfig::ColdItems {
            share,
            valid,
            cold_valid,
        } => cold_split(ds, ColdStart::Items, *share, *valid, *cold_valid, seed)?,
        SplitConfig::ColdUsers {
            share,
            valid,
            cold_valid,
        } => cold_split(ds, ColdStart::Users, *share, *valid, *cold_valid, seed)?,
        SplitConfig::LeaveOneOut => polyrec_data::leave_one_out(ds),
        SplitConfig::File { path } => {
            let p = base.join(path);
            read_split_file(ds, &p)?
        }
    })
}

fn cold_split(
    ds: &Dataset,
    what: ColdStart,
    share: f64,
    valid: f64,
    cold_valid: bool,
    seed: u64,
) -> Result<Split> {
    Ok(if cold_valid {
        polyrec_data::cold_start_split_cold_valid(ds, what, share, valid, seed)?
    } else {
        polyrec_data::cold_start_split(ds, what, share, valid, seed)?
    })
}

/// Reads a split file: one word per data row of the interaction file, in file order.
pub fn read_split_file(ds: &Dataset, path: &Path) -> Result<Split> {
    let text = crate::io::read_text(path)?;
    let words: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let n = ds.interactions.len();
    let rejected: usize = ds.report.rejected();
    if words.len() != n {
        return Err(Error::file(
            path,
            format!(
                "{} words for {n} loaded interaction rows{}: the split file needs one word per data row",
                words.len(),
                if rejected > 0 {
                    format!(" ({rejected} rows were rejected while loading)")
                } else {
                    String::new()
                }
            ),
        ));
    }
    let mut s = Split::default();
    for (r, w) in words.iter().enumerate() {
        match *w {
            "train" => s.train.push(r as u32),
            "valid" => s.valid.push(r as u32),
            "test" => s.test.push(r as u32),
            other => {
                return Err(Error::file(
                    path,
                    format!("line {}: `{other}` is not train, valid or test", r + 1),
                ));
            }
        }
    }
    if s.train.is_empty() {
        return Err(Error::file(path, "no `train` rows"));
    }
    Ok(s)
}

/// Texts of every item and user (empty where the data have none).
pub fn texts(ds: &Dataset) -> (Vec<&str>, Vec<&str>) {
    fn f(v: &[Option<String>]) -> Vec<&str> {
        v.iter().map(|t| t.as_deref().unwrap_or("")).collect()
    }
    (f(&ds.items.texts), f(&ds.users.texts))
}

/// A run's data, ready for training and evaluation.
#[derive(Debug)]
pub struct Prepared {
    /// The feature space.
    pub space: FeatureSpace,
    /// Every interaction, encoded.
    pub rows: EncodedRows,
    /// The split.
    pub split: Split,
    /// `[rows, tasks]` 1 where a training row's label may be learned from.
    pub train_mask: Tensor,
    /// Users (dataset indices) whose user-level labels validate.
    pub valid_users: Vec<u32>,
    /// Users (dataset indices) whose user-level labels test.
    pub test_users: Vec<u32>,
    /// The dataset's user of each row, scenario names and raw user ids (for metrics).
    pub row_users: Vec<u32>,
}

/// Text embeddings computed by the caller (the language model lives above this crate's
/// data preparation, with its cache and progress bars).
#[derive(Debug, Default)]
pub struct TextInputs {
    /// One row per dataset item.
    pub items: Option<Embeddings>,
    /// One row per dataset user.
    pub users: Option<Embeddings>,
    /// For fine-tuning (`features.finetune_layers > 0`): the layers' shape and, by item
    /// code (row 0 = unknown), the lower-layer token states and the pre-trained weights.
    pub item_tuning: Option<(TextEncoderSpec, TextTuning)>,
}

/// Prepares a run: feature space from the training rows, side tables, masks.
pub fn prepare(
    ds: &Dataset,
    spec: Option<&DatasetSpec>,
    cfg: &RunConfig,
    split: Split,
    text: TextInputs,
) -> Result<(Prepared, SideTables)> {
    cfg.check()?;
    let mut space = FeatureSpace::build(ds, spec, &cfg.features, &split.train)?;
    if let Some(sel) = &cfg.tasks {
        for name in sel {
            if !space.tasks.iter().any(|t| &t.name == name) {
                return Err(Error::Input(format!(
                    "task `{name}` is not a task of the data (tasks: {})",
                    space
                        .tasks
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let keep: Vec<bool> = space.tasks.iter().map(|t| sel.contains(&t.name)).collect();
        let mut i = 0;
        space.tasks.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        let mut i = 0;
        space.task_sources.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }
    let mut side = SideTables::default();
    let (n_users, n_items) = (space.users.len(), space.items.len());
    if cfg.features.text {
        side.item_text = text.items.as_ref().and_then(|e| table(e, n_items));
        side.user_text = text.users.as_ref().and_then(|e| table(e, n_users));
        space.item_text_dim = side.item_text.as_ref().map_or(0, |t| t.size()[1]);
        space.user_text_dim = side.user_text.as_ref().map_or(0, |t| t.size()[1]);
        if cfg.features.finetune_layers > 0 && side.item_text.is_some() {
            let Some((spec, tuning)) = text.item_tuning else {
                return Err(Error::Input(
                    "features.finetune_layers > 0 needs the language model's lower-layer states of the item texts".into(),
                ));
            };
            if tuning.states.size()[0] != n_items as i64 + 1 {
                return Err(Error::Input(format!(
                    "fine-tuning states have {} rows for {} items (+1 unknown)",
                    tuning.states.size()[0],
                    n_items
                )));
            }
            space.item_text_encoder = Some(spec);
            side.item_text_tuning = Some(tuning);
        }
    }
    if cfg.features.kg && ds.kg.is_some() {
        let kg = KnowledgeGraph::from_dataset(ds)?;
        let k = cfg.features.kg_neighbours;
        let s = kg.sample_neighbours(k, cfg.train.seed)?;
        let pad = |v: &[u32], w: usize, fill: u32| {
            let mut out: Vec<i64> = vec![i64::from(fill); w];
            out.extend(v.iter().map(|&x| i64::from(x)));
            Tensor::from_slice(&out).view([-1, w as i64])
        };
        side.kg = Some([
            pad(&s.hop1_relations, k, s.pad_relation),
            pad(&s.hop1_entities, k, s.pad_entity),
            pad(&s.hop2_relations, k * k, s.pad_relation),
            pad(&s.hop2_entities, k * k, s.pad_entity),
        ]);
        space.kg = Some((i64::from(s.pad_entity), i64::from(s.pad_relation)));
    }
    if cfg.features.history {
        let (items, feedback) = history(
            ds,
            &split.train,
            cfg.features.history_len,
            cfg.features.history_feedback.as_deref(),
        )?;
        side.history = Some(items);
        side.history_feedback = feedback;
    }
    side.seen = Some(seen(ds, &split.train));
    let data = prepare_for(ds, spec, cfg, &space, split)?;
    Ok((data, side))
}

fn table(e: &Embeddings, n: usize) -> Option<Tensor> {
    if e.len() != n || e.dim == 0 {
        return None;
    }
    let mut data = vec![0f32; e.dim];
    data.extend_from_slice(&e.data);
    Some(Tensor::from_slice(&data).view([n as i64 + 1, e.dim as i64]))
}

/// `[users + 1]`, `[items + 1]`: 1 where the user/item has training rows.
fn seen(ds: &Dataset, train: &[u32]) -> (Tensor, Tensor) {
    let mut u = vec![0f32; ds.users.ids.len() + 1];
    let mut i = vec![0f32; ds.items.ids.len() + 1];
    for &r in train {
        u[ds.interactions.user[r as usize] as usize + 1] = 1.0;
        i[ds.interactions.item[r as usize] as usize + 1] = 1.0;
    }
    (Tensor::from_slice(&u), Tensor::from_slice(&i))
}

/// `[users + 1, h]` item codes of each user's latest training items and, when a feedback
/// task is named, the label codes of those items (see [`SideTables::history_feedback`]).
fn history(
    ds: &Dataset,
    train: &[u32],
    h: usize,
    feedback: Option<&str>,
) -> Result<(Tensor, Option<Tensor>)> {
    let labels = feedback
        .map(|name| {
            ds.tasks
                .iter()
                .position(|t| t.name == name)
                .map(|t| &ds.interactions.labels[t])
                .ok_or_else(|| {
                    Error::Input(format!(
                        "features.history_feedback = {name:?}: the data has no such task (tasks: {})",
                        ds.tasks
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
        })
        .transpose()?;
    let buckets = labels.map(|l| FeedbackBuckets::fit(l, train));
    let n_users = ds.users.ids.len();
    let mut per_user: Vec<Vec<(i64, u32, i64)>> = vec![Vec::new(); n_users];
    for &r in train {
        let r = r as usize;
        let u = ds.interactions.user[r] as usize;
        per_user[u].push((
            ds.interactions.timestamp[r],
            r as u32,
            i64::from(ds.interactions.item[r]) + 1,
        ));
    }
    let mut items = vec![0i64; (n_users + 1) * h];
    let mut codes = vec![0i64; (n_users + 1) * h];
    for (u, rows) in per_user.iter_mut().enumerate() {
        rows.sort_unstable();
        let start = rows.len().saturating_sub(h);
        for (j, &(_, r, code)) in rows[start..].iter().enumerate() {
            items[(u + 1) * h + j] = code;
            if let (Some(l), Some(b)) = (labels, &buckets) {
                codes[(u + 1) * h + j] = b.code(l[r as usize]);
            }
        }
    }
    let shape = [n_users as i64 + 1, h as i64];
    let items = Tensor::from_slice(&items).view(shape);
    Ok((
        items,
        buckets.map(|_| Tensor::from_slice(&codes).view(shape)),
    ))
}

/// Label values to codes for the history: each distinct training value its own code when
/// there are few (a binary label, a 1-5 rating), else equal-count buckets.
struct FeedbackBuckets {
    /// Upper bounds of the buckets, ascending.
    bounds: Vec<f32>,
}

impl FeedbackBuckets {
    fn fit(labels: &[f32], train: &[u32]) -> Self {
        let mut v: Vec<f32> = train
            .iter()
            .map(|&r| labels[r as usize])
            .filter(|x| x.is_finite())
            .collect();
        v.sort_unstable_by(f32::total_cmp);
        let max = (crate::input_layer::FEEDBACK_CODES - 2) as usize;
        let mut distinct = v.clone();
        distinct.dedup();
        let bounds = if distinct.len() <= max {
            distinct
        } else {
            let mut b: Vec<f32> = (1..=max)
                .map(|k| v[(k * v.len() / max).min(v.len() - 1)])
                .collect();
            b.dedup();
            b
        };
        Self { bounds }
    }

    /// 1 for a missing label, `2 + bucket` otherwise.
    fn code(&self, x: f32) -> i64 {
        if !x.is_finite() || self.bounds.is_empty() {
            return 1;
        }
        let b = self
            .bounds
            .partition_point(|&u| u < x)
            .min(self.bounds.len() - 1);
        2 + b as i64
    }
}

fn user_holdout(
    ds: &Dataset,
    space: &FeatureSpace,
    split: &Split,
    cfg: &RunConfig,
    seed: u64,
) -> (Vec<u32>, Vec<u32>) {
    if !space.tasks.iter().any(|t| t.user_level) {
        return (Vec::new(), Vec::new());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_0F05_E125);
    let cold_users = matches!(cfg.split, SplitConfig::ColdUsers { .. });
    let held: std::collections::HashSet<u32> = if cold_users {
        split.held_out.iter().copied().collect()
    } else {
        Default::default()
    };
    let mut users: Vec<u32> = (0..ds.users.ids.len() as u32)
        .filter(|u| !held.contains(u))
        .collect();
    users.shuffle(&mut rng);
    let share = cfg.user_holdout.unwrap_or(0.2);
    let k = ((users.len() as f64) * share).round() as usize;
    if cold_users {
        let mut test: Vec<u32> = held.into_iter().collect();
        test.sort_unstable();
        let mut valid = users[..k / 2].to_vec();
        valid.sort_unstable();
        (valid, test)
    } else {
        let mut valid = users[..k / 2].to_vec();
        let mut test = users[k / 2..k].to_vec();
        valid.sort_unstable();
        test.sort_unstable();
        (valid, test)
    }
}

fn mask(ds: &Dataset, space: &FeatureSpace, valid: &[u32], test: &[u32]) -> Tensor {
    let n = ds.interactions.len();
    let t = space.tasks.len();
    let mut hidden = vec![false; ds.users.ids.len()];
    for &u in valid.iter().chain(test) {
        hidden[u as usize] = true;
    }
    let mut m = vec![1f32; n * t];
    for (task, head) in space.tasks.iter().enumerate() {
        if head.user_level {
            for r in 0..n {
                if hidden[ds.interactions.user[r] as usize] {
                    m[r * t + task] = 0.0;
                }
            }
        }
    }
    Tensor::from_slice(&m)
        .view([n as i64, t as i64])
        .to_kind(Kind::Float)
}

/// Prepares data for a model that was already trained: rows encoded in its saved feature
/// space, the same split and user hold-out as in training.
pub fn prepare_for(
    ds: &Dataset,
    _spec: Option<&DatasetSpec>,
    cfg: &RunConfig,
    space: &FeatureSpace,
    split: Split,
) -> Result<Prepared> {
    let rows = EncodedRows::encode(space, ds)?;
    let (valid_users, test_users) = user_holdout(ds, space, &split, cfg, cfg.train.seed);
    let train_mask = mask(ds, space, &valid_users, &test_users);
    Ok(Prepared {
        space: space.clone(),
        rows,
        split,
        train_mask,
        valid_users,
        test_users,
        row_users: ds.interactions.user.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::FeedbackBuckets;

    #[test]
    fn few_label_values_get_a_code_each_and_many_get_equal_count_buckets() {
        // A 1-5 rating: one code per value; rows outside `train` do not count.
        let labels = [1.0, 5.0, 3.0, 4.0, 2.0, 9.0, f32::NAN];
        let b = FeedbackBuckets::fit(&labels, &[0, 1, 2, 3, 4]);
        let codes: Vec<i64> = labels.iter().map(|&x| b.code(x)).collect();
        assert_eq!(codes, [2, 6, 4, 5, 3, 6, 1]);
        // A binary label: two codes.
        let b = FeedbackBuckets::fit(&[0.0, 1.0, 1.0], &[0, 1, 2]);
        assert_eq!((b.code(0.0), b.code(1.0), b.code(f32::NAN)), (2, 3, 1));
        // A continuous label: at most 16 buckets of about equal counts, codes ordered by value.
        let labels: Vec<f32> = (0..1000).map(|i| i as f32 / 10.0).collect();
        let train: Vec<u32> = (0..1000).collect();
        let b = FeedbackBuckets::fit(&labels, &train);
        let codes: Vec<i64> = labels.iter().map(|&x| b.code(x)).collect();
        assert!(codes.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!((codes[0], codes[999]), (2, 17));
        let mut counts = std::collections::BTreeMap::new();
        for c in codes {
            *counts.entry(c).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 16);
        assert!(
            counts.values().all(|&n| (55..=70).contains(&n)),
            "{counts:?}"
        );
    }
}
