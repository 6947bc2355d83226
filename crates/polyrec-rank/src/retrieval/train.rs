//! Training a two-tower model on implicit feedback: every training interaction is a
//! positive, retrieved from the user vector after the items before it. Seeded like the
//! ranking trainer (torch generator and window order re-seeded from `(seed, epoch)`), with
//! early stopping on validation ndcg@10 and the best epoch's weights kept.

use std::time::Instant;

use polyrec_data::Dataset;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use super::config::RetrievalLoss;
use super::data::{Sequences, window_batch, windows};
use super::eval::evaluate_topk;
use super::model::TwoTower;
use crate::evaluate::Part;
use crate::train::config::TrainConfig;
use crate::train::optim::Adam;
use crate::train::{EpochRecord, Observer, TrainSummary};
use crate::{Error, Result};

fn seed_of(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// What the loss needs from the training data: which items may be retrieved (trained) and
/// their log sampling probabilities.
#[derive(Debug)]
pub struct Catalog {
    /// `[items + 1]` true for items without training rows (row 0 included).
    unseen: Tensor,
    /// Item codes with training rows.
    seen_codes: Tensor,
    /// `[items + 1]` log of each item's share of the training interactions.
    log_pop: Tensor,
}

impl Catalog {
    /// From the training sequences, for items with codes `1..=n_items`.
    pub fn new(seqs: &Sequences, n_items: usize, device: tch::Device) -> Self {
        let mut count = vec![0f64; n_items + 1];
        for s in &seqs.train {
            for &c in s {
                count[c as usize] += 1.0;
            }
        }
        let total: f64 = count.iter().sum::<f64>().max(1.0);
        let log_pop: Vec<f32> = count
            .iter()
            .map(|&c| ((c.max(0.5)) / total).ln() as f32)
            .collect();
        let unseen: Vec<bool> = count.iter().map(|&c| c == 0.0).collect();
        let seen_codes: Vec<i64> = (0..=n_items as i64)
            .filter(|&c| count[c as usize] > 0.0)
            .collect();
        Self {
            unseen: Tensor::from_slice(&unseen).to_device(device),
            seen_codes: Tensor::from_slice(&seen_codes).to_device(device),
            log_pop: Tensor::from_slice(&log_pop).to_device(device),
        }
    }

    fn uniform(&self, n: i64) -> Tensor {
        let k = self.seen_codes.size()[0];
        let at = Tensor::randint(k, [n], (Kind::Int64, self.seen_codes.device()));
        self.seen_codes.index_select(0, &at)
    }
}

/// The loss of one batch: `users` `[N, D]` (scaled for scoring), `targets` `[N]` item codes,
/// `items` `[items + 1, D]` scoring vectors.
pub fn retrieval_loss(
    model: &TwoTower,
    catalog: &Catalog,
    users: &Tensor,
    targets: &Tensor,
    items: &Tensor,
) -> Tensor {
    let cfg = model.config();
    match cfg.loss {
        RetrievalLoss::Softmax => users
            .matmul(&items.transpose(0, 1))
            .masked_fill(&catalog.unseen.unsqueeze(0), f64::NEG_INFINITY)
            .cross_entropy_for_logits(targets),
        RetrievalLoss::SampledSoftmax => {
            let n = targets.size()[0];
            let (uniq, inverse, _) = targets.internal_unique2(true, true, false);
            let m = cfg.extra_negatives as i64;
            let extra = catalog.uniform(m);
            let cand = Tensor::cat(&[&uniq, &extra], 0);
            let mut logits = users.matmul(&items.index_select(0, &cand).transpose(0, 1));
            if cfg.logq {
                // In-batch candidates were drawn with probability ~ n * popularity; the
                // uniform ones with m / |catalog|.
                let k = catalog.seen_codes.size()[0] as f64;
                let q = Tensor::cat(
                    &[
                        catalog.log_pop.index_select(0, &uniq) + (n as f64).ln(),
                        Tensor::full(
                            [m],
                            (m.max(1) as f64 / k).ln(),
                            (Kind::Float, users.device()),
                        ),
                    ],
                    0,
                );
                logits -= q.unsqueeze(0);
            }
            if m > 0 {
                // An extra negative that is the row's own positive is no negative.
                let same = extra.unsqueeze(0).eq_tensor(&targets.unsqueeze(1));
                let mask = Tensor::cat(
                    &[
                        Tensor::zeros([n, uniq.size()[0]], (Kind::Bool, users.device())),
                        same,
                    ],
                    1,
                );
                logits = logits.masked_fill(&mask, f64::NEG_INFINITY);
            }
            logits.cross_entropy_for_logits(&inverse)
        }
        RetrievalLoss::Bpr => {
            let neg = catalog.uniform(targets.size()[0]);
            let pos =
                (users * items.index_select(0, targets)).sum_dim_intlist(-1, false, Kind::Float);
            let negs =
                (users * items.index_select(0, &neg)).sum_dim_intlist(-1, false, Kind::Float);
            -(pos - negs).log_sigmoid().mean(Kind::Float)
        }
    }
}

/// The loss of a batch of windows (the forward pass of training).
pub fn batch_loss(
    model: &TwoTower,
    catalog: &Catalog,
    seqs: &Sequences,
    batch: &[super::data::Window],
    train: bool,
) -> Tensor {
    let len = model.config().history_len;
    let device = model.device();
    let b = window_batch(seqs, batch, len);
    let raw = model.item_vectors_raw(train);
    let uv = model.user_vectors(
        &b.users.to_device(device),
        &b.inputs.to_device(device),
        &raw,
        train,
    );
    let d = uv.size()[2];
    let targets = b.targets.view([-1]).to_device(device);
    let idx = targets.ne(0).nonzero().squeeze_dim(1);
    let users = model.for_scoring(&uv.reshape([-1, d]).index_select(0, &idx)) * model.score_scale();
    let items = model.for_scoring(&raw);
    retrieval_loss(
        model,
        catalog,
        &users,
        &targets.index_select(0, &idx),
        &items,
    )
}

/// Trains `model`; on return it holds the best epoch's weights (by validation ndcg@10).
pub fn fit(
    model: &mut TwoTower,
    ds: &Dataset,
    seqs: &Sequences,
    cfg: &TrainConfig,
    observer: &mut dyn Observer,
) -> Result<TrainSummary> {
    cfg.check()?;
    if seqs.interactions() == 0 {
        return Err(Error::Input("the split has no training rows".into()));
    }
    let catalog = Catalog::new(seqs, ds.items.ids.len(), model.device());
    let params = model.trainable().into_iter().map(|(_, t)| t).collect();
    let mut opt = Adam::new(params, cfg.optimizer, cfg.weight_decay);
    let all = windows(seqs, model.config().history_len);
    let n_batches = all.len().div_ceil(cfg.batch_size);
    let mut history: Vec<EpochRecord> = Vec::new();
    let (mut best_score, mut best_epoch, mut bad) = (f64::NEG_INFINITY, 0, 0);
    let mut best: Option<Vec<(String, Tensor)>> = None;
    let mut stopped_early = false;
    for epoch in 0..cfg.epochs {
        if cfg.patience > 0 && bad >= cfg.patience {
            stopped_early = true;
            break;
        }
        tch::manual_seed(seed_of(cfg.seed, epoch) as i64);
        let mut order = all.clone();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed_of(cfg.seed, epoch)));
        let lr = cfg.lr_at(epoch);
        observer.epoch_start(epoch + 1, n_batches);
        let start = Instant::now();
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        for (i, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let loss = batch_loss(model, &catalog, seqs, chunk, true);
            opt.zero_grad();
            loss.backward();
            opt.clip_grad_norm(cfg.clip_norm);
            opt.step(lr);
            let l = loss.double_value(&[]);
            if !l.is_finite() {
                return Err(Error::Input(format!(
                    "the training loss became {l} in epoch {} batch {}: lower the learning rate or enable clip_norm",
                    epoch + 1,
                    i + 1
                )));
            }
            let targets: usize = chunk.iter().map(|w| w.hi - w.lo).sum();
            loss_sum += l * targets as f64;
            seen += targets;
            observer.batch(
                i + 1,
                l,
                seen as f64 / start.elapsed().as_secs_f64().max(1e-9),
            );
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let valid_start = Instant::now();
        let valid = evaluate_topk(model, ds, seqs, Part::Valid);
        let valid_seconds = valid_start.elapsed().as_secs_f64();
        let score = valid["overall"]["ndcg@10"].as_f64().unwrap_or(0.0);
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            lr,
            samples_per_sec: seen as f64 / train_seconds.max(1e-9),
            train_seconds,
            valid_seconds,
            valid_score: score,
            valid,
        };
        observer.epoch_end(&record);
        history.push(record);
        if score > best_score || best.is_none() {
            best_score = score;
            best_epoch = epoch + 1;
            bad = 0;
            best = Some(model.snapshot());
        } else {
            bad += 1;
        }
    }
    if cfg.patience > 0 && bad >= cfg.patience && history.len() < cfg.epochs {
        stopped_early = true;
    }
    if let Some(b) = &best {
        model.restore(b);
    }
    Ok(TrainSummary {
        history,
        best_epoch,
        best_score,
        stopped_early,
    })
}
