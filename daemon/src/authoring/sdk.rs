//! The Rust SDK (`plugin-sdk/`, macros and WIT included) compiled into this
//! binary, so `agentd plugin new --lang rust` writes a project that builds
//! without the agentd source tree. Workspace-inherited keys are written out.

use std::path::Path;

use super::AuthoringError;

/// Every SDK file a plugin build needs, by path under `plugin-sdk/`.
pub(super) const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../../plugin-sdk/Cargo.toml")),
    ("README.md", include_str!("../../../plugin-sdk/README.md")),
    (
        "macros/Cargo.toml",
        include_str!("../../../plugin-sdk/macros/Cargo.toml"),
    ),
    (
        "macros/src/collect.rs",
        include_str!("../../../plugin-sdk/macros/src/collect.rs"),
    ),
    (
        "macros/src/describe.rs",
        include_str!("../../../plugin-sdk/macros/src/describe.rs"),
    ),
    (
        "macros/src/errors.rs",
        include_str!("../../../plugin-sdk/macros/src/errors.rs"),
    ),
    (
        "macros/src/generate.rs",
        include_str!("../../../plugin-sdk/macros/src/generate.rs"),
    ),
    (
        "macros/src/guardrail.rs",
        include_str!("../../../plugin-sdk/macros/src/guardrail.rs"),
    ),
    (
        "macros/src/lib.rs",
        include_str!("../../../plugin-sdk/macros/src/lib.rs"),
    ),
    (
        "macros/src/signature.rs",
        include_str!("../../../plugin-sdk/macros/src/signature.rs"),
    ),
    (
        "macros/src/test_support.rs",
        include_str!("../../../plugin-sdk/macros/src/test_support.rs"),
    ),
    (
        "macros/src/tool.rs",
        include_str!("../../../plugin-sdk/macros/src/tool.rs"),
    ),
    (
        "src/args.rs",
        include_str!("../../../plugin-sdk/src/args.rs"),
    ),
    (
        "src/guardrail.rs",
        include_str!("../../../plugin-sdk/src/guardrail.rs"),
    ),
    ("src/lib.rs", include_str!("../../../plugin-sdk/src/lib.rs")),
    ("src/log.rs", include_str!("../../../plugin-sdk/src/log.rs")),
    (
        "src/output.rs",
        include_str!("../../../plugin-sdk/src/output.rs"),
    ),
    (
        "src/schema.rs",
        include_str!("../../../plugin-sdk/src/schema.rs"),
    ),
    ("src/wit.rs", include_str!("../../../plugin-sdk/src/wit.rs")),
    (
        "wit/plugin.wit",
        include_str!("../../../plugin-sdk/wit/plugin.wit"),
    ),
];

/// The one WIT file of the contract (0.2), for Python and JS projects.
pub(super) const WIT: &str = include_str!("../../../plugin-sdk/wit/plugin.wit");

/// `version.workspace = true` and friends, as a standalone crate needs them.
fn standalone(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_dev_deps = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_dev_deps = line.trim() == "[dev-dependencies]";
        }
        if in_dev_deps {
            continue;
        }
        let line = match line.trim() {
            "version.workspace = true" => {
                "version = \"{version}\"".replace("{version}", env!("CARGO_PKG_VERSION"))
            }
            "edition.workspace = true" => "edition = \"2024\"".to_string(),
            "rust-version.workspace = true" => "rust-version = \"1.95\"".to_string(),
            "license.workspace = true" => "license = \"Apache-2.0\"".to_string(),
            "serde_json.workspace = true" => "serde_json = \"1\"".to_string(),
            _ => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Write the SDK under `dir` (`dir/Cargo.toml`, `dir/macros/...`).
pub(super) fn write(dir: &Path) -> Result<(), AuthoringError> {
    for (rel, text) in FILES {
        let path = dir.join(rel);
        let text = if rel.ends_with("Cargo.toml") {
            standalone(text)
        } else {
            (*text).to_string()
        };
        super::new::write_file(&path, &text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file added to the SDK must be added to [`FILES`] too.
    #[test]
    fn every_sdk_file_is_compiled_in() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk");
        let mut found = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if rel == "tests" || rel == "target" {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else {
                    found.push(rel);
                }
            }
        }
        found.sort();
        let mut listed: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        listed.sort();
        assert_eq!(found, listed);
    }

    #[test]
    fn manifests_stand_alone() {
        let text = standalone(FILES[0].1);
        assert!(
            !text
                .lines()
                .any(|l| l.trim_end().ends_with("workspace = true")),
            "{text}"
        );
        assert!(!text.contains("[dev-dependencies]"), "{text}");
        assert!(text.contains("edition = \"2024\""), "{text}");
    }
}
