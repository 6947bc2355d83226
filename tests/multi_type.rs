//! One request, several result types, on the Last.fm data shipped in `examples/data`
//! (plays, friendships, the artist graph): train the default model briefly, load it with a
//! friend model, and ask for items and friends at once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use polyrec::rank::train::SilentObserver;
use polyrec::recommend::Error;
use polyrec::social::SocialOptions;
use polyrec::{LoadOptions, Pipeline, Recommender, Request, Response, ResultType};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/lastfm.toml")
}

fn field_of(e: &Error) -> Option<&'static str> {
    match e {
        Error::Request { field, .. } => Some(field),
        _ => None,
    }
}

#[test]
fn one_request_gives_items_and_friends_with_reasons() -> Res<()> {
    let dir = tempfile::tempdir()?;
    let mut pipeline = Pipeline::new(spec_path());
    pipeline.run.train.epochs = 1;
    pipeline.run.train.ensemble = 1;
    pipeline.device = polyrec::rank::DeviceRequest::Cpu;
    pipeline.run(dir.path(), &mut SilentObserver)?;

    // Without a friend model, asking for friends is a request error naming `types`.
    let plain = Recommender::load(dir.path(), &LoadOptions::default())?;
    let ask = |types: Vec<ResultType>| Request {
        user: Some("2".into()),
        k: Some(5),
        types,
        ..Default::default()
    };
    let e = plain
        .recommend(&ask(vec![ResultType::Friends]))
        .expect_err("friends without a friend model");
    assert_eq!(field_of(&e), Some("types"), "{e}");
    // The default is items alone.
    let items_only = plain.recommend(&ask(Vec::new()))?;
    assert_eq!(items_only.items.len(), 5);
    assert!(items_only.friends.is_none());
    // The web page offers only the types the service can answer.
    let types = |r: &Recommender| polyrec::web::model::summary(r, None)["types"].clone();
    assert_eq!(types(&plain), serde_json::json!(["items"]));

    let options = LoadOptions {
        social: Some(SocialOptions {
            count_task: Some("plays".into()),
            verb: "play".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let rec = Recommender::load(dir.path(), &options)?;
    assert_eq!(types(&rec), serde_json::json!(["items", "friends"]));
    let ds = rec.dataset().clone();
    let me = ds.users.ids.get("2").ok_or("user 2")?;
    let friends_now: HashSet<u32> = ds
        .social
        .iter()
        .filter_map(|&(a, b)| {
            if a == me {
                Some(b)
            } else if b == me {
                Some(a)
            } else {
                None
            }
        })
        .collect();
    assert!(!friends_now.is_empty(), "user 2 has friends in the data");

    let resp = rec.recommend(&ask(vec![ResultType::Friends, ResultType::Items]))?;
    // Items: as many as asked, distinct, not already played, the same list as items alone.
    assert_eq!(resp.items.len(), 5);
    let ids: Vec<&str> = resp.items.iter().map(|r| r.item.as_str()).collect();
    let played: HashSet<&str> = ds
        .interactions
        .user
        .iter()
        .zip(&ds.interactions.item)
        .filter(|(u, _)| **u == me)
        .map(|(_, i)| ds.items.ids.name(*i))
        .collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 5);
    assert!(ids.iter().all(|i| !played.contains(i)), "{ids:?}");
    // Plays are a count, not a rating: a reason that quotes a played artist says "with N
    // plays", never "which you rated N".
    let texts: Vec<&str> = resp
        .items
        .iter()
        .flat_map(|r| r.reasons.iter().map(|x| x.text.as_str()))
        .collect();
    eprintln!("item reasons: {texts:?}");
    assert!(texts.iter().all(|t| !t.contains("you rated")), "{texts:?}");
    let quoting: Vec<&&str> = texts
        .iter()
        .filter(|t| {
            t.starts_with("close to ") || t.starts_with("shares ") || t.starts_with("related to ")
        })
        .collect();
    assert!(quoting.iter().all(|t| t.contains(" plays")), "{quoting:?}");
    assert_eq!(
        ids,
        items_only
            .items
            .iter()
            .map(|r| r.item.as_str())
            .collect::<Vec<_>>()
    );
    // Friends: distinct real users, never the user nor a friend, each with reasons, best
    // first; a reason citing shared friends names real common friends.
    let friends = resp.friends.as_ref().ok_or("no friends in the response")?;
    assert_eq!(friends.len(), 5);
    let mut seen = HashSet::new();
    for f in friends {
        let u = ds.users.ids.get(&f.user).ok_or("unknown suggested user")?;
        assert!(u != me && !friends_now.contains(&u), "user {}", f.user);
        assert!(seen.insert(u), "user {} twice", f.user);
        assert!(!f.reasons.is_empty(), "user {} without reasons", f.user);
        for r in f.reasons.iter().filter(|r| r.kind == "friends") {
            for common in &r.users {
                let c = ds.users.ids.get(common).ok_or("unknown common friend")?;
                assert!(friends_now.contains(&c), "{common} is not user 2's friend");
            }
        }
    }
    assert!(friends.windows(2).all(|w| w[0].score >= w[1].score));

    // The JSON body of `POST /recommend` carries both, and reads back.
    let json = serde_json::to_string(&resp)?;
    assert!(json.contains("\"friends\""));
    let back: Response = serde_json::from_str(&json)?;
    assert_eq!(back.friends, resp.friends);
    let back_ids: Vec<&str> = back.items.iter().map(|r| r.item.as_str()).collect();
    assert_eq!(back_ids, ids);
    let text = resp.to_string();
    assert!(text.contains("people to befriend"), "{text}");

    // Friends alone: no items; a profile (a new user) cannot get friends; an unknown type
    // in JSON is refused when the request is read.
    let only = rec.recommend(&ask(vec![ResultType::Friends]))?;
    assert!(only.items.is_empty());
    assert_eq!(only.friends.as_ref().map(Vec::len), Some(5));
    let e = rec
        .recommend(&Request {
            profile: Some("synth pop of the eighties".into()),
            types: vec![ResultType::Items, ResultType::Friends],
            ..Default::default()
        })
        .expect_err("friends for a profile");
    assert_eq!(field_of(&e), Some("types"), "{e}");
    let parsed: Result<Request, _> =
        serde_json::from_str(r#"{"user": "2", "types": ["items", "groups"]}"#);
    assert!(parsed.is_err());
    let parsed: Request = serde_json::from_str(r#"{"user": "2", "types": ["friends"]}"#)?;
    assert_eq!(parsed.types, vec![ResultType::Friends]);
    Ok(())
}

/// MovieLens latest-small (ratings and a tag log, shipped in `examples/data`): items and
/// topics in one request; a dataset without friendships cannot load a friend model.
#[test]
fn one_request_gives_items_and_topics() -> Res<()> {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/ml-latest-small.toml");
    let dir = tempfile::tempdir()?;
    let mut pipeline = Pipeline::new(spec);
    pipeline.run.train.epochs = 1;
    pipeline.run.train.ensemble = 1;
    pipeline.device = polyrec::rank::DeviceRequest::Cpu;
    pipeline.run(dir.path(), &mut SilentObserver)?;

    let e = Recommender::load(
        dir.path(),
        &LoadOptions {
            social: Some(SocialOptions::default()),
            ..Default::default()
        },
    )
    .expect_err("a friend model without friendships");
    assert!(e.to_string().contains("[social]"), "{e}");

    let rec = Recommender::load(
        dir.path(),
        &LoadOptions {
            topics: Some(polyrec::topics::TopicOptions::default()),
            ..Default::default()
        },
    )?;
    let resp = rec.recommend(&Request {
        user: Some("474".into()),
        k: Some(10),
        types: vec![ResultType::Items, ResultType::Topics],
        ..Default::default()
    })?;
    assert_eq!(resp.items.len(), 10);
    assert!(resp.friends.is_none());
    let topics = resp.topics.as_ref().ok_or("no topics in the response")?;
    assert_eq!(topics.len(), 10);
    let ds = rec.dataset();
    let log = ds.tags.as_ref().ok_or("tag log")?;
    let names: HashSet<&str> = topics.iter().map(|t| t.topic.as_str()).collect();
    assert_eq!(names.len(), 10, "distinct topics");
    for t in topics {
        assert!(
            log.topic_of(&t.topic).is_some(),
            "{} is not a topic",
            t.topic
        );
        assert!(!t.reasons.is_empty(), "{} without reasons", t.topic);
    }
    assert!(topics.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(resp.to_string().contains("topics:"));
    // Friends were not loaded: asking for them names `types`.
    let e = rec
        .recommend(&Request {
            user: Some("474".into()),
            types: vec![ResultType::Friends],
            ..Default::default()
        })
        .expect_err("friends without a friend model");
    assert_eq!(field_of(&e), Some("types"), "{e}");
    Ok(())
}
