//! Multi-scenario, multi-task ranking models on libtorch, learning from logs, text and the
//! knowledge graph together.
//!
//! `polyrec-rank` sits above the data, graph, encoder and metrics crates and below the
//! `polyrec` facade. It links libtorch through `tch`, so tensors live on CUDA when present
//! and on the CPU otherwise ([`DeviceRequest`]).
//!
//! - [`features`]: the input families (ids, categorical and numeric attributes, scenario,
//!   item/user text embeddings, a KGCN-style graph layer, the user's history), each
//!   switchable, fixed by the training split in a [`FeatureSpace`] saved with the model.
//! - [`models`]: LR / linear regression and MLP baselines, Shared-Bottom, MMoE, PLE, ESMM,
//!   AITM, STAR and PEPNet, each a plain struct built from a serde config and a `VarStore`
//!   path ([`ModelConfig`]); parameter names are checkpoint names.
//! - [`heads`]: binary, regression and multiclass heads and losses, one output column per task.
//! - [`train`]: Adam/AdamW, schedules, early stopping on a validation score that combines
//!   the tasks, gradient clipping, checkpoints written atomically and resume.
//! - [`collective`]: the seam to a distributed engine (one process, or MPI with the
//!   feature `mpi`): data-parallel training averages gradients over the ranks.
//! - [`evaluate`]: metrics per scenario x task through polyrec-eval.
//! - [`retrieval`]: a two-tower retrieval model (ids, attributes, text, graph and the
//!   ordered history), trained on implicit feedback and scored by full ranking.
//!
//! ```
//! use polyrec_rank::{FeatureConfig, FeatureSpace, ModelConfig, Ranker, SideTables};
//! use polyrec_rank::heads::{HeadKind, TaskHead};
//!
//! // A model over ids and the scenario for two tasks, without any data set.
//! let space = FeatureSpace {
//!     config: FeatureConfig { text: false, kg: false, history: false, ..Default::default() },
//!     users: vec!["u1".into(), "u2".into()],
//!     items: vec!["i1".into()],
//!     scenarios: vec!["all".into()],
//!     categorical: vec![],
//!     numeric: vec![],
//!     tasks: vec![
//!         TaskHead { name: "like".into(), kind: HeadKind::Binary, user_level: false },
//!         TaskHead { name: "rating".into(), kind: HeadKind::Regression { mean: 3.5, std: 1.0, range: Some([1.0, 5.0]) }, user_level: false },
//!     ],
//!     task_sources: vec![None, None],
//!     item_text_dim: 0, user_text_dim: 0, user_text_fields: vec![], kg: None,
//!     item_text_encoder: None,
//! };
//! let model = Ranker::new(space, ModelConfig::from_name("mmoe")?, SideTables::default(), tch::Device::Cpu, false)?;
//! let x = polyrec_rank::Inputs {
//!     user: tch::Tensor::from_slice(&[1i64, 2]),
//!     item: tch::Tensor::from_slice(&[1i64, 0]),
//!     scenario: tch::Tensor::from_slice(&[0i64, 0]),
//!     categorical: tch::Tensor::zeros([2, 0], (tch::Kind::Int64, tch::Device::Cpu)),
//!     numeric: tch::Tensor::zeros([2, 0], (tch::Kind::Float, tch::Device::Cpu)),
//!     item_text: None,
//!     user_text: None,
//! };
//! let p = model.predict(&x);
//! assert_eq!(p.len(), 2);                        // one column per task
//! assert_eq!(p[1].size(), [2]);
//! assert!(p[1].max().double_value(&[]) <= 5.0); // ratings clamped to the range
//! # Ok::<(), polyrec_rank::Error>(())
//! ```
#![warn(missing_docs)]

pub mod collective;
mod error;
pub mod evaluate;
pub mod features;
pub mod heads;
mod input_layer;
pub mod io;
pub mod model_dir;
pub mod models;
pub mod prepare;
mod ranker;
pub mod retrieval;
pub mod tower;
pub mod train;

pub use error::{Error, Result};
pub use features::{
    EncodedRows, EntityFeatures, FeatureConfig, FeatureSpace, Inputs, TextEncoderSpec,
};
pub use input_layer::{SideTables, TextTuning};
pub use models::{Architecture, MODEL_HELP, ModelConfig};
pub use polyrec_encode::{DeviceReport, DeviceRequest};
pub use ranker::{Output, Ranker, TEXT_ENCODER_PREFIX};
pub use train::config::{RunConfig, SplitConfig, TrainConfig};
