//! The learned link model: gradient-boosted decision trees (the default) or logistic
//! regression over [`PairFeatures`], trained with the logistic loss.
//!
//! Trees are grown depth-first to a fixed depth on features cut into at most 64 quantile
//! bins; each split maximises the second-order gain `G_L^2/(H_L+l) + G_R^2/(H_R+l) -
//! G^2/(H+l)` and each leaf holds `-G/(H+l)` times the learning rate (Newton boosting, as
//! XGBoost and LightGBM do). Logistic regression standardises the features and runs
//! full-batch gradient descent with an L2 penalty. Both are deterministic.

use serde::{Deserialize, Serialize};

use crate::social::features::{N_FEATURES, PairFeatures};

/// Which model scores pairs, with its hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LinkModelConfig {
    /// Gradient-boosted trees.
    Boosted {
        /// Number of trees.
        trees: usize,
        /// Depth of each tree.
        depth: usize,
        /// Shrinkage of each tree.
        learning_rate: f32,
        /// L2 penalty on leaf values.
        lambda: f32,
        /// The least hessian sum in a child.
        min_child_weight: f32,
    },
    /// Logistic regression.
    Logistic {
        /// Gradient-descent steps.
        steps: usize,
        /// Step size.
        learning_rate: f32,
        /// L2 penalty.
        l2: f32,
    },
}

impl Default for LinkModelConfig {
    fn default() -> Self {
        Self::Boosted {
            trees: 200,
            depth: 2,
            learning_rate: 0.1,
            lambda: 1.0,
            min_child_weight: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Split {
        feature: usize,
        threshold: f32,
        left: usize,
        right: usize,
    },
    Leaf(f32),
}

/// A trained link model: pair features -> logit.
#[derive(Debug, Clone)]
pub enum LinkModel {
    /// Boosted trees: a base logit and the trees' nodes (each tree's root first).
    Boosted {
        /// The starting logit (the log-odds of the training labels).
        base: f32,
        /// Trees.
        trees: Vec<Vec<NodeRef>>,
    },
    /// Logistic regression on standardised features.
    Logistic {
        /// Feature means.
        mean: [f32; N_FEATURES],
        /// Feature standard deviations (1 where constant).
        scale: [f32; N_FEATURES],
        /// Weights.
        weights: [f32; N_FEATURES],
        /// Bias.
        bias: f32,
    },
}

/// One node of a tree (opaque).
#[derive(Debug, Clone, Copy)]
pub struct NodeRef(Node);

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl LinkModel {
    /// Trains on features `x` and 0/1 labels `y` with the logistic loss.
    pub fn fit(config: &LinkModelConfig, x: &[PairFeatures], y: &[f32]) -> Self {
        Self::fit_ranked(config, x, y, &[], 0.0)
    }

    /// Trains on features `x` and 0/1 labels `y` with the logistic loss plus, weighted by
    /// `rank_weight`, the pairwise logistic loss `ln(1 + exp(s_j - s_i))` of every `(i, j)`
    /// in `ranked` (row `i` should score above row `j`: a friendship and a non-friend of
    /// the same user), summed over pairs as the pointwise loss is over rows.
    pub fn fit_ranked(
        config: &LinkModelConfig,
        x: &[PairFeatures],
        y: &[f32],
        ranked: &[(u32, u32)],
        rank_weight: f32,
    ) -> Self {
        let ranked = Ranked {
            pairs: ranked,
            weight: rank_weight,
        };
        match *config {
            LinkModelConfig::Boosted {
                trees,
                depth,
                learning_rate,
                lambda,
                min_child_weight,
            } => fit_boosted(
                x,
                y,
                &ranked,
                trees,
                depth,
                learning_rate,
                lambda,
                min_child_weight,
            ),
            LinkModelConfig::Logistic {
                steps,
                learning_rate,
                l2,
            } => fit_logistic(x, y, &ranked, steps, learning_rate, l2),
        }
    }

    /// The logit of a pair being friends.
    pub fn logit(&self, f: &PairFeatures) -> f32 {
        match self {
            Self::Boosted { base, trees } => {
                let mut s = *base;
                for t in trees {
                    let mut i = 0;
                    loop {
                        match t[i].0 {
                            Node::Leaf(v) => {
                                s += v;
                                break;
                            }
                            Node::Split {
                                feature,
                                threshold,
                                left,
                                right,
                            } => i = if f[feature] <= threshold { left } else { right },
                        }
                    }
                }
                s
            }
            Self::Logistic {
                mean,
                scale,
                weights,
                bias,
            } => {
                let mut s = *bias;
                for k in 0..N_FEATURES {
                    s += weights[k] * (f[k] - mean[k]) / scale[k];
                }
                s
            }
        }
    }

    /// The probability of a pair being friends.
    pub fn probability(&self, f: &PairFeatures) -> f32 {
        sigmoid(self.logit(f))
    }
}

/// Pairs of rows to rank, and the weight of their loss.
struct Ranked<'a> {
    pairs: &'a [(u32, u32)],
    weight: f32,
}

impl Ranked<'_> {
    /// Adds the pairwise loss's gradient and, where asked (the trees' Newton steps), its
    /// Gauss-Newton hessian with respect to each row's logit.
    fn add_gradients(&self, logit: &[f32], grad: &mut [f32], mut hess: Option<&mut [f32]>) {
        if self.weight <= 0.0 {
            return;
        }
        for &(i, j) in self.pairs {
            let (i, j) = (i as usize, j as usize);
            // d/ds_i ln(1 + exp(s_j - s_i)) = -sigmoid(s_j - s_i).
            let q = sigmoid(logit[j] - logit[i]);
            let g = self.weight * q;
            grad[i] -= g;
            grad[j] += g;
            if let Some(hess) = hess.as_deref_mut() {
                let h = (self.weight * q * (1.0 - q)).max(1e-6);
                hess[i] += h;
                hess[j] += h;
            }
        }
    }
}

fn fit_logistic(
    x: &[PairFeatures],
    y: &[f32],
    ranked: &Ranked<'_>,
    steps: usize,
    lr: f32,
    l2: f32,
) -> LinkModel {
    let n = x.len().max(1) as f32;
    let mut mean = [0.0f32; N_FEATURES];
    let mut scale = [0.0f32; N_FEATURES];
    for f in x {
        for k in 0..N_FEATURES {
            mean[k] += f[k] / n;
        }
    }
    for f in x {
        for k in 0..N_FEATURES {
            scale[k] += (f[k] - mean[k]).powi(2) / n;
        }
    }
    scale.iter_mut().for_each(|s| {
        *s = if *s > 1e-12 { s.sqrt() } else { 1.0 };
    });
    let z: Vec<[f32; N_FEATURES]> = x
        .iter()
        .map(|f| std::array::from_fn(|k| (f[k] - mean[k]) / scale[k]))
        .collect();
    let (mut w, mut b) = ([0.0f32; N_FEATURES], 0.0f32);
    let mut logit = vec![0.0f32; z.len()];
    let mut grad = vec![0.0f32; z.len()];
    for _ in 0..steps {
        for (i, f) in z.iter().enumerate() {
            logit[i] = b + f.iter().zip(&w).map(|(a, c)| a * c).sum::<f32>();
            grad[i] = sigmoid(logit[i]) - y[i];
        }
        ranked.add_gradients(&logit, &mut grad, None);
        let (mut gw, mut gb) = ([0.0f32; N_FEATURES], 0.0f32);
        for (f, &g) in z.iter().zip(&grad) {
            gb += g;
            for k in 0..N_FEATURES {
                gw[k] += g * f[k];
            }
        }
        b -= lr * gb / n;
        for k in 0..N_FEATURES {
            w[k] -= lr * (gw[k] / n + l2 * w[k]);
        }
    }
    LinkModel::Logistic {
        mean,
        scale,
        weights: w,
        bias: b,
    }
}

/// Up to 63 cut points per feature at the training data's quantiles.
fn cut_points(x: &[PairFeatures]) -> Vec<Vec<f32>> {
    (0..N_FEATURES)
        .map(|k| {
            let mut v: Vec<f32> = x.iter().map(|f| f[k]).collect();
            v.sort_by(f32::total_cmp);
            v.dedup();
            if v.len() <= 64 {
                v.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect()
            } else {
                let mut c: Vec<f32> = (1..64).map(|q| v[q * (v.len() - 1) / 64]).collect();
                c.dedup();
                c
            }
        })
        .collect()
}

struct Grower<'a> {
    bins: &'a [[u8; N_FEATURES]],
    cuts: &'a [Vec<f32>],
    grad: &'a [f32],
    hess: &'a [f32],
    lambda: f32,
    min_child: f32,
    lr: f32,
    nodes: Vec<Node>,
}

impl Grower<'_> {
    fn leaf(&mut self, g: f32, h: f32) -> usize {
        self.nodes
            .push(Node::Leaf(-g / (h + self.lambda) * self.lr));
        self.nodes.len() - 1
    }

    fn grow(&mut self, rows: &mut [u32], depth: usize) -> usize {
        let (g, h) = rows.iter().fold((0.0f32, 0.0f32), |(g, h), &r| {
            (g + self.grad[r as usize], h + self.hess[r as usize])
        });
        if depth == 0 || rows.len() < 2 {
            return self.leaf(g, h);
        }
        let parent = g * g / (h + self.lambda);
        let mut best: Option<(f32, usize, usize)> = None; // gain, feature, bin
        for k in 0..N_FEATURES {
            let nb = self.cuts[k].len() + 1;
            if nb < 2 {
                continue;
            }
            let mut hg = [0.0f32; 64];
            let mut hh = [0.0f32; 64];
            for &r in rows.iter() {
                let b = self.bins[r as usize][k] as usize;
                hg[b] += self.grad[r as usize];
                hh[b] += self.hess[r as usize];
            }
            let (mut gl, mut hl) = (0.0f32, 0.0f32);
            for b in 0..nb - 1 {
                gl += hg[b];
                hl += hh[b];
                let (gr, hr) = (g - gl, h - hl);
                if hl < self.min_child || hr < self.min_child {
                    continue;
                }
                let gain = gl * gl / (hl + self.lambda) + gr * gr / (hr + self.lambda) - parent;
                if gain > 1e-6 && best.is_none_or(|(bg, _, _)| gain > bg) {
                    best = Some((gain, k, b));
                }
            }
        }
        let Some((_, feature, bin)) = best else {
            return self.leaf(g, h);
        };
        let mut split = 0;
        for i in 0..rows.len() {
            if (self.bins[rows[i] as usize][feature] as usize) <= bin {
                rows.swap(i, split);
                split += 1;
            }
        }
        let at = self.nodes.len();
        self.nodes.push(Node::Leaf(0.0));
        let (l, r) = rows.split_at_mut(split);
        let left = self.grow(l, depth - 1);
        let right = self.grow(r, depth - 1);
        self.nodes[at] = Node::Split {
            feature,
            threshold: self.cuts[feature][bin],
            left,
            right,
        };
        at
    }
}

#[allow(clippy::too_many_arguments)]
fn fit_boosted(
    x: &[PairFeatures],
    y: &[f32],
    ranked: &Ranked<'_>,
    trees: usize,
    depth: usize,
    lr: f32,
    lambda: f32,
    min_child: f32,
) -> LinkModel {
    let cuts = cut_points(x);
    let bins: Vec<[u8; N_FEATURES]> = x
        .iter()
        .map(|f| std::array::from_fn(|k| cuts[k].partition_point(|&c| c < f[k]) as u8))
        .collect();
    let pos = y.iter().filter(|&&t| t > 0.5).count() as f32;
    let p0 = ((pos + 0.5) / (y.len() as f32 + 1.0)).clamp(1e-4, 1.0 - 1e-4);
    let base = (p0 / (1.0 - p0)).ln();
    let mut logit = vec![base; x.len()];
    let mut out = Vec::with_capacity(trees);
    let mut grad = vec![0.0f32; x.len()];
    let mut hess = vec![0.0f32; x.len()];
    for _ in 0..trees {
        for i in 0..x.len() {
            let p = sigmoid(logit[i]);
            grad[i] = p - y[i];
            hess[i] = (p * (1.0 - p)).max(1e-6);
        }
        ranked.add_gradients(&logit, &mut grad, Some(&mut hess));
        let mut g = Grower {
            bins: &bins,
            cuts: &cuts,
            grad: &grad,
            hess: &hess,
            lambda,
            min_child,
            lr,
            nodes: Vec::new(),
        };
        let mut rows: Vec<u32> = (0..x.len() as u32).collect();
        g.grow(&mut rows, depth);
        let tree: Vec<NodeRef> = g.nodes.into_iter().map(NodeRef).collect();
        let model = LinkModel::Boosted {
            base: 0.0,
            trees: vec![tree],
        };
        for i in 0..x.len() {
            logit[i] += model.logit(&x[i]);
        }
        if let LinkModel::Boosted { trees, .. } = model {
            out.extend(trees);
        }
    }
    LinkModel::Boosted { base, trees: out }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two features decide the label by an interaction (xor) no linear model can fit; the
    /// trees must, logistic regression must not.
    #[test]
    fn trees_fit_an_interaction_that_a_line_cannot() {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..400 {
            let a = (i % 20) as f32 / 20.0;
            let b = (i / 20) as f32 / 20.0;
            let mut f = [0.0; N_FEATURES];
            f[0] = a;
            f[3] = b;
            x.push(f);
            y.push(if (a > 0.5) != (b > 0.5) { 1.0 } else { 0.0 });
        }
        let trees = LinkModel::fit(&LinkModelConfig::default(), &x, &y);
        let line = LinkModel::fit(
            &LinkModelConfig::Logistic {
                steps: 300,
                learning_rate: 0.5,
                l2: 0.0,
            },
            &x,
            &y,
        );
        let acc = |m: &LinkModel| {
            x.iter()
                .zip(&y)
                .filter(|(f, t)| (m.probability(f) > 0.5) == (**t > 0.5))
                .count() as f32
                / x.len() as f32
        };
        assert!(acc(&trees) > 0.98, "trees {}", acc(&trees));
        assert!(acc(&line) < 0.7, "line {}", acc(&line));
    }

    /// Every label is 0, so the pointwise loss alone ranks nothing; the pairs say that a
    /// larger first feature ranks higher, and both models must learn that order from them.
    #[test]
    fn the_pairwise_loss_orders_what_the_labels_cannot() {
        let x: Vec<PairFeatures> = (0..200)
            .map(|i| {
                let mut f = [0.0; N_FEATURES];
                f[0] = ((i * 37) % 200) as f32 / 200.0;
                f
            })
            .collect();
        let y = vec![0.0; x.len()];
        let pairs: Vec<(u32, u32)> = (0..x.len() as u32)
            .flat_map(|i| [(i, (i + 1) % 200), (i, (i + 53) % 200)])
            .map(|(i, j)| {
                if x[i as usize][0] > x[j as usize][0] {
                    (i, j)
                } else {
                    (j, i)
                }
            })
            .collect();
        let logistic = LinkModelConfig::Logistic {
            steps: 300,
            learning_rate: 0.5,
            l2: 0.0,
        };
        for config in [LinkModelConfig::default(), logistic] {
            let ordered = |m: &LinkModel| {
                pairs
                    .iter()
                    .filter(|&&(i, j)| m.logit(&x[i as usize]) > m.logit(&x[j as usize]))
                    .count() as f32
                    / pairs.len() as f32
            };
            let ranked = LinkModel::fit_ranked(&config, &x, &y, &pairs, 1.0);
            let pointwise = LinkModel::fit_ranked(&config, &x, &y, &pairs, 0.0);
            assert!(ordered(&ranked) > 0.95, "{config:?}: {}", ordered(&ranked));
            assert!(
                ordered(&pointwise) < 0.05,
                "{config:?}: {}",
                ordered(&pointwise)
            );
        }
    }
}
