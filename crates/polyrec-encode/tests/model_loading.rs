//! Loading rules: another BERT size loads without code changes; broken folders give errors
//! that name the file; the cache and the trainable variable store behave.

#[path = "../../../tests/support/setup_paths.rs"]
mod setup_paths;
use std::path::Path;

use polyrec_encode::{EmbeddingCache, EncoderOptions, Error, SentenceEncoder, TextEncoder, io};
use tch::{Device, Kind, Tensor};

/// The largest absolute difference between two equally long vectors.
fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vectors of different lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max)
}

fn real_dir() -> std::path::PathBuf {
    setup_paths::model_dir().unwrap_or_default()
}

/// A randomly initialised BERT of a different size (hidden 32, 2 layers, 4 heads, with a
/// `bert.` prefix on its parameter names), sharing the real tokenizer.
fn tiny_model(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let src = real_dir();
    std::fs::copy(src.join("tokenizer.json"), dir.join("tokenizer.json"))?;
    std::fs::write(
        dir.join("config.json"),
        r#"{"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 64, "max_position_embeddings": 64, "hidden_act": "gelu", "layer_norm_eps": 1e-12}"#,
    )?;
    std::fs::write(
        dir.join("modules.json"),
        r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#,
    )?;
    std::fs::create_dir_all(dir.join("1_Pooling"))?;
    std::fs::write(
        dir.join("1_Pooling/config.json"),
        r#"{"pooling_mode_cls_token": true}"#,
    )?;
    tch::manual_seed(3);
    let mut named: Vec<(String, Tensor)> = Vec::new();
    let f = |shape: &[i64]| Tensor::randn(shape, (Kind::Float, Device::Cpu)) * 0.05;
    for (n, s) in [
        ("word_embeddings", [30522, 32]),
        ("position_embeddings", [64, 32]),
        ("token_type_embeddings", [2, 32]),
    ] {
        named.push((format!("bert.embeddings.{n}.weight"), f(&s)));
    }
    named.push((
        "bert.embeddings.LayerNorm.weight".into(),
        Tensor::ones([32], (Kind::Float, Device::Cpu)),
    ));
    named.push((
        "bert.embeddings.LayerNorm.bias".into(),
        Tensor::zeros([32], (Kind::Float, Device::Cpu)),
    ));
    for l in 0..2 {
        let p = format!("bert.encoder.layer.{l}");
        for (n, o, i) in [
            ("attention.self.query", 32, 32),
            ("attention.self.key", 32, 32),
            ("attention.self.value", 32, 32),
            ("attention.output.dense", 32, 32),
            ("intermediate.dense", 64, 32),
            ("output.dense", 32, 64),
        ] {
            named.push((format!("{p}.{n}.weight"), f(&[o, i])));
            named.push((format!("{p}.{n}.bias"), f(&[o])));
        }
        for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
            named.push((
                format!("{p}.{n}.weight"),
                Tensor::ones([32], (Kind::Float, Device::Cpu)),
            ));
            named.push((
                format!("{p}.{n}.bias"),
                Tensor::zeros([32], (Kind::Float, Device::Cpu)),
            ));
        }
    }
    Tensor::write_safetensors(&named, dir.join("model.safetensors"))?;
    Ok(())
}

#[test]
fn a_differently_sized_bert_loads_and_truncates_at_its_positions()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    tiny_model(dir.path())?;
    let enc = SentenceEncoder::load(
        dir.path(),
        EncoderOptions {
            device: Device::Cpu,
            ..Default::default()
        },
    )?;
    assert_eq!(enc.dim(), 32);
    assert_eq!(enc.files().max_seq_length, 64);
    let long = "word ".repeat(500);
    let e = enc.encode(&["short text", &long])?;
    assert_eq!((e.len(), e.dim), (2, 32));
    assert!(e.data.iter().all(|v| v.is_finite()));
    assert_eq!(enc.tokenize(&[&long])?[0].ids.len(), 64);
    Ok(())
}

#[test]
fn broken_folders_name_the_file() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let err = SentenceEncoder::load(dir.path().join("nope"), EncoderOptions::default())
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("model folder not found")));
    tiny_model(dir.path())?;
    std::fs::write(dir.path().join("config.json"), "{ not json")?;
    let err = SentenceEncoder::load(dir.path(), EncoderOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("config.json") && err.contains("malformed JSON"),
        "{err}"
    );
    tiny_model(dir.path())?;
    std::fs::remove_file(dir.path().join("tokenizer.json"))?;
    let err = SentenceEncoder::load(dir.path(), EncoderOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("tokenizer.json") && err.contains("missing"),
        "{err}"
    );
    // A config that disagrees with the weights.
    tiny_model(dir.path())?;
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"vocab_size": 30522, "hidden_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 64}"#,
    )?;
    let err = SentenceEncoder::load(dir.path(), EncoderOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("model.safetensors") && err.contains("shape"),
        "{err}"
    );
    Ok(())
}

#[test]
fn text_files_report_bad_lines() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let p = dir.path().join("t.txt");
    std::fs::write(&p, b"fine\nalso fine\n\xff\xfe broken\n")?;
    match io::read_texts(&p) {
        Err(Error::Input { line, message, .. }) => {
            assert_eq!((line, message.contains("UTF-8")), (3, true))
        }
        other => panic!("expected an input error, got {other:?}"),
    }
    let p = dir.path().join("empty.jsonl");
    std::fs::write(&p, b"")?;
    assert!(
        io::read_texts(&p)
            .err()
            .is_some_and(|e| e.to_string().contains("empty"))
    );
    let p = dir.path().join("t.jsonl");
    std::fs::write(&p, "\"ok\"\n{\"not\": \"a string\"}\n")?;
    assert!(matches!(
        io::read_texts(&p),
        Err(Error::Input { line: 2, .. })
    ));
    Ok(())
}

#[test]
fn cache_serves_repeats_and_rebuilds_when_corrupt() -> Result<(), Box<dyn std::error::Error>> {
    let enc = SentenceEncoder::load(
        real_dir(),
        EncoderOptions {
            device: Device::Cpu,
            ..Default::default()
        },
    )?;
    let dir = tempfile::tempdir()?;
    let texts = ["Heat (1995)", "Toy Story (1995)", "Heat (1995)"];
    let mut cache = EmbeddingCache::open(dir.path(), &enc);
    let (a, s) = cache.encode(&enc, &texts)?;
    assert_eq!((s.computed, s.hits), (2, 1));
    let mut cache = EmbeddingCache::open(dir.path(), &enc);
    let (b, s) = cache.encode(&enc, &texts)?;
    assert_eq!((s.computed, s.hits, s.rebuilt), (0, 3, false));
    assert_eq!(a, b);
    // Flip one byte: the checksum catches it and the cache is rebuilt, not trusted.
    let path = cache.path().to_path_buf();
    let mut bytes = std::fs::read(&path)?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&path, bytes)?;
    let mut cache = EmbeddingCache::open(dir.path(), &enc);
    let (c, s) = cache.encode(&enc, &texts)?;
    assert_eq!((s.computed, s.rebuilt), (2, true));
    assert_eq!(a, c);
    // Embeddings of user text are personal data: the cache is owner-only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| -> std::io::Result<u32> {
            Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
        };
        assert_eq!(mode(&path)?, 0o600);
        assert_eq!(mode(dir.path())?, 0o700);
    }
    // .npy round trip.
    let npy = dir.path().join("out.npy");
    io::write_npy(&npy, &a)?;
    assert_eq!(io::read_npy(&npy)?, a);
    Ok(())
}

#[test]
fn top_layers_can_be_fine_tuned() -> Result<(), Box<dyn std::error::Error>> {
    let mut enc = SentenceEncoder::load(
        real_dir(),
        EncoderOptions {
            device: Device::Cpu,
            ..Default::default()
        },
    )?;
    let requiring = |e: &SentenceEncoder| {
        e.var_store()
            .variables()
            .values()
            .filter(|v| v.requires_grad())
            .count()
    };
    assert_eq!(requiring(&enc), 0, "loaded frozen");
    let n = enc.unfreeze_top_layers(1);
    assert_eq!(n, 16, "one BERT layer has 16 tensors");
    assert_eq!(requiring(&enc), 16);
    let tokens = enc.tokenize(&["a light comedy", "a dark thriller"])?;
    let (ids, mask) = enc.pad(&tokens.iter().collect::<Vec<_>>());
    let emb = enc.forward_t(&ids, &mask, true);
    let loss = (emb.get(0) * emb.get(1)).sum(Kind::Float);
    loss.backward();
    let with_grad = enc
        .var_store()
        .variables()
        .values()
        .filter(|v| v.grad().defined())
        .count();
    assert_eq!(with_grad, 16);
    Ok(())
}

#[test]
fn the_fused_inference_path_matches_the_training_path() -> Result<(), Box<dyn std::error::Error>> {
    // Inference stacks the query/key/value weights, skips the attention mask when nothing is
    // padded and adds biases, GELU and residuals in fused passes; with trainable weights and
    // gradients on, the same forward pass runs libtorch's own ops instead.
    let mut enc = SentenceEncoder::load(
        real_dir(),
        EncoderOptions {
            device: Device::Cpu,
            cpu_workers: Some(1),
            ..Default::default()
        },
    )?;
    enc.unfreeze_top_layers(6);
    let texts = [
        "a light comedy for a rainy evening",
        "Heat (1995). Genres: Action, Crime, Thriller",
        "",
        "一部关于友谊的电影 🎬",
        // A longer text, so that the batch pads the others a good deal.
        "I ordered this dress in my usual size and it fits well through the shoulders, \
         but the fabric is thinner than the photos suggest and the lining bunches at the \
         waist after one wash; lovely colour, comfortable for a long day, and I would buy \
         it again in another print if the price came down a little.",
    ];
    let fast = enc.encode(&texts)?;
    let tokens = enc.tokenize(&texts)?;
    let (ids, mask) = enc.pad(&tokens.iter().collect::<Vec<_>>());
    let slow = enc.forward_t(&ids, &mask, false);
    assert!(
        slow.requires_grad(),
        "the reference keeps its autograd graph"
    );
    let slow = Vec::<f32>::try_from(slow.detach().contiguous().view([-1]))?;
    assert_eq!(slow.len(), fast.data.len());
    let worst = max_abs_diff(&slow, &fast.data);
    assert!(worst < 1e-5, "largest difference {worst}");
    // One text alone: no padding, so no attention mask at all.
    let alone = enc.encode(&texts[..1])?;
    let worst = max_abs_diff(alone.row(0), fast.row(0));
    assert!(
        worst < 1e-5,
        "unpadded vs padded: largest difference {worst}"
    );
    Ok(())
}

/// Every pooling mode of sentence-transformers, in both config forms, with and without a
/// Normalize module: the folder loads with that mode, padded batches pool as single texts
/// do, and each mode's arithmetic matches a hand computation.
#[test]
fn every_pooling_mode_loads_in_both_config_forms() -> Result<(), Box<dyn std::error::Error>> {
    use polyrec_encode::{Pooling, pool};
    let dir = tempfile::tempdir()?;
    tiny_model(dir.path())?;
    let modes = [
        ("mean", "pooling_mode_mean_tokens"),
        ("cls", "pooling_mode_cls_token"),
        ("max", "pooling_mode_max_tokens"),
        ("mean_sqrt_len_tokens", "pooling_mode_mean_sqrt_len_tokens"),
        ("weightedmean", "pooling_mode_weightedmean_tokens"),
        ("lasttoken", "pooling_mode_lasttoken"),
    ];
    let texts = [
        "a short one",
        "a somewhat longer text with more tokens in it",
    ];
    for (name, flag) in modes {
        for newer in [false, true] {
            for normalize in [false, true] {
                let config = if newer {
                    format!(r#"{{"word_embedding_dimension": 32, "pooling_mode": "{name}"}}"#)
                } else {
                    format!(r#"{{"word_embedding_dimension": 32, "{flag}": true}}"#)
                };
                std::fs::write(dir.path().join("1_Pooling/config.json"), config)?;
                let mut modules = r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}"#.to_string();
                if normalize {
                    modules.push_str(r#",{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}"#);
                }
                modules.push(']');
                std::fs::write(dir.path().join("modules.json"), modules)?;
                let enc = SentenceEncoder::load(
                    dir.path(),
                    EncoderOptions {
                        device: Device::Cpu,
                        ..Default::default()
                    },
                )?;
                let mode = Pooling::parse(name).ok_or("mode")?;
                assert_eq!(enc.files().pooling, mode, "{name}, newer form {newer}");
                assert_eq!(enc.files().normalize, normalize);
                let got = enc.encode(&texts)?;
                // The training path on each text alone (no padding) gives the vectors of the
                // batched, padded inference path.
                for (i, t) in texts.iter().enumerate() {
                    let tok = enc.tokenize(&[t])?;
                    let (ids, mask) = enc.pad(&[&tok[0]]);
                    let states = tch::no_grad(|| enc.forward_t(&ids, &mask, false));
                    let want: Vec<f32> = Vec::try_from(states.view([-1]))?;
                    for (a, b) in got.row(i).iter().zip(&want) {
                        assert!(
                            (a - b).abs() < 1e-4,
                            "{name} {newer} {normalize}: {a} vs {b}"
                        );
                    }
                }
                if normalize {
                    let n: f32 = got.row(0).iter().map(|x| x * x).sum::<f32>().sqrt();
                    assert!((n - 1.0).abs() < 1e-4, "{name}: norm {n}");
                }
            }
        }
    }
    // The arithmetic of each mode on a small tensor: two texts, three positions, the second
    // text padded after two tokens.
    let t = Tensor::from_slice(&[1f32, 2., 3., 4., 5., 6., 10., 20., 30., 40., 99., 99.])
        .view([2, 3, 2]);
    let m = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 0]).view([2, 3]);
    let row = |p: Pooling| -> Vec<f32> {
        Vec::try_from(pool(&t, &m, p, false).select(0, 1)).unwrap_or_default()
    };
    assert_eq!(row(Pooling::Mean), [20.0, 30.0]);
    assert_eq!(row(Pooling::Cls), [10.0, 20.0]);
    assert_eq!(row(Pooling::Max), [30.0, 40.0]);
    assert_eq!(row(Pooling::LastToken), [30.0, 40.0]);
    let s = row(Pooling::MeanSqrtLen);
    assert!((s[0] - 40.0 / 2f32.sqrt()).abs() < 1e-4);
    let w = row(Pooling::WeightedMean);
    assert!((w[0] - (10.0 + 2.0 * 30.0) / 3.0).abs() < 1e-4);
    // A folder that names no mode, or an unknown one, is refused with the file's name.
    std::fs::write(
        dir.path().join("1_Pooling/config.json"),
        r#"{"pooling_mode": "median"}"#,
    )?;
    let err = SentenceEncoder::load(dir.path(), EncoderOptions::default())
        .err()
        .ok_or("median pooling loaded")?;
    assert!(
        err.to_string().contains("1_Pooling") && err.to_string().contains("median"),
        "{err}"
    );
    Ok(())
}

#[test]
fn inference_weights_follow_a_parameter_changed_in_place() -> Result<(), Box<dyn std::error::Error>>
{
    // The inference weights (stacked, packed) are kept across calls; a parameter changed in
    // place (an optimiser step, a load) must be seen by the next call, on the calling
    // thread's model and on every worker's replica alike.
    for workers in [1, 2] {
        let mut enc = SentenceEncoder::load(
            real_dir(),
            EncoderOptions {
                device: Device::Cpu,
                batch_size: 1,
                cpu_workers: Some(workers),
                ..Default::default()
            },
        )?;
        let texts = [
            "Heat (1995). Genres: Action, Crime, Thriller",
            "a light comedy for a rainy evening",
        ];
        let before = enc.encode(&texts)?;
        tch::no_grad(|| {
            for (name, mut t) in enc.var_store().variables() {
                if name.starts_with("encoder.layer.3.") && name.ends_with(".weight") {
                    let _ = t.g_mul_scalar_(0.5);
                }
            }
        });
        let after = enc.encode(&texts)?;
        enc.unfreeze_top_layers(0);
        let tokens = enc.tokenize(&texts)?;
        let (ids, mask) = enc.pad(&tokens.iter().collect::<Vec<_>>());
        let want = Vec::<f32>::try_from(enc.forward_t(&ids, &mask, false).contiguous().view([-1]))?;
        assert!(
            max_abs_diff(&before.data, &after.data) > 1e-3,
            "{workers} workers: the change is visible"
        );
        assert!(
            max_abs_diff(&after.data, &want) < 1e-5,
            "{workers} workers: the next call uses the changed weights ({})",
            max_abs_diff(&after.data, &want)
        );
    }
    Ok(())
}

#[test]
fn passes_on_one_model_never_wait_on_each_other() -> Result<(), Box<dyn std::error::Error>> {
    // The kept inference weights are locked by the pass that uses them; a second pass made
    // while the first is alive works on a copy of its own and gets the same result,
    // instead of waiting for the first (a deadlock).
    use polyrec_encode::{BertConfig, BertModel};
    let config = BertConfig {
        vocab_size: 50,
        hidden_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 128,
        max_position_embeddings: 32,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        hidden_act: "gelu".into(),
        pad_token_id: 0,
        model_type: None,
    };
    tch::manual_seed(7);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let model = BertModel::new(&vs.root(), &config);
    let ids = Tensor::from_slice(&[3i64, 9, 17, 4, 0, 0, 21, 5, 8, 11, 12, 2]).view([2, 6]);
    let mask = ids.ne(0).to_kind(Kind::Int64);
    // Positions the mask leaves out are zeros on the inference path (not computed).
    let kept = mask.unsqueeze(-1).to_kind(Kind::Float);
    let values = |t: Tensor| Vec::<f32>::try_from((t * &kept).contiguous().view([-1]));
    let first = model.inference();
    let second = model.inference();
    let (a, b) = (
        values(first.forward(&ids, &mask))?,
        values(second.forward(&ids, &mask))?,
    );
    drop(first);
    drop(second);
    // Once both are gone, the next pass takes the kept weights again.
    let raw = model.inference().forward(&ids, &mask);
    let left_out = (raw.shallow_clone() * (kept.ones_like() - &kept))
        .abs()
        .sum(Kind::Double);
    assert_eq!(
        f64::try_from(left_out)?,
        0.0,
        "positions left out hold zeros"
    );
    let c = values(raw)?;
    let want = values(tch::no_grad(|| model.forward_t(&ids, &mask, false)))?;
    for (name, got) in [("first", &a), ("second", &b), ("next", &c)] {
        let worst = max_abs_diff(got, &want);
        assert!(
            worst < 1e-5,
            "{name} pass differs from forward_t by {worst}"
        );
    }
    assert_eq!(
        a, b,
        "a pass on a copy gets the same bits as one on the kept weights"
    );
    assert_eq!(a, c, "the kept weights are unchanged by a copy's pass");
    Ok(())
}
