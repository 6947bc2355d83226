//! The safetensors header of a checkpoint, read without libtorch and checked against
//! `config.json` before any tensor is allocated: a config whose vocabulary, widths or layer
//! count do not fit the weights is an error naming the field, never a panic or an abort
//! inside libtorch, nor a model that silently ignores layers.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::config::BertConfig;
use crate::{Error, Result};

/// Largest safetensors header, in bytes.
pub const MAX_HEADER_BYTES: u64 = 100 << 20;

/// Tensor name -> shape, from a safetensors header.
pub type Shapes = BTreeMap<String, Vec<u64>>;

/// Parses the bytes of a safetensors header (the JSON after the 8-byte length): every
/// entry but `__metadata__` must have a `shape` of non-negative integers.
pub fn parse_header(json: &[u8]) -> std::result::Result<Shapes, String> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("header is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("header is not a JSON object")?;
    let mut out = Shapes::new();
    for (name, entry) in obj {
        if name == "__metadata__" {
            continue;
        }
        let shape = entry
            .get("shape")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| format!("tensor `{name}` has no `shape` list"))?;
        let dims = shape
            .iter()
            .map(serde_json::Value::as_u64)
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| format!("tensor `{name}`: shape {shape:?} is not a list of sizes"))?;
        out.insert(name.clone(), dims);
    }
    Ok(out)
}

/// Reads the tensor shapes of a safetensors file from its header.
pub fn read_shapes(path: &Path) -> Result<Shapes> {
    let bad = |m: String| Error::model(path, m);
    let mut f = std::fs::File::open(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|_| bad("not a safetensors file: shorter than its 8-byte header length".into()))?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER_BYTES || n > size.saturating_sub(8) {
        return Err(bad(format!(
            "not a safetensors file: header length {n} passes the file ({size} bytes) or \
             {MAX_HEADER_BYTES} bytes"
        )));
    }
    let mut json = Vec::new();
    f.take(n).read_to_end(&mut json).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    parse_header(&json).map_err(bad)
}

/// The prefix of the checkpoint's BERT names (`""`, `bert.`, `model.`, `encoder.`).
pub fn prefix(shapes: &Shapes) -> Option<&'static str> {
    ["", "bert.", "model.", "encoder."]
        .into_iter()
        .find(|p| shapes.contains_key(&format!("{p}embeddings.word_embeddings.weight")))
}

/// Checks `config.json` against the checkpoint's shapes: vocabulary and hidden size (word
/// embeddings), positions, token types, feed-forward width, and the number of layers,
/// which must be the checkpoint's exactly.
pub fn check_config(
    cfg: &BertConfig,
    shapes: &Shapes,
    config: &Path,
    weights: &Path,
) -> Result<()> {
    let p = prefix(shapes).ok_or_else(|| {
        Error::model(
            weights,
            "no `embeddings.word_embeddings.weight` tensor: not a BERT checkpoint",
        )
    })?;
    let shape = |name: &str| shapes.get(&format!("{p}{name}"));
    let expect = |name: &str, fields: &[(&str, i64)]| -> Result<()> {
        let want: Vec<u64> = fields.iter().map(|(_, v)| *v as u64).collect();
        match shape(name) {
            Some(got) if *got == want => Ok(()),
            Some(got) => Err(Error::model(
                config,
                format!(
                    "{} = {:?} do not fit the checkpoint: tensor `{p}{name}` of {} has shape \
                     {got:?}",
                    fields
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", "),
                    want,
                    weights.display()
                ),
            )),
            None => Err(Error::model(
                weights,
                format!("tensor `{p}{name}` is missing"),
            )),
        }
    };
    let h = ("hidden_size", cfg.hidden_size);
    expect(
        "embeddings.word_embeddings.weight",
        &[("vocab_size", cfg.vocab_size), h],
    )?;
    expect(
        "embeddings.position_embeddings.weight",
        &[("max_position_embeddings", cfg.max_position_embeddings), h],
    )?;
    expect(
        "embeddings.token_type_embeddings.weight",
        &[("type_vocab_size", cfg.type_vocab_size), h],
    )?;
    let layers = layer_count(shapes, p);
    if layers != cfg.num_hidden_layers as u64 {
        return Err(Error::model(
            config,
            format!(
                "num_hidden_layers = {} does not fit the checkpoint {}, which has {layers} layers",
                cfg.num_hidden_layers,
                weights.display()
            ),
        ));
    }
    expect(
        "encoder.layer.0.intermediate.dense.weight",
        &[("intermediate_size", cfg.intermediate_size), h],
    )
}

/// Number of `encoder.layer.N.` blocks (the largest N + 1).
fn layer_count(shapes: &Shapes, prefix: &str) -> u64 {
    let head = format!("{prefix}encoder.layer.");
    shapes
        .keys()
        .filter_map(|k| {
            k.strip_prefix(&head)?
                .split('.')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .map(|n| n.saturating_add(1))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_or_say_why() {
        let ok = br#"{"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}"#;
        assert_eq!(
            parse_header(ok).ok().and_then(|s| s.get("a").cloned()),
            Some(vec![2, 3])
        );
        assert!(parse_header(b"[1]").is_err());
        assert!(parse_header(br#"{"a": {"shape": [-1]}}"#).is_err());
        assert!(parse_header(b"\xff").is_err());
    }

    #[test]
    fn layers_are_counted_by_index() {
        let mut s = Shapes::new();
        for k in [
            "bert.encoder.layer.0.x",
            "bert.encoder.layer.11.y",
            "bert.pooler.z",
        ] {
            s.insert(k.into(), vec![1]);
        }
        assert_eq!(layer_count(&s, "bert."), 12);
    }
}
