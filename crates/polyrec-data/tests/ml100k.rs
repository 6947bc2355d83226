//! Ingest of the real MovieLens-100K files (installed by scripts/setup.sh).

use std::path::{Path, PathBuf};

use polyrec_data::{Dataset, DatasetStats, TaskKind};

fn spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/ml-100k.toml")
}

fn data_dir() -> PathBuf {
    std::env::var_os("POLYREC_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/polyrec/data/ml-100k")
        })
}

#[test]
fn counts_match_the_files() -> Result<(), Box<dyn std::error::Error>> {
    let ds = Dataset::load(spec(), Some(&data_dir()))?;
    assert_eq!(ds.interactions.len(), 100_000);
    assert_eq!(ds.users.ids.len(), 943);
    assert_eq!(ds.items.ids.len(), 1_682);
    let kg = ds.kg.as_ref().ok_or("no kg")?;
    assert_eq!(kg.triples.len(), 91_631);
    assert_eq!(kg.relations.len(), 24);
    let linked: std::collections::HashSet<u32> = kg.item_links.iter().map(|l| l.item).collect();
    assert_eq!(linked.len(), 1_598);
    assert_eq!(ds.report.rejected(), 0);
    // Every file is accounted for.
    for f in &ds.report.files {
        assert_eq!(f.accepted + f.rejected, f.total, "{}", f.file.display());
    }
    // Scenarios by age, tasks in spec order.
    assert_eq!(
        ds.scenarios,
        ["age 1-24", "age 25-34", "age 35+"].map(String::from)
    );
    assert_eq!(
        ds.tasks.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["like", "rating", "gender"]
    );
    assert_eq!(ds.tasks[1].kind, TaskKind::Regression);
    // The first row of ml-100k.inter: user 196 rated item 242 with 3 at 881250949.
    let r = 0;
    assert_eq!(ds.users.ids.name(ds.interactions.user[r]), "196");
    assert_eq!(ds.items.ids.name(ds.interactions.item[r]), "242");
    assert_eq!(ds.interactions.labels[1][r], 3.0);
    assert_eq!(ds.interactions.labels[0][r], 0.0);
    assert_eq!(ds.interactions.timestamp[r], 881_250_949);
    // Item texts and names from the templates.
    let toy = ds.items.ids.get("1").ok_or("item 1")? as usize;
    assert_eq!(ds.items.names[toy].as_deref(), Some("Toy Story (1995)"));
    assert_eq!(
        ds.items.texts[toy].as_deref(),
        Some("Toy Story (1995). Genres: Animation Children's Comedy")
    );
    // like = rating >= 4 on every row.
    for (l, r) in ds.interactions.labels[0]
        .iter()
        .zip(&ds.interactions.labels[1])
    {
        assert_eq!(*l, f32::from(u8::from(*r >= 4.0)));
    }
    let stats = DatasetStats::of(&ds);
    let overall = &stats.scenarios[0];
    assert_eq!(overall.rows, 100_000);
    assert_eq!(
        stats.scenarios[1..].iter().map(|s| s.rows).sum::<usize>(),
        100_000
    );
    // 55,375 of the 100,000 ratings are 4 or 5.
    assert!((overall.tasks[0].positive_rate.unwrap_or(0.0) - 0.55375).abs() < 1e-12);
    Ok(())
}
