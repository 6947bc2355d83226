//! Parity with the Python reference outputs: pointwise within 1e-9, top-K within 1e-12.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polyrec_eval::report::{Predictions, breakdown, read_topk};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn every_metric_matches_the_reference() -> Result<(), Box<dyn std::error::Error>> {
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(fixture(
        "public_metrics_expected.json",
    ))?)?;
    let p = Predictions::read_csv(&fixture("public_metrics_predictions.csv"))?;
    let types = p.task_types(&HashMap::new());
    let topk = read_topk(&fixture("public_metrics_topk.jsonl"), &[5, 10, 20])?;
    let got = breakdown(&p, &types, Some(&topk));
    let exp = expected.as_object().ok_or("object")?;
    let mut checked = 0;
    for (group, tasks) in exp {
        for (name, e) in tasks.as_object().ok_or("object")? {
            if group == "topk" {
                let g = got[group][name]
                    .as_f64()
                    .ok_or(format!("missing topk {name}"))?;
                let e = e.as_f64().ok_or("number")?;
                assert!((g - e).abs() <= 1e-12, "topk {name}: {g} vs {e}");
                checked += 1;
                continue;
            }
            for (metric, ev) in e.as_object().ok_or("object")? {
                let g = got[group][name][metric]
                    .as_f64()
                    .ok_or(format!("missing {group}/{name}/{metric}"))?;
                let ev = ev.as_f64().ok_or("number")?;
                assert!(
                    (g - ev).abs() <= 1e-9,
                    "{group}/{name}/{metric}: {g} vs {ev}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 4 * 7 + 15);
    Ok(())
}

#[test]
fn malformed_rows_name_their_line() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("polyrec-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let f = dir.join("p.csv");
    std::fs::write(
        &f,
        "scenario,task,user,label,score\ns0,like,u1,1,0.5\ns0,like,u2,0,abc\n",
    )?;
    let err = Predictions::read_csv(&f)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("p.csv:3") && err.contains("score") && err.contains("abc"),
        "{err}"
    );
    std::fs::write(&f, "scenario,task,user,label,score\ns0,like,u1,1\n")?;
    let err = Predictions::read_csv(&f)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("p.csv:2") && err.contains("expected 5 fields"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
