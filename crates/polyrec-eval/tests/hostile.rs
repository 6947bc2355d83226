//! Hostile metric inputs: each gives its exact error (file, line, field, value), or the
//! stated semantics, never a silently wrong number. The corpus in `tests/hostile/` is
//! replayed through both readers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polyrec_eval::Error;
use polyrec_eval::pointwise::{logloss, macro_f1};
use polyrec_eval::report::{Predictions, ScoreScale, TaskType, read_topk};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hostile")
        .join(name)
}

fn validated(
    name: &str,
    overrides: &[(&str, TaskType)],
    scale: ScoreScale,
) -> Result<(Predictions, std::collections::BTreeMap<String, TaskType>), Error> {
    let mut p = Predictions::read_csv(&corpus(name))?;
    let o: HashMap<String, TaskType> = overrides.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let types = p.validate(&o, scale)?;
    Ok((p, types))
}

fn row_error(r: Result<impl std::fmt::Debug, Error>) -> (usize, String) {
    match r {
        Err(Error::Row { line, message, .. }) => (line, message),
        other => panic!("expected a row error, got {other:?}"),
    }
}

#[test]
fn byte_order_marks_and_rfc4180_quotes_are_read() {
    let (p, types) = validated("bom.csv", &[], ScoreScale::Probability).expect("bom");
    assert_eq!(p.scenario, ["s", "s"]);
    assert_eq!(types["click"], TaskType::Binary);
    let (p, _) = validated("quoted.csv", &[], ScoreScale::Probability).expect("quotes");
    assert_eq!(p.scenario[0], "home, top");
    assert_eq!(p.user[0], "u \"1\"");
    let t = read_topk(&corpus("bom.jsonl"), &[1]).expect("bom jsonl");
    assert_eq!(t.users(), 1);
}

#[test]
fn binary_labels_are_zero_or_one() {
    let (line, m) = row_error(validated(
        "labels_2_and_minus_1.csv",
        &[],
        ScoreScale::Probability,
    ));
    assert_eq!(line, 2);
    assert!(
        m.contains("--task click=binary|regression|multiclass"),
        "{m}"
    );
    let (line, m) = row_error(validated(
        "labels_2_and_minus_1.csv",
        &[("click", TaskType::Binary)],
        ScoreScale::Probability,
    ));
    assert_eq!(line, 2);
    assert!(
        m.contains("field `label`") && m.contains("must be 0 or 1"),
        "{m}"
    );
    let (_, types) = validated(
        "labels_2_and_minus_1.csv",
        &[("click", TaskType::Regression)],
        ScoreScale::Probability,
    )
    .expect("regression said");
    assert_eq!(types["click"], TaskType::Regression);
}

#[test]
fn logits_are_an_error_unless_said_then_the_sigmoid_applies() {
    let (line, m) = row_error(validated("logits.csv", &[], ScoreScale::Probability));
    assert_eq!(line, 2);
    assert!(
        m.contains("field `score`") && m.contains("--scores logits"),
        "{m}"
    );
    let (p, _) = validated("logits.csv", &[], ScoreScale::Logit).expect("logits");
    let want = 1.0 / (1.0 + (-3.2f64).exp());
    assert!((p.score[0] - want).abs() < 1e-12);
    let ll = logloss(&p.label, &p.score).expect("defined");
    assert!(ll > 0.01, "{ll}");
}

#[test]
fn an_unknown_task_is_an_error() {
    match validated(
        "bom.csv",
        &[("clikc", TaskType::Binary)],
        ScoreScale::Probability,
    ) {
        Err(Error::Input(m)) => assert!(m.contains("\"clikc\"") && m.contains("click"), "{m}"),
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn multiclass_labels_are_bounded_class_indices() {
    let (line, m) = row_error(validated(
        "multiclass_4e9.csv",
        &[("genre", TaskType::Multiclass)],
        ScoreScale::Probability,
    ));
    assert_eq!(line, 2);
    assert!(m.contains("class index"), "{m}");
    // The library metric allocates by the classes met, not by the largest index.
    assert_eq!(macro_f1(&[u32::MAX, 0], &[u32::MAX, 1]), Some(1.0 / 3.0));
}

#[test]
fn top_k_input_rules() {
    for k in [0, 10_001] {
        match read_topk(&corpus("bom.jsonl"), &[5, k]) {
            Err(Error::Input(m)) => assert!(m.contains("1..=10000"), "{m}"),
            other => panic!("expected an input error for K = {k}, got {other:?}"),
        }
    }
    let (line, m) = row_error(read_topk(&corpus("dup_user.jsonl"), &[1]));
    assert_eq!(line, 2);
    assert!(m.contains("listed twice (first on line 1)"), "{m}");
    let (line, m) = row_error(read_topk(&corpus("repeated_item.jsonl"), &[3]));
    assert_eq!(line, 1);
    assert!(m.contains("\"a\" appears twice"), "{m}");
    let (line, m) = row_error(read_topk(&corpus("invalid_utf8.jsonl"), &[1]));
    assert_eq!(line, 2);
    assert!(m.contains("invalid UTF-8"), "{m}");
}

#[test]
fn a_huge_value_is_not_echoed_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("p.csv");
    let huge = "7".repeat(1_000_000) + "x";
    std::fs::write(
        &f,
        format!("scenario,task,user,label,score\ns,t,u,{huge},0.5\n"),
    )
    .expect("write");
    let (line, m) = row_error(Predictions::read_csv(&f));
    assert_eq!(line, 2);
    assert!(
        m.contains("field `label`") && m.len() < 400,
        "{} chars",
        m.len()
    );
}

#[cfg(unix)]
#[test]
fn a_device_is_refused() {
    match Predictions::read_csv(Path::new("/dev/zero")) {
        Err(Error::Input(m)) => assert!(m.contains("not a regular file"), "{m}"),
        other => panic!("expected an input error, got {other:?}"),
    }
}

/// Every corpus file through both readers and the strict checks: a value or an error,
/// never a panic; every error names a line of the file.
#[test]
fn the_hostile_corpus_never_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    let mut n = 0;
    for e in std::fs::read_dir(dir).expect("corpus").flatten() {
        n += 1;
        let path = e.path();
        match Predictions::read_csv(&path) {
            Ok(mut p) => {
                for scale in [ScoreScale::Probability, ScoreScale::Logit] {
                    let _ = p.clone().validate(&HashMap::new(), scale);
                }
                let _ = p.validate(&HashMap::new(), ScoreScale::Logit);
            }
            Err(Error::Row { line, .. }) => assert!(line >= 1),
            Err(_) => {}
        }
        if let Err(Error::Row { line, message, .. }) = read_topk(&path, &[1, 5]) {
            assert!(line >= 1, "{message}");
            assert!(message.len() < 1000, "{message}");
        }
    }
    assert!(n >= 10, "{n} corpus files");
}

#[test]
fn a_scenario_named_like_a_report_key_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("p.csv");
    for name in ["overall", "topk", "slice:new"] {
        std::fs::write(
            &f,
            format!("scenario,task,user,label,score\ns,t,u,1,0.5\n{name},t,u,0,0.5\n"),
        )
        .expect("write");
        let mut p = Predictions::read_csv(&f).expect("reads");
        let (line, m) = row_error(p.validate(&HashMap::new(), ScoreScale::Probability));
        assert_eq!(line, 3);
        assert!(
            m.contains("field `scenario`") && m.contains("key of the report"),
            "{m}"
        );
    }
}
