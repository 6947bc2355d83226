//! `polyrec metrics`: metrics per scenario x task from a predictions CSV, and top-K from
//! ranked lists.
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use polyrec::eval::report::{Predictions, ScoreScale, TaskType, breakdown, read_topk, to_markdown};

/// Arguments of `polyrec metrics`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  polyrec metrics --predictions preds.csv --topk topk.jsonl --k 10 --json"
)]
pub struct MetricsArgs {
    /// CSV with columns scenario, task, user, label, score.
    #[arg(long)]
    predictions: PathBuf,
    /// JSON Lines of {"user", "ranked": [...], "relevant": [...]}.
    #[arg(long)]
    topk: Option<PathBuf>,
    /// Cut-offs for top-K metrics, each in 1..=10000.
    #[arg(long, value_delimiter = ',', default_value = "5,10,20")]
    k: Vec<usize>,
    /// Say a task's type: NAME=binary|regression|multiclass (repeatable). Without it a task
    /// whose labels are all 0/1 is binary, one with a non-integer label regression; integer
    /// labels other than 0/1 need it. A named task must be in the predictions.
    #[arg(long = "task", value_name = "NAME=TYPE")]
    tasks: Vec<String>,
    /// What the scores of binary tasks are: `probabilities` (must be in [0, 1]) or
    /// `logits` (the sigmoid makes them probabilities).
    #[arg(long, default_value = "probabilities")]
    scores: String,
    /// Print JSON instead of a Markdown table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: MetricsArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = HashMap::new();
    for t in &a.tasks {
        let (name, ty) = t
            .split_once('=')
            .with_context(|| format!("--task {t}: expected NAME=TYPE"))?;
        if overrides
            .insert(name.to_string(), ty.parse::<TaskType>()?)
            .is_some()
        {
            anyhow::bail!("--task {name}: given twice");
        }
    }
    let scale: ScoreScale = a.scores.parse()?;
    let mut p = Predictions::read_csv(&a.predictions)?;
    let types = p.validate(&overrides, scale)?;
    let topk = a.topk.as_ref().map(|f| read_topk(f, &a.k)).transpose()?;
    let report = breakdown(&p, &types, topk.as_ref());
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", to_markdown(&report));
    }
    Ok(ExitCode::SUCCESS)
}
