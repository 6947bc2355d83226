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
