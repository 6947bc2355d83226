//! `polyrec train` and `polyrec eval` end to end on real ML-100K: a model directory with
//! every promised file, `eval` reprinting exactly the numbers of `metrics.json`, the text
//! family through the real language model, and clear errors for bad requests.

use std::path::{Path, PathBuf};
use std::process::Command;

fn polyrec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_polyrec"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn train(out: &Path, extra: &[&str]) -> Result<std::process::Output, std::io::Error> {
    polyrec()
        .arg("train")
        .arg("--spec")
        .arg(root().join("examples/data/ml-100k.toml"))
        .arg("--data-dir")
        .arg(polyrec::setup::ml100k_dir())
        .arg("--split")
        .arg(format!(
            "file:{}",
            root()
                .join("examples/data/ml-100k-split-2024.txt")
                .display()
        ))
        .args(["--threads", "2", "--epochs", "2"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
}

#[test]
fn train_writes_a_model_directory_and_eval_reprints_its_metrics()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("run");
    let cfg = root().join("examples/train/protocol-mmoe.toml");
    let t = train(
        &out,
        &[
            "--config",
            cfg.to_str().ok_or("path")?,
            "--set",
            "features.text=true",
            "--set",
            "features.kg=true",
            // An ensemble (the default model is one): eval must reload every member.
            "--set",
            "train.ensemble=2",
        ],
    )?;
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    for f in [
        "model.safetensors",
        "features.json",
        "train.toml",
        "metrics.json",
        "history.jsonl",
        "curves.svg",
        "scenarios.svg",
        "report.md",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let stderr = String::from_utf8_lossy(&t.stderr);
    assert!(
        stderr.contains("item_text") && stderr.contains("kg"),
        "{stderr}"
    );
    let report = std::fs::read_to_string(out.join("report.md"))?;
    assert!(
        report.starts_with("# mmoe (an ensemble of 2) on "),
        "{report}"
    );
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json"))?)?;
    for s in ["overall", "age 1-24", "age 25-34", "age 35+"] {
        assert!(
            metrics[s]["like"]["auc"].as_f64().is_some_and(|a| a > 0.7),
            "{s}: {metrics}"
        );
        assert!(
            metrics[s]["rating"]["rmse"]
                .as_f64()
                .is_some_and(|r| r < 1.05),
            "{s}"
        );
    }
    // Two tasks never report the same numbers.
    assert_ne!(
        metrics["overall"]["like"]["auc"],
        metrics["overall"]["gender"]["auc"]
    );
    let history = std::fs::read_to_string(out.join("history.jsonl"))?;
    assert_eq!(history.lines().count(), 2);
    assert!(std::fs::read_to_string(out.join("curves.svg"))?.starts_with("<svg"));

    let e = polyrec()
        .args(["eval", "--json", "--threads", "2", "--model"])
        .arg(&out)
        .arg("--data-dir")
        .arg(polyrec::setup::ml100k_dir())
        .output()?;
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let again: serde_json::Value = serde_json::from_slice(&e.stdout)?;
    assert_eq!(again, metrics, "eval does not reprint metrics.json");
    Ok(())
}

#[test]
fn help_lists_models_and_bad_requests_get_clear_errors() -> Result<(), Box<dyn std::error::Error>> {
    let h = polyrec().args(["train", "--help"]).output()?;
    let help = String::from_utf8_lossy(&h.stdout);
    for (name, _) in polyrec::rank::MODEL_HELP {
        assert!(help.contains(name), "--help lacks {name}");
    }
    let dir = tempfile::tempdir()?;
    let bad = train(&dir.path().join("x"), &["--model", "transformer9000"])?;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown model `transformer9000`"));
    let bad = train(&dir.path().join("y"), &["--set", "train.lr=-1"])?;
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`lr`"));
    let bad = train(&dir.path().join("z"), &["--model", "esmm"])?;
    assert!(String::from_utf8_lossy(&bad.stderr).contains("two binary tasks first"));
    Ok(())
}
