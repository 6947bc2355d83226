//! Hostile model folders and texts: every config that does not fit its checkpoint is an
//! error naming the file and the field, before any tensor is made (never a panic inside
//! libtorch, an abort, or vectors from a half-used checkpoint); a 50 MB text costs what its
//! head costs. Then arbitrary bytes through every reader of the crate (safetensors header,
//! `.npy`, texts) and arbitrary text through the tokenizer.

#[path = "../../../tests/support/setup_paths.rs"]
mod setup_paths;
use std::path::Path;

use polyrec_encode::checkpoint::{parse_header, read_shapes};
use polyrec_encode::{EncoderOptions, Error, SentenceEncoder, io};
use proptest::prelude::*;
use setup_paths::model_dir as default_model_dir;
use tch::{Device, Kind, Tensor};

const HIDDEN: i64 = 32;

/// A `config.json` field and the value it is given.
type Field = (&'static str, serde_json::Value);

/// A random BERT (hidden 32, 4 heads, feed-forward 64, 64 positions) with `vocab` tokens
/// and `layers` layers, and the real tokenizer; `config` overrides fields of its config.
fn tiny_model(
    dir: &Path,
    vocab: i64,
    layers: i64,
    config: &[(&str, serde_json::Value)],
) -> Result<(), Box<dyn std::error::Error>> {
    let src = default_model_dir().ok_or("the default model is not installed")?;
    std::fs::copy(src.join("tokenizer.json"), dir.join("tokenizer.json"))?;
    let mut cfg = serde_json::json!({
        "vocab_size": vocab, "hidden_size": HIDDEN, "num_hidden_layers": layers,
        "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 64,
        "hidden_act": "gelu", "layer_norm_eps": 1e-12
    });
    for (k, v) in config {
        cfg[*k] = v.clone();
    }
    std::fs::write(dir.join("config.json"), cfg.to_string())?;
    let f = |shape: &[i64]| Tensor::randn(shape, (Kind::Float, Device::Cpu)) * 0.05;
    let ones = || Tensor::ones([HIDDEN], (Kind::Float, Device::Cpu));
    let zeros = || Tensor::zeros([HIDDEN], (Kind::Float, Device::Cpu));
    let mut named: Vec<(String, Tensor)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            f(&[vocab, HIDDEN]),
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            f(&[64, HIDDEN]),
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            f(&[2, HIDDEN]),
        ),
        ("embeddings.LayerNorm.weight".into(), ones()),
        ("embeddings.LayerNorm.bias".into(), zeros()),
    ];
    for l in 0..layers {
        let p = format!("encoder.layer.{l}");
        for (n, o, i) in [
            ("attention.self.query", HIDDEN, HIDDEN),
            ("attention.self.key", HIDDEN, HIDDEN),
            ("attention.self.value", HIDDEN, HIDDEN),
            ("attention.output.dense", HIDDEN, HIDDEN),
            ("intermediate.dense", 64, HIDDEN),
            ("output.dense", HIDDEN, 64),
        ] {
            named.push((format!("{p}.{n}.weight"), f(&[o, i])));
            named.push((format!("{p}.{n}.bias"), f(&[o])));
        }
        for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
            named.push((format!("{p}.{n}.weight"), ones()));
            named.push((format!("{p}.{n}.bias"), zeros()));
        }
    }
    Tensor::write_safetensors(&named, dir.join("model.safetensors"))?;
    Ok(())
}

fn cpu() -> EncoderOptions {
    EncoderOptions {
        device: Device::Cpu,
        ..Default::default()
    }
}

/// The error of loading a tiny model with a changed config (the checkpoint keeps
/// `vocab` tokens and `layers` layers).
fn load_error(vocab: i64, layers: i64, config: &[(&str, serde_json::Value)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_model(dir.path(), vocab, layers, config).expect("tiny model");
    match SentenceEncoder::load(dir.path(), cpu()) {
        Err(Error::Model { path, message }) => format!("{}: {message}", path.display()),
        Err(e) => panic!("expected a model error, got {e}"),
        Ok(_) => panic!("expected a model error for {config:?}, the model loaded"),
    }
}

#[test]
fn configs_that_do_not_fit_the_checkpoint_are_model_errors() {
    use serde_json::json;
    let cases: [(i64, &[Field], &[&str]); 8] = [
        (
            30522,
            &[("vocab_size", json!(40000))],
            &["config.json", "vocab_size", "[30522, 32]"],
        ),
        (
            30522,
            &[("num_hidden_layers", json!(1))],
            &["num_hidden_layers = 1", "2 layers"],
        ),
        (
            30522,
            &[("num_hidden_layers", json!(3))],
            &["num_hidden_layers = 3", "2 layers"],
        ),
        (
            30522,
            &[("pad_token_id", json!(30522))],
            &["pad_token_id", "30522"],
        ),
        (
            30522,
            &[("layer_norm_eps", json!(-1.0))],
            &["layer_norm_eps", "-1"],
        ),
        (
            30522,
            &[("layer_norm_eps", json!(0.0))],
            &["layer_norm_eps"],
        ),
        (
            30522,
            &[("max_position_embeddings", json!(512))],
            &["max_position_embeddings", "[64, 32]"],
        ),
        (
            100,
            &[],
            &[
                "tokenizer.json",
                "past the model's vocabulary",
                "vocab_size 100",
            ],
        ),
    ];
    for (vocab, config, want) in cases {
        let err = load_error(vocab, 2, config);
        for w in want {
            assert!(err.contains(w), "{config:?}: expected {w:?} in {err}");
        }
    }
}

#[test]
fn max_seq_length_zero_is_a_model_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    tiny_model(dir.path(), 30522, 2, &[]).expect("tiny model");
    std::fs::write(
        dir.path().join("sentence_bert_config.json"),
        r#"{"max_seq_length": 0}"#,
    )
    .expect("write");
    match SentenceEncoder::load(dir.path(), cpu()) {
        Err(Error::Model { path, message }) => {
            assert!(path.ends_with("sentence_bert_config.json"));
            assert!(message.contains("at least 1"), "{message}");
        }
        other => panic!("expected a model error, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_50_megabyte_text_is_cut_before_tokenisation() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    tiny_model(dir.path(), 30522, 2, &[])?;
    let enc = SentenceEncoder::load(dir.path(), cpu())?;
    assert_eq!(enc.max_chars(), 64 * polyrec_encode::CHARS_PER_TOKEN);
    let huge = "word ".repeat(10 << 20);
    let tokens = enc.tokenize(&[&huge, "short"])?;
    assert_eq!(tokens[0].ids.len(), 64);
    let head: String = huge.chars().take(enc.max_chars()).collect();
    assert_eq!(tokens[0], enc.tokenize(&[&head])?[0]);
    // More workers than batches: only the workers the batches need run.
    let enc = SentenceEncoder::load(
        dir.path(),
        EncoderOptions {
            device: Device::Cpu,
            cpu_workers: Some(100_000),
            batch_size: 1,
            ..Default::default()
        },
    )?;
    let e = polyrec_encode::TextEncoder::encode(&enc, &["a", "b", "c"])?;
    assert_eq!((e.len(), e.dim), (3, 32));
    Ok(())
}

#[test]
fn text_and_npy_readers_refuse_devices_and_endless_lines() {
    if Path::new("/dev/zero").exists() {
        assert!(matches!(
            io::read_texts(Path::new("/dev/zero")),
            Err(Error::Input { .. })
        ));
        assert!(matches!(
            io::read_npy(Path::new("/dev/zero")),
            Err(Error::Input { .. })
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("t.jsonl");
    std::fs::write(&p, "\u{feff}\"a\"\n\"b\"\n").expect("write");
    assert_eq!(
        io::read_texts(&p).ok(),
        Some(vec!["a".to_string(), "b".to_string()])
    );
}

thread_local! {
    /// A one-layer encoder for the tokenizer property (not `Sync`: one per test thread).
    static TINY: Option<(tempfile::TempDir, SentenceEncoder)> = {
        let dir = tempfile::tempdir().ok();
        dir.and_then(|dir| {
            tiny_model(dir.path(), 30522, 1, &[]).ok()?;
            let enc = SentenceEncoder::load(dir.path(), cpu()).ok()?;
            Some((dir, enc))
        })
    };
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn safetensors_headers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), len in any::<u64>()) {
        let _ = parse_header(&bytes);
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let p = dir.path().join("m.safetensors");
        let mut file = len.to_le_bytes().to_vec();
        file.extend(&bytes);
        std::fs::write(&p, &file).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let _ = read_shapes(&p);
        let mut file = (bytes.len() as u64).to_le_bytes().to_vec();
        file.extend(&bytes);
        std::fs::write(&p, &file).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let _ = read_shapes(&p);
    }

    #[test]
    fn npy_and_text_files_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), npy_head in any::<bool>()) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut body = if npy_head { b"\x93NUMPY\x01\x00".to_vec() } else { Vec::new() };
        body.extend(&bytes);
        for name in ["a.npy", "a.txt", "a.jsonl"] {
            let p = dir.path().join(name);
            std::fs::write(&p, &body).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let _ = io::read_npy(&p);
            let _ = io::read_texts(&p);
        }
    }

    #[test]
    fn npy_round_trips(n in 0usize..6, dim in 1usize..5, seed in any::<u32>()) {
        let data: Vec<f32> = (0..n * dim).map(|i| (i as f32) * 0.5 - seed as f32).collect();
        let emb = polyrec_encode::Embeddings { dim, data };
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let p = dir.path().join("e.npy");
        io::write_npy(&p, &emb).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = io::read_npy(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, emb);
    }

    /// Any text tokenises within the model's bounds: at most max_seq_length ids, each in
    /// the vocabulary.
    #[test]
    fn any_text_tokenises_within_bounds(text in "\\PC{0,400}", raw in prop::collection::vec(any::<char>(), 0..200)) {
        let raw: String = raw.into_iter().collect();
        let checked = TINY.with(|tiny| -> Result<(), TestCaseError> {
            let Some((_, enc)) = tiny else {
                return Err(TestCaseError::fail("the tiny model did not load"));
            };
            for t in enc.tokenize(&[&text, &raw]).map_err(|e| TestCaseError::fail(e.to_string()))? {
                prop_assert!(t.ids.len() <= enc.files().max_seq_length);
                prop_assert!(t.ids.iter().all(|&id| i64::from(id) < enc.files().bert.vocab_size));
            }
            Ok(())
        });
        checked?;
    }
}
