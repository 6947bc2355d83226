//! Every model: output shapes per task, a gradient for every parameter, and a checkpoint
//! round trip that gives identical outputs. The feature space has every input family on
//! (ids, categorical and numeric attributes, scenario, item and user text, the graph layer,
//! history) and every head kind, including a user-level task.

use polyrec_rank::features::{CategoricalField, NumericField, Side};
use polyrec_rank::heads::{HeadKind, TaskHead};
use polyrec_rank::{FeatureConfig, FeatureSpace, Inputs, ModelConfig, Ranker, SideTables};
use tch::{Device, Kind, Tensor};

const B: i64 = 64;

fn space() -> FeatureSpace {
    let head = |name: &str, kind| TaskHead {
        name: name.into(),
        kind,
        user_level: false,
    };
    FeatureSpace {
        config: FeatureConfig {
            embedding_dim: 8,
            kg_neighbours: 3,
            history_len: 5,
            history_feedback: Some("rating".into()),
            embedding_l2: 1e-4,
            ..Default::default()
        },
        users: (0..20).map(|u| format!("u{u}")).collect(),
        items: (0..30).map(|i| format!("i{i}")).collect(),
        scenarios: vec!["a".into(), "b".into(), "c".into()],
        categorical: vec![
            CategoricalField {
                name: "gender".into(),
                side: Side::User,
                source: "gender".into(),
                vocab: vec!["<oov>".into(), "F".into(), "M".into()],
                transform: None,
            },
            CategoricalField {
                name: "genre".into(),
                side: Side::Item,
                source: "genre".into(),
                vocab: vec!["<oov>".into(), "x".into(), "y".into(), "z".into()],
                transform: None,
            },
        ],
        numeric: vec![NumericField {
            name: "age".into(),
            side: Side::User,
            mean: 30.0,
            std: 10.0,
        }],
        tasks: vec![
            head("click", HeadKind::Binary),
            head("conversion", HeadKind::Binary),
            head(
                "rating",
                HeadKind::Regression {
                    mean: 3.5,
                    std: 1.1,
                    range: Some([1.0, 5.0]),
                },
            ),
            head("class", HeadKind::Multiclass { classes: 3 }),
            TaskHead {
                name: "gender".into(),
                kind: HeadKind::Binary,
                user_level: true,
            },
        ],
        task_sources: vec![None, None, None, None, Some("gender".into())],
        item_text_dim: 12,
        user_text_dim: 12,
        user_text_fields: vec!["gender".into()],
        kg: Some((10, 4)),
        item_text_encoder: None,
    }
}

fn side() -> SideTables {
    let ri = |hi: i64, shape: &[i64]| Tensor::randint(hi, shape, (Kind::Int64, Device::Cpu));
    SideTables {
        item_text: Some(Tensor::randn([31, 12], (Kind::Float, Device::Cpu))),
        user_text: Some(Tensor::randn([21, 12], (Kind::Float, Device::Cpu))),
        kg: Some([
            ri(5, &[31, 3]),
            ri(11, &[31, 3]),
            ri(5, &[31, 9]),
            ri(11, &[31, 9]),
        ]),
        history: Some(ri(31, &[21, 5])),
        // Padding, "no label" and five rating values.
        history_feedback: Some(ri(7, &[21, 5])),
        seen: None,
        item_text_tuning: None,
    }
}

fn inputs() -> Inputs {
    let ri = |hi: i64, shape: &[i64]| Tensor::randint(hi, shape, (Kind::Int64, Device::Cpu));
    Inputs {
        user: ri(21, &[B]),
        item: ri(31, &[B]),
        scenario: ri(3, &[B]),
        categorical: Tensor::cat(&[ri(3, &[B, 1]), ri(4, &[B, 1]) + 3], 1),
        numeric: Tensor::randn([B, 1], (Kind::Float, Device::Cpu)),
        item_text: None,
        user_text: None,
    }
}

fn labels() -> Tensor {
    let bin = || Tensor::randint(2, [B, 1], (Kind::Float, Device::Cpu));
    let rating = Tensor::randint(5, [B, 1], (Kind::Float, Device::Cpu)) + 1.0;
    let class = Tensor::randint(3, [B, 1], (Kind::Float, Device::Cpu));
    Tensor::cat(&[bin(), bin(), rating, class, bin()], 1)
}

#[test]
fn every_model_has_the_right_shapes_gradients_and_checkpoints()
-> Result<(), Box<dyn std::error::Error>> {
    tch::manual_seed(3);
    let x = inputs();
    let y = labels();
    let mask = Tensor::ones([B, 5], (Kind::Float, Device::Cpu));
    let dir = tempfile::tempdir()?;
    for (name, _) in polyrec_rank::MODEL_HELP {
        let model = Ranker::new(
            space(),
            ModelConfig::from_name(name)?,
            side(),
            Device::Cpu,
            true,
        )?;
        let out = model.forward_t(&x, true);
        assert_eq!(out.tasks.len(), 5, "{name}");
        for (t, o) in out.tasks.iter().enumerate() {
            let want: Vec<i64> = if t == 3 { vec![B, 3] } else { vec![B] };
            assert_eq!(o.size(), want, "{name} task {t}");
        }
        // No two tasks share an output.
        assert!(
            (&out.tasks[0] - &out.tasks[1])
                .abs()
                .sum(Kind::Float)
                .double_value(&[])
                > 0.0,
            "{name}"
        );
        let loss = model.loss(&out, &y, &mask, &[1.0; 5]);
        loss.backward();
        for (pname, v) in model.var_store().variables() {
            if !v.requires_grad() {
                continue;
            }
            let g = v.grad();
            assert!(g.defined(), "{name}: {pname} got no gradient");
            assert!(
                g.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                "{name}: {pname} has a zero gradient"
            );
        }
        // Checkpoint round trip: a fresh model with empty side tables gives the same outputs.
        let path = dir.path().join(format!("{name}.safetensors"));
        model.save_weights(&path)?;
        let mut back = Ranker::new(
            space(),
            ModelConfig::from_name(name)?,
            SideTables::default(),
            Device::Cpu,
            true,
        )?;
        back.load_weights(&path)?;
        let (a, b) = (model.predict(&x), back.predict(&x));
        for (p, q) in a.iter().zip(&b) {
            assert!(p.equal(q), "{name}: outputs differ after the round trip");
        }
        // Parameter names do not depend on task names typed by users.
        assert!(
            model
                .var_store()
                .variables()
                .keys()
                .all(|k| !k.contains("click")),
            "{name}"
        );
    }
    Ok(())
}

#[test]
fn user_level_tasks_never_read_their_own_label_field() -> Result<(), Box<dyn std::error::Error>> {
    tch::manual_seed(5);
    let model = Ranker::new(
        space(),
        ModelConfig::from_name("shared_bottom")?,
        side(),
        Device::Cpu,
        false,
    )?;
    let x = inputs();
    let mut flipped = inputs();
    flipped.user = x.user.shallow_clone();
    flipped.item = x.item.shallow_clone();
    flipped.scenario = x.scenario.shallow_clone();
    flipped.numeric = x.numeric.shallow_clone();
    // Same rows, the gender code changed: the gender prediction must not move, the others may.
    let genre = x.categorical.narrow(1, 1, 1);
    let gender = x.categorical.narrow(1, 0, 1).remainder(2) + 1;
    flipped.categorical = Tensor::cat(&[gender, genre], 1);
    let (a, b) = (model.predict(&x), model.predict(&flipped));
    assert!(a[4].equal(&b[4]), "the gender task read the gender field");
    assert!(
        !a[0].equal(&b[0]),
        "item-level tasks should read the gender field"
    );
    Ok(())
}

#[test]
fn esmm_and_aitm_need_click_then_conversion() {
    let mut s = space();
    s.tasks.swap(0, 2);
    for name in ["esmm", "aitm"] {
        let err = ModelConfig::from_name(name)
            .and_then(|m| Ranker::new(s.clone(), m, SideTables::default(), Device::Cpu, false))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("two binary tasks first"), "{name}: {err}");
    }
}

#[test]
fn fine_tuned_language_model_layers_train_refresh_and_reload()
-> Result<(), Box<dyn std::error::Error>> {
    use polyrec_encode::{BertConfig, BertTop};
    use polyrec_rank::{TextEncoderSpec, TextTuning};
    tch::manual_seed(7);
    let bert: BertConfig = serde_json::from_str(
        r#"{"vocab_size": 10, "hidden_size": 12, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 24, "max_position_embeddings": 16}"#,
    )?;
    let mut sp = space();
    sp.item_text_encoder = Some(TextEncoderSpec {
        layers: 1,
        bert: bert.clone(),
        pooling: "mean".into(),
        normalize: true,
    });
    // "Pre-trained" weights: random values in a top of the same shape.
    let src = tch::nn::VarStore::new(Device::Cpu);
    let _top = BertTop::new(&src.root(), &bert, 1);
    let weights: Vec<(String, Tensor)> = src
        .variables()
        .into_iter()
        .map(|(n, t)| (n, Tensor::randn_like(&t) * 0.3))
        .collect();
    let mask = Tensor::ones([31, 6], (Kind::Int64, Device::Cpu));
    let _ = mask.narrow(1, 4, 2).narrow(0, 10, 10).fill_(0);
    let _ = mask.narrow(0, 0, 1).fill_(0);
    let mut side = side();
    side.item_text_tuning = Some(TextTuning {
        states: Tensor::randn([31, 6, 12], (Kind::Float, Device::Cpu)),
        mask,
        weights: weights.iter().map(|(n, t)| (n.clone(), t.copy())).collect(),
    });
    let model = Ranker::new(
        sp.clone(),
        ModelConfig::from_name("mmoe")?,
        side,
        Device::Cpu,
        false,
    )?;
    let vars = model.var_store().variables();
    let prefix = polyrec_rank::TEXT_ENCODER_PREFIX;
    for (n, w) in &weights {
        let v = &vars[&format!("{prefix}{n}")];
        assert!(v.equal(w), "{n} was not copied in");
        assert!(v.requires_grad(), "{n} is not trainable");
    }
    // Gradients reach the language model's layers through the batch's re-encoded items.
    let x = inputs();
    let out = model.forward_t(&x, true);
    let mask = Tensor::ones([B, 5], (Kind::Float, Device::Cpu));
    model.loss(&out, &labels(), &mask, &[1.0; 5]).backward();
    for (n, v) in &vars {
        if n.starts_with(prefix) {
            let g = v.grad();
            assert!(
                g.defined() && g.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                "{n} got no gradient"
            );
        }
    }
    // A weight change (as an optimiser step makes) reaches the item text table before the
    // next prediction, and the saved model predicts the same without the lower layers.
    let table = vars["input.item_text.table"].shallow_clone();
    let before = table.copy();
    tch::no_grad(|| {
        for (n, v) in &vars {
            if n.starts_with(prefix) {
                let mut v = v.shallow_clone();
                let _ = v.g_add_(&(Tensor::randn_like(&v) * 0.05));
            }
        }
    });
    let _ = model.forward_t(&x, true);
    let p = model.predict(&x);
    assert!(
        !table.equal(&before),
        "the item text table was not refreshed"
    );
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tuned.safetensors");
    model.save_weights(&path)?;
    let mut back = Ranker::new(
        sp,
        ModelConfig::from_name("mmoe")?,
        SideTables::default(),
        Device::Cpu,
        false,
    )?;
    back.load_weights(&path)?;
    for (a, b) in p.iter().zip(back.predict(&x)) {
        assert!(
            a.equal(&b),
            "outputs differ after reloading a fine-tuned model"
        );
    }
    Ok(())
}

#[test]
fn an_ensemble_trains_each_member_on_its_own_and_predicts_their_mean()
-> Result<(), Box<dyn std::error::Error>> {
    tch::manual_seed(11);
    let x = inputs();
    let y = labels();
    let mask = Tensor::ones([B, 5], (Kind::Float, Device::Cpu));
    let mmoe = ModelConfig::from_name("mmoe")?;
    let build = |side| Ranker::ensemble(space(), mmoe.clone(), side, Device::Cpu, false, 3);
    let model = build(side())?;
    assert_eq!(model.members(), 3);
    let out = model.forward_t(&x, false);
    assert_eq!(out.members.len(), 3);
    for (t, o) in out.tasks.iter().enumerate() {
        // The output is the members' mean, and the members differ (own initialisation).
        let mean = Tensor::stack(
            &out.members
                .iter()
                .map(|m| m[t].shallow_clone())
                .collect::<Vec<_>>(),
            0,
        )
        .mean_dim(0, false, Kind::Float);
        assert!(o.allclose(&mean, 1e-6, 1e-6, false), "task {t}");
        assert!(!out.members[0][t].allclose(&out.members[1][t], 1e-3, 1e-3, false));
        let want: Vec<i64> = if t == 3 { vec![B, 3] } else { vec![B] };
        assert_eq!(o.size(), want, "task {t}");
    }
    // The first member keeps the names of a single model; the fixed tables (texts, graph
    // neighbours, histories) are stored once, not per member.
    let names: Vec<String> = model.var_store().variables().into_keys().collect();
    let single = Ranker::new(
        space(),
        ModelConfig::from_name("mmoe")?,
        side(),
        Device::Cpu,
        false,
    )?;
    for name in single.var_store().variables().keys() {
        assert!(names.contains(name), "{name} missing from the ensemble");
    }
    for table in ["item_text.table", "kg.hop1_entities", "history.items"] {
        let n = names.iter().filter(|k| k.ends_with(table)).count();
        assert_eq!(n, 1, "{table} stored {n} times");
    }
    assert!(names.iter().any(|k| k.starts_with("member2.net.")));
    // Each member's parameters get a gradient from its own loss.
    let loss = model.loss(&model.forward_t(&x, true), &y, &mask, &[1.0; 5]);
    loss.backward();
    for (pname, v) in model.var_store().variables() {
        if v.requires_grad() {
            let g = v.grad();
            assert!(
                g.defined() && g.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                "{pname} got no gradient"
            );
        }
    }
    // The loss is the sum of what each member would be trained on alone.
    let out = model.forward_t(&x, false);
    let sum: f64 = out
        .members
        .iter()
        .map(|m| {
            let alone = polyrec_rank::Output {
                tasks: m.iter().map(Tensor::shallow_clone).collect(),
                penalty: Tensor::zeros([], (Kind::Float, Device::Cpu)),
                members: Vec::new(),
            };
            model.loss(&alone, &y, &mask, &[1.0; 5]).double_value(&[])
        })
        .sum();
    let both =
        model.loss(&out, &y, &mask, &[1.0; 5]).double_value(&[]) - out.penalty.double_value(&[]);
    assert!(
        (both - sum).abs() < 1e-4 * sum.abs().max(1.0),
        "{both} vs {sum}"
    );
    // Checkpoint round trip with empty side tables.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ensemble.safetensors");
    model.save_weights(&path)?;
    let mut back = build(SideTables::default())?;
    back.load_weights(&path)?;
    for (p, q) in model.predict(&x).iter().zip(&back.predict(&x)) {
        assert!(p.equal(q), "outputs differ after the round trip");
    }
    // An ensemble cannot be filled from a single model's checkpoint: its members are missing.
    let one = dir.path().join("single.safetensors");
    single.save_weights(&one)?;
    assert!(build(SideTables::default())?.load_weights(&one).is_err());
    // Zero members, and an ensemble that would fine-tune the language model, are refused.
    let mut tuned = space();
    tuned.config.finetune_layers = 1;
    for (s, k) in [(space(), 0), (tuned, 2)] {
        let err = Ranker::ensemble(
            s,
            ModelConfig::from_name("mmoe")?,
            SideTables::default(),
            Device::Cpu,
            false,
            k,
        )
        .err()
        .ok_or("an invalid ensemble was built")?;
        assert!(err.to_string().contains("ensemble"), "{err}");
    }
    Ok(())
}

#[test]
fn a_model_directory_from_before_ensembles_loads_as_one_model()
-> Result<(), Box<dyn std::error::Error>> {
    tch::manual_seed(13);
    let mut cfg = polyrec_rank::RunConfig::default();
    cfg.train.ensemble = 1;
    let model = Ranker::new(space(), cfg.model.clone(), side(), Device::Cpu, false)?;
    let dir = tempfile::tempdir()?;
    polyrec_rank::model_dir::save(dir.path(), &model, &cfg)?;
    // Such a directory's train.toml has no `ensemble` key.
    let path = dir.path().join("train.toml");
    let text = std::fs::read_to_string(&path)?;
    let old: String = text
        .lines()
        .filter(|l| !l.starts_with("ensemble"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(old, text);
    std::fs::write(&path, old)?;
    let (back, config) = polyrec_rank::model_dir::load(dir.path(), Device::Cpu)?;
    assert_eq!((back.members(), config.train.ensemble), (1, 1));
    let x = inputs();
    for (p, q) in model.predict(&x).iter().zip(&back.predict(&x)) {
        assert!(p.equal(q));
    }
    Ok(())
}
