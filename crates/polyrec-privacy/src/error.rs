//! The crate's one error type.

/// What can go wrong when a [`crate::Redactor`] is built from a [`crate::PrivacySpec`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A fixed mask that could itself be read as personal data, or that could merge
    /// with the text around it into something that is.
    #[error("privacy.mask = {mask:?} is not a safe mask: {reason}")]
    UnsafeMask {
        /// The mask as given.
        mask: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// `enabled = true` with an empty `kinds` list: redaction would silently do nothing.
    #[error(
        "privacy.kinds is empty while privacy.enabled = true; list the kinds to mask or set enabled = false"
    )]
    NoKinds,
    /// A built-in pattern failed to compile (a defect in this crate, not in the input).
    #[error("built-in pattern for {kind} does not compile: {source}")]
    Pattern {
        /// The kind whose pattern failed.
        kind: &'static str,
        /// The regex error.
        #[source]
        source: regex::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
