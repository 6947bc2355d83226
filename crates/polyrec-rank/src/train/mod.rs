//! Training: the run configuration, the optimiser and the loop with validation, early
//! stopping, checkpoints and resume; data-parallel over the ranks of a
//! [`Collective`](crate::collective::Collective) when there is more than one.

pub mod config;
mod data_parallel;
mod ema;
pub mod optim;
mod trainer;

pub use data_parallel::BUCKET_FLOATS;
pub use trainer::{EpochRecord, FitOptions, Observer, SilentObserver, TrainSummary, fit};
