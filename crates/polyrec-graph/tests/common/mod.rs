//! What the graph tests share: MovieLens-100K with its Freebase graph, as the set-up
//! installs it.

use std::path::Path;

use polyrec_data::Dataset;

/// ML-100K loaded with the shipped spec.
pub fn ml100k() -> Result<Dataset, Box<dyn std::error::Error>> {
    let dir = polyrec_data::default_ml100k_dir();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/ml-100k.toml");
    Ok(Dataset::load(spec, Some(&dir))?)
}
