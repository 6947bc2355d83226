//! Cold start from text and the graph alone: a new item known only by its text, a new user
//! known only by a profile text, and a new user known by a handful of liked films.
//!
//! ```text
//! cargo run --release --example quickstart        # once: writes the model
//! cargo run --release --example cold_start [-- MODEL_DIR]
//! ```
use std::error::Error;
use std::path::PathBuf;

use polyrec::{LoadOptions, NewItem, Recommender, Request, Response};

/// The id of the item this example adds.
pub const NEW_ITEM: &str = "new-haunting";

/// Adds a new item, then recommends for a horror fan, a profile-only user and a user
/// known by three liked films.
pub fn run(rec: &mut Recommender) -> Result<[Response; 3], Box<dyn Error>> {
    rec.add_item(NewItem {
        id: NEW_ITEM.into(),
        name: Some("The Haunting of Hill Lane (2026)".into()),
        text: "The Haunting of Hill Lane (2026). Horror, Thriller. A family moves into an old \
               house where a ghost waits in the cellar; a terrifying supernatural horror film."
            .into(),
    })?;
    // A known user asks for what the new item is: it competes from its text alone.
    let fan = rec.recommend(&Request {
        user: Some("196".into()),
        query: Some("a supernatural horror film about a haunted house".into()),
        k: Some(10),
        ..Default::default()
    })?;
    println!("a new item, for user 196 asking for a haunted-house horror film\n{fan}");
    let profile = rec.recommend(&Request {
        profile: Some("I watch gritty crime dramas and film noir".into()),
        k: Some(10),
        ..Default::default()
    })?;
    println!("a new user with only a profile text\n{profile}");
    let liked = rec.recommend(&Request {
        liked: vec!["50".into(), "172".into(), "181".into()],
        k: Some(10),
        ..Default::default()
    })?;
    println!("a new user who liked three Star Wars films\n{liked}");
    Ok([fan, profile, liked])
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args().nth(1).map_or_else(
        || polyrec::home_dir().join("runs/quickstart"),
        PathBuf::from,
    );
    if !dir.join("model.safetensors").is_file() {
        return Err(format!(
            "no model in {}: run `cargo run --release --example quickstart` first",
            dir.display()
        )
        .into());
    }
    let mut rec = Recommender::load(&dir, &LoadOptions::default())?;
    run(&mut rec).map(|_| ())
}
