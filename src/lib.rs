//! The root package of the polyrec workspace. It owns the top-level `examples/`
//! (`ingest_throughput`, `metrics_throughput`, `encode_throughput`: the Rust sides of the
//! scripted comparisons in `benches/`) and re-exports the facade, so an example can say
//! `polyrec_suite::polyrec::...` or depend on `polyrec` directly.
//!
//! ```
//! use polyrec_suite::polyrec::eval::pointwise::auc;
//! // Two positives above two negatives, one tie between them: 3.5 of 4 pairs in order.
//! assert_eq!(auc(&[1.0, 0.0, 1.0, 0.0], &[0.8, 0.1, 0.4, 0.4]), Some(0.875));
//! ```
#![warn(missing_docs)]

pub use polyrec;
