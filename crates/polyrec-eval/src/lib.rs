//! Exact, fast recommendation metrics, broken down per scenario x task.
//!
//! `polyrec-eval` needs no other polyrec crate and no libtorch: plain slices of labels and
//! scores in, numbers out. The ranking crate and the `polyrec metrics` command use it.
//!
//! - Pointwise ([`pointwise`]): AUC (ties count one half, O(n log n)), GAUC (per-user AUC
//!   weighted by rows, single-class users skipped), LogLoss (clipped), RMSE, MAE, accuracy,
//!   macro-F1. Undefined values are `None`, never a made-up 0.5.
//! - Top-K ([`topk`]): recall, precision, hit rate, NDCG, MRR at several K, and
//!   full-ranking evaluation over all items, parallel over users, excluding training items,
//!   with memory of one item buffer per thread.
//! - Beyond accuracy ([`diversity`]): intra-list diversity, catalog coverage and novelty
//!   at K.
//! - Uncertainty ([`bootstrap`]): percentile bootstrap intervals and a paired bootstrap test.
//! - Reports ([`report`], [`plot`]): the JSON shape `{"overall": {TASK: {...}}, SCENARIO:
//!   {...}, "topk": {...}}`, Markdown tables, and SVG bar charts and training curves.
//!
//! ```
//! use polyrec_eval::pointwise::{auc, gauc, logloss};
//!
//! let labels = [1.0, 0.0, 1.0, 0.0];
//! let scores = [0.9, 0.3, 0.6, 0.6];
//! assert_eq!(auc(&labels, &scores), Some(0.875)); // one tie counts one half
//! assert_eq!(auc(&[1.0, 1.0], &[0.2, 0.4]), None); // a single class: undefined
//! assert_eq!(gauc(&["u1", "u1", "u2", "u2"], &labels, &scores), Some(0.75));
//! assert!(logloss(&labels, &scores).is_some_and(|l| l > 0.0));
//! ```
#![warn(missing_docs)]

pub mod bootstrap;
pub mod diversity;
mod error;
pub mod input;
pub mod plot;
pub mod pointwise;
mod predictions;
pub mod report;
pub mod topk;

pub use error::{Error, Result};
