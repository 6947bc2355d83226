//! The `polyrec` binary end to end: data validate, metrics and embed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn polyrec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_polyrec"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn validate_passes_on_real_data_and_fails_with_file_and_line()
-> Result<(), Box<dyn std::error::Error>> {
    let spec = root().join("examples/data/ml-100k.toml");
    let ok = polyrec()
        .args(["data", "validate", "--spec"])
        .arg(&spec)
        .arg("--data-dir")
        .arg(polyrec::setup::ml100k_dir())
        .output()?;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ml-100k.inter: 100000 rows"));

    let dir = tempfile::tempdir()?;
    for f in [
        "ml-100k.inter",
        "ml-100k.user",
        "ml-100k.item",
        "ml-100k.kg",
        "ml-100k.link",
    ] {
        std::fs::copy(polyrec::setup::ml100k_dir().join(f), dir.path().join(f))?;
    }
    let inter = dir.path().join("ml-100k.inter");
    let text = std::fs::read_to_string(&inter)?.replacen(
        "196\t242\t3\t881250949",
        "196\t242\t7\t881250949",
        1,
    );
    std::fs::write(&inter, text)?;
    let bad = polyrec()
        .args(["data", "validate", "--spec"])
        .arg(&spec)
        .arg("--data-dir")
        .arg(dir.path())
        .output()?;
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains("ml-100k.inter:2: field `rating` value \"7\""),
        "{out}"
    );

    let inspect = polyrec()
        .args(["data", "inspect", "--json", "--spec"])
        .arg(&spec)
        .arg("--data-dir")
        .arg(polyrec::setup::ml100k_dir())
        .output()?;
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout)?;
    assert_eq!(v["interactions"], 100_000);
    assert_eq!(v["scenarios"][1]["scenario"], "age 1-24");
    Ok(())
}

#[test]
fn metrics_json_has_the_reference_shape() -> Result<(), Box<dyn std::error::Error>> {
    let fix = root().join("crates/polyrec-eval/tests/fixtures");
    // `rating` has integer labels 1..5: its type is said, not guessed.
    let out = polyrec()
        .args([
            "metrics",
            "--json",
            "--k",
            "5,10",
            "--task",
            "rating=regression",
        ])
        .arg("--predictions")
        .arg(fix.join("public_metrics_predictions.csv"))
        .arg("--topk")
        .arg(fix.join("public_metrics_topk.jsonl"))
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        fix.join("public_metrics_expected.json"),
    )?)?;
    let auc = v["overall"]["like"]["auc"].as_f64().ok_or("auc")?;
    assert!((auc - expected["overall"]["like"]["auc"].as_f64().ok_or("auc")?).abs() < 1e-12);
    assert!(v["s2"]["rating"]["rmse"].is_number());
    assert!(v["topk"]["ndcg@10"].is_number() && v["topk"].get("ndcg@20").is_none());
    Ok(())
}

#[test]
fn embed_writes_one_row_per_line() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("t.txt");
    std::fs::write(
        &input,
        "Heat (1995)\na light comedy for a rainy evening\n\n",
    )?;
    let output = dir.path().join("e.npy");
    let out = polyrec()
        .args(["embed", "--device", "cpu", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = polyrec_encode_shape(&output)?;
    assert_eq!(e, (3, 384));
    // Invalid UTF-8 gives the line number and leaves no output behind.
    std::fs::write(&input, b"ok\n\xff\n")?;
    let bad_out = dir.path().join("bad.npy");
    let out = polyrec()
        .args(["embed", "--device", "cpu", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&bad_out)
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("t.txt:2"));
    assert!(!bad_out.exists());
    Ok(())
}

fn polyrec_encode_shape(p: &Path) -> Result<(usize, usize), Box<dyn std::error::Error>> {
    let b = std::fs::read(p)?;
    let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
    let h = std::str::from_utf8(&b[10..10 + hl])?;
    let shape = h
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or("shape")?;
    let d: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    assert_eq!(b.len(), 10 + hl + d[0] * d[1] * 4);
    Ok((d[0], d[1]))
}

/// `--device` is parsed by clap into the one `DeviceRequest` type: a bad value is a usage
/// error (exit code 2) that names the value and the accepted forms, before anything loads.
#[test]
fn a_bad_device_is_a_usage_error() -> Result<(), Box<dyn std::error::Error>> {
    let out = polyrec()
        .args([
            "embed", "--device", "tpu", "--input", "none.txt", "--output", "none.npy",
        ])
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--device") && err.contains("tpu"), "{err}");
    assert!(err.contains("cuda:N"), "{err}");
    Ok(())
}
