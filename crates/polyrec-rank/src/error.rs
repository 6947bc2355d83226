//! The error type of `polyrec-rank`.

/// Errors raised while building, training or running ranking models.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A libtorch operation failed (shape mismatch, device error, ...).
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A model configuration value is invalid.
    #[error("invalid model config: field `{field}` = {value}: {reason}")]
    Config {
        /// The configuration field.
        field: &'static str,
        /// The offending value, rendered.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A device was requested that this machine cannot provide.
    #[error("device `{requested}` is not available: {reason}")]
    Device {
        /// What was asked for (`cuda`, `cuda:1`, ...).
        requested: String,
        /// Why it cannot be used.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
