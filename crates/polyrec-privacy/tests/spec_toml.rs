//! The `[privacy]` table as a data spec would hold it.

use polyrec_privacy::{Counts, Kind, MaskStyle, PrivacySpec, Redactor};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    privacy: PrivacySpec,
}

#[test]
fn a_missing_table_means_on_with_every_kind() -> anyhow::Result<()> {
    let spec: Spec = toml::from_str("")?;
    assert_eq!(spec.privacy, PrivacySpec::default());
    assert!(spec.privacy.enabled);
    Ok(())
}

#[test]
fn every_key_parses() -> anyhow::Result<()> {
    let spec: Spec = toml::from_str(
        r#"
        [privacy]
        enabled = true
        kinds = ["email", "phone", "cn_id", "url_credentials"]
        mask = { fixed = "[REDACTED]" }
        "#,
    )?;
    let p = spec.privacy;
    assert_eq!(
        p.kinds,
        [Kind::Email, Kind::Phone, Kind::CnId, Kind::UrlCredentials]
    );
    assert_eq!(p.mask, MaskStyle::Fixed("[REDACTED]".into()));
    let r = Redactor::new(&p)?;
    assert_eq!(
        r.redact("a@b.com 192.168.0.1").text,
        "[REDACTED] 192.168.0.1"
    );
    let off: Spec = toml::from_str("[privacy]\nenabled = false\nmask = \"label\"")?;
    assert!(!off.privacy.enabled);
    Ok(())
}

#[test]
fn unknown_keys_kinds_and_unsafe_masks_are_errors() -> anyhow::Result<()> {
    let unknown_key = toml::from_str::<Spec>("[privacy]\nenable = true");
    assert!(unknown_key.is_err());
    let unknown_kind = toml::from_str::<Spec>("[privacy]\nkinds = [\"name\"]");
    assert!(unknown_kind.is_err());
    let spec: Spec = toml::from_str("[privacy]\nmask = { fixed = \"user@x\" }")?;
    let err = Redactor::new(&spec.privacy).expect_err("an e-mail-like mask is refused");
    assert!(err.to_string().contains("privacy.mask"), "{err}");
    Ok(())
}

#[test]
fn counts_round_trip_as_a_map_of_kind_names() -> anyhow::Result<()> {
    let r = Redactor::with_all_kinds()?;
    let counts = r.redact("a@b.com, c@d.org, 13812345678").counts;
    let text = toml::to_string(&counts)?;
    assert_eq!(text.trim(), "email = 2\nphone = 1");
    assert_eq!(toml::from_str::<Counts>(&text)?, counts);
    assert!(toml::from_str::<Counts>("name = 1").is_err());
    Ok(())
}
