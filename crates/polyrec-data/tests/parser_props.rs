//! Arbitrary bytes never make a parser panic, and every row is either read or reported.

use std::path::Path;

use polyrec_data::Format;
use polyrec_data::read::parse_table;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), fmt in 0usize..5) {
        let format = [Format::Atomic, Format::Csv, Format::Tsv, Format::Jsonl, Format::Headerless][fmt];
        if let Ok(t) = parse_table(&bytes, Path::new("fuzz"), format) {
            for r in 0..t.len() {
                prop_assert_eq!(t.row(r).len(), t.header.len());
            }
        }
    }

    #[test]
    fn tab_rows_round_trip(rows in prop::collection::vec(prop::collection::vec("[a-z0-9 .]{0,8}", 3), 1..40)) {
        let mut text = String::from("a:token\tb:token\tc:float\n");
        for r in &rows {
            text.push_str(&r.join("\t"));
            text.push('\n');
        }
        let t = parse_table(text.as_bytes(), Path::new("x.inter"), Format::Atomic).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(t.len(), rows.len());
        for (i, r) in rows.iter().enumerate() {
            prop_assert_eq!(t.row(i), r.iter().map(String::as_str).collect::<Vec<_>>());
            prop_assert_eq!(t.line(i), i + 2);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A valid UTF-8 file has its cells pointed into its text; one invalid line sends it down
    /// the path that checks and copies line by line. Both read the same rows, lines and
    /// errors, whatever the bytes (tabs, line ends, multi-byte characters, a BOM).
    #[test]
    fn in_place_and_copied_cells_agree(
        pieces in prop::collection::vec(prop_oneof![
            Just("\t".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just(" ".to_string()),
            Just("\u{feff}".to_string()),
            "[a-z0-9:.]{1,4}",
            "[é€😀]{1,2}",
        ], 0..80),
        at in 0usize..80,
        fmt in 0usize..3,
    ) {
        let format = [Format::Atomic, Format::Tsv, Format::Headerless][fmt];
        let text = pieces.concat();
        // The invalid line goes after a line end (or at the end), so the lines before it and
        // after it are the same lines in both inputs.
        let cut = text.match_indices('\n').map(|(i, _)| i + 1).nth(at).unwrap_or(text.len());
        let mut bad = text.as_bytes()[..cut].to_vec();
        if !bad.is_empty() && !bad.ends_with(b"\n") {
            bad.push(b'\n');
        }
        let bad_line = bad.iter().filter(|&&b| b == b'\n').count() + 1;
        bad.extend_from_slice(b"\xff\xfe\n");
        bad.extend_from_slice(&text.as_bytes()[cut..]);
        let (Ok(good), Ok(mixed)) = (
            parse_table(text.as_bytes(), Path::new("p"), format),
            parse_table(&bad, Path::new("p"), format),
        ) else {
            return Err(TestCaseError::fail("a tab-separated table always parses"));
        };
        // The header is the first non-empty line: only compare when the bad line is not it.
        prop_assume!(mixed.header == good.header);
        let shift = |l: usize| if l >= bad_line { l + 1 } else { l };
        let rows = |t: &polyrec_data::read::RawTable| {
            (0..t.len()).map(|r| (t.line(r), t.row(r).join("|"))).collect::<Vec<_>>()
        };
        let want: Vec<_> = rows(&good).into_iter().map(|(l, r)| (shift(l), r)).collect();
        let got: Vec<_> = rows(&mixed).into_iter().filter(|(l, _)| *l != bad_line).collect();
        prop_assert_eq!(got, want);
        prop_assert!(mixed.errors.iter().any(|e| e.line == bad_line));
        prop_assert_eq!(mixed.errors.len(), good.errors.len() + 1);
    }
}

/// CSV-looking bytes rich in quotes, separators and line ends.
fn csv_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\"".to_vec()),
        Just(b"\"\"".to_vec()),
        Just(b",".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\xef\xbb\xbf".to_vec()),
        "[a-z0-9 ]{1,5}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap_or_default();
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Quotes anywhere: every row has the header's width, no row spans more lines than the
    /// bound, and every line of the input is either in a row, rejected, blank or the header.
    #[test]
    fn csv_quotes_never_panic_or_swallow(bytes in csv_bytes()) {
        let t = parse_table(&bytes, Path::new("q.csv"), Format::Csv)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for r in 0..t.len() {
            prop_assert_eq!(t.row(r).len(), t.header.len());
            prop_assert!(t.line(r) >= 2);
        }
        for e in &t.errors {
            prop_assert!(e.line >= 1);
            prop_assert!(e.value.chars().count() <= 120);
        }
    }

    /// Arbitrary bytes behind a gzip magic: a table or an error, never a panic.
    #[test]
    fn gzip_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..300), plain in "[a-z,\n]{0,200}") {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut bytes = vec![0x1f, 0x8b];
        bytes.extend(&tail);
        let _ = polyrec_data::read::read_table(&write_temp(&dir, "a.csv.gz", &bytes), None);
        // A real gzip stream round-trips.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, plain.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let packed = gz.finish().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got = polyrec_data::read::read_bytes(&write_temp(&dir, "b.gz", &packed))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got, plain.as_bytes());
    }

    /// Arbitrary Parquet-shaped bytes (magic, body, footer length, magic): an error, never
    /// a panic.
    #[test]
    fn parquet_footers_never_panic(body in prop::collection::vec(any::<u8>(), 0..200), len in any::<u32>()) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut bytes = b"PAR1".to_vec();
        bytes.extend(&body);
        bytes.extend(len.to_le_bytes());
        bytes.extend(b"PAR1");
        let _ = polyrec_data::read::read_table(&write_temp(&dir, "f.parquet", &bytes), None);
    }

    /// The atomic writer round-trips any bytes and leaves no temporary file.
    #[test]
    fn atomic_writes_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let p = dir.path().join("sub").join("out.bin");
        polyrec_data::persist::write_atomic(&p, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(std::fs::read(&p).map_err(|e| TestCaseError::fail(e.to_string()))?, bytes);
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        prop_assert_eq!(names.len(), 1);
    }
}

/// A write that fails (its folder is a file) is an error and leaves nothing behind.
#[test]
fn a_failed_atomic_write_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"keep").unwrap_or_else(|e| panic!("{e}"));
    let err = polyrec_data::persist::write_atomic(&blocker.join("out.bin"), b"data");
    assert!(matches!(err, Err(polyrec_data::Error::Io { .. })));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["file"]);
    assert_eq!(std::fs::read(&blocker).ok().as_deref(), Some(&b"keep"[..]));
    // The rename fails (the target is a folder): the temporary file is removed too.
    let target = dir.path().join("folder");
    std::fs::create_dir(&target).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(target.join("x"), b"x").unwrap_or_else(|e| panic!("{e}"));
    assert!(polyrec_data::persist::write_atomic(&target, b"data").is_err());
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    names.sort();
    assert_eq!(names, ["file", "folder"]);
}
