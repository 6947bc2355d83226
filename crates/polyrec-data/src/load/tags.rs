//! The tag log: users attaching free-text tags to items they know, normalised into topics.

use crate::spec::{TagSpec, column};
use crate::{Result, RowError, TagLog, Vocab};

use super::Loader;

/// The columns of one tag file.
struct TagColumns {
    user: usize,
    item: usize,
    tag: usize,
    timestamp: Option<usize>,
}

impl Loader<'_> {
    /// Loads the tag log. A row naming an unknown user or item, an empty tag, or a timestamp
    /// that is not a finite number of seconds is rejected under the spec's policy. The tag
    /// passes through the spec's redactor (it is user-written text) before it is normalised.
    pub(super) fn load_tags(
        &mut self,
        s: &TagSpec,
        users: &Vocab,
        items: &Vocab,
    ) -> Result<TagLog> {
        let path = self.path(&s.file);
        let t = self.open(&s.file)?;
        let before = self.rejects.len();
        let cols = TagColumns {
            user: column(&t.header, &s.user, &path)?,
            item: column(&t.header, &s.item, &path)?,
            tag: column(&t.header, &s.tag, &path)?,
            timestamp: match &s.timestamp {
                Some(c) => Some(column(&t.header, c, &path)?),
                None => None,
            },
        };
        let mut log = TagLog::default();
        for r in 0..t.len() {
            let line = t.line(r);
            let reject = |field: &str, value: &str, reason: &str| {
                RowError::new(&path, line, field, value, reason)
            };
            let cell = |c: usize| t.cell(r, c).trim();
            let Some(user) = users.get(cell(cols.user)) else {
                self.rejects
                    .push(reject(&s.user, t.cell(r, cols.user), "unknown user id"))?;
                continue;
            };
            let Some(item) = items.get(cell(cols.item)) else {
                self.rejects
                    .push(reject(&s.item, t.cell(r, cols.item), "unknown item id"))?;
                continue;
            };
            let time = match (cols.timestamp, &s.timestamp) {
                (Some(c), Some(name)) => match seconds(cell(c)) {
                    Some(v) => v,
                    None => {
                        self.rejects.push(reject(
                            name,
                            t.cell(r, c),
                            "timestamp is not a whole number of seconds",
                        ))?;
                        continue;
                    }
                },
                _ => r as i64,
            };
            let mut tag = t.cell(r, cols.tag).to_string();
            if let Some(red) = &self.redactor {
                let counts = red.redact_in_place(&mut tag);
                self.report.add_redactions(&counts);
            }
            let key = TagLog::normalise(&tag);
            if key.is_empty() {
                self.rejects.push(reject(&s.tag, &tag, "empty tag"))?;
                continue;
            }
            log.push(user, item, &key, &tag, time);
        }
        let rejected = t.errors.len() + self.rejects.len() - before;
        self.account(&path, t.total_rows(), rejected);
        Ok(log)
    }
}

/// Seconds from a cell: an integer, or a finite number within the 64-bit range.
fn seconds(v: &str) -> Option<i64> {
    if let Ok(i) = v.parse::<i64>() {
        return Some(i);
    }
    let f: f64 = v.parse().ok()?;
    (f.is_finite() && f.abs() < 9.2e18).then_some(f as i64)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{Dataset, DatasetSpec, Error, ErrorPolicy};

    const SPEC: &str = r#"
name = "tagged"
[interactions]
path = "ratings.csv"
user = "u"
item = "i"
[[tasks]]
name = "rating"
kind = "regression"
field = "r"
[tags]
path = "tags.csv"
user = "u"
item = "i"
tag = "tag"
timestamp = "t"
"#;

    fn write(dir: &Path, tags: &str) {
        let ratings = "u,i,r\n1,10,4\n1,11,3\n2,10,5\n";
        std::fs::write(dir.join("ratings.csv"), ratings).expect("write ratings");
        std::fs::write(dir.join("tags.csv"), tags).expect("write tags");
    }

    fn spec(policy: ErrorPolicy, dir: &Path) -> DatasetSpec {
        let mut s = DatasetSpec::from_toml_str(SPEC, &dir.join("spec.toml")).expect("spec");
        s.on_error = policy;
        s.reject_file = Some(dir.join("rejects.tsv"));
        s
    }

    #[test]
    fn topics_are_normalised_and_keep_their_first_spelling() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tags = "u,i,tag,t\n1,10,Dark  Comedy,5\n2,10, dark comedy ,7\n1,11,quirky,9\n";
        write(dir.path(), tags);
        let ds =
            Dataset::load_spec(&spec(ErrorPolicy::Fail, dir.path()), dir.path()).expect("loads");
        let log = ds.tags.expect("tag log");
        assert_eq!(log.len(), 3);
        assert_eq!(log.topics.names(), ["dark comedy", "quirky"]);
        assert_eq!(log.display, ["Dark  Comedy", "quirky"]);
        assert_eq!(log.topic, [0, 0, 1]);
        assert_eq!(log.timestamp, [5, 7, 9]);
        assert_eq!(log.user[1], ds.users.ids.get("2").expect("user 2"));
        assert_eq!(log.topic_of("DARK comedy"), Some(0));
    }

    #[test]
    fn a_bad_row_names_file_line_field_and_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tags = "u,i,tag,t\n1,10,funny,5\n9,10,funny,6\n1,99,funny,7\n1,10,  ,8\n1,10,x,soon\n";
        write(dir.path(), tags);
        match Dataset::load_spec(&spec(ErrorPolicy::Fail, dir.path()), dir.path()) {
            Err(Error::InvalidRows { errors, .. }) => {
                let e = &errors[0];
                assert_eq!((e.line, e.field.as_str(), e.value.as_str()), (3, "u", "9"));
                assert!(e.file.ends_with("tags.csv"), "{e}");
                assert!(e.to_string().contains("unknown user id"), "{e}");
            }
            other => panic!("expected invalid rows, got {:?}", other.map(|d| d.tags)),
        }
        let ds = Dataset::load_spec(&spec(ErrorPolicy::Skip, dir.path()), dir.path())
            .expect("skip loads");
        assert_eq!(ds.tags.as_ref().map(|t| t.len()), Some(1));
        let f = ds
            .report
            .files
            .iter()
            .find(|f| f.file.ends_with("tags.csv"))
            .expect("tags.csv in the report");
        assert_eq!((f.accepted, f.rejected), (1, 4));
        let rejects = std::fs::read_to_string(dir.path().join("rejects.tsv")).expect("rejects");
        for want in ["unknown item id", "empty tag", "soon"] {
            assert!(rejects.contains(want), "{want} in {rejects}");
        }
    }
}
