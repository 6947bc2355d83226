//! The real ML-100K Freebase graph and the Last.fm artist graph.

mod common;
use common::{liked_history, ml100k};

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use polyrec_data::{Dataset, DatasetSpec};
use polyrec_graph::{KnowledgeGraph, RelatednessConfig};

#[test]
fn ml100k_graph_counts_and_sampling() -> Result<(), Box<dyn std::error::Error>> {
    let ds = ml100k()?;
    let kg = KnowledgeGraph::from_dataset(&ds)?;
    let s = kg.stats();
    assert_eq!(s.triples_per_relation.values().sum::<usize>(), 91_631);
    assert_eq!(s.triples_per_relation.len(), 24);
    assert_eq!(s.linked_items, 1_598);
    assert_eq!(s.items, 1_682);
    assert_eq!(
        kg.relations.len(),
        24 * 2 + 2,
        "relations, inverses, linked_to, friend_of"
    );
    assert_eq!(
        kg.graph.edge_count(),
        2 * (91_631 + ds.kg.as_ref().map_or(0, |k| k.item_links.len())),
        "every triple and link in both directions"
    );

    let a = kg.sample_neighbours(8, 42)?;
    let b = kg.sample_neighbours(8, 42)?;
    let c = kg.sample_neighbours(8, 43)?;
    assert_eq!(a, b, "same seed, same sample");
    assert_ne!(a.hop1_entities, c.hop1_entities);
    assert_eq!(a.hop1_entities.len(), 1_682 * 8);
    assert_eq!(a.hop2_entities.len(), 1_682 * 64);
    // Same result whatever the thread count.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()?
        .install(|| kg.sample_neighbours(8, 42))?;
    assert_eq!(a, one);
    // Every sampled (relation, entity) of item 0 is a real neighbour of its entities.
    let real: HashSet<(u32, u32)> = kg.item_neighbours(0).into_iter().collect();
    for k in 0..8 {
        let pair = (a.hop1_relations[k], a.hop1_entities[k]);
        assert!(real.contains(&pair) || pair == (a.pad_relation, a.pad_entity));
    }
    Ok(())
}

#[test]
fn related_films_share_real_entities_and_reasons_exist_in_the_triples()
-> Result<(), Box<dyn std::error::Error>> {
    let ds = ml100k()?;
    let kg = KnowledgeGraph::from_dataset(&ds)?;
    let kgd = ds.kg.as_ref().ok_or("kg")?;
    let find = |name: &str| {
        (0..ds.items.ids.len() as u32)
            .find(|&i| ds.items.names[i as usize].as_deref() == Some(name))
    };
    let star_wars = find("Star Wars (1977)").ok_or("Star Wars")?;
    let related = kg.related_items(star_wars, 10, &RelatednessConfig::default());
    eprintln!(
        "related to Star Wars: {:?}",
        related
            .iter()
            .map(|(i, s)| (kg.item_name(*i), *s))
            .collect::<Vec<_>>()
    );
    assert_eq!(related.len(), 10);
    assert!(related.windows(2).all(|w| w[0].1 >= w[1].1));

    // Entities adjacent to an item's entity in the raw triples.
    let entity_of = |item: u32| {
        kgd.item_links
            .iter()
            .find(|l| l.item == item)
            .map(|l| l.entity)
    };
    let touching = |e: u32| -> HashSet<u32> {
        kgd.triples
            .iter()
            .filter_map(|t| {
                if t.head == e {
                    Some(t.tail)
                } else if t.tail == e {
                    Some(t.head)
                } else {
                    None
                }
            })
            .collect()
    };
    let sw_entity = entity_of(star_wars).ok_or("link")?;
    let sw_touch = touching(sw_entity);
    for (item, _) in &related {
        let e = entity_of(*item).ok_or("related items are linked")?;
        let shared = sw_touch.intersection(&touching(e)).count();
        assert!(
            shared > 0 || sw_touch.contains(&e),
            "{} shares no entity with Star Wars",
            kg.item_name(*item)
        );
    }

    // Reasons for a user who rated Star Wars 5 and is shown the most related film.
    let top = related[0].0;
    let why = kg.reasons(&[(star_wars, 5.0)], top, 5);
    eprintln!(
        "reasons: {:#?}",
        why.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    assert!(!why.is_empty());
    assert!(
        why[0]
            .to_string()
            .contains("with Star Wars (1977), which you rated 5")
    );
    let top_touch = touching(entity_of(top).ok_or("link")?);
    for p in &why {
        assert!(
            sw_touch.contains(&p.via.entity)
                && (p.length == 1 || top_touch.contains(&p.via.entity)),
            "{p}"
        );
    }
    // Ranked by length, then rarity (fewer items reaching the shared entity first).
    assert!(
        why.windows(2)
            .all(|w| (w[0].length, w[0].popularity) <= (w[1].length, w[1].popularity))
    );
    Ok(())
}

#[test]
fn reasons_are_the_best_distinct_paths_by_the_stated_rule() -> Result<(), Box<dyn std::error::Error>>
{
    let ds = ml100k()?;
    let kg = KnowledgeGraph::from_dataset(&ds)?;
    let history = liked_history(&ds)?;
    let n_items = ds.items.ids.len() as u32;
    let mut checked = 0;
    for u in (0..history.len()).step_by(19) {
        for c in (0..20).map(|k| (u as u32 * 31 + k * 97) % n_items) {
            // Every path, sorted by the rule, duplicates (same item, same entity) removed.
            let ce: Vec<u32> = kg.item_entities(c).collect();
            let mut reach = std::collections::HashMap::new();
            for &ec in &ce {
                for (r, y) in kg.entity_neighbours(ec) {
                    reach.entry(y).or_insert(r);
                }
            }
            let mut all = Vec::new();
            for &(h, s) in &history[u] {
                for eh in kg.item_entities(h).filter(|_| h != c) {
                    for (_, x) in kg.entity_neighbours(eh) {
                        let len = if ce.contains(&x) {
                            1
                        } else if reach.contains_key(&x) {
                            2
                        } else {
                            continue;
                        };
                        all.push((len, kg.entity_reach(x), -s, h, x));
                    }
                }
            }
            all.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            all.dedup();
            all.truncate(3);
            let got: Vec<_> = kg
                .reasons(&history[u], c, 3)
                .iter()
                .map(|p| {
                    (
                        p.length,
                        p.popularity,
                        -p.strength,
                        p.from_item,
                        p.via.entity,
                    )
                })
                .collect();
            assert_eq!(got, all, "user {u}, candidate {c}");
            checked += usize::from(!got.is_empty());
        }
    }
    assert!(checked > 500, "only {checked} queries had paths");
    Ok(())
}

#[test]
fn cold_start_items_and_users() -> Result<(), Box<dyn std::error::Error>> {
    let ds = ml100k()?;
    let kg = KnowledgeGraph::from_dataset(&ds)?;
    // Remove every rating of one linked item, as if it had just been added to the catalog.
    let linked: Vec<u32> = (0..ds.items.ids.len() as u32)
        .filter(|&i| kg.item_entities(i).next().is_some())
        .collect();
    let cold = linked[linked.len() / 2];
    let mut without = ds.clone();
    let keep: Vec<usize> = (0..ds.interactions.len())
        .filter(|&r| ds.interactions.item[r] != cold)
        .collect();
    without.interactions = ds.interactions.select(&keep);
    let inter = &without.interactions;
    assert!(
        inter.item.len() < ds.interactions.item.len(),
        "the item had ratings to remove"
    );
    assert!(!inter.item.contains(&cold));
    let cold_kg = KnowledgeGraph::from_dataset(&without)?;
    // The new item still has graph neighbours and related items, the same as before.
    assert!(!cold_kg.item_neighbours(cold).is_empty());
    let cfg = RelatednessConfig::default();
    let related = cold_kg.related_items(cold, 5, &cfg);
    assert_eq!(related.len(), 5);
    assert_eq!(related, kg.related_items(cold, 5, &cfg));
    // A user with no history who declares they like Star Wars.
    let sw = (0..ds.items.ids.len() as u32)
        .find(|&i| ds.items.names[i as usize].as_deref() == Some("Star Wars (1977)"))
        .ok_or("sw")?;
    let start = kg.cold_start_candidates(&[(sw, 1.0)], &[], 10, &[], &RelatednessConfig::default());
    assert_eq!(start.len(), 10);
    assert!(start.iter().all(|(i, _)| *i != sw));
    Ok(())
}

#[test]
fn lastfm_graph() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::var_os("POLYREC_SHARED_DIR")
        .map(|d| PathBuf::from(d).join("data"))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let dir = base.join("lastfm-kg");
    if !dir.is_dir() {
        eprintln!(
            "skipping: {} not found (../shared is not on this machine)",
            dir.display()
        );
        return Ok(());
    }
    let spec = DatasetSpec::from_toml_file(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/lastfm.toml"),
    )?;
    let ds = Dataset::load_spec(&spec, &dir)?;
    let kg = KnowledgeGraph::from_dataset(&ds)?;
    let s = kg.stats();
    assert_eq!(s.triples_per_relation.values().sum::<usize>(), 15_518);
    assert_eq!(s.triples_per_relation.len(), 60);
    assert_eq!(s.linked_items, 3_846);
    assert_eq!(s.users, 1_892);
    assert_eq!(s.social_edges, 25_434);
    let a = kg.sample_neighbours(4, 1)?;
    assert_eq!(a, kg.sample_neighbours(4, 1)?);
    Ok(())
}
