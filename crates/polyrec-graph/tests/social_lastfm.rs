//! Friend suggestion on the shipped Last.fm HetRec-2011 files (`examples/data/lastfm`):
//! the hold-out protocol runs and the link model beats common neighbours; suggestions are
//! never the user or a friend, and their evidence is real.

use std::path::Path;

use polyrec_graph::Dataset;
use polyrec_graph::social::{
    Baseline, Behaviour, FriendConfig, FriendModel, LinkHoldout, SocialNetwork, evaluate,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn lastfm() -> Res<Dataset> {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/lastfm.toml");
    Ok(Dataset::load(spec, None)?)
}

#[test]
fn link_model_beats_common_neighbours_and_suggests_real_strangers() -> Res<()> {
    let ds = lastfm()?;
    let network = SocialNetwork::from_dataset(&ds)?;
    assert_eq!((network.n_users(), network.n_edges()), (1_892, 12_717));
    let behaviour = Behaviour::from_dataset(&ds, Some("plays"))?;
    let split = LinkHoldout::new(&network, 0.1, 1)?;
    assert_eq!(split.hidden.len(), 1_272);
    assert_eq!(split.visible.n_edges(), 12_717 - 1_272);
    assert!(
        split
            .hidden
            .iter()
            .all(|&(a, b)| !split.visible.are_friends(a, b))
    );
    let config = FriendConfig {
        rounds: 1,
        ..FriendConfig::default()
    };
    let model = FriendModel::fit(
        split.visible.clone(),
        Some(behaviour.clone()),
        None,
        &config,
        &mut |_, _| {},
    )?;
    let cn = evaluate(
        &split,
        &Baseline::CommonNeighbours(&split.visible),
        10,
        50,
        1,
    )?;
    let learned = evaluate(&split, &model, 10, 50, 1)?;
    assert_eq!(learned.users, 50);
    assert!(
        learned.auc > cn.auc + 0.02,
        "link model AUC {} vs common neighbours {}",
        learned.auc,
        cn.auc
    );

    for user in ["2", "4", "1500"] {
        let u = ds.users.ids.get(user).ok_or("user")?;
        let got = model.recommend(u, 10)?;
        assert_eq!(got.len(), 10);
        for s in &got {
            assert!(s.user != u && !split.visible.are_friends(u, s.user));
            for &z in &s.common_friends {
                assert!(split.visible.are_friends(u, z) && split.visible.are_friends(s.user, z));
            }
            let mine = behaviour.top_items(u, usize::MAX);
            let theirs = behaviour.top_items(s.user, usize::MAX);
            for i in &s.top_shared_items {
                assert!(mine.iter().any(|p| p.0 == *i) && theirs.iter().any(|p| p.0 == *i));
            }
            assert_eq!(
                s.common_friends.len(),
                split.visible.common_friends(u, s.user).len()
            );
        }
        for item in model.items_from_friends(u, 5) {
            assert!(
                behaviour
                    .top_items(u, usize::MAX)
                    .iter()
                    .all(|p| p.0 != item.item)
            );
            assert!(
                item.friends
                    .iter()
                    .all(|&f| split.visible.are_friends(u, f))
            );
        }
    }
    assert!(model.recommend(5_000, 3).is_err());
    Ok(())
}
