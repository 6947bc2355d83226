//! Training: the run configuration, the optimiser and the loop with validation, early
//! stopping, checkpoints and resume.

pub mod config;
pub mod optim;
mod trainer;

pub use trainer::{EpochRecord, FitOptions, Observer, SilentObserver, TrainSummary, fit};
