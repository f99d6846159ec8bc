//! `agentd plugin new NAME [--lang rust|python|js] [--guardrail]`: a
//! ready-to-build project in `./NAME` with one example tool (or guardrail)
//! and a test that runs natively (`cargo test`, `python3 test_logic.py`,
//! `node --test`).

use std::path::{Path, PathBuf};

use super::{AuthoringError, Lang, MANIFEST, Manifest, World, is_project_name, sdk};

/// What `plugin new` is asked for.
#[derive(Debug, Clone)]
pub struct NewProject {
    pub name: String,
    pub lang: Lang,
    pub world: World,
    /// The folder the project folder is made in.
    pub parent: PathBuf,
}

fn template(lang: Lang, world: World) -> Vec<(&'static str, &'static str)> {
    match (lang, world) {
        (Lang::Rust, World::Tools | World::Both) => {
            vec![("src/lib.rs", include_str!("templates/rust_tool.rs"))]
        }
        (Lang::Rust, World::Guardrails) => {
            vec![("src/lib.rs", include_str!("templates/rust_guardrail.rs"))]
        }
        (Lang::Python, World::Tools | World::Both) => vec![
            ("app.py", include_str!("templates/python_tool.py")),
            ("logic.py", include_str!("templates/python_tool_logic.py")),
            (
                "test_logic.py",
                include_str!("templates/python_tool_test.py"),
            ),
        ],
        (Lang::Python, World::Guardrails) => vec![
            ("app.py", include_str!("templates/python_guardrail.py")),
            (
                "logic.py",
                include_str!("templates/python_guardrail_logic.py"),
            ),
            (
                "test_logic.py",
                include_str!("templates/python_guardrail_test.py"),
            ),
        ],
        (Lang::Js, World::Tools | World::Both) => vec![
            ("app.js", include_str!("templates/js_tool.js")),
            ("test.mjs", include_str!("templates/js_tool_test.mjs")),
        ],
        (Lang::Js, World::Guardrails) => vec![
            ("app.js", include_str!("templates/js_guardrail.js")),
            ("test.mjs", include_str!("templates/js_guardrail_test.mjs")),
        ],
    }
}

pub(super) fn write_file(path: &Path, text: &str) -> Result<(), AuthoringError> {
    let write = || {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)
    };
    write().map_err(|source| AuthoringError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn cargo_toml(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
# A copy of the SDK this agentd was built with (written by `agentd plugin new`).
agentd-plugin-sdk = {{ path = "sdk" }}

# Components are shipped small.
[profile.release]
opt-level = "s"
strip = true

# A project of its own, even when made inside another Cargo workspace.
[workspace]
"#
    )
}

fn readme(m: &Manifest) -> String {
    let (test, edit) = match m.lang {
        Lang::Rust => ("cargo test", "src/lib.rs"),
        Lang::Python => (
            "python3 test_logic.py",
            "logic.py (the logic) and app.py (the contract)",
        ),
        Lang::Js => ("node --test", "app.js"),
    };
    format!(
        "# {name}\n\nAn agentd plugin ({lang:?}, world `{world}` of `agentd:plugin@0.2.0`).\n\n\
         - edit {edit}\n- test natively: `{test}`\n- build the component: `agentd plugin build` (writes `{name}.wasm`)\n\
         - see what it needs: `agentd plugin inspect {name}.wasm`\n\n\
         Then in agents.toml:\n\n```toml\n[plugins.{name}]\npath = \"{name}.wasm\"\n```\n",
        name = m.name,
        lang = m.lang,
        world = m.world.wit_name(),
    )
}

/// Write the project; returns its folder.
pub fn create(req: &NewProject) -> Result<PathBuf, AuthoringError> {
    if !is_project_name(&req.name) {
        return Err(AuthoringError::BadName(req.name.clone()));
    }
    let dir = req.parent.join(&req.name);
    if dir.exists() {
        return Err(AuthoringError::Exists(dir));
    }
    let manifest = Manifest {
        name: req.name.clone(),
        lang: req.lang,
        world: req.world,
    };
    let ident = req.name.replace('-', "_");
    let fill = |t: &str| {
        t.replace("{{name}}", &req.name)
            .replace("{{ident}}", &ident)
    };
    let lang = match req.lang {
        Lang::Rust => "rust",
        Lang::Python => "python",
        Lang::Js => "js",
    };
    let manifest_text = format!(
        "# Read by `agentd plugin build`.\nname = \"{}\"\nlang = \"{lang}\"\nworld = \"{}\"\n",
        manifest.name,
        manifest.world.wit_name()
    );
    write_file(&dir.join(MANIFEST), &manifest_text)?;
    write_file(&dir.join("README.md"), &readme(&manifest))?;
    for (rel, text) in template(req.lang, req.world) {
        write_file(&dir.join(rel), &fill(text))?;
    }
    match req.lang {
        Lang::Rust => {
            write_file(&dir.join("Cargo.toml"), &cargo_toml(&req.name))?;
            write_file(&dir.join(".gitignore"), "/target\n*.wasm\n")?;
            sdk::write(&dir.join("sdk"))?;
        }
        Lang::Python => {
            write_file(&dir.join(".gitignore"), "__pycache__/\n*.wasm\n")?;
            write_file(&dir.join("wit").join("plugin.wit"), sdk::WIT)?;
        }
        Lang::Js => {
            write_file(&dir.join(".gitignore"), "*.wasm\n")?;
            // `node --test` and the component both read app.js as an ES module.
            write_file(
                &dir.join("package.json"),
                &format!(
                    "{{\n  \"name\": \"{}\",\n  \"private\": true,\n  \"type\": \"module\"\n}}\n",
                    req.name
                ),
            )?;
            write_file(&dir.join("wit").join("plugin.wit"), sdk::WIT)?;
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_have_a_manifest_an_example_and_a_test() {
        let tmp = tempfile::tempdir().unwrap();
        for (lang, world, file) in [
            (Lang::Rust, World::Tools, "src/lib.rs"),
            (Lang::Rust, World::Guardrails, "src/lib.rs"),
            (Lang::Python, World::Tools, "test_logic.py"),
            (Lang::Js, World::Guardrails, "test.mjs"),
        ] {
            let name = format!("p-{lang:?}-{}", world.wit_name()).to_lowercase();
            let dir = create(&NewProject {
                name: name.clone(),
                lang,
                world,
                parent: tmp.path().to_path_buf(),
            })
            .unwrap();
            assert!(dir.join(file).is_file(), "{name}: {file}");
            let m = Manifest::read(&dir).unwrap();
            assert_eq!(
                (m.name.as_str(), m.lang, m.world),
                (name.as_str(), lang, world)
            );
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(!text.contains("{{"), "{name}: unfilled template");
        }
        let again = create(&NewProject {
            name: "p-rust-tool-plugin".into(),
            lang: Lang::Rust,
            world: World::Tools,
            parent: tmp.path().to_path_buf(),
        });
        assert!(matches!(again, Err(AuthoringError::Exists(_))));
        let bad = create(&NewProject {
            name: "9lives".into(),
            lang: Lang::Rust,
            world: World::Tools,
            parent: tmp.path().to_path_buf(),
        });
        assert!(bad.unwrap_err().to_string().contains("not a plugin name"));
    }
}
