//! End to end on real MovieLens-100K (installed by scripts/setup.sh): train the default
//! multi-task model briefly with text, graph and history inputs, save it, load it as a
//! `Recommender`, and check what a user of `polyrec recommend` relies on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use polyrec::data::{Column, Dataset};
use polyrec::encode::TextEncoder;
use polyrec::graph::KnowledgeGraph;
use polyrec::rank::train::SilentObserver;
use polyrec::recommend::Error;
use polyrec::{LoadOptions, NewItem, Pipeline, Recommender, Request};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/ml-100k.toml")
}

/// Trains the default model (every input family) for two epochs through the facade's
/// pipeline and saves it in `dir`.
fn train(dir: &Path) -> Res<()> {
    let mut pipeline = Pipeline::new(spec_path());
    pipeline.run.train.epochs = 2;
    // An ensemble of two, so that serving an ensemble is tested end to end.
    pipeline.run.train.ensemble = 2;
    pipeline.device = polyrec::rank::DeviceRequest::Cpu;
    let trained = pipeline.run(dir, &mut SilentObserver)?;
    for file in [
        "model.safetensors",
        "metrics.json",
        "report.md",
        "curves.svg",
        "scenarios.svg",
    ] {
        assert!(dir.join(file).is_file(), "the model directory lacks {file}");
    }
    let scenarios = trained.recommender.dataset().scenarios.clone();
    for s in &scenarios {
        assert!(
            trained.metrics[s]["like"]["auc"].as_f64().is_some(),
            "no like AUC for scenario {s}"
        );
    }
    Ok(())
}

fn genre_of(ds: &Dataset, item: &str) -> String {
    let i = ds.items.ids.get(item).expect("item exists") as usize;
    ds.items
        .attributes
        .iter()
        .find(|a| a.name == "class")
        .and_then(|a| match &a.column {
            Column::Categorical { vocab, codes } if codes[i] != 0 => {
                Some(vocab.name(codes[i]).to_string())
            }
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn a_trained_model_recommends_explains_and_serves_cold_start() -> Res<()> {
    let dir = tempfile::tempdir()?;
    train(dir.path())?;
    // What was learned from users' data is owner-only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| -> std::io::Result<u32> {
            Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
        };
        assert_eq!(mode(dir.path())?, 0o700);
        assert_eq!(mode(&dir.path().join("model.safetensors"))?, 0o600);
        assert_eq!(mode(&dir.path().join("checkpoint"))?, 0o700);
    }
    let mut rec = Recommender::load(dir.path(), &LoadOptions::default())?;
    let ds = rec.dataset().clone();

    // K distinct, existing items the user has not consumed, each with reasons.
    let user = "196";
    let u = ds.users.ids.get(user).ok_or("user 196")?;
    let consumed: HashSet<String> = (0..ds.interactions.len())
        .filter(|&r| ds.interactions.user[r] == u)
        .map(|r| ds.items.ids.names()[ds.interactions.item[r] as usize].clone())
        .collect();
    let resp = rec.recommend(&Request {
        user: Some(user.into()),
        k: Some(10),
        ..Default::default()
    })?;
    assert_eq!(resp.items.len(), 10);
    let ids: HashSet<&str> = resp.items.iter().map(|i| i.item.as_str()).collect();
    assert_eq!(ids.len(), 10, "duplicates in {ids:?}");
    for it in &resp.items {
        assert!(
            ds.items.ids.get(&it.item).is_some(),
            "{} does not exist",
            it.item
        );
        assert!(
            !consumed.contains(&it.item),
            "{} was already consumed",
            it.item
        );
        assert!(
            it.scores.contains_key("like") && it.scores.contains_key("rating"),
            "{:?}",
            it.scores
        );
        assert!(
            !it.scores.contains_key("gender"),
            "a user-level task is no item score"
        );
        assert!(!it.reasons.is_empty(), "{} has no reason", it.item);
    }
    for w in resp.items.windows(2) {
        assert!(w[0].score >= w[1].score, "not sorted by score");
    }

    // Every graph reason is made of real edges: the entity it names is a neighbour of both
    // the liked item and the recommended one (or, for one hop, links them directly).
    let kg = KnowledgeGraph::from_dataset(&ds)?;
    let neighbour_labels = |item: &str| -> HashSet<String> {
        let i = ds.items.ids.get(item).expect("item") as u32;
        kg.item_neighbours(i)
            .into_iter()
            .map(|(_, e)| kg.entity_label(e).to_string())
            .collect()
    };
    let name_to_id = |name: &str| -> Option<String> {
        ds.items
            .names
            .iter()
            .position(|n| n.as_deref() == Some(name))
            .map(|i| ds.items.ids.names()[i].clone())
    };
    let mut graph_reasons = 0;
    for it in &resp.items {
        for r in it.reasons.iter().filter(|r| r.kind == "graph") {
            let path = r.path.as_ref().ok_or("graph reason without a path")?;
            let from = name_to_id(&path[0]).ok_or("reason names an unknown item")?;
            if path.len() == 4 {
                let entity = &path[2];
                assert!(neighbour_labels(&it.item).contains(entity), "{path:?}");
                assert!(neighbour_labels(&from).contains(entity), "{path:?}");
            }
            graph_reasons += 1;
        }
    }
    assert!(graph_reasons > 0, "no graph reasons at all");

    // A free-text request for horror brings horror films up.
    let horror_rate = (0..ds.items.ids.len())
        .filter(|&i| genre_of(&ds, &ds.items.ids.names()[i]).contains("Horror"))
        .count() as f64
        / ds.items.ids.len() as f64;
    let resp = rec.recommend(&Request {
        user: Some(user.into()),
        query: Some("horror".into()),
        k: Some(10),
        ..Default::default()
    })?;
    let horror = resp
        .items
        .iter()
        .filter(|i| genre_of(&ds, &i.item).contains("Horror"))
        .count() as f64
        / 10.0;
    assert!(
        horror >= 3.0 * horror_rate,
        "horror share {horror} in the top 10, catalog rate {horror_rate}"
    );
    assert!(resp.items.iter().all(|i| i.relevance.is_some()));

    // Diversity: maximal marginal relevance raises the intra-list diversity (mean pairwise
    // cosine distance of the items' texts) while every list stays valid.
    let ild = |d: f64| -> Res<f64> {
        let resp = rec.recommend(&Request {
            user: Some(user.into()),
            k: Some(10),
            diversity: Some(d),
            ..Default::default()
        })?;
        let ids: HashSet<&str> = resp.items.iter().map(|i| i.item.as_str()).collect();
        assert_eq!(ids.len(), 10, "diversity {d}: {ids:?}");
        assert!(ids.iter().all(|i| !consumed.contains(*i)), "diversity {d}");
        let texts: Vec<String> = resp
            .items
            .iter()
            .map(|i| {
                let n = ds.items.ids.get(&i.item).expect("item") as usize;
                ds.items.texts[n].clone().unwrap_or_else(|| i.name.clone())
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let emb = rec.encoder().encode(&refs)?;
        let v: Vec<&[f32]> = emb.data.chunks(emb.dim).collect();
        let cos = |a: &[f32], b: &[f32]| {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let n = |x: &[f32]| x.iter().map(|y| y * y).sum::<f32>().sqrt();
            f64::from(dot / (n(a) * n(b)).max(1e-12))
        };
        let mut total = 0.0;
        let mut pairs = 0.0;
        for a in 0..v.len() {
            for b in a + 1..v.len() {
                total += 1.0 - cos(v[a], v[b]);
                pairs += 1.0;
            }
        }
        Ok(total / pairs)
    };
    let (plain, diverse) = (ild(0.0)?, ild(1.0)?);
    assert!(
        diverse > plain,
        "ILD@10 {diverse} with diversity 1.0, {plain} without"
    );

    // A new item known only by its text reaches a user whose history matches it: a sequel
    // of the user's best-rated films, described as they are.
    let rating = ds.task_index("rating").ok_or("task rating")?;
    let mut liked: Vec<(f32, usize)> = (0..ds.interactions.len())
        .filter(|&r| ds.interactions.user[r] == u)
        .map(|r| {
            (
                ds.interactions.labels[rating][r],
                ds.interactions.item[r] as usize,
            )
        })
        .collect();
    liked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let best = liked[0].1;
    let text = ds.items.texts[best].clone().unwrap_or_default();
    rec.add_item(NewItem {
        id: "new-1".into(),
        name: Some("A new film".into()),
        text: text.replace(" (", " II ("),
    })?;
    let resp = rec.recommend(&Request {
        user: Some(user.into()),
        k: Some(10),
        ..Default::default()
    })?;
    assert!(
        resp.items.iter().any(|i| i.item == "new-1"),
        "the new item is not in {:?}",
        resp.items.iter().map(|i| &i.name).collect::<Vec<_>>()
    );

    // A new user known only by a profile text.
    let resp = rec.recommend(&Request {
        profile: Some("I love scary horror films and slasher movies".into()),
        k: Some(5),
        ..Default::default()
    })?;
    assert_eq!(resp.items.len(), 5);
    assert!(resp.user.is_none());

    // Bad requests name the field, and the recommender keeps serving.
    let field_of = |r: Request| match rec.recommend(&r) {
        Err(Error::Request { field, .. }) => field,
        other => panic!("expected a request error, got {other:?}"),
    };
    assert_eq!(
        field_of(Request {
            user: Some("no-such-user".into()),
            ..Default::default()
        }),
        "user"
    );
    assert_eq!(
        field_of(Request {
            user: Some(user.into()),
            k: Some(0),
            ..Default::default()
        }),
        "k"
    );
    assert_eq!(
        field_of(Request {
            user: Some(user.into()),
            scenario: Some("mars".into()),
            ..Default::default()
        }),
        "scenario"
    );
    let mut weights = std::collections::BTreeMap::new();
    weights.insert("gender".to_string(), 1.0);
    assert_eq!(
        field_of(Request {
            user: Some(user.into()),
            weights,
            ..Default::default()
        }),
        "weights"
    );
    assert_eq!(field_of(Request::default()), "user");
    let ok = rec.recommend(&Request {
        user: Some(user.into()),
        k: Some(3),
        ..Default::default()
    })?;
    assert_eq!(ok.items.len(), 3);
    learned_candidates(&mut rec)?;
    diversity_raises_intra_list_diversity(&rec)?;
    serve_over_http(rec)
}

/// The request's diversity weight at 1 against 0, for 30 users: every list stays valid
/// (K distinct items, none consumed) and the mean intra-list diversity@10 over the item
/// text embeddings goes up.
fn diversity_raises_intra_list_diversity(rec: &Recommender) -> Res<()> {
    use polyrec::eval::diversity::Diversity;
    let ds = rec.dataset();
    let (vectors, dim) = rec.item_text_vectors();
    let n_items = ds.items.ids.len();
    let mut users_per_item = vec![HashSet::new(); n_items];
    for r in 0..ds.interactions.len() {
        users_per_item[ds.interactions.item[r] as usize].insert(ds.interactions.user[r]);
    }
    let counts: Vec<usize> = users_per_item.iter().map(HashSet::len).collect();
    let users = ds.users.ids.len();
    let mut ild = Vec::new();
    for d in [0.0, 1.0] {
        let mut acc = Diversity::new(10, n_items, dim, vectors, &counts, users)?;
        for u in 0..30u32 {
            let id = ds.users.ids.names()[u as usize].clone();
            let answer = rec.recommend(&Request {
                user: Some(id),
                k: Some(10),
                diversity: Some(d),
                ..Default::default()
            })?;
            // Every item distinct and not consumed; an item added after training (the
            // cold-start item above) has no catalog vector and is left out of the ILD.
            assert_eq!(answer.items.len(), 10);
            let ids: HashSet<&str> = answer.items.iter().map(|r| r.item.as_str()).collect();
            assert_eq!(ids.len(), 10, "repeated item");
            let codes: Vec<usize> = answer
                .items
                .iter()
                .filter_map(|r| ds.items.ids.get(&r.item).map(|i| i as usize))
                .collect();
            let consumed: HashSet<usize> = (0..ds.interactions.len())
                .filter(|&r| ds.interactions.user[r] == u)
                .map(|r| ds.interactions.item[r] as usize)
                .collect();
            assert!(
                codes.iter().all(|c| !consumed.contains(c)),
                "a consumed item"
            );
            acc.add(&codes)?;
        }
        ild.push(acc.means()["ild@10"]);
    }
    assert!(
        ild[1] > ild[0] + 0.01,
        "ILD@10 {} at diversity 1 vs {} at 0",
        ild[1],
        ild[0]
    );
    Ok(())
}

/// A two-tower model trained for one epoch on the same data gives a known user's
/// candidates: its user vectors are exported, the nearest items skip what the caller says,
/// and with a small candidate limit the recommender's list draws on them.
fn learned_candidates(rec: &mut Recommender) -> Res<()> {
    use polyrec::rank::retrieval::RetrievalRunConfig;
    use polyrec::retrieval::{Candidates, RetrievalPipeline};
    let dir = tempfile::tempdir()?;
    let mut run = RetrievalRunConfig::default();
    run.train.epochs = 1;
    RetrievalPipeline {
        spec: spec_path(),
        run,
        data_dir: None,
        text_model: None,
        device: polyrec::rank::DeviceRequest::Cpu,
        cache_dir: None,
    }
    .run(dir.path(), &mut SilentObserver)?;
    for f in [
        "item_index.safetensors",
        "user_index.safetensors",
        "user_index.json",
    ] {
        assert!(
            dir.path().join(f).is_file(),
            "the two-tower directory lacks {f}"
        );
    }
    let ds = rec.dataset().clone();
    let candidates = Candidates::load(dir.path(), &ds)?;
    let u = ds.users.ids.get("196").ok_or("user 196")?;
    assert!(candidates.knows(u));
    let consumed: HashSet<u32> = (0..ds.interactions.len())
        .filter(|&r| ds.interactions.user[r] == u)
        .map(|r| ds.interactions.item[r])
        .collect();
    let top = candidates.for_user(u, 50, |i| consumed.contains(&i));
    assert_eq!(top.len(), 50);
    assert!(top.windows(2).all(|w| w[0].1 >= w[1].1), "not best first");
    assert!(top.iter().all(|(i, _)| !consumed.contains(i)));
    assert_eq!(top.iter().map(|t| t.0).collect::<HashSet<_>>().len(), 50);

    rec.candidate_limit = 20;
    rec.set_retrieval(dir.path())?;
    let answer = rec.recommend(&Request {
        user: Some("196".into()),
        k: Some(10),
        ..Default::default()
    })?;
    assert_eq!(answer.items.len(), 10);
    let learned: HashSet<String> = candidates
        .for_user(u, 20, |i| consumed.contains(&i))
        .into_iter()
        .map(|(i, _)| ds.items.ids.names()[i as usize].clone())
        .collect();
    assert!(
        answer.items.iter().any(|r| learned.contains(&r.item)),
        "no recommended item came from the learned candidates"
    );
    assert!(answer.items.iter().all(|r| {
        let i = ds.items.ids.get(&r.item).unwrap_or(u32::MAX);
        !consumed.contains(&i)
    }));
    rec.candidate_limit = 5000;
    // Retrieval weight 1 and no text: the list is the two-tower model's own top 10.
    let answer = rec.recommend(&Request {
        user: Some("196".into()),
        k: Some(10),
        retrieval_weight: Some(1.0),
        text_weight: Some(0.0),
        ..Default::default()
    })?;
    let own: Vec<String> = candidates
        .for_user(u, 10, |i| consumed.contains(&i))
        .into_iter()
        .map(|(i, _)| ds.items.ids.names()[i as usize].clone())
        .collect();
    let got: Vec<String> = answer.items.into_iter().map(|r| r.item).collect();
    assert_eq!(got, own);

    // The same candidates through an HNSW graph: what the graph finds is the exact top
    // (nearly: it is approximate), never a consumed item, at most `ef_search` of them.
    let mut approx = Candidates::load(dir.path(), &ds)?;
    approx.use_hnsw(polyrec::rank::retrieval::hnsw::HnswOptions {
        ef_search: 100,
        ..Default::default()
    })?;
    let exact: HashSet<u32> = top.iter().take(20).map(|t| t.0).collect();
    let found = approx.for_user(u, 20, |i| consumed.contains(&i));
    assert_eq!(found.len(), 20);
    assert!(found.iter().all(|(i, _)| !consumed.contains(i)));
    let overlap = found.iter().filter(|(i, _)| exact.contains(i)).count();
    assert!(overlap >= 18, "HNSW found {overlap} of the exact top 20");
    assert!(approx.for_user(u, 500, |_| false).len() <= 100);
    Ok(())
}

/// The HTTP service on loopback: answers, 4xx errors naming the field, keeps serving,
/// counts, and drains on shutdown.
fn serve_over_http(rec: Recommender) -> Res<()> {
    use polyrec::serve::{Client, Service, serve};
    // A known user's top K without text, once computed, is answered from the caches (inline
    // in the service); with a query it is not. Either way the answer is the library's.
    let plain = Request {
        user: Some("196".into()),
        k: Some(5),
        ..Default::default()
    };
    let expected: Vec<String> = rec
        .recommend(&plain)?
        .items
        .into_iter()
        .map(|i| i.item)
        .collect();
    assert!(rec.answers_from_cache(&plain));
    assert!(!rec.answers_from_cache(&Request {
        query: Some("a light comedy".into()),
        ..plain.clone()
    }));
    assert!(!rec.answers_from_cache(&Request {
        user: Some("nobody".into()),
        ..plain.clone()
    }));
    let service = std::sync::Arc::new(Service::new(vec![rec])?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?.to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(serve(service, listener, async {
        let _ = stopped.await;
    }));
    let mut c = Client::connect(&addr)?;
    let json = |b: &[u8]| -> Res<serde_json::Value> { Ok(serde_json::from_slice(b)?) };

    let (status, body) = c.send(
        "POST",
        "/recommend",
        br#"{"user": "196", "k": 5, "query": "a light comedy"}"#,
    )?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v = json(&body)?;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(5));
    assert!(v["items"][0]["scores"]["like"].is_number());
    let (status, body) = c.send("POST", "/recommend", br#"{"user": "196", "k": 5}"#)?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let got: Vec<String> = json(&body)?["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .filter_map(|i| i["item"].as_str().map(String::from))
        .collect();
    assert_eq!(got, expected);

    for (body, want_status, want_field) in [
        (&br#"{"user": 196}"#[..], 400, "user"),
        (&br#"{"usr": "196"}"#[..], 400, ""),
        (&br#"{"user": "196", "k": 100000}"#[..], 422, "k"),
        (&br#"{"user": "nobody"}"#[..], 422, "user"),
        (
            &br#"{"user": "196", "scenario": "mars"}"#[..],
            422,
            "scenario",
        ),
        (&b"not json"[..], 400, ""),
    ] {
        let (status, resp) = c.send("POST", "/recommend", body)?;
        assert_eq!(status, want_status, "{}", String::from_utf8_lossy(body));
        let v = json(&resp)?;
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        if !want_field.is_empty() {
            assert_eq!(v["field"], want_field, "{v}");
        }
    }
    let big = vec![b' '; polyrec::serve::MAX_BODY + 10];
    let (status, _) = c.send("POST", "/recommend", &big)?;
    assert_eq!(status, 413);

    // Still serving; a new item over HTTP; a duplicate is refused.
    let mut c = Client::connect(&addr)?;
    let item = br#"{"id": "http-1", "name": "Night Train", "text": "Night Train (1998). Genres: Thriller"}"#;
    let (status, body) = c.send("POST", "/items", item)?;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (status, body) = c.send("POST", "/items", item)?;
    assert_eq!(status, 422);
    assert_eq!(json(&body)?["field"], "id");
    let (status, body) = c.send("GET", "/health", b"")?;
    assert_eq!(status, 200);
    assert_eq!(json(&body)?["status"], "ok");
    let (status, body) = c.send("GET", "/metrics", b"")?;
    assert_eq!(status, 200);
    let text = String::from_utf8(body)?;
    assert!(
        text.contains(r#"polyrec_requests_total{route="recommend",status="200"} 2"#),
        "{text}"
    );
    // Six bad bodies and the oversized one.
    assert!(
        text.contains(r#"polyrec_errors_total{route="recommend"} 7"#),
        "{text}"
    );
    assert!(text.contains("polyrec_request_seconds_bucket"), "{text}");

    let _ = stop.send(());
    rt.block_on(server)??;
    Ok(())
}
