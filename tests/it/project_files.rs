//! The project files other tools read: Dioxus.toml for dx, the README commands CI runs.

use std::path::PathBuf;

fn repo_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn dioxus_toml_declares_what_mobile_builds_need() {
    let text = repo_file("Dioxus.toml");
    assert!(text.starts_with(
        "#:schema https://raw.githubusercontent.com/DioxusLabs/dioxus/v0.7.10/packages/cli/schema.json"
    ));
    let cfg: toml::Table = text.parse().expect("Dioxus.toml parses");
    assert_eq!(cfg["application"]["name"].as_str(), Some("pumpside"));
    assert_eq!(
        cfg["bundle"]["identifier"].as_str(),
        Some("org.pumpside.app")
    );
    assert_eq!(cfg["bundle"]["category"].as_str(), Some("Medical"));
    let bt = cfg["permissions"]["bluetooth"]["description"]
        .as_str()
        .expect("bluetooth permission description");
    assert!(bt.len() > 20);
    assert_eq!(cfg["background"]["bluetooth"].as_bool(), Some(true));
    // The two Android SDK levels must agree (manifest vs NDK clang level).
    assert_eq!(
        cfg["android"]["min_sdk"].as_integer(),
        cfg["application"]["android_min_sdk_version"].as_integer()
    );
    // dx reads the custom activity verbatim from this path.
    let activity = cfg["application"]["android_main_activity"]
        .as_str()
        .unwrap();
    let kotlin = repo_file(activity);
    assert!(kotlin.contains("BLUETOOTH_SCAN") && kotlin.contains("BLUETOOTH_CONNECT"));
}

#[test]
fn ci_runs_exactly_the_readme_test_command() {
    let readme = repo_file("README.md");
    let ci = repo_file(".ci/run");
    assert!(ci.contains("exec tests/run-all.sh"));
    assert!(
        readme.contains("\ntests/run-all.sh\n"),
        "the README's test command is tests/run-all.sh"
    );
}
