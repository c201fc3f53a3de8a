//! The README's sample moment is what `replay` prints for the bundled scenario.

use std::path::PathBuf;

#[test]
fn the_readme_sample_moment_is_real() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let golden =
        std::fs::read_to_string(root.join("fixtures/roaming-scenario.moments.jsonl")).unwrap();
    let samples: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("{\"id\":"))
        .collect();
    assert!(!samples.is_empty(), "the README shows a moment");
    for line in samples {
        assert!(
            golden.lines().any(|g| g == line),
            "README moment not in the golden output: {line}"
        );
    }
}
