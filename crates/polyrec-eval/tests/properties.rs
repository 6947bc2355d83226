//! Property tests of the metrics.

use std::collections::HashSet;

use polyrec_eval::bootstrap::{interval, paired_test};
use polyrec_eval::pointwise::{auc, gauc, logloss, macro_f1, mae, rmse};
use polyrec_eval::topk::{TopK, full_ranking};
use proptest::prelude::*;

fn labelled() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (2usize..200).prop_flat_map(|n| {
        (
            prop::collection::vec(prop::bool::ANY.prop_map(f64::from), n),
            prop::collection::vec(-1000.0f64..1000.0, n),
        )
    })
}

/// Longer inputs with many ties (both zeros included), long enough for the radix path.
fn tied() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (2usize..1500).prop_flat_map(|n| {
        (
            prop::collection::vec(prop::bool::ANY.prop_map(f64::from), n),
            prop::collection::vec(
                prop_oneof![
                    Just(-0.0),
                    Just(0.0),
                    (-40i32..40).prop_map(|k| f64::from(k) / 8.0)
                ],
                n,
            ),
        )
    })
}

fn pairwise_auc(labels: &[f64], scores: &[f64]) -> Option<f64> {
    let mut wins = 0.0f64;
    let mut pairs = 0.0f64;
    for (i, &li) in labels.iter().enumerate() {
        for (j, &lj) in labels.iter().enumerate() {
            if li > 0.5 && lj < 0.5 {
                pairs += 1.0;
                wins += if scores[i] > scores[j] {
                    1.0
                } else if scores[i] == scores[j] {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    (pairs > 0.0).then(|| wins / pairs)
}

proptest! {
    #[test]
    fn auc_and_gauc_match_the_pairwise_definition_with_ties((labels, scores) in tied()) {
        match (auc(&labels, &scores), pairwise_auc(&labels, &scores)) {
            (Some(a), Some(e)) => prop_assert!((a - e).abs() < 1e-12, "{} vs {}", a, e),
            (a, e) => prop_assert_eq!(a, e),
        }
        // Three users by row parity and position: GAUC is the row-weighted mean of
        // per-user pairwise AUCs.
        let users: Vec<usize> = (0..labels.len()).map(|i| i % 3).collect();
        let (mut num, mut den) = (0.0, 0.0);
        for u in 0..3 {
            let rows: Vec<usize> = (0..labels.len()).filter(|i| i % 3 == u).collect();
            let l: Vec<f64> = rows.iter().map(|&i| labels[i]).collect();
            let s: Vec<f64> = rows.iter().map(|&i| scores[i]).collect();
            if let Some(a) = pairwise_auc(&l, &s) {
                num += a * rows.len() as f64;
                den += rows.len() as f64;
            }
        }
        let expected = (den > 0.0).then(|| num / den);
        match (gauc(&users, &labels, &scores), expected) {
            (Some(g), Some(e)) => prop_assert!((g - e).abs() < 1e-12, "{} vs {}", g, e),
            (g, e) => prop_assert_eq!(g, e),
        }
    }

    #[test]
    fn perfect_and_reversed_rankings((labels, _) in labelled()) {
        let pos = labels.iter().filter(|&&l| l > 0.5).count();
        prop_assume!(pos > 0 && pos < labels.len());
        let perfect: Vec<f64> = labels.clone();
        let reversed: Vec<f64> = labels.iter().map(|l| -l).collect();
        prop_assert_eq!(auc(&labels, &perfect), Some(1.0));
        prop_assert_eq!(auc(&labels, &reversed), Some(0.0));
    }

    #[test]
    fn invariant_to_monotone_transforms((labels, scores) in labelled()) {
        let t: Vec<f64> = scores.iter().map(|s| (s / 1000.0).exp() * 3.0 + 1.0).collect();
        let strictly = {
            let mut v: Vec<(f64, f64)> = scores.iter().copied().zip(t.iter().copied()).collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v.windows(2).all(|w| (w[0].0 < w[1].0) == (w[0].1 < w[1].1))
        };
        prop_assume!(strictly);
        prop_assert_eq!(auc(&labels, &scores), auc(&labels, &t));
    }

    #[test]
    fn gauc_with_one_user_is_auc((labels, scores) in labelled()) {
        let users = vec![7u32; labels.len()];
        match (gauc(&users, &labels, &scores), auc(&labels, &scores)) {
            (Some(g), Some(a)) => prop_assert!((g - a).abs() < 1e-12, "{} vs {}", g, a),
            (g, a) => prop_assert_eq!(g, a),
        }
    }

    #[test]
    fn auc_matches_the_pairwise_definition((labels, scores) in labelled()) {
        match (auc(&labels, &scores), pairwise_auc(&labels, &scores)) {
            (Some(a), Some(e)) => prop_assert!((a - e).abs() < 1e-12),
            (a, e) => prop_assert_eq!(a, e),
        }
    }

    #[test]
    fn full_ranking_matches_a_full_sort_with_ties(
        n_items in 1usize..60,
        seed_scores in prop::collection::vec(prop::collection::vec(-3i8..3, 60), 1..12),
        seed_train in prop::collection::vec(prop::collection::vec(0u32..60, 0..70), 12),
        seed_rel in prop::collection::vec(prop::collection::vec(0u32..60, 0..4), 12),
    ) {
        let n_users = seed_scores.len();
        let train: Vec<HashSet<u32>> = (0..n_users)
            .map(|u| seed_train[u].iter().map(|&i| i % n_items as u32).collect())
            .collect();
        let relevant: Vec<HashSet<u32>> = (0..n_users)
            .map(|u| seed_rel[u].iter().map(|&i| i % n_items as u32).collect())
            .collect();
        let ks = [1, 5, 20];
        let got = full_ranking(n_items, &train, &relevant, &ks, |u, buf| {
            for (i, s) in buf.iter_mut().enumerate() {
                *s = f32::from(seed_scores[u][i]);
            }
        });
        let mut expected = TopK::new(&ks);
        for u in 0..n_users {
            let mut items: Vec<u32> = (0..n_items as u32).filter(|i| !train[u].contains(i)).collect();
            items.sort_by(|&a, &b| seed_scores[u][b as usize].cmp(&seed_scores[u][a as usize]).then(a.cmp(&b)));
            items.truncate(20);
            expected.add(&items, &relevant[u]);
        }
        prop_assert_eq!(got.users(), expected.users());
        for (k, v) in expected.means() {
            prop_assert!((got.means()[&k] - v).abs() < 1e-12, "{}: {} vs {}", k, got.means()[&k], v);
        }
    }

    #[test]
    fn never_panic_on_any_input(labels in prop::collection::vec(any::<f64>(), 0..20), scores in prop::collection::vec(any::<f64>(), 0..20)) {
        let _ = (auc(&labels, &scores), logloss(&labels, &scores), rmse(&labels, &scores), mae(&labels, &scores));
        let users: Vec<u8> = labels.iter().map(|l| (*l as i64 % 3) as u8).collect();
        let _ = gauc(&users, &labels, &scores);
    }
}

#[test]
fn undefined_values_are_none() {
    assert_eq!(auc(&[], &[]), None);
    assert_eq!(auc(&[0.0, 0.0], &[0.1, 0.2]), None);
    assert_eq!(gauc(&[1, 2], &[1.0, 0.0], &[0.3, 0.4]), None);
    assert_eq!(logloss(&[], &[]), None);
    assert_eq!(rmse(&[], &[]), None);
    assert_eq!(macro_f1(&[], &[]), None);
    assert!(TopK::new(&[5]).means().is_empty());
}

#[test]
fn full_ranking_excludes_training_items_and_matches_lists() {
    // 3 users, 6 items, score = item index (higher is better) but user 1 prefers low items.
    let train = vec![HashSet::from([5u32]), HashSet::new(), HashSet::from([4, 5])];
    let relevant = vec![
        HashSet::from([4u32]),
        HashSet::from([0u32]),
        HashSet::from([0u32]),
    ];
    let got = full_ranking(6, &train, &relevant, &[1, 3], |u, buf| {
        for (i, s) in buf.iter_mut().enumerate() {
            *s = if u == 1 { -(i as f32) } else { i as f32 };
        }
    });
    let mut expected = TopK::new(&[1, 3]);
    expected.add(&[4u32, 3, 2], &relevant[0]); // 5 excluded
    expected.add(&[0u32, 1, 2], &relevant[1]);
    expected.add(&[3u32, 2, 1], &relevant[2]); // 4, 5 excluded
    assert_eq!(got.means(), expected.means());
    assert_eq!(got.means()["hit@1"], 2.0 / 3.0);
}

#[test]
fn bootstrap_brackets_the_estimate_and_detects_real_differences() {
    let n = 2000;
    let labels: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i % 3 == 0))).collect();
    let noise = |i: usize| ((i * 7919) % 1000) as f64 / 1000.0;
    let good: Vec<f64> = (0..n).map(|i| labels[i] * 0.5 + noise(i)).collect();
    let weak: Vec<f64> = (0..n).map(|i| labels[i] * 0.1 + noise(i)).collect();
    let ci = interval(&labels, &good, auc, 200, 0.95, 1).expect("defined");
    assert!(ci.lo <= ci.estimate && ci.estimate <= ci.hi && ci.hi - ci.lo < 0.1);
    let t = paired_test(&labels, &weak, &good, auc, 200, 2).expect("defined");
    assert!(t.difference > 0.1 && t.p_value < 0.01 && t.lo > 0.0);
    // The same model against itself: no difference.
    let same = paired_test(&labels, &good, &good, auc, 100, 3).expect("defined");
    assert_eq!(same.difference, 0.0);
    assert!(same.p_value > 0.5);
}

/// Bytes that look like the metric inputs: header-ish text, quotes, separators, digits,
/// invalid UTF-8 and byte-order marks, mixed with arbitrary bytes.
fn input_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"scenario,task,user,label,score\n".to_vec()),
        Just(b"{\"user\": \"u\", \"ranked\": [\"a\"], \"relevant\": [\"a\"]}\n".to_vec()),
        Just(b"\xef\xbb\xbf".to_vec()),
        Just(b"\"".to_vec()),
        Just(b",".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\xff".to_vec()),
        "[0-9.e-]{1,6}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..12),
    ];
    prop::collection::vec(piece, 0..30).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The predictions reader and the strict checks give a value or an error, never a
    /// panic; a validated binary task has labels 0/1 and scores in [0, 1].
    #[test]
    fn predictions_reader_never_panics(bytes in input_bytes(), logits in any::<bool>()) {
        use polyrec_eval::report::{Predictions, ScoreScale, TaskType};
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let f = dir.path().join("p.csv");
        std::fs::write(&f, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Ok(mut p) = Predictions::read_csv(&f) {
            let scale = if logits { ScoreScale::Logit } else { ScoreScale::Probability };
            if let Ok(types) = p.validate(&Default::default(), scale) {
                for i in 0..p.label.len() {
                    if types.get(&p.task[i]) == Some(&TaskType::Binary) {
                        prop_assert!(p.label[i] == 0.0 || p.label[i] == 1.0);
                        prop_assert!((0.0..=1.0).contains(&p.score[i]));
                    }
                }
            }
        }
    }

    /// The top-K reader gives a value or an error, never a panic.
    #[test]
    fn topk_reader_never_panics(bytes in input_bytes()) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let f = dir.path().join("t.jsonl");
        std::fs::write(&f, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Ok(t) = polyrec_eval::report::read_topk(&f, &[1, 3]) {
            for v in t.means().values() {
                prop_assert!(v.is_finite() && (0.0..=1.0).contains(v));
            }
        }
    }
}
