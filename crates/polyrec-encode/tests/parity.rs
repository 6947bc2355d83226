//! Parity with Python sentence-transformers on the reference texts: identical token ids and
//! cosine >= 0.9999 for every row.

#[path = "../../../tests/support/setup_paths.rs"]
mod setup_paths;
use std::path::{Path, PathBuf};

use polyrec_encode::{EncoderOptions, SentenceEncoder, TextEncoder, io};
use setup_paths::model_dir as default_model_dir;
use tch::Device;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn encoder(batch_size: usize) -> Result<SentenceEncoder, Box<dyn std::error::Error>> {
    let dir = default_model_dir().ok_or("default model not installed: run scripts/setup.sh")?;
    Ok(SentenceEncoder::load(
        dir,
        EncoderOptions {
            device: Device::Cpu,
            batch_size,
            ..Default::default()
        },
    )?)
}

#[test]
fn token_ids_and_embeddings_match_sentence_transformers() -> Result<(), Box<dyn std::error::Error>>
{
    let texts = io::read_texts(&fixture("public_texts.jsonl"))?;
    let expected_ids: Vec<Vec<u32>> = std::fs::read_to_string(fixture("public_token_ids.jsonl"))?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let golden = io::read_npy(&fixture("public_embeddings.npy"))?;
    assert_eq!(texts.len(), 20);
    assert_eq!(golden.len(), texts.len());

    // Small batches force several length groups, so order restoration is exercised.
    let enc = encoder(4)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens = enc.tokenize(&refs)?;
    for (i, (t, e)) in tokens.iter().zip(&expected_ids).enumerate() {
        assert_eq!(&t.ids, e, "token ids differ for text {i}: {:?}", texts[i]);
    }
    assert!(
        tokens.iter().any(|t| t.ids.len() == 256),
        "the over-long text is truncated at 256"
    );

    let emb = enc.encode(&refs)?;
    assert_eq!(emb.dim, 384);
    let mut worst = 1.0f32;
    for (i, text) in texts.iter().enumerate() {
        let c = polyrec_encode::cosine(emb.row(i), golden.row(i));
        worst = worst.min(c);
        assert!(c >= 0.9999, "row {i} ({text:?}): cosine {c}");
    }
    eprintln!("worst cosine to sentence-transformers: {worst:.7}");
    Ok(())
}

#[test]
fn batch_size_does_not_change_results() -> Result<(), Box<dyn std::error::Error>> {
    let texts = [
        "Heat (1995). Genres: Action Crime Thriller",
        "a light comedy for a rainy evening",
        "",
        "Toy Story",
    ];
    let a = encoder(1)?.encode(&texts)?;
    let b = encoder(64)?.encode(&texts)?;
    for i in 0..texts.len() {
        assert!(
            polyrec_encode::cosine(a.row(i), b.row(i)) > 0.99999,
            "row {i}"
        );
    }
    // Related titles are closer than unrelated ones.
    let e = encoder(8)?.encode(&[
        "a funny comedy film",
        "a hilarious comedy movie",
        "quarterly tax filing rules",
    ])?;
    assert!(e.cosine(0, 1) > e.cosine(0, 2) + 0.2);
    Ok(())
}

#[test]
fn parallel_cpu_workers_give_the_same_embeddings() -> Result<(), Box<dyn std::error::Error>> {
    let texts = io::read_texts(&fixture("public_texts.jsonl"))?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let dir = default_model_dir().ok_or("default model not installed: run scripts/setup.sh")?;
    let load = |workers| {
        SentenceEncoder::load(
            &dir,
            EncoderOptions {
                device: Device::Cpu,
                batch_size: 3,
                cpu_workers: Some(workers),
                ..Default::default()
            },
        )
    };
    let threads_before = tch::get_num_threads();
    let one = load(1)?.encode(&refs)?;
    let three = load(3)?;
    // Twice: the second call reuses the workers' weight-sharing models.
    for _ in 0..2 {
        let emb = three.encode(&refs)?;
        assert_eq!(emb.len(), one.len());
        for i in 0..texts.len() {
            let c = polyrec_encode::cosine(emb.row(i), one.row(i));
            assert!(c >= 0.99999, "row {i}: cosine {c} between 3 workers and 1");
        }
    }
    assert_eq!(
        tch::get_num_threads(),
        threads_before,
        "thread count restored"
    );
    Ok(())
}

/// Encoders run on many threads at once (the HTTP service keeps one per request thread,
/// and a trainer may run beside them): two encoders encoding at the same time on two
/// threads get exactly what one gets alone, and none of them changes libtorch's
/// process-wide thread count (the worker threads used to set it and restore it, which
/// raced with any other libtorch user in the process).
#[test]
fn two_threads_encoding_at_once_match_one() -> Result<(), Box<dyn std::error::Error>> {
    let texts = io::read_texts(&fixture("public_texts.jsonl"))?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let dir = default_model_dir().ok_or("default model not installed: run scripts/setup.sh")?;
    let threads_before = tch::get_num_threads();
    for workers in [1, 2] {
        let load = || {
            SentenceEncoder::load(
                &dir,
                EncoderOptions {
                    device: Device::Cpu,
                    batch_size: 4,
                    cpu_workers: Some(workers),
                    ..Default::default()
                },
            )
        };
        let alone = load()?.encode(&refs)?;
        let encoders = [load()?, load()?];
        let refs = &refs;
        let together: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = encoders
                .into_iter()
                .map(|enc| s.spawn(move || enc.encode(refs)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| "an encoding thread panicked"))
                .collect()
        });
        for emb in together {
            let emb = emb??;
            assert_eq!(emb.len(), alone.len());
            for i in 0..alone.len() {
                let diff = emb
                    .row(i)
                    .iter()
                    .zip(alone.row(i))
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(
                    diff <= 1e-6,
                    "{workers} worker(s), row {i}: max |diff| {diff}"
                );
            }
        }
        assert_eq!(
            tch::get_num_threads(),
            threads_before,
            "thread count untouched"
        );
    }
    Ok(())
}
