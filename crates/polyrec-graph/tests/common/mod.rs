//! What the graph tests share: MovieLens-100K with its Freebase graph, as the set-up
//! installs it.

use std::path::Path;

#[path = "../../../../tests/support/setup_paths.rs"]
mod setup_paths;

use polyrec_data::Dataset;

/// ML-100K loaded with the shipped spec.
pub fn ml100k() -> Result<Dataset, Box<dyn std::error::Error>> {
    let dir = setup_paths::ml100k_dir();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/ml-100k.toml");
    Ok(Dataset::load(spec, Some(&dir))?)
}

/// Per user: (item, rating) pairs.
pub type History = Vec<Vec<(u32, f32)>>;

/// Each user's items rated 4 or 5, with the rating, in file order.
pub fn liked_history(ds: &Dataset) -> Result<History, Box<dyn std::error::Error>> {
    let rating = ds.task_index("rating").ok_or("no rating task")?;
    let mut history: History = vec![Vec::new(); ds.users.ids.len()];
    for r in 0..ds.interactions.len() {
        let v = ds.interactions.labels[rating][r];
        if v >= 4.0 {
            history[ds.interactions.user[r] as usize].push((ds.interactions.item[r], v));
        }
    }
    Ok(history)
}
