//! Personal data in user-side text is masked while loading: the users' text, the
//! interactions' text and the values quoted in rejected rows; the load report counts what
//! was masked (never the values); `[privacy]` switches it off or narrows it, and a bad
//! `[privacy]` table is a spec error.

use std::path::Path;

use polyrec_data::{Dataset, DatasetSpec};

const USERS: &str = "user_id,bio\n\
u1,Write to ann.lee@example.com any time\n\
u2,Call +44 20 7946 0958 after six\n\
u3,I like films from 1999 and 2 hours long\n";
const ITEMS: &str = "item_id,title\ni1,Heat\ni2,Alien\n";
const INTER: &str = "user_id,item_id,rating,review\n\
u1,i1,5,Paid with 4111 1111 1111 1111 and loved it\n\
u2,i2,4,Great\n\
u3,i1,3,Seen in 1995 for 7.50\n\
carl@example.net,i1,4,ok\n";

fn fixture(privacy: &str) -> (tempfile::TempDir, DatasetSpec) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in [
        ("users.csv", USERS),
        ("items.csv", ITEMS),
        ("inter.csv", INTER),
    ] {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let reject = dir.path().join("rejects.tsv");
    let toml = format!(
        r#"name = "privacy-fixture"
on_error = "skip"
reject_file = {reject:?}

[interactions]
path = "inter.csv"
format = "csv"
user = "user_id"
item = "item_id"
text = "{{review}}"

[users]
path = "users.csv"
format = "csv"
id = "user_id"
text = "{{bio}}"

[items]
path = "items.csv"
format = "csv"
id = "item_id"
name = "{{title}}"
text = "{{title}}"

[[tasks]]
name = "rating"
kind = "regression"
field = "rating"
range = [1, 5]
{privacy}
"#
    );
    let spec = DatasetSpec::from_toml_str(&toml, &dir.path().join("spec.toml")).expect("spec");
    (dir, spec)
}

fn user_text(ds: &Dataset, id: &str) -> String {
    let u = ds.users.ids.get(id).expect("user") as usize;
    ds.users.texts[u].clone().unwrap_or_default()
}

fn review(ds: &Dataset, row: usize) -> String {
    ds.interactions.texts.as_ref().expect("texts")[row]
        .clone()
        .unwrap_or_default()
}

#[test]
fn user_side_text_and_rejected_values_are_masked_by_default() {
    let (dir, spec) = fixture("");
    let ds = Dataset::load_spec(&spec, dir.path()).expect("loads");
    assert_eq!(user_text(&ds, "u1"), "Write to [EMAIL] any time");
    assert_eq!(user_text(&ds, "u2"), "Call [PHONE] after six");
    // Ordinary numbers stay.
    assert_eq!(
        user_text(&ds, "u3"),
        "I like films from 1999 and 2 hours long"
    );
    assert_eq!(ds.interactions.len(), 3);
    assert_eq!(review(&ds, 0), "Paid with [CARD] and loved it");
    assert_eq!(review(&ds, 2), "Seen in 1995 for 7.50");
    // The catalog's item text is not user-side.
    assert_eq!(ds.items.texts[0].as_deref(), Some("Heat"));

    let r = &ds.report;
    assert_eq!(r.redactions.get("phone"), Some(&1), "{r:?}");
    assert_eq!(r.redactions.get("card"), Some(&1), "{r:?}");
    // ann's in a profile, carl's as the unknown user id of a rejected row.
    assert!(r.redactions.get("email").is_some_and(|&n| n >= 2), "{r:?}");
    assert!(r.to_string().contains("personal data masked"), "{r}");

    let rejects = std::fs::read_to_string(r.reject_file.as_ref().expect("reject file"))
        .expect("reject file written");
    assert!(rejects.contains("[EMAIL]"), "{rejects}");
    assert!(!rejects.contains("carl@example.net"), "{rejects}");
    // No raw value survives anywhere in the dataset (the binary cache stores it as is).
    let all = format!("{:?}", ds.users.texts) + &format!("{:?}", ds.interactions.texts);
    for raw in ["ann.lee@example.com", "7946 0958", "4111 1111"] {
        assert!(!all.contains(raw), "{raw} survived");
    }
}

#[test]
fn privacy_can_be_switched_off_or_narrowed() {
    let (dir, spec) = fixture("[privacy]\nenabled = false\n");
    let ds = Dataset::load_spec(&spec, dir.path()).expect("loads");
    assert_eq!(
        user_text(&ds, "u1"),
        "Write to ann.lee@example.com any time"
    );
    assert!(ds.report.redactions.is_empty());

    let (dir, spec) = fixture("[privacy]\nkinds = [\"email\"]\nmask = { fixed = \"<hidden>\" }\n");
    let ds = Dataset::load_spec(&spec, dir.path()).expect("loads");
    assert_eq!(user_text(&ds, "u1"), "Write to <hidden> any time");
    assert_eq!(user_text(&ds, "u2"), "Call +44 20 7946 0958 after six");
    assert_eq!(ds.report.redactions.get("phone"), None);
}

#[test]
fn a_bad_privacy_table_is_a_spec_error() {
    for (table, want) in [
        ("[privacy]\nkinds = [\"passport\"]\n", "passport"),
        ("[privacy]\nkinds = []\n", "[privacy]"),
        ("[privacy]\nmask = { fixed = \"X1\" }\n", "[privacy]"),
        ("[privacy]\nenable = true\n", "enable"),
    ] {
        let toml = format!(
            "name = \"x\"\n[interactions]\npath = \"i.csv\"\nuser = \"u\"\nitem = \"i\"\n\
             [[tasks]]\nname = \"r\"\nkind = \"regression\"\nfield = \"r\"\n{table}"
        );
        let err = DatasetSpec::from_toml_str(&toml, Path::new("bad.toml"))
            .expect_err(table)
            .to_string();
        assert!(err.contains(want), "{table}: {err}");
        assert!(err.contains("bad.toml"), "{table}: {err}");
    }
}
