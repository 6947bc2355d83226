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

#[test]
fn slices_and_reports() -> Result<(), Box<dyn std::error::Error>> {
    use polyrec_eval::report::{Slice, add_slices, to_markdown};
    let p = Predictions::read_csv(&fixture("public_metrics_predictions.csv"))?;
    let types = p.task_types(&HashMap::new());
    let mut report = breakdown(&p, &types, None);
    // Activity bands by the number of rows each user has in the file.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for u in &p.user {
        *counts.entry(u.clone()).or_default() += 1;
    }
    let slices = Slice::by_activity(&p, &counts, &[("light", 0, 20), ("heavy", 20, usize::MAX)]);
    add_slices(&mut report, &p, &types, &slices);
    let light = report["slice:light"]["like"]["count"]
        .as_u64()
        .ok_or("light count")?;
    let heavy = report["slice:heavy"]["like"]["count"]
        .as_u64()
        .ok_or("heavy count")?;
    assert_eq!(light + heavy, 6000, "the two bands partition the rows");
    // A slice holding every user reproduces the overall figures.
    let all = Slice {
        name: "all".into(),
        users: p.user.iter().cloned().collect(),
    };
    add_slices(&mut report, &p, &types, &[all]);
    assert_eq!(
        report["slice:all"]["like"]["auc"],
        report["overall"]["like"]["auc"]
    );
    let md = to_markdown(&report);
    assert!(md.contains("| overall | like |") && md.contains("| slice:heavy | rating |"));
    // A nested block (the cold-start block of `polyrec train`) becomes rows of its own.
    let mut with_cold = report.clone();
    with_cold["cold_items"] = serde_json::json!({ "overall": report["overall"].clone() });
    let md = to_markdown(&with_cold);
    assert!(md.contains("| cold_items: overall | like |"), "{md}");
    assert!(!md.contains('{'), "raw JSON in {md}");
    Ok(())
}

#[test]
fn plots_are_svg_with_every_series() {
    use polyrec_eval::plot::{LogEntry, bars_svg, curves_svg};
    let scen = vec!["s0".to_string(), "s1".to_string()];
    let svg = bars_svg(
        "AUC <like>",
        &scen,
        &[
            ("mmoe".into(), vec![0.8, 0.7]),
            ("ple".into(), vec![0.81, f64::NAN]),
        ],
    );
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(
        svg.matches("<title>").count(),
        4,
        "one bar per model per scenario"
    );
    assert!(svg.contains("AUC &lt;like&gt;") && svg.contains("mmoe") && svg.contains("ple"));
    let log: Vec<LogEntry> = (0..5)
        .flat_map(|e| {
            ["train", "valid"].map(|s| LogEntry {
                epoch: e,
                split: s.into(),
                task: "like".into(),
                metric: "auc".into(),
                value: 0.6 + 0.02 * f64::from(e),
            })
        })
        .collect();
    let svg = curves_svg("training", &log);
    assert_eq!(svg.matches("<polyline").count(), 2);
    assert!(svg.contains("valid like auc"));
}
