//! Quickstart on MovieLens-100K (installed by `scripts/setup.sh`): train the default
//! multi-scenario, multi-task model (text, knowledge graph and history inputs), print its
//! test metrics per scenario x task, and recommend with reasons for one user.
//!
//! ```text
//! cargo run --release --example quickstart [-- --epochs N] [--out DIR]
//! ```
//! The model directory (default `$POLYREC_HOME/runs/quickstart`) is what the `text_query`
//! and `cold_start` examples load.
use std::error::Error;
use std::path::{Path, PathBuf};

use polyrec::rank::train::{EpochRecord, Observer};
use polyrec::{Pipeline, Request, Trained};

/// The default output folder.
pub fn default_out() -> PathBuf {
    polyrec::home_dir().join("runs").join("quickstart")
}

/// Prints each stage and epoch on stderr.
struct Log;
impl Observer for Log {
    fn stage(&mut self, line: &str) {
        eprintln!("{line}");
    }
    fn epoch_end(&mut self, r: &EpochRecord) {
        eprintln!(
            "epoch {}: loss {:.4}, valid score {:.4}, {:.0} samples/s",
            r.epoch, r.train_loss, r.valid_score, r.samples_per_sec
        );
    }
}

/// Trains for `epochs` (default: the configuration's) into `out`, prints the metrics and
/// one user's recommendations.
pub fn run(epochs: Option<usize>, out: &Path) -> Result<Trained, Box<dyn Error>> {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/ml-100k.toml");
    let mut pipeline = Pipeline::new(spec);
    if let Some(e) = epochs {
        pipeline.run.train.epochs = e;
    }
    let trained = pipeline.run(out, &mut Log)?;
    println!("== test metrics per scenario x task\n");
    println!("{}", polyrec::eval::report::to_markdown(&trained.metrics));
    let answer = trained.recommender.recommend(&Request {
        user: Some("196".into()),
        k: Some(10),
        ..Default::default()
    })?;
    println!("== recommendations\n\n{answer}");
    println!("model directory: {}", out.display());
    Ok(trained)
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let mut epochs = None;
    let mut out = default_out();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--epochs" => epochs = Some(args.next().ok_or("--epochs N")?.parse()?),
            "--out" => out = PathBuf::from(args.next().ok_or("--out DIR")?),
            other => {
                return Err(format!("unknown argument `{other}` (--epochs N, --out DIR)").into());
            }
        }
    }
    run(epochs, &out).map(|_| ())
}
