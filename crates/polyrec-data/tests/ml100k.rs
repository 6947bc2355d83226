//! Ingest of the real MovieLens-100K files (installed by scripts/setup.sh).

#[path = "../../../tests/support/setup_paths.rs"]
mod setup_paths;
use std::path::{Path, PathBuf};

use polyrec_data::{Dataset, DatasetStats, TaskKind};
use setup_paths::ml100k_dir as default_ml100k_dir;

fn spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/ml-100k.toml")
}

#[test]
fn counts_match_the_files() -> Result<(), Box<dyn std::error::Error>> {
    let ds = Dataset::load(spec(), Some(&default_ml100k_dir()))?;
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
    // Every row's scenario (the age bucket) and gender label come from its user's row of
    // ml-100k.user, read here on its own.
    let users = std::fs::read_to_string(default_ml100k_dir().join("ml-100k.user"))?;
    let mut of_user = std::collections::HashMap::new();
    for line in users.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        let age: f64 = c[1].parse()?;
        let bucket = if age <= 24.0 {
            "age 1-24"
        } else if age <= 34.0 {
            "age 25-34"
        } else {
            "age 35+"
        };
        of_user.insert(c[0].to_string(), (bucket, f32::from(u8::from(c[2] == "F"))));
    }
    for r in 0..ds.interactions.len() {
        let user = ds.users.ids.name(ds.interactions.user[r]);
        let (bucket, female) = of_user[user];
        let scenario = &ds.scenarios[ds.interactions.scenario[r] as usize];
        assert_eq!(scenario, bucket, "row {r}, user {user}");
        assert_eq!(ds.interactions.labels[2][r], female, "row {r}, user {user}");
    }
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

#[test]
fn splits_batches_and_cache() -> Result<(), Box<dyn std::error::Error>> {
    use polyrec_data::{
        ColdStart, DatasetSpec, cache, cold_start_split, cold_start_split_cold_valid,
        epoch_batches, leave_one_out, random_split, temporal_split,
    };
    let ds = Dataset::load(spec(), Some(&default_ml100k_dir()))?;
    let n = ds.interactions.len();

    // Random, stratified by scenario, reproducible under a seed.
    let a = random_split(&ds, 0.1, 0.1, 42)?;
    assert_eq!(a, random_split(&ds, 0.1, 0.1, 42)?);
    assert_ne!(a.test, random_split(&ds, 0.1, 0.1, 43)?.test);
    assert_eq!(a.len(), n);
    for s in 0..ds.scenarios.len() as u16 {
        let total = ds.interactions.scenario.iter().filter(|&&x| x == s).count() as f64;
        let test = a
            .test
            .iter()
            .filter(|&&r| ds.interactions.scenario[r as usize] == s)
            .count() as f64;
        assert!(
            (test / total - 0.1).abs() < 0.001,
            "scenario {s}: {}",
            test / total
        );
    }

    // Temporal: every test row is no older than every train row.
    let t = temporal_split(&ds, 0.1, 0.1)?;
    let max_train = t
        .train
        .iter()
        .map(|&r| ds.interactions.timestamp[r as usize])
        .max()
        .unwrap_or(0);
    let min_test = t
        .test
        .iter()
        .map(|&r| ds.interactions.timestamp[r as usize])
        .min()
        .unwrap_or(0);
    assert!(max_train <= min_test);

    // Leave-one-out: one test row per user (every ML-100K user has >= 20 ratings).
    let l = leave_one_out(&ds);
    assert_eq!(l.test.len(), 943);
    assert_eq!(l.valid.len(), 943);

    // Cold start: held-out items never appear in train or valid.
    let c = cold_start_split(&ds, ColdStart::Items, 0.1, 0.1, 7)?;
    assert_eq!(c.held_out.len(), 168);
    let held: std::collections::HashSet<u32> = c.held_out.iter().copied().collect();
    assert!(
        c.train
            .iter()
            .chain(&c.valid)
            .all(|&r| !held.contains(&ds.interactions.item[r as usize]))
    );
    assert!(
        c.test
            .iter()
            .all(|&r| held.contains(&ds.interactions.item[r as usize]))
    );
    assert_eq!(c.len(), n);
    // With cold validation: the same test rows, and validation items unseen in training.
    let v = cold_start_split_cold_valid(&ds, ColdStart::Items, 0.1, 0.1, 7)?;
    assert_eq!(v.test, c.test);
    assert_eq!(v.held_out, c.held_out);
    assert_eq!(v.len(), n);
    let train_items: std::collections::HashSet<u32> = v
        .train
        .iter()
        .map(|&r| ds.interactions.item[r as usize])
        .collect();
    assert!(!v.valid.is_empty());
    assert!(v.valid.iter().all(|&r| {
        let i = ds.interactions.item[r as usize];
        !train_items.contains(&i) && !held.contains(&i)
    }));
    assert!(cold_start_split_cold_valid(&ds, ColdStart::Items, 0.5, 0.5, 7).is_err());

    // Batches: seeded per epoch, every training row exactly once.
    let b1 = epoch_batches(&ds, &a.train, 1024, 9, 0)?;
    let b2 = epoch_batches(&ds, &a.train, 1024, 9, 1)?;
    assert_ne!(b1[0].rows, b2[0].rows);
    assert_eq!(b1, epoch_batches(&ds, &a.train, 1024, 9, 0)?);
    let mut rows: Vec<u32> = b1.iter().flat_map(|b| b.rows.iter().copied()).collect();
    rows.sort_unstable();
    assert_eq!(rows, a.train);
    assert_eq!(
        b1[3].labels[1][5],
        ds.interactions.labels[1][b1[3].rows[5] as usize]
    );

    // Binary cache: a second load is a hit and equals the parsed dataset.
    let dir = tempfile::tempdir()?;
    let s = DatasetSpec::from_toml_file(spec())?;
    let (first, hit1) = cache::load_cached(&s, &default_ml100k_dir(), dir.path())?;
    let (second, hit2) = cache::load_cached(&s, &default_ml100k_dir(), dir.path())?;
    assert!(!hit1 && hit2);
    assert_eq!(first, second);
    assert_eq!(second.items.ids.get("242"), first.items.ids.get("242"));
    // A corrupt cache file is not trusted.
    for e in std::fs::read_dir(dir.path())? {
        let p = e?.path();
        let mut b = std::fs::read(&p)?;
        let k = b.len() - 10;
        b[k] ^= 1;
        std::fs::write(&p, b)?;
    }
    let (third, hit3) = cache::load_cached(&s, &default_ml100k_dir(), dir.path())?;
    assert!(!hit3);
    assert_eq!(third, first);
    Ok(())
}

#[test]
fn select_keeps_every_column_aligned() -> Result<(), Box<dyn std::error::Error>> {
    let ds = Dataset::load(spec(), Some(&default_ml100k_dir()))?;
    let inter = &ds.interactions;
    let rows = [99_999, 0, 5, 5];
    let sub = inter.select(&rows);
    assert_eq!(sub.len(), 4);
    for (k, &r) in rows.iter().enumerate() {
        assert_eq!(sub.user[k], inter.user[r]);
        assert_eq!(sub.item[k], inter.item[r]);
        assert_eq!(sub.scenario[k], inter.scenario[r]);
        assert_eq!(sub.timestamp[k], inter.timestamp[r]);
        assert_eq!(sub.lines[k], inter.lines[r]);
        for (l, full) in sub.labels.iter().zip(&inter.labels) {
            assert_eq!(l[k], full[r]);
        }
    }
    // The first row of the file is line 2 (after the header).
    assert_eq!(sub.lines[1], 2);
    assert!(inter.select(&[]).is_empty());
    Ok(())
}
