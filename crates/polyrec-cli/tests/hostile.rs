//! The `polyrec` binary against hostile input, one test per kind of failure: no panic, no
//! hang, no lost file, no silently wrong number, a clear error, bounded memory, no path
//! outside the data folder. Each checks the exit status, the error text, that nothing
//! panicked, and that no file but the expected output changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn polyrec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_polyrec"))
}

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.insert(p, b);
            }
        }
    }
    out
}

/// Runs the command in `dir`, asserting that it failed with status 1, said `want` on
/// stderr, did not panic, and changed no file under `dir`.
fn fails_cleanly(
    cmd: &mut Command,
    dir: &Path,
    want: &[&str],
) -> Result<String, Box<dyn std::error::Error>> {
    let before = snapshot(dir);
    let out: Output = cmd.current_dir(dir).output()?;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for w in want {
        assert!(err.contains(w), "expected {w:?} in: {err}");
    }
    assert_eq!(before, snapshot(dir), "files changed");
    Ok(err)
}

const PREDICTIONS: &str = "scenario,task,user,label,score\ns,click,u1,1,0.9\ns,click,u2,0,0.2\n";

#[cfg(unix)]
#[test]
fn panic_a_closed_output_pipe_ends_the_command_quietly() -> TestResult {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir()?;
    let p = dir.path().join("p.csv");
    std::fs::write(&p, PREDICTIONS)?;
    let mut child = polyrec()
        .args(["metrics", "--predictions"])
        .arg(&p)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Close the reading end before the command writes (what `| head -0` does).
    drop(child.stdout.take());
    let out = child.wait_with_output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.is_empty(), "{err}");
    assert!(
        out.status.code() == Some(0) || out.status.signal() == Some(libc_sigpipe()),
        "{:?}",
        out.status
    );
    Ok(())
}

#[cfg(unix)]
fn libc_sigpipe() -> i32 {
    13
}

#[test]
fn hang_thread_counts_out_of_bounds_are_refused_before_any_work() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("t.txt"), "a\nb\n")?;
    for (flag, value) in [
        ("--threads", "0"),
        ("--threads", "100000"),
        ("--batch-size", "0"),
    ] {
        fails_cleanly(
            polyrec()
                .args([
                    "embed", "--input", "t.txt", "--output", "o.npy", "--model", "no-model", flag,
                    value,
                ])
                .args(["--device", "cpu"]),
            dir.path(),
            &[flag, "must be in 1..="],
        )?;
    }
    Ok(())
}

#[test]
fn lost_files_an_output_that_is_the_input_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("t.txt"), "a\nb\n")?;
    fails_cleanly(
        polyrec().args([
            "embed", "--input", "t.txt", "--output", "./t.txt", "--model", "none", "--device",
            "cpu",
        ]),
        dir.path(),
        &["is the input file", "would destroy the input"],
    )?;
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path().join("t.txt"), dir.path().join("link.npy"))?;
        fails_cleanly(
            polyrec().args([
                "embed", "--input", "t.txt", "--output", "link.npy", "--model", "none", "--device",
                "cpu",
            ]),
            dir.path(),
            &["is the input file"],
        )?;
    }
    std::fs::write(dir.path().join("log.csv"), "user,item,y\nu,i,x\n")?;
    std::fs::write(
        dir.path().join("spec.toml"),
        "name = \"t\"\non_error = \"skip\"\nreject_file = \"log.csv\"\n\
         interactions = { path = \"log.csv\", user = \"user\", item = \"item\" }\n\
         [[tasks]]\nname = \"y\"\nkind = \"regression\"\nfield = \"y\"\n",
    )?;
    fails_cleanly(
        polyrec().args(["data", "inspect", "--spec", "spec.toml"]),
        dir.path(),
        &["the reject file is the input", "log.csv"],
    )?;
    Ok(())
}

#[test]
fn silently_wrong_metrics_semantics_are_strict() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("labels.csv"),
        "scenario,task,user,label,score\ns,click,u1,2,0.9\ns,click,u2,-1,0.2\n",
    )?;
    std::fs::write(
        dir.path().join("logits.csv"),
        "scenario,task,user,label,score\ns,click,u1,1,3.5\ns,click,u2,0,-2\n",
    )?;
    std::fs::write(dir.path().join("p.csv"), PREDICTIONS)?;
    std::fs::write(
        dir.path().join("dup.jsonl"),
        "{\"user\": \"u1\", \"ranked\": [\"a\"], \"relevant\": [\"a\"]}\n{\"user\": \"u1\", \"ranked\": [\"a\"], \"relevant\": [\"a\"]}\n",
    )?;
    std::fs::write(
        dir.path().join("rep.jsonl"),
        "{\"user\": \"u1\", \"ranked\": [\"a\", \"a\", \"a\"], \"relevant\": [\"a\"]}\n",
    )?;
    let m = |args: &[&str]| {
        let mut c = polyrec();
        c.arg("metrics").args(args);
        c
    };
    fails_cleanly(
        &mut m(&["--predictions", "labels.csv"]),
        dir.path(),
        &["labels.csv:2", "--task click="],
    )?;
    fails_cleanly(
        &mut m(&["--predictions", "labels.csv", "--task", "click=binary"]),
        dir.path(),
        &["labels.csv:2", "must be 0 or 1"],
    )?;
    fails_cleanly(
        &mut m(&["--predictions", "logits.csv"]),
        dir.path(),
        &["logits.csv:2", "--scores logits"],
    )?;
    fails_cleanly(
        &mut m(&["--predictions", "p.csv", "--task", "clik=binary"]),
        dir.path(),
        &["\"clik\" is not in"],
    )?;
    fails_cleanly(
        &mut m(&["--predictions", "p.csv", "--topk", "rep.jsonl", "--k", "0"]),
        dir.path(),
        &["K = 0"],
    )?;
    fails_cleanly(
        &mut m(&["--predictions", "p.csv", "--topk", "dup.jsonl", "--k", "1"]),
        dir.path(),
        &["dup.jsonl:2", "listed twice"],
    )?;
    fails_cleanly(
        &mut m(&["--predictions", "p.csv", "--topk", "rep.jsonl", "--k", "3"]),
        dir.path(),
        &["rep.jsonl:1", "appears twice"],
    )?;
    let ok = polyrec()
        .current_dir(dir.path())
        .args([
            "metrics",
            "--predictions",
            "logits.csv",
            "--scores",
            "logits",
            "--json",
        ])
        .output()?;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout)?;
    let ll = v["overall"]["click"]["logloss"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let want =
        -((1.0 / (1.0 + (-3.5f64).exp())).ln() + (1.0 - 1.0 / (1.0 + 2f64.exp())).ln()) / 2.0;
    assert!((ll - want).abs() < 1e-9, "{ll} vs {want}");
    Ok(())
}

#[test]
fn silently_wrong_a_dataset_name_cannot_move_the_reject_file() -> TestResult {
    let root = tempfile::tempdir()?;
    let work = root.path().join("a/b");
    std::fs::create_dir_all(&work)?;
    std::fs::write(work.join("log.csv"), "user,item,y\nu,i,1\nu,i,x\n")?;
    std::fs::write(
        work.join("spec.toml"),
        "name = \"../../x\"\non_error = \"skip\"\n\
         interactions = { path = \"log.csv\", user = \"user\", item = \"item\" }\n\
         [[tasks]]\nname = \"y\"\nkind = \"regression\"\nfield = \"y\"\n",
    )?;
    let before = snapshot(root.path());
    let out = polyrec()
        .current_dir(&work)
        .args(["data", "inspect", "--spec", "spec.toml"])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut after = snapshot(root.path());
    let rejects = after
        .remove(&work.join("_.._x.rejects.tsv"))
        .ok_or("the reject file is not in the working folder")?;
    assert!(String::from_utf8_lossy(&rejects).contains("\t3\ty\tx\t"));
    assert_eq!(before, after, "another file changed");
    Ok(())
}

#[test]
fn unclear_byte_order_marks_and_quotes_are_read() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("p.csv"),
        "\u{feff}scenario,task,user,label,score\n\"a, b\",click,u1,1,0.9\n\"a, b\",click,u2,0,0.2\n",
    )?;
    std::fs::write(
        dir.path().join("t.jsonl"),
        "\u{feff}{\"user\": \"u1\", \"ranked\": [\"a\", \"b\"], \"relevant\": [\"a\"]}\n",
    )?;
    let out = polyrec()
        .current_dir(dir.path())
        .args([
            "metrics",
            "--predictions",
            "p.csv",
            "--topk",
            "t.jsonl",
            "--k",
            "1",
            "--json",
        ])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["a, b"]["click"]["auc"].as_f64(), Some(1.0));
    assert_eq!(v["topk"]["recall@1"].as_f64(), Some(1.0));
    Ok(())
}

#[test]
fn memory_a_device_as_input_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    if !Path::new("/dev/zero").exists() {
        return Ok(());
    }
    fails_cleanly(
        polyrec().args(["metrics", "--predictions", "/dev/zero"]),
        dir.path(),
        &["not a regular file"],
    )?;
    std::fs::write(
        dir.path().join("spec.toml"),
        "name = \"t\"\nallow_outside_data_dir = true\n\
         interactions = { path = \"/dev/zero\", format = \"csv\", user = \"user\", item = \"item\" }\n\
         [[tasks]]\nname = \"y\"\nkind = \"regression\"\nfield = \"y\"\n",
    )?;
    fails_cleanly(
        polyrec().args(["data", "validate", "--spec", "spec.toml"]),
        dir.path(),
        &["/dev/zero", "not a regular file"],
    )?;
    Ok(())
}

#[test]
fn paths_a_spec_reads_only_under_its_data_folder() -> TestResult {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    std::fs::write(
        dir.path().join("secret.csv"),
        "user,item,y\nroot:x:0:0,x,1\n",
    )?;
    std::fs::write(
        data.join("spec.toml"),
        "name = \"t\"\ninteractions = { path = \"../secret.csv\", user = \"user\", item = \"item\" }\n\
         [[tasks]]\nname = \"y\"\nkind = \"regression\"\nfield = \"y\"\n",
    )?;
    let err = fails_cleanly(
        polyrec().args(["data", "validate", "--spec", "data/spec.toml"]),
        dir.path(),
        &["outside the data folder", "allow_outside_data_dir"],
    )?;
    assert!(!err.contains("root:x"), "{err}");
    let ok = polyrec()
        .current_dir(dir.path())
        .args([
            "data",
            "validate",
            "--allow-outside-data-dir",
            "--spec",
            "data/spec.toml",
        ])
        .output()?;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    Ok(())
}

#[test]
fn memory_a_50_megabyte_text_is_embedded_within_bounds() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut text = "a long review of a quiet film ".repeat((50 << 20) / 30);
    text.push('\n');
    text.push_str("a long review of a quiet film\n");
    std::fs::write(dir.path().join("t.txt"), &text)?;
    let before = snapshot(dir.path());
    let out = polyrec()
        .current_dir(dir.path())
        .args([
            "embed",
            "--device",
            "cpu",
            "--threads",
            "100000",
            "--input",
            "t.txt",
            "--output",
            "e.npy",
        ])
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    // The thread bound is checked first; within it the run succeeds.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--threads 100000"), "{err}");
    let out = polyrec()
        .current_dir(dir.path())
        .args([
            "embed",
            "--device",
            "cpu",
            "--threads",
            "1024",
            "--input",
            "t.txt",
            "--output",
            "e.npy",
        ])
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let mut after = snapshot(dir.path());
    let npy = after.remove(&dir.path().join("e.npy")).ok_or("no output")?;
    assert_eq!(before, after, "another file changed");
    // Two rows of 384 float32 after a 128-byte header.
    assert_eq!(npy.len(), 128 + 2 * 384 * 4);
    Ok(())
}
