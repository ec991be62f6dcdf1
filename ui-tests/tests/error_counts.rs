//! Every compile-fail case reports each mistake once: the errors the compiler emits (its JSON
//! messages, what an IDE shows and what rustc counts in "could not compile ... due to N
//! previous errors") are exactly the errors its `.stderr` snapshot shows.
//!
//! The cases are checked as the binaries of one scratch crate, in one `cargo check`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// The errors each snapshot shows: its lines that start an error.
fn shown(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.starts_with("error:") || l.starts_with("error["))
        .count()
}

#[test]
fn each_mistake_is_reported_once() {
    let root = workspace();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let scratch = target.join("tests").join("error-counts");
    let bins = scratch.join("src").join("bin");
    let _ = std::fs::remove_dir_all(&bins);
    std::fs::create_dir_all(&bins).expect("scratch crate");

    let mut expected = BTreeMap::new();
    for entry in std::fs::read_dir(root.join("ui-tests").join("fail")).expect("fail cases") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let stderr = std::fs::read_to_string(path.with_extension("stderr"))
                .unwrap_or_else(|_| panic!("{name}: no .stderr snapshot"));
            std::fs::copy(&path, bins.join(format!("{name}.rs"))).expect("copy");
            expected.insert(name, shown(&stderr));
        }
    }
    assert!(!expected.is_empty(), "no compile-fail cases");

    let runtime = root.join("flow-runtime");
    std::fs::write(
        scratch.join("Cargo.toml"),
        format!(
            "[package]\nname = \"flow-error-counts\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\
             publish = false\n\n[dependencies]\nflow-runtime = {{ path = {runtime:?} }}\n\
             tokio = {{ version = \"1\", features = [\"macros\", \"rt\"] }}\n\
             serde = {{ version = \"1\", features = [\"derive\"] }}\n\n[workspace]\n"
        ),
    )
    .expect("manifest");
    // The lock file of the workspace, so that the scratch crate builds the same versions.
    std::fs::copy(root.join("Cargo.lock"), scratch.join("Cargo.lock")).expect("lock file");

    let output = Command::new(env!("CARGO"))
        .args(["check", "--bins", "--keep-going", "--message-format=json"])
        .arg("--manifest-path")
        .arg(scratch.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", scratch.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo check");

    let mut emitted: BTreeMap<String, usize> = expected.keys().map(|k| (k.clone(), 0)).collect();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-message" || message["message"]["level"] != "error" {
            continue;
        }
        let target = message["target"]["name"].as_str().unwrap_or_default();
        *emitted.entry(target.replace('-', "_")).or_default() += 1;
    }
    let mismatches: Vec<String> = expected
        .iter()
        .filter(|(name, n)| emitted.get(*name) != Some(n))
        .map(|(name, n)| {
            format!(
                "{name}: the snapshot shows {n}, the compiler emitted {}",
                emitted.get(name).copied().unwrap_or_default()
            )
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "errors reported more than once (or not at all):\n{}\n\ncargo said:\n{}",
        mismatches.join("\n"),
        String::from_utf8_lossy(&output.stderr)
    );
}
