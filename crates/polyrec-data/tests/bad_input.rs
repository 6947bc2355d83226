//! Corrupted copies of the real ML-100K files: each kind of bad row gives its precise
//! message with file and line; under `skip` every row is accounted for.

#[path = "../../../tests/support/setup_paths.rs"]
mod setup_paths;
use std::path::Path;

use polyrec_data::{Dataset, DatasetSpec, Error, ErrorPolicy};
use setup_paths::ml100k_dir as default_ml100k_dir;

fn spec() -> DatasetSpec {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/ml-100k.toml");
    DatasetSpec::from_toml_file(p).expect("shipped spec parses")
}

/// Copies ML-100K into a temp dir, replacing line `line` (1-based) of `file` with `text`.
fn corrupt(file: &str, line: usize, text: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in [
        "ml-100k.inter",
        "ml-100k.user",
        "ml-100k.item",
        "ml-100k.kg",
        "ml-100k.link",
    ] {
        let bytes = std::fs::read(default_ml100k_dir().join(f))
            .expect("ML-100K installed (scripts/setup.sh)");
        let out = if f == file {
            let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
            lines[line - 1] = text;
            lines.join(&b"\n"[..])
        } else {
            bytes
        };
        std::fs::write(dir.path().join(f), out).expect("write");
    }
    dir
}

/// Rewrites a text file line by line.
fn edit_lines(path: &Path, edit: impl FnOnce(&mut Vec<String>)) -> std::io::Result<()> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)?
        .lines()
        .map(str::to_string)
        .collect();
    edit(&mut lines);
    std::fs::write(path, lines.join("\n"))
}

fn first_error(file: &str, line: usize, text: &[u8]) -> String {
    let dir = corrupt(file, line, text);
    match Dataset::load_spec(&spec(), dir.path()) {
        Err(Error::InvalidRows { errors, .. }) => {
            let e = &errors[0];
            assert_eq!(e.line, line, "{e}");
            assert!(e.file.ends_with(file), "{e}");
            e.to_string()
        }
        other => panic!(
            "expected invalid rows, got {:?}",
            other.map(|d| d.interactions.len())
        ),
    }
}

#[test]
fn each_error_kind_has_its_message() {
    let cases: [(&str, usize, &[u8], &[&str]); 9] = [
        (
            "ml-100k.inter",
            5,
            b"99999\t242\t3\t881250949",
            &["user_id", "99999", "unknown user id"],
        ),
        (
            "ml-100k.inter",
            6,
            b"196\t77777\t3\t881250949",
            &["item_id", "77777", "unknown item id"],
        ),
        (
            "ml-100k.inter",
            7,
            b"196\t242\t9\t881250949",
            &["rating", "\"9\"", "out of range [1, 5]"],
        ),
        (
            "ml-100k.inter",
            8,
            b"196\t242\tNaN\t881250949",
            &["rating", "NaN is not a valid label"],
        ),
        (
            "ml-100k.inter",
            9,
            b"196\t242\t3",
            &["expected 4 columns, found 3"],
        ),
        (
            "ml-100k.inter",
            10,
            b"196\t242\t3\t\xff\xfe",
            &["invalid UTF-8"],
        ),
        (
            "ml-100k.user",
            3,
            b"1\t24\tM\ttechnician\t85711",
            &["user_id", "\"1\"", "duplicate id"],
        ),
        (
            "ml-100k.user",
            4,
            b"3\tabc\tM\twriter\t32067",
            &["age", "abc"],
        ),
        (
            "ml-100k.link",
            2,
            b"424242\tm.08gjyx",
            &["item_id", "424242", "link to an unknown item id"],
        ),
    ];
    for (file, line, text, needles) in cases {
        let msg = first_error(file, line, text);
        assert!(msg.contains(&format!("{file}:{line}")), "{msg}");
        for n in needles {
            assert!(msg.contains(n), "`{n}` not in: {msg}");
        }
    }
}

#[test]
fn relations_outside_the_allow_list_are_rejected() {
    let dir = corrupt("ml-100k.kg", 2, b"m.04ctbw8\tfilm.made.up\tm.0bln8");
    let mut s = spec();
    let kg = s.kg.as_mut().expect("kg");
    let mut allowed: Vec<String> = std::fs::read_to_string(default_ml100k_dir().join("ml-100k.kg"))
        .expect("kg")
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').nth(1).map(str::to_string))
        .collect();
    allowed.sort();
    allowed.dedup();
    kg.relations = Some(allowed);
    let err = Dataset::load_spec(&s, dir.path())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("ml-100k.kg:2") && err.contains("film.made.up") && err.contains("not allowed"),
        "{err}"
    );
}

#[test]
fn skip_accounts_for_every_row() -> Result<(), Box<dyn std::error::Error>> {
    let dir = corrupt("ml-100k.inter", 11, b"196\t242\tNaN\t881250949");
    // A second bad row in the same file.
    let inter = dir.path().join("ml-100k.inter");
    let text =
        std::fs::read_to_string(&inter)?.replacen("186\t302\t3\t891717742", "186\t302\t3", 1);
    std::fs::write(&inter, text)?;
    let mut s = spec();
    s.on_error = ErrorPolicy::Skip;
    s.reject_file = Some(dir.path().join("rejects.tsv"));
    let ds = Dataset::load_spec(&s, dir.path())?;
    let f = ds
        .report
        .files
        .iter()
        .find(|f| f.file.ends_with("ml-100k.inter"))
        .ok_or("report")?;
    assert_eq!((f.total, f.rejected, f.accepted), (100_000, 2, 99_998));
    assert_eq!(ds.interactions.len(), 99_998);
    let rejects = std::fs::read_to_string(dir.path().join("rejects.tsv"))?;
    assert_eq!(rejects.lines().count(), 3);
    // Line 3 lost its timestamp: the whole row is reported (tabs shown as spaces).
    assert!(
        rejects.contains("\t3\t\t186 302 3\texpected 4 columns, found 3\n"),
        "{rejects}"
    );
    assert!(rejects.contains("\t11\trating\tNaN\t"));
    Ok(())
}

/// The triples load beside the log (on a second thread); their rejected rows still come
/// after the log's, in file order, under both policies, and each file is accounted for.
#[test]
fn log_and_triple_rejects_keep_file_order() -> Result<(), Box<dyn std::error::Error>> {
    let dir = corrupt("ml-100k.kg", 7, b"m.04ctbw8\t\tm.0bln8");
    edit_lines(&dir.path().join("ml-100k.kg"), |lines| {
        lines[2] = "\tfilm.film.actor\tm.02vxxgs".into();
    })?;
    let inter = dir.path().join("ml-100k.inter");
    let text = std::fs::read_to_string(&inter)?.replacen(
        "186\t302\t3\t891717742",
        "186\t302\t7\t891717742",
        1,
    );
    std::fs::write(&inter, text)?;
    let where_ = |e: &polyrec_data::RowError| {
        let file = e.file.file_name().map(|f| f.to_string_lossy().to_string());
        (file.unwrap_or_default(), e.line, e.field.clone())
    };
    let want = [
        ("ml-100k.inter".to_string(), 3, "rating".to_string()),
        ("ml-100k.kg".to_string(), 3, "head_id".to_string()),
        ("ml-100k.kg".to_string(), 7, "relation_id".to_string()),
    ];
    match Dataset::load_spec(&spec(), dir.path()) {
        Err(Error::InvalidRows { errors, total }) => {
            assert_eq!(total, 3);
            assert_eq!(errors.iter().map(where_).collect::<Vec<_>>(), want);
        }
        other => panic!("expected invalid rows, got {:?}", other.map(|d| d.name)),
    }
    let mut s = spec();
    s.on_error = ErrorPolicy::Skip;
    s.reject_file = Some(dir.path().join("rejects.tsv"));
    let ds = Dataset::load_spec(&s, dir.path())?;
    let report = |name: &str| {
        ds.report
            .files
            .iter()
            .find(|f| f.file.ends_with(name))
            .map(|f| (f.total, f.rejected))
    };
    assert_eq!(report("ml-100k.inter"), Some((100_000, 1)));
    assert_eq!(report("ml-100k.kg"), Some((91_631, 2)));
    assert_eq!(ds.kg.as_ref().map(|k| k.triples.len()), Some(91_629));
    let rejects = std::fs::read_to_string(dir.path().join("rejects.tsv"))?;
    let got: Vec<(String, usize, String)> = rejects
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            let file = Path::new(c[0])
                .file_name()
                .map(|f| f.to_string_lossy().to_string());
            (
                file.unwrap_or_default(),
                c[1].parse().unwrap_or(0),
                c[2].to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);
    Ok(())
}

/// Under `fail`, a triples file with more bad rows than are reported stops the load with the
/// first ones, as when it was read after the log.
#[test]
fn many_bad_triples_fail_with_the_first() -> Result<(), Box<dyn std::error::Error>> {
    let dir = corrupt("ml-100k.kg", 2, b"m.x\tfilm.film.actor\tm.y");
    // Rows 2..=501 lose their head (an empty value, found by the triples' checks).
    edit_lines(&dir.path().join("ml-100k.kg"), |lines| {
        for l in lines.iter_mut().skip(1).take(500) {
            *l = format!("\t{}", l.split_once('\t').map_or("", |(_, rest)| rest));
        }
    })?;
    match Dataset::load_spec(&spec(), dir.path()) {
        Err(Error::InvalidRows { errors, total }) => {
            assert_eq!(total, polyrec_data::MAX_REPORTED_ERRORS);
            let got: Vec<(usize, &str)> =
                errors.iter().map(|e| (e.line, e.field.as_str())).collect();
            let want: Vec<(usize, &str)> = (2..2 + polyrec_data::MAX_REPORTED_ERRORS)
                .map(|l| (l, "head_id"))
                .collect();
            assert_eq!(got, want);
        }
        other => panic!("expected invalid rows, got {:?}", other.map(|d| d.name)),
    }
    Ok(())
}

#[test]
fn missing_columns_and_files_are_clear() {
    let dir = corrupt(
        "ml-100k.inter",
        1,
        b"user_id:token\titem:token\trating:float\ttimestamp:float",
    );
    let err = Dataset::load_spec(&spec(), dir.path())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("no column `item_id`") && err.contains("item"),
        "{err}"
    );
    let err = Dataset::load_spec(&spec(), Path::new("/nonexistent"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("/nonexistent/ml-100k.user"), "{err}");
}

/// A task name with a `.` would split a libtorch `VarStore` parameter path (`ctr.v2`), so the
/// spec is rejected at load, naming the field and the value; `ctr_v2` is fine.
#[test]
fn dotted_task_names_are_rejected_at_spec_load() {
    let text = |name: &str| {
        format!(
            "name = \"t\"\ninteractions = {{ path = \"log.csv\", user = \"u\", item = \"i\" }}\n\
             [[tasks]]\nname = \"{name}\"\nkind = \"binary\"\nfield = \"click\"\n"
        )
    };
    let err = DatasetSpec::from_toml_str(&text("ctr.v2"), Path::new("dotted.toml"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("dotted.toml"), "{err}");
    assert!(err.contains("tasks[0].name"), "{err}");
    assert!(err.contains("\"ctr.v2\""), "{err}");
    assert!(err.contains("contains `.`"), "{err}");
    let err = DatasetSpec::from_toml_str(&text(" "), Path::new("blank.toml"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("tasks[0].name = \" \" is empty"), "{err}");
    assert!(DatasetSpec::from_toml_str(&text("ctr_v2"), Path::new("ok.toml")).is_ok());
}
