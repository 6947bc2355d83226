//! Hostile inputs, one test per kind of failure a loader must not have: a panic, a silently
//! wrong result, a lost file, an unclear error, unbounded memory, a path outside the data
//! folder. Each asserts the exact error class and that no file but the expected output
//! changed. The last test replays the committed corpus in `tests/hostile/`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use polyrec_data::read::read_table;
use polyrec_data::{Dataset, DatasetSpec, Error};

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.insert(p, b);
            }
        }
    }
    out
}

/// Writes `files` into a fresh folder and the spec text (with `DIR` replaced by the
/// folder) as `spec.toml`.
fn setup(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, bytes) in files {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, bytes).expect("write");
    }
    dir
}

fn spec(text: &str, dir: &Path) -> Result<DatasetSpec, Error> {
    let text = text.replace("DIR", &dir.display().to_string());
    DatasetSpec::from_toml_str(&text, &dir.join("spec.toml"))
}

/// Loads, asserting that no file of `dir` changed and none appeared but `output`.
fn load_untouched(text: &str, dir: &Path, output: Option<&Path>) -> Result<Dataset, Error> {
    let before = snapshot(dir);
    let result = spec(text, dir).and_then(|s| Dataset::load_spec(&s, dir));
    let mut after = snapshot(dir);
    if let Some(o) = output {
        after.remove(o);
    }
    assert_eq!(before, after, "files under the data folder changed");
    result
}

const LOG_SPEC: &str = r#"
name = "t"
on_error = "skip"
reject_file = "DIR/out/rejects.tsv"
interactions = { path = "log.csv", user = "user", item = "item" }
[[tasks]]
name = "y"
kind = "regression"
field = "y"
"#;

#[test]
fn panics_a_users_catalog_without_a_user_column_is_a_spec_error() {
    let dir = setup(&[
        ("log.csv", b"item,y\ni1,1\n"),
        ("users.csv", b"id,age\nu1,3\n"),
    ]);
    let text = r#"
name = "t"
interactions = { path = "log.csv", item = "item" }
[users]
path = "users.csv"
id = "id"
[scenario]
from = "user"
field = "age"
[[tasks]]
name = "y"
kind = "regression"
field = "age"
from = "user"
"#;
    match load_untouched(text, Path::new(&dir.path()), None) {
        Err(Error::Spec { message, .. }) => {
            assert!(message.contains("no `user` column"), "{message}");
            assert!(message.contains("task `y`"), "{message}");
        }
        other => panic!("expected a spec error, got {:?}", other.map(|d| d.name)),
    }
}

#[test]
fn silently_wrong_scenarios_past_16_bits_stop_the_load() {
    let mut log = String::from("user,item,s,y\n");
    for i in 0..70_000 {
        log.push_str(&format!("u,i,s{i},1\n"));
    }
    let dir = setup(&[("log.csv", log.as_bytes())]);
    let text = format!("{LOG_SPEC}\n[scenario]\nfield = \"s\"\n");
    match load_untouched(&text, dir.path(), None) {
        Err(Error::Limit(e)) => {
            assert_eq!(e.line, 65_536 + 2, "{e}");
            assert_eq!(e.field, "s");
            assert_eq!(e.value, "s65536");
            assert!(e.reason.contains("16 bits"), "{e}");
        }
        other => panic!("expected a limit error, got {:?}", other.map(|d| d.name)),
    }
}

#[test]
fn silently_wrong_a_label_past_f32_is_a_rejected_row_with_its_reason() {
    let dir = setup(&[(
        "log.csv",
        b"user,item,y\nu1,i1,2.5\nu2,i1,1e300\nu3,i2,-1e39\n",
    )]);
    let out = dir.path().join("out/rejects.tsv");
    let ds = load_untouched(LOG_SPEC, dir.path(), Some(&out)).expect("loads under skip");
    assert_eq!(ds.interactions.labels[0], [2.5]);
    assert_eq!(ds.report.rejected(), 2);
    let rejects = std::fs::read_to_string(&out).expect("reject file");
    assert!(rejects.contains("\t3\ty\t1e300\t"), "{rejects}");
    assert!(
        rejects.contains("does not fit in a 32-bit float"),
        "{rejects}"
    );
    assert!(rejects.contains("\t4\ty\t-1e39\t"), "{rejects}");
}

#[test]
fn silently_wrong_one_unbalanced_quote_rejects_one_line_only() {
    let mut log = String::from("user,item,y\nu0,\"i0,1\n");
    for i in 1..=500 {
        log.push_str(&format!("u{i},i{i},{i}\n"));
    }
    // A quote opened in the last column, running to the end of the file.
    log.push_str("u501,i501,\"7\nu502,i502,8\n");
    let dir = setup(&[("log.csv", log.as_bytes())]);
    let out = dir.path().join("out/rejects.tsv");
    let ds = load_untouched(LOG_SPEC, dir.path(), Some(&out)).expect("loads under skip");
    assert_eq!(ds.interactions.len(), 501);
    assert_eq!(ds.report.rejected(), 2);
    let rejects = std::fs::read_to_string(&out).expect("reject file");
    let lines: Vec<&str> = rejects.lines().skip(1).collect();
    assert!(
        lines[0].contains("\t2\t") && lines[0].contains("unbalanced quote"),
        "{rejects}"
    );
    assert!(
        lines[1].contains("\t503\t") && lines[1].contains("unbalanced quote"),
        "{rejects}"
    );
}

#[test]
fn silently_wrong_spec_numbers_are_spec_errors() {
    let dir = setup(&[("log.csv", b"user,item,y\nu,i,1\n")]);
    let cases = [
        (
            "\n[scenario]\nfield = \"y\"\nbuckets = [{ name = \"a\", max = 5 }, { name = \"b\", max = 2 }]\n",
            "does not increase",
        ),
        (
            "\n[scenario]\nfield = \"y\"\nbuckets = [{ name = \"a\", max = nan }]\n",
            "not a finite number",
        ),
    ];
    for (extra, want) in cases {
        match spec(&format!("{LOG_SPEC}{extra}"), dir.path()) {
            Err(Error::Spec { message, .. }) => assert!(message.contains(want), "{message}"),
            other => panic!(
                "expected a spec error for {extra}, got {:?}",
                other.map(|s| s.name)
            ),
        }
    }
    let text = LOG_SPEC.replace(
        "field = \"y\"\n",
        "field = \"y\"\nrule = { op = \">=\", threshold = nan }\n",
    );
    match spec(&text, dir.path()) {
        Err(Error::Spec { message, .. }) => assert!(message.contains("threshold"), "{message}"),
        other => panic!("expected a spec error, got {:?}", other.map(|s| s.name)),
    }
}

#[test]
fn silently_wrong_a_dataset_name_never_makes_the_reject_file_a_path() {
    let dir = setup(&[("log.csv", b"user,item,y\nu,i,1\n")]);
    for (name, want) in [
        ("../../x", "_.._x.rejects.tsv"),
        ("/etc/cron.d/x", "_etc_cron.d_x.rejects.tsv"),
        ("..", "dataset.rejects.tsv"),
        ("ml-100k", "ml-100k.rejects.tsv"),
    ] {
        let s = spec(
            &LOG_SPEC.replace("name = \"t\"", &format!("name = {name:?}")),
            dir.path(),
        )
        .expect("spec");
        let file = s.default_reject_file();
        assert_eq!(file, PathBuf::from(want));
        assert_eq!(file.components().count(), 1);
    }
}

#[test]
fn lost_files_a_reject_file_naming_an_input_is_refused_before_any_work() {
    let dir = setup(&[("log.csv", b"user,item,y\nu,i,x\n")]);
    for reject in ["DIR/log.csv", "DIR/./sub/../log.csv"] {
        let text = LOG_SPEC.replace("DIR/out/rejects.tsv", reject);
        match load_untouched(&text, dir.path(), None) {
            Err(Error::Path { message, .. }) => {
                assert!(message.contains("would destroy that input"), "{message}")
            }
            other => panic!("expected a path error, got {:?}", other.map(|d| d.name)),
        }
    }
    // The spec file itself, named as the reject file.
    let spec_path = dir.path().join("spec.toml");
    std::fs::write(
        &spec_path,
        LOG_SPEC
            .replace("DIR/out/rejects.tsv", "DIR/spec.toml")
            .replace("DIR", &dir.path().display().to_string()),
    )
    .expect("write spec");
    match Dataset::load(&spec_path, None) {
        Err(Error::Path { message, .. }) => {
            assert!(message.contains("would destroy the spec"), "{message}")
        }
        other => panic!("expected a path error, got {:?}", other.map(|d| d.name)),
    }
    assert!(std::fs::read_to_string(&spec_path).is_ok_and(|t| t.contains("[[tasks]]")));
    #[cfg(unix)]
    {
        let link = dir.path().join("link.tsv");
        std::os::unix::fs::symlink(dir.path().join("log.csv"), &link).expect("symlink");
        let text = LOG_SPEC.replace("DIR/out/rejects.tsv", "DIR/link.tsv");
        assert!(matches!(
            load_untouched(&text, dir.path(), None),
            Err(Error::Path { .. })
        ));
    }
}

#[test]
fn unclear_errors_a_comma_separated_inter_file_shows_its_header() {
    let dir = setup(&[("log.inter", b"user_id:token,item_id:token,y:float\nu,i,1\n")]);
    let text = r#"
name = "t"
interactions = { path = "log.inter", user = "user_id", item = "item_id" }
[[tasks]]
name = "y"
kind = "regression"
field = "y"
"#;
    match load_untouched(text, dir.path(), None) {
        Err(Error::MissingColumn { available, .. }) => {
            assert!(
                available.contains("user_id:token,item_id:token,y:float"),
                "{available}"
            );
            assert!(available.contains("format = \"csv\""), "{available}");
        }
        other => panic!("expected a missing column, got {:?}", other.map(|d| d.name)),
    }
}

#[test]
fn unclear_errors_name_the_line_and_truncate_the_value() {
    let long = "9".repeat(100_000) + "x";
    let mut log = format!("user,item,y\nu,i,1\nu,i,{long}\n").into_bytes();
    log.extend_from_slice(b"u,\xff,1\n");
    let dir = setup(&[("log.csv", &log)]);
    let out = dir.path().join("out/rejects.tsv");
    let ds = load_untouched(LOG_SPEC, dir.path(), Some(&out)).expect("loads under skip");
    assert_eq!(ds.interactions.len(), 1);
    let rejects = std::fs::read_to_string(&out).expect("reject file");
    let lines: Vec<&str> = rejects.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{rejects}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\t3\ty\t") && l.len() < 400),
        "{rejects}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\t4\t") && l.contains("invalid UTF-8")),
        "{rejects}"
    );
}

#[test]
fn memory_a_gzip_bomb_a_device_and_an_endless_line_are_limit_errors() {
    let dir = setup(&[]);
    let bomb = dir.path().join("log.csv.gz");
    {
        let f = std::fs::File::create(&bomb).expect("create");
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::best());
        gz.write_all(b"user,item,y\n").expect("write");
        let zeros: Vec<u8> = b"0,0,0\n".iter().copied().cycle().take(6 << 20).collect();
        for _ in 0..14 {
            gz.write_all(&zeros).expect("write");
        }
        gz.finish().expect("finish");
    }
    match read_table(&bomb, None) {
        Err(Error::Limit(e)) => assert!(e.reason.contains("decompression bomb"), "{e}"),
        other => panic!("expected a limit error, got {:?}", other.map(|t| t.len())),
    }
    #[cfg(unix)]
    match read_table(Path::new("/dev/zero"), Some(polyrec_data::Format::Csv)) {
        Err(Error::Limit(e)) => assert!(e.reason.contains("not a regular file"), "{e}"),
        other => panic!("expected a limit error, got {:?}", other.map(|t| t.len())),
    }
    let long = dir.path().join("long.csv");
    let mut text = b"user,item,y\nu,i,".to_vec();
    text.extend(std::iter::repeat_n(
        b'1',
        polyrec_data::limits::MAX_LINE_BYTES + 10,
    ));
    std::fs::write(&long, &text).expect("write");
    match read_table(&long, None) {
        Err(Error::Limit(e)) => {
            assert_eq!(e.line, 2);
            assert!(e.reason.contains("longer than"), "{e}");
        }
        other => panic!("expected a limit error, got {:?}", other.map(|t| t.len())),
    }
}

#[test]
fn memory_a_multiclass_task_with_too_many_classes_stops() {
    let mut log = String::from("user,item,c\n");
    for i in 0..=polyrec_data::limits::MAX_CLASSES {
        log.push_str(&format!("u,i,{i}\n"));
    }
    let dir = setup(&[("log.csv", log.as_bytes())]);
    let text = LOG_SPEC.replace(
        "kind = \"regression\"\nfield = \"y\"",
        "kind = \"multiclass\"\nfield = \"c\"",
    );
    match load_untouched(&text, dir.path(), None) {
        Err(Error::Limit(e)) => {
            assert_eq!(e.field, "c");
            assert!(e.reason.contains("classes"), "{e}");
        }
        other => panic!("expected a limit error, got {:?}", other.map(|d| d.name)),
    }
}

#[test]
fn paths_outside_the_data_folder_need_the_opt_in() {
    let outer = setup(&[("secret.csv", b"user,item,y\nroot,x,0\n")]);
    let dir = setup(&[("log.csv", b"user,item,y\nu,i,1\n")]);
    let secret = outer.path().join("secret.csv");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&secret, dir.path().join("link.csv")).expect("symlink");
    let mut paths = vec![secret.display().to_string()];
    let rel: PathBuf = std::iter::repeat_n("..", dir.path().components().count())
        .collect::<PathBuf>()
        .join(secret.strip_prefix("/").unwrap_or(&secret));
    paths.push(rel.display().to_string());
    #[cfg(unix)]
    paths.push("link.csv".into());
    for p in &paths {
        let text = LOG_SPEC.replace("log.csv", p);
        match load_untouched(&text, dir.path(), None) {
            Err(Error::Path { message, .. }) => {
                assert!(message.contains("allow_outside_data_dir"), "{message}");
                assert!(!message.contains("root,x"), "{message}");
            }
            other => panic!(
                "expected a path error for {p}, got {:?}",
                other.map(|d| d.name)
            ),
        }
        let allowed = format!("allow_outside_data_dir = true\n{}", text);
        let ds = load_untouched(&allowed, dir.path(), None).expect("allowed");
        assert_eq!(ds.users.ids.name(0), "root");
    }
}

/// Every file of the committed corpus is read in every text format: no panic, a table
/// whose rows all have the header's width, or an error.
#[test]
fn the_hostile_corpus_never_panics() {
    use polyrec_data::Format;
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    let mut n = 0;
    for e in std::fs::read_dir(&corpus).expect("corpus").flatten() {
        n += 1;
        let path = e.path();
        for format in [
            None,
            Some(Format::Atomic),
            Some(Format::Csv),
            Some(Format::Tsv),
            Some(Format::Jsonl),
            Some(Format::Headerless),
            Some(Format::Parquet),
        ] {
            if let Ok(t) = read_table(&path, format) {
                for r in 0..t.len() {
                    assert_eq!(t.row(r).len(), t.header.len(), "{}", path.display());
                }
                for err in &t.errors {
                    assert!(err.value.chars().count() <= 120, "{err}");
                    assert!(err.line >= 1, "{err}");
                }
            }
        }
    }
    assert!(n >= 10, "the corpus has {n} files");
}

#[test]
fn unclear_errors_a_file_that_is_not_a_spec_is_not_echoed() {
    let line = format!("root:x:0:0:{}:/root:/bin/bash\n", "y".repeat(5000));
    let dir = setup(&[
        ("passwd.toml", line.as_bytes()),
        ("bad.toml", b"name = \"t\"\n\n# \xff\n"),
    ]);
    match DatasetSpec::from_toml_file(dir.path().join("passwd.toml")) {
        Err(Error::Spec { message, .. }) => {
            assert!(
                message.lines().all(|l| l.chars().count() <= 200),
                "{message}"
            );
            assert!(!message.contains(&"y".repeat(300)), "{message}");
        }
        other => panic!("expected a spec error, got {:?}", other.map(|s| s.name)),
    }
    match DatasetSpec::from_toml_file(dir.path().join("bad.toml")) {
        Err(Error::Spec { message, .. }) => {
            assert!(message.contains("line 3: invalid UTF-8"), "{message}")
        }
        other => panic!("expected a spec error, got {:?}", other.map(|s| s.name)),
    }
}
