//! Topic recommendation on the repository's copy of MovieLens latest-small (its tag log):
//! the temporal hold-out without the language model, and what a recommendation holds.

use std::path::Path;

use polyrec_data::Dataset;
use polyrec_graph::topics::{TagHistory, TopicConfig, TopicModel, evaluate};

fn history() -> Result<(Dataset, TagHistory), Box<dyn std::error::Error>> {
    let spec =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/ml-latest-small.toml");
    let ds = Dataset::load(spec, None)?;
    let log = ds.tags.as_ref().ok_or("the spec has a [tags] table")?;
    let h = TagHistory::from_log(log, ds.users.ids.len(), ds.items.ids.len())?;
    Ok((ds, h))
}

#[test]
fn the_blend_beats_most_popular_on_later_topics() -> Result<(), Box<dyn std::error::Error>> {
    let (_, h) = history()?;
    let r = evaluate(&h, None, &TopicConfig::default())?;
    for row in &r.rows {
        eprintln!(
            "{:<20} recall@10 all {:.4} new {:.4}",
            row.name, row.recall_all, row.recall_new
        );
    }
    eprintln!(
        "users {} (new {}), weights {:?}",
        r.users_all, r.users_new, r.weights
    );
    assert_eq!(r.train_applications + r.test_applications, 3_683);
    let get = |n: &str| r.rows.iter().find(|x| x.name == n).map(|x| x.recall_all);
    let (blend, popular) = (
        get("blend").ok_or("blend")?,
        get("popularity").ok_or("popularity")?,
    );
    assert!(blend > popular, "blend {blend} vs most-popular {popular}");
    Ok(())
}

#[test]
fn recommendations_are_distinct_known_topics_with_evidence()
-> Result<(), Box<dyn std::error::Error>> {
    let (ds, h) = history()?;
    let model = TopicModel::fit(&h, None, &TopicConfig::default())?;
    let user = ds.users.ids.get("474").ok_or("user 474 tags a lot")?;
    let own: Vec<u32> = model
        .signals
        .profile(user)
        .iter()
        .map(|p| p.topic)
        .collect();
    for only_new in [false, true] {
        let top = model.recommend(user, 10, only_new);
        assert_eq!(top.len(), 10);
        let mut topics: Vec<u32> = top.iter().map(|s| s.topic).collect();
        topics.sort_unstable();
        topics.dedup();
        assert_eq!(topics.len(), 10, "distinct");
        assert!(top.windows(2).all(|w| w[0].score >= w[1].score));
        for s in &top {
            assert!(model.signals.is_known(s.topic));
            if only_new {
                assert!(!own.contains(&s.topic));
                assert_eq!(s.evidence.applications, 0);
            }
            for n in [s.evidence.item_neighbour, s.evidence.user_neighbour]
                .into_iter()
                .flatten()
            {
                assert!(own.contains(&n), "evidence names the user's own topics");
            }
        }
    }
    // A user without tags gets the most used topics.
    let quiet = (0..ds.users.ids.len() as u32)
        .find(|&u| model.signals.profile(u).is_empty())
        .ok_or("a user without tags")?;
    let top = model.recommend(quiet, 3, false);
    assert!(
        top.windows(2)
            .all(|w| w[0].evidence.users >= w[1].evidence.users)
    );
    Ok(())
}
