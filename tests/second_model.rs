//! Nothing assumes the default language model: a second sentence-transformers folder (made
//! here from the set-up's all-MiniLM-L6-v2: its first three layers only, CLS pooling in the
//! newer `"pooling_mode"` form, no Normalize module) trains, loads and answers through the
//! facade, and its vectors are its own.

use std::fs;
use std::path::{Path, PathBuf};

use polyrec::encode::TextEncoder;
use polyrec::encode::tch::Tensor;
use polyrec::rank::train::SilentObserver;
use polyrec::setup::model_dir as default_model_dir;
use polyrec::{LoadOptions, Pipeline, Recommender, Request};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const LAYERS: usize = 3;

/// Writes the second model folder into `out`.
fn second_model(base: &Path, out: &Path) -> Res<()> {
    fs::create_dir_all(out.join("1_Pooling"))?;
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
    ] {
        fs::copy(base.join(f), out.join(f))?;
    }
    let mut config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(base.join("config.json"))?)?;
    config["num_hidden_layers"] = LAYERS.into();
    fs::write(
        out.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;
    fs::write(
        out.join("sentence_bert_config.json"),
        r#"{"max_seq_length": 128, "do_lower_case": false}"#,
    )?;
    fs::write(
        out.join("modules.json"),
        r#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]"#,
    )?;
    fs::write(
        out.join("1_Pooling/config.json"),
        r#"{"word_embedding_dimension": 384, "pooling_mode": "cls"}"#,
    )?;
    let tensors = Tensor::read_safetensors(base.join("model.safetensors"))?;
    let kept: Vec<(String, Tensor)> = tensors
        .into_iter()
        .filter(|(name, _)| !(LAYERS..12).any(|l| name.contains(&format!("layer.{l}."))))
        .collect();
    Tensor::write_safetensors(&kept, out.join("model.safetensors"))?;
    Ok(())
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |x: &[f32]| x.iter().map(|y| y * y).sum::<f32>().sqrt();
    dot / (n(a) * n(b)).max(1e-12)
}

#[test]
fn a_second_model_folder_trains_loads_and_answers() -> Res<()> {
    let base = default_model_dir().ok_or("run scripts/setup.sh: no language model")?;
    let tmp = tempfile::tempdir()?;
    let model2: PathBuf = tmp.path().join("minilm-3-cls");
    second_model(&base, &model2)?;

    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/ml-100k.toml");
    let mut pipeline = Pipeline::new(spec);
    pipeline.run.train.epochs = 1;
    pipeline.run.train.ensemble = 1;
    pipeline.text_model = Some(model2.clone());
    pipeline.cache_dir = Some(tmp.path().join("cache"));
    pipeline.device = polyrec::rank::DeviceRequest::Cpu;
    let run_dir = tmp.path().join("run");
    let trained = pipeline.run(&run_dir, &mut SilentObserver)?;
    let rec = trained.recommender;

    // The recommender encodes with the second model, and its vectors are not the default's.
    let files = rec.encoder().files();
    assert_eq!(fs::canonicalize(&files.dir)?, fs::canonicalize(&model2)?);
    assert_eq!(files.bert.num_hidden_layers as usize, LAYERS);
    assert!(!files.normalize);
    let text = ["a scary horror movie"];
    let ours = rec.encoder().encode(&text)?;
    let default = polyrec::pipeline::load_encoder(Some(&base))?.encode(&text)?;
    assert_eq!(ours.dim, default.dim);
    let c = cosine(&ours.data, &default.data);
    assert!(
        c < 0.99,
        "the second model's vector equals the default's (cosine {c})"
    );

    let request = Request {
        user: Some("196".into()),
        query: Some("a scary horror movie".into()),
        k: Some(10),
        ..Default::default()
    };
    let answer = rec.recommend(&request)?;
    assert_eq!(answer.items.len(), 10, "{answer}");

    // Loaded again from its directory with the same model folder, it answers the same.
    let again = Recommender::load(
        &run_dir,
        &LoadOptions {
            text_model: Some(model2.clone()),
            ..Default::default()
        },
    )?;
    let answer2 = again.recommend(&request)?;
    let ids = |a: &polyrec::Response| a.items.iter().map(|i| i.item.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&answer), ids(&answer2));
    Ok(())
}
