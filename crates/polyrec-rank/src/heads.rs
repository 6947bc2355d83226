//! Task heads: what each task predicts, and its loss.
//!
//! Every task owns one output column (a second task never reuses the first one's
//! predictions): binary tasks output one logit, regression tasks one standardised value
//! (de-standardised and clamped to the spec's range at prediction time), multiclass tasks
//! one logit per class.

use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

/// What a task predicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HeadKind {
    /// 0/1 labels; the output is a logit, the loss binary cross-entropy with logits.
    Binary,
    /// Real labels; the output is `(y - mean) / std`, the loss mean squared error.
    Regression {
        /// Training-split mean of the label.
        mean: f32,
        /// Training-split standard deviation of the label (1 when it is 0).
        std: f32,
        /// Predictions are clamped to this range (the spec's `range`), when given.
        range: Option<[f32; 2]>,
    },
    /// Class indices; one logit per class, the loss cross-entropy.
    Multiclass {
        /// Number of classes.
        classes: usize,
    },
}

/// One task of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskHead {
    /// The task's name in the dataset spec.
    pub name: String,
    /// What it predicts.
    pub kind: HeadKind,
    /// A user-level task (the label is an attribute of the user, e.g. a gender profile):
    /// trained on some users, scored only on users held out of its training, and
    /// predicted without the inputs derived from its own label field.
    pub user_level: bool,
}

impl TaskHead {
    /// Width of the output column.
    pub fn width(&self) -> i64 {
        match self.kind {
            HeadKind::Multiclass { classes } => classes as i64,
            _ => 1,
        }
    }

    /// Whether this is a binary task.
    pub fn is_binary(&self) -> bool {
        matches!(self.kind, HeadKind::Binary)
    }

    /// The loss of `output` (`[B]` or `[B, C]`) against `labels` (`[B]`), over the rows
    /// where `mask` (`[B]`, 0/1) is 1; zero when no row counts.
    pub fn loss(&self, output: &Tensor, labels: &Tensor, mask: &Tensor) -> Tensor {
        let per_row = match &self.kind {
            HeadKind::Binary => output.binary_cross_entropy_with_logits::<Tensor>(
                labels,
                None,
                None,
                Reduction::None,
            ),
            HeadKind::Regression { mean, std, .. } => {
                let y = (labels - f64::from(*mean)) / f64::from(*std);
                (output - y).square()
            }
            HeadKind::Multiclass { .. } => output
                .log_softmax(-1, Kind::Float)
                .gather(1, &labels.to_kind(Kind::Int64).unsqueeze(1), false)
                .squeeze_dim(1)
                .neg(),
        };
        let n = mask.sum(Kind::Float).clamp_min(1.0);
        (per_row * mask).sum(Kind::Float) / n
    }

    /// The prediction in label units: a probability for binary tasks, the clamped value
    /// for regression, the most likely class index for multiclass.
    pub fn predict(&self, output: &Tensor) -> Tensor {
        match &self.kind {
            HeadKind::Binary => output.sigmoid(),
            HeadKind::Regression { mean, std, range } => {
                let y = output * f64::from(*std) + f64::from(*mean);
                match range {
                    Some([lo, hi]) => y.clamp(f64::from(*lo), f64::from(*hi)),
                    None => y,
                }
            }
            HeadKind::Multiclass { .. } => output.argmax(-1, false).to_kind(Kind::Float),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_count_only_masked_rows_and_predictions_use_label_units() {
        let bin = TaskHead {
            name: "like".into(),
            kind: HeadKind::Binary,
            user_level: false,
        };
        let out = Tensor::from_slice(&[0.0f32, 100.0]);
        let y = Tensor::from_slice(&[1.0f32, 0.0]);
        let only_first = Tensor::from_slice(&[1.0f32, 0.0]);
        let l = bin.loss(&out, &y, &only_first).double_value(&[]);
        assert!((l - std::f64::consts::LN_2).abs() < 1e-6, "{l}");

        let reg = TaskHead {
            name: "rating".into(),
            kind: HeadKind::Regression {
                mean: 3.0,
                std: 2.0,
                range: Some([1.0, 5.0]),
            },
            user_level: false,
        };
        let p = reg.predict(&Tensor::from_slice(&[0.5f32, 10.0]));
        assert_eq!(Vec::<f32>::try_from(p).ok(), Some(vec![4.0, 5.0]));
        let l = reg
            .loss(
                &Tensor::from_slice(&[0.5f32]),
                &Tensor::from_slice(&[4.0f32]),
                &Tensor::from_slice(&[1.0f32]),
            )
            .double_value(&[]);
        assert!(l.abs() < 1e-9);

        let mc = TaskHead {
            name: "class".into(),
            kind: HeadKind::Multiclass { classes: 3 },
            user_level: false,
        };
        assert_eq!(mc.width(), 3);
        let logits = Tensor::from_slice(&[0.0f32, 5.0, 0.0]).view([1, 3]);
        assert_eq!(mc.predict(&logits).double_value(&[0]), 1.0);
        let none = Tensor::from_slice(&[0.0f32]);
        assert_eq!(
            mc.loss(&logits, &Tensor::from_slice(&[1.0f32]), &none)
                .double_value(&[]),
            0.0
        );
    }
}
