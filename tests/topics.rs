//! The `topics` example on the shipped MovieLens latest-small tag log: recommended topics
//! are distinct known topics, their reasons quote the user's real tags, and on the
//! per-user temporal hold-out the blend beats most-popular topics.

use std::collections::HashSet;

#[allow(dead_code)]
#[path = "../examples/topics.rs"]
mod topics;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The quoted names in a reason (`'...'`), the recommended topic's own name left out.
fn quoted<'a>(reason: &'a str, topic: &str) -> Vec<&'a str> {
    reason
        .split('\'')
        .skip(1)
        .step_by(2)
        .filter(|q| *q != topic)
        .collect()
}

#[test]
fn topics_with_reasons_beat_most_popular_on_later_tags() -> Res<()> {
    let out = topics::run("474", true, 5)?;
    let ds = out.topics.dataset();
    let log = ds.tags.as_ref().ok_or("tag log")?;
    let user = ds.users.ids.get("474").ok_or("user")?;
    let own: HashSet<&str> = (0..log.len())
        .filter(|&i| log.user[i] == user)
        .map(|i| log.display[log.topic[i] as usize].as_str())
        .collect();
    for (list, only_new) in [(&out.recommended, false), (&out.new, true)] {
        assert_eq!(list.len(), 10);
        let names: HashSet<&str> = list.iter().map(|t| t.topic.as_str()).collect();
        assert_eq!(names.len(), 10, "distinct topics");
        for t in list {
            assert!(
                log.topic_of(&t.topic).is_some(),
                "{} is a topic of the log",
                t.topic
            );
            if only_new {
                assert!(
                    !own.contains(t.topic.as_str()),
                    "{} is the user's own",
                    t.topic
                );
            }
            assert!(!t.reasons.is_empty());
            for r in &t.reasons {
                if r.starts_with("'") {
                    continue; // "'x' is a tag of <film>, which you tagged"
                }
                for q in quoted(r, &t.topic) {
                    assert!(own.contains(q), "{r}: '{q}' is not a tag of the user");
                }
            }
        }
    }
    if out.topics.model().weights.all[5] > 0.0 {
        let text = out.recommended.iter().flat_map(|t| &t.reasons);
        assert!(
            text.clone().any(|r| r.contains("close in meaning")),
            "the text signal has weight, so it speaks in some reason"
        );
    }
    let report = out.evaluation.with_text.as_ref().ok_or("text is on")?;
    let get = |n: &str| {
        report
            .rows
            .iter()
            .find(|r| r.name == n)
            .map(|r| r.recall_all)
    };
    let (blend, popular) = (
        get("blend").ok_or("blend")?,
        get("popularity").ok_or("popularity")?,
    );
    assert!(blend > popular, "blend {blend} vs most-popular {popular}");
    // Unknown users and bad K are request errors.
    assert!(out.topics.recommend_topics("no such user", 5).is_err());
    assert!(out.topics.recommend_topics("474", 0).is_err());
    Ok(())
}
