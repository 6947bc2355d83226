//! Multi-scenario, multi-task ranking models on libtorch.
//!
//! `polyrec-rank` sits above the data, graph, encoder and metrics crates and below the
//! `polyrec` facade: it turns a batch of features into one logit per task. It is one of the
//! two crates (with `polyrec-encode`) that link libtorch through `tch`, so tensors live on
//! CUDA when present and on the CPU otherwise ([`DeviceRequest`]).
//!
//! Models are plain structs built from a serde config and a `VarStore` path, so parameter
//! names follow the module tree (`bottom.layer0.weight`, `tower.like.layer1.bias`) and
//! become stable checkpoint names. Every model implements [`MultiTaskModel`].
//!
//! ```
//! use polyrec_rank::{MultiTaskModel, SharedBottom, SharedBottomConfig};
//! use tch::{nn, Device, Kind, Tensor};
//!
//! let vs = nn::VarStore::new(Device::Cpu);
//! let model = SharedBottom::new(&vs.root(), 8, &["like", "rating"], &SharedBottomConfig::default())?;
//! let batch = Tensor::ones([4, 8], (Kind::Float, Device::Cpu));
//! let logits = model.forward_t(&batch, false);
//! assert_eq!(logits.len(), 2);
//! assert_eq!(logits[0].size(), [4]);
//! # Ok::<(), polyrec_rank::Error>(())
//! ```
#![warn(missing_docs)]

mod device;
mod error;
mod shared_bottom;
pub mod tower;

pub use device::{DeviceReport, DeviceRequest};
pub use error::{Error, Result};
pub use shared_bottom::{SharedBottom, SharedBottomConfig};

/// A model that maps a batch of features to one output per task.
pub trait MultiTaskModel {
    /// Task names, in the order of [`MultiTaskModel::forward_t`]'s outputs.
    fn tasks(&self) -> &[String];

    /// One tensor of shape `[batch]` per task: logits for binary tasks, values for
    /// regression tasks. Dropout and similar layers are active only when `train` is true.
    fn forward_t(&self, features: &tch::Tensor, train: bool) -> Vec<tch::Tensor>;
}
