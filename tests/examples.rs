//! The workspace examples, run on real data (installed by `scripts/setup.sh`) with short
//! training: `quickstart` trains ML-100K and its model directory feeds `text_query` and
//! `cold_start`; `custom_dataset` trains Women's E-Commerce Clothing Reviews from its spec.

use std::collections::HashSet;

#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

#[allow(dead_code)]
#[path = "../examples/text_query.rs"]
mod text_query;

#[allow(dead_code)]
#[path = "../examples/cold_start.rs"]
mod cold_start;

#[allow(dead_code)]
#[path = "../examples/custom_dataset.rs"]
mod custom_dataset;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn valid(resp: &polyrec::Response, k: usize) {
    assert_eq!(resp.items.len(), k, "{resp}");
    let ids: HashSet<&str> = resp.items.iter().map(|i| i.item.as_str()).collect();
    assert_eq!(ids.len(), k, "duplicates: {resp}");
    assert!(
        resp.items.iter().all(|i| !i.reasons.is_empty()),
        "an item without reasons: {resp}"
    );
}

#[test]
fn quickstart_text_query_and_cold_start_run_on_movielens() -> Res<()> {
    let dir = tempfile::tempdir()?;
    let trained = quickstart::run(Some(1), dir.path())?;
    let scenarios = &trained.recommender.dataset().scenarios;
    assert_eq!(scenarios.len(), 3, "{scenarios:?}");
    for s in scenarios.iter().map(String::as_str).chain(["overall"]) {
        for (task, metric) in [("like", "auc"), ("rating", "rmse")] {
            let v = trained.metrics[s][task][metric]
                .as_f64()
                .ok_or_else(|| format!("no {task} {metric} in {s}"))?;
            assert!(v.is_finite() && v > 0.0, "{s} {task} {metric} = {v}");
        }
    }
    let auc = trained.metrics["overall"]["like"]["auc"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(auc > 0.7, "one epoch of the default model: like AUC {auc}");

    // The directory the pipeline wrote loads on its own.
    let rec = text_query::load(dir.path())?;
    let answers = text_query::run(&rec)?;
    assert_eq!(answers.len(), text_query::QUERIES.len() + 1);
    for a in &answers {
        valid(a, 5);
        assert!(a.items.iter().all(|i| i.relevance.is_some()));
    }
    assert!(answers.last().is_some_and(|a| a.user.is_none()));

    let mut rec = trained.recommender;
    let [fan, profile, liked] = cold_start::run(&mut rec)?;
    for a in [&fan, &profile, &liked] {
        valid(a, 10);
    }
    assert!(
        fan.items.iter().any(|i| i.item == cold_start::NEW_ITEM),
        "the new haunted-house film is not in the top 10 when asked for one: {fan}"
    );
    for id in ["50", "172", "181"] {
        assert!(
            liked.items.iter().all(|i| i.item != id),
            "a liked film came back: {liked}"
        );
    }
    Ok(())
}

#[test]
fn custom_dataset_trains_womens_reviews_from_its_spec() -> Res<()> {
    let dir = tempfile::tempdir()?;
    let trained = custom_dataset::run(Some(1), dir.path())?;
    let ds = trained.recommender.dataset();
    assert_eq!(ds.scenarios.len(), 3, "{:?}", ds.scenarios);
    for s in &ds.scenarios {
        for (task, metric) in [("recommended", "auc"), ("rating", "rmse")] {
            let v = trained.metrics[s][task][metric].as_f64();
            assert!(
                v.is_some_and(f64::is_finite),
                "{s} {task} {metric}: {:?}",
                trained.metrics[s]
            );
        }
    }
    Ok(())
}
