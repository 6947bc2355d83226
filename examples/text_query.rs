//! Free-text requests against a trained model: the language model encodes the request,
//! candidates come from item texts and the graph, the multi-task model scores them for the
//! user, and each result says why.
//!
//! ```text
//! cargo run --release --example quickstart        # once: writes the model
//! cargo run --release --example text_query [-- MODEL_DIR]
//! ```
use std::error::Error;
use std::path::{Path, PathBuf};

use polyrec::{LoadOptions, Recommender, Request, Response};

/// The requests this example sends.
pub const QUERIES: [&str; 3] = [
    "a light comedy for a rainy evening",
    "a scary horror movie",
    "an animated film for children",
];

/// Answers [`QUERIES`] for a known user and for a new user described only by a profile.
pub fn run(rec: &Recommender) -> Result<Vec<Response>, Box<dyn Error>> {
    let mut out = Vec::new();
    for q in QUERIES {
        let answer = rec.recommend(&Request {
            user: Some("196".into()),
            query: Some(q.into()),
            k: Some(5),
            ..Default::default()
        })?;
        println!("request {q:?}\n{answer}");
        out.push(answer);
    }
    let answer = rec.recommend(&Request {
        profile: Some("I love science fiction and space adventures".into()),
        query: Some("something with robots".into()),
        k: Some(5),
        ..Default::default()
    })?;
    println!("request \"something with robots\" from a new user\n{answer}");
    out.push(answer);
    Ok(out)
}

/// Loads the model directory.
pub fn load(dir: &Path) -> Result<Recommender, Box<dyn Error>> {
    if !dir.join("model.safetensors").is_file() {
        return Err(format!(
            "no model in {}: run `cargo run --release --example quickstart` first",
            dir.display()
        )
        .into());
    }
    Ok(Recommender::load(dir, &LoadOptions::default())?)
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args().nth(1).map_or_else(
        || polyrec::home_dir().join("runs/quickstart"),
        PathBuf::from,
    );
    run(&load(&dir)?).map(|_| ())
}
