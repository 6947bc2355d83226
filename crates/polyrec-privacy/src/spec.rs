//! The `[privacy]` table of a data spec, as a serde struct.

use crate::error::{Error, Result};
use crate::kind::Kind;
use serde::{Deserialize, Serialize};

/// What to redact and how to write the mask.
///
/// In a data spec (TOML), every key optional:
///
/// ```toml
/// [privacy]
/// enabled = true                      # default true: user-side text is redacted
/// kinds = ["email", "phone", "card"]  # default: all eight kinds
/// mask = "label"                      # default: "[EMAIL]", "[PHONE]", ...
/// # mask = { fixed = "[REDACTED]" }   # one mask for every kind
/// ```
///
/// Kind names: `email`, `phone`, `card`, `iban`, `cn_id`, `ipv4`, `ipv6`,
/// `url_credentials`. Unknown keys and unknown kinds are errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacySpec {
    /// Whether redaction runs at all.
    pub enabled: bool,
    /// The kinds to find and mask.
    pub kinds: Vec<Kind>,
    /// How a match is written in the output.
    pub mask: MaskStyle,
}

impl Default for PrivacySpec {
    fn default() -> Self {
        PrivacySpec {
            enabled: true,
            kinds: Kind::ALL.to_vec(),
            mask: MaskStyle::Label,
        }
    }
}

impl PrivacySpec {
    /// A spec that masks nothing.
    pub fn disabled() -> Self {
        PrivacySpec {
            enabled: false,
            ..PrivacySpec::default()
        }
    }

    /// Checks the spec once, at the edge: an enabled spec names at least one kind, and a
    /// fixed mask must not be something the redactor would find again, or merge with its
    /// neighbours into an e-mail or a number.
    pub fn validate(&self) -> Result<()> {
        if self.enabled && self.kinds.is_empty() {
            return Err(Error::NoKinds);
        }
        if let MaskStyle::Fixed(mask) = &self.mask {
            let unsafe_mask = |reason| Error::UnsafeMask {
                mask: mask.clone(),
                reason,
            };
            if mask.is_empty() || mask.len() > 64 {
                return Err(unsafe_mask("it must have 1 to 64 bytes"));
            }
            if mask
                .bytes()
                .any(|b| b.is_ascii_digit() || matches!(b, b'@' | b':' | b'+'))
            {
                return Err(unsafe_mask("it must not contain digits, '@', ':' or '+'"));
            }
            let edge_ok =
                |b: u8| !b.is_ascii_alphanumeric() && !matches!(b, b'.' | b'_' | b'%' | b'-');
            let bytes = mask.as_bytes();
            if !edge_ok(bytes[0]) || !edge_ok(bytes[bytes.len() - 1]) {
                return Err(unsafe_mask(
                    "it must start and end with a character such as '[', ']', '*' or '<'",
                ));
            }
        }
        Ok(())
    }
}

/// How a match is written in the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MaskStyle {
    /// The kind's label: `[EMAIL]`, `[PHONE]`, `[CARD]`, `[IBAN]`, `[CN_ID]`, `[IPV4]`,
    /// `[IPV6]`, `[URL_CREDENTIALS]`.
    #[default]
    Label,
    /// The same text for every kind, e.g. `[REDACTED]`.
    Fixed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_on_with_every_kind() {
        let s = PrivacySpec::default();
        assert!(s.enabled);
        assert_eq!(s.kinds.len(), Kind::ALL.len());
        assert!(s.validate().is_ok());
    }

    #[test]
    fn fixed_masks_are_checked() {
        let fixed = |m: &str| PrivacySpec {
            mask: MaskStyle::Fixed(m.into()),
            ..PrivacySpec::default()
        };
        assert!(fixed("[REDACTED]").validate().is_ok());
        assert!(fixed("***").validate().is_ok());
        let no_kinds = PrivacySpec {
            kinds: Vec::new(),
            ..PrivacySpec::default()
        };
        assert!(matches!(no_kinds.validate(), Err(Error::NoKinds)));
        assert!(
            PrivacySpec {
                enabled: false,
                ..no_kinds
            }
            .validate()
            .is_ok()
        );
        for bad in ["", "x", "[0]", "[a@b]", "<a:b>", "redacted", "[x]."] {
            assert!(fixed(bad).validate().is_err(), "{bad:?}");
        }
    }
}
