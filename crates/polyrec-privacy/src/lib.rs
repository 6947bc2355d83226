//! Finds and masks personal data in free text before it reaches the encoder, the
//! embedding cache, logs, reports or `serve` responses.
//!
//! polyrec reads user-side text (profiles, reviews, queries) and turns it into vectors
//! that are cached on disk and fed to ranking models. Text typed by users carries
//! e-mail addresses, phone numbers and sometimes card or identity numbers; none of
//! them helps a recommender, and each one written into a cache or a log is a leak.
//! This crate sits below `polyrec-data` and needs no libtorch (only `regex` and
//! `aho-corasick` beyond serde): the data loader passes each user-side text through a
//! [`Redactor`] and adds the [`Counts`] to its load report.
//!
//! What is found, and how it is checked so that ordinary numbers stay:
//!
//! | kind | found | validated by |
//! |---|---|---|
//! | `email` | `local@domain.tld` (ASCII) | pattern |
//! | `phone` | `+`/`00` international, China mobile and landline, North American, UK and EU national forms | per-plan length and grouping rules |
//! | `card` | 13-19 digits, in one piece or groups of 4 (4-6-5) | issuer prefix and length, Luhn |
//! | `iban` | country code, check digits, BBAN, spaces allowed | country length, mod 97 |
//! | `cn_id` | 18 characters, last may be `X` | province code, birth date, ISO 7064 MOD 11-2 |
//! | `ipv4` / `ipv6` | dotted quad; colon groups incl. `::` and IPv4 tails | octets 0-255; `std` parser |
//! | `url_credentials` | `scheme://user:password@host` | pattern; only `user:password` is masked |
//!
//! A byte scan runs first: a text without an ASCII digit and without `@` can hold
//! none of these and costs one pass. `docs/privacy.md` has the measured precision,
//! recall and speed, and what this does not catch (names, postal addresses).
//!
//! ```
//! use polyrec_privacy::{Kind, PrivacySpec, Redactor};
//!
//! let redactor = Redactor::new(&PrivacySpec::default())?;
//! let out = redactor.redact("联系我 zhang.wei@example.cn 或 138-1234-5678, 1999 年的片子");
//! assert_eq!(out.text, "联系我 [EMAIL] 或 [PHONE], 1999 年的片子");
//! assert_eq!(out.counts.get(Kind::Phone), 1);
//! # Ok::<(), polyrec_privacy::Error>(())
//! ```
#![warn(missing_docs)]

mod checks;
mod error;
mod kind;
mod numeric;
mod patterns;
mod phone;
mod redactor;
mod spec;

pub use error::{Error, Result};
pub use kind::{Counts, Kind};
pub use redactor::{Match, Redacted, Redactor};
pub use spec::{MaskStyle, PrivacySpec};
