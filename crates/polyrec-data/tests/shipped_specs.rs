//! Every spec shipped in examples/data loads; data sets from the team's `../shared` are
//! checked where that folder exists (CI has it; a user's fresh machine may not).

#[path = "../../../tests/support/setup_paths.rs"]
mod setup_paths;
use std::path::{Path, PathBuf};

use polyrec_data::{Dataset, DatasetSpec, DatasetStats};

fn spec(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data")
        .join(name)
}

/// The folder the spec's relative data_dir points at, redirected by POLYREC_SHARED_DIR.
fn shared_data(sub: &str) -> Option<PathBuf> {
    let base = std::env::var_os("POLYREC_SHARED_DIR")
        .map(|d| PathBuf::from(d).join("data"))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let dir = base.join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: {} not found (../shared is not on this machine)",
            dir.display()
        );
        None
    }
}

fn load(name: &str, sub: &str) -> Option<Result<Dataset, polyrec_data::Error>> {
    let dir = shared_data(sub)?;
    let mut s = DatasetSpec::from_toml_file(spec(name)).ok()?;
    if s.reject_file.is_some() {
        s.reject_file = Some(
            std::env::temp_dir().join(format!("polyrec-test-{}-{name}.tsv", std::process::id())),
        );
    }
    Some(Dataset::load_spec(&s, &dir))
}

#[test]
fn every_shipped_spec_parses() -> Result<(), Box<dyn std::error::Error>> {
    let mut n = 0;
    for e in std::fs::read_dir(spec(""))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "toml") {
            DatasetSpec::from_toml_file(&p)?;
            n += 1;
        }
    }
    assert!(n >= 5, "expected the five shipped specs, found {n}");
    Ok(())
}

#[test]
fn womens_reviews() -> Result<(), Box<dyn std::error::Error>> {
    let Some(ds) = load("womens-reviews.toml", "widedeep") else {
        return Ok(());
    };
    let ds = ds?;
    let f = &ds.report.files[0];
    assert_eq!(f.total, 23_486);
    assert_eq!(f.accepted + f.rejected, f.total);
    assert_eq!(ds.interactions.len(), f.accepted);
    let rejects = std::fs::read_to_string(ds.report.reject_file.as_ref().ok_or("no reject file")?)?;
    assert_eq!(
        rejects.lines().count(),
        f.rejected + 1,
        "header + one line per rejected row"
    );
    // Counted independently with Python's csv module: 14 reviews have no division, and the
    // remaining 23,472 reviews cover 1,199 of the 1,206 clothing ids.
    assert_eq!(f.rejected, 14);
    assert_eq!(ds.items.ids.len(), 1_199);
    assert!(rejects.contains("Division Name") && rejects.contains("empty scenario value"));
    assert_eq!(ds.scenarios.len(), 3);
    let stats = DatasetStats::of(&ds);
    let rec = stats.scenarios[0].tasks[0].positive_rate.ok_or("binary")?;
    assert!(rec > 0.5 && rec < 1.0);
    assert!(
        ds.interactions
            .texts
            .as_ref()
            .is_some_and(|t| t.iter().filter(|x| x.is_some()).count() > 20_000)
    );
    Ok(())
}

#[test]
fn ali_ccp_and_aliexpress_samples() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(ds) = load("ali-ccp.toml", "mtl-samples/scenario-wise-rec") {
        let ds = ds?;
        assert_eq!(ds.interactions.len(), 100);
        assert_eq!(ds.tasks.len(), 2);
        assert!(
            ds.scenarios.len() >= 2,
            "field 301 holds several scenarios: {:?}",
            ds.scenarios
        );
    }
    if let Some(ds) = load("aliexpress.toml", "mtl-samples/torch-rechub") {
        let ds = ds?;
        assert_eq!(ds.interactions.len(), 100);
        assert_eq!(ds.tasks[1].name, "conversion");
    }
    Ok(())
}

#[test]
fn lastfm_with_kg_and_friends() -> Result<(), Box<dyn std::error::Error>> {
    let Some(ds) = load("lastfm.toml", "lastfm-kg") else {
        return Ok(());
    };
    let ds = ds?;
    assert_eq!(ds.interactions.len(), 92_834);
    assert_eq!(ds.users.ids.len(), 1_892);
    assert_eq!(ds.social.len(), 25_434);
    let kg = ds.kg.as_ref().ok_or("kg")?;
    assert_eq!(kg.triples.len(), 15_518);
    assert_eq!(kg.relations.len(), 60);
    Ok(())
}

#[test]
fn parquet_and_gzip_inputs() -> Result<(), Box<dyn std::error::Error>> {
    use polyrec_data::read::read_table;
    // Gzip: the real ML-100K ratings, compressed, read transparently.
    let dir = setup_paths::ml100k_dir();
    let raw = std::fs::read(dir.join("ml-100k.inter"))?;
    let tmp = tempfile::tempdir()?;
    let gz = tmp.path().join("ml-100k.inter.gz");
    let mut enc =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz)?, flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &raw)?;
    enc.finish()?;
    let t = read_table(&gz, None)?;
    assert_eq!((t.len(), t.header.len()), (100_000, 4));
    assert_eq!(t.row(0), ["196", "242", "3", "881250949"]);
    // Parquet: the Women's reviews as shipped (brotli-compressed Parquet).
    let Some(wd) = shared_data("widedeep") else {
        return Ok(());
    };
    let t = read_table(
        &wd.join("WomensClothingE-CommerceReviews.parquet.brotli"),
        Some(polyrec_data::Format::Parquet),
    )?;
    assert_eq!(t.len(), 23_486);
    assert!(
        t.header.iter().any(|h| h.contains("Rating")),
        "{:?}",
        t.header
    );
    Ok(())
}

#[test]
fn spec_variables_come_from_the_caller_not_the_environment()
-> Result<(), Box<dyn std::error::Error>> {
    use polyrec_data::{DatasetSpec, SpecVars};
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/ml-100k.toml");
    let spec = DatasetSpec::from_toml_file(&path)?;
    // No variables: the error names the one the spec uses, whatever the process exports.
    let err = spec
        .resolve_data_dir(&path, None, &SpecVars::new())
        .err()
        .ok_or("resolved without variables")?
        .to_string();
    assert!(err.contains("${POLYREC_DATA_DIR}"), "{err}");
    let vars = SpecVars::new().with("POLYREC_DATA_DIR", "/data/ml");
    assert_eq!(
        spec.resolve_data_dir(&path, None, &vars)?,
        std::path::PathBuf::from("/data/ml")
    );
    // An explicit folder wins over the spec's.
    let over = std::path::Path::new("/elsewhere");
    assert_eq!(
        spec.resolve_data_dir(&path, Some(over), &SpecVars::new())?,
        over
    );
    // Loading with the variables reads the same data as loading from the folder.
    let dir = setup_paths::ml100k_dir();
    let vars = SpecVars::new().with("POLYREC_DATA_DIR", dir.to_string_lossy());
    let a = polyrec_data::Dataset::load_with(&path, None, &vars)?;
    let b = polyrec_data::Dataset::load(&path, Some(&dir))?;
    assert_eq!(a.interactions.len(), b.interactions.len());
    assert_eq!(a.interactions.len(), 100_000);
    Ok(())
}

#[test]
fn movielens_latest_small_with_its_tag_log() -> Result<(), Box<dyn std::error::Error>> {
    // The repository's own copy (examples/data/ml-latest-small), so this runs on any clone.
    let ds = Dataset::load(spec("ml-latest-small.toml"), None)?;
    assert_eq!(ds.interactions.len(), 100_836);
    assert_eq!(ds.users.ids.len(), 610);
    let tags = ds.tags.as_ref().ok_or("tag log")?;
    assert_eq!(tags.len(), 3_683);
    // 1,589 distinct spellings fold into fewer topics once case and spacing are normalised.
    assert_eq!(tags.topics.len(), 1_475);
    assert_eq!(tags.topics.len(), tags.display.len());
    let netflix = tags.topic_of("In Netflix queue").ok_or("a known topic")?;
    assert_eq!(tags.topic.iter().filter(|&&t| t == netflix).count(), 131);
    Ok(())
}
