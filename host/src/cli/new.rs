//! `supervise model new NAME`: a new model crate from the SDK's template.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::CliError;

const CARGO: &str = include_str!("../../../plugin-sdk/template/Cargo.toml.tmpl");
const LIB: &str = include_str!("../../../plugin-sdk/template/src/lib.rs.tmpl");
const README: &str = include_str!("../../../plugin-sdk/template/README.md.tmpl");
/// Build settings for a model outside the `plugins/` workspace, which has its own.
const CARGO_CONFIG: &str = include_str!("../../../plugin-sdk/template/cargo-config.toml.tmpl");
/// The repository's `plugins/` workspace, whose release profile a model of its own copies.
const PLUGINS_MANIFEST: &str = include_str!("../../../plugins/Cargo.toml");

/// The release profile of `plugins/Cargo.toml`: its `[profile.release]` section, to the next
/// section or the end.
fn release_profile() -> &'static str {
    let Some(start) = PLUGINS_MANIFEST.find("[profile.release]") else {
        return "";
    };
    let section = &PLUGINS_MANIFEST[start..];
    let end = section.find("\n[").map_or(section.len(), |i| i + 1);
    &section[..end]
}

/// The end of a standalone model's manifest: its own workspace, built as the repository's
/// models are.
fn standalone_table() -> String {
    format!(
        "\n# A model of its own, outside any workspace, built as the supervise repository's \
         models are.\n[workspace]\n\n{}",
        release_profile()
    )
}

/// Arguments of `supervise model new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Model id: lowercase letters, digits and dashes, e.g. `late-death-registration`.
    pub name: String,
    /// Where to create it; `plugins/NAME` when a `plugins/` workspace is here, else `./NAME`.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Path to the `supervise-sdk` crate, for a model outside the `plugins/` workspace.
    #[arg(long, env = "SUPERVISE_SDK_PATH")]
    pub sdk: Option<PathBuf>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 64
        && !name.ends_with('-')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Whether `dir` is a Cargo workspace that provides `supervise-sdk` to its members.
fn sdk_workspace(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|t| t.contains("[workspace]") && t.contains("supervise-sdk"))
}

/// Creates the crate.
pub fn run(args: &NewArgs) -> Result<ExitCode, CliError> {
    let name = &args.name;
    if !valid_name(name) {
        return Err(CliError::Usage(format!(
            "model name `{name}` must be lowercase letters, digits and dashes, starting with a letter"
        )));
    }
    let dir = args.dir.clone().unwrap_or_else(|| {
        if sdk_workspace(Path::new("plugins")) {
            Path::new("plugins").join(name)
        } else {
            PathBuf::from(name)
        }
    });
    if dir.exists() {
        return Err(CliError::Usage(format!(
            "{} already exists; choose another name or --dir",
            dir.display()
        )));
    }
    let in_workspace = dir.parent().is_some_and(sdk_workspace);
    let (dependency, workspace_table) = if in_workspace {
        ("supervise-sdk.workspace = true".to_string(), String::new())
    } else {
        let sdk = args
            .sdk
            .clone()
            .or_else(|| {
                let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk");
                built_in.is_dir().then_some(built_in)
            })
            .ok_or_else(|| {
                CliError::Usage("cannot find the supervise-sdk crate: pass --sdk PATH".into())
            })?;
        let sdk = sdk.canonicalize().map_err(|source| CliError::Read {
            path: sdk.clone(),
            source,
        })?;
        (
            format!(
                "supervise-sdk = {{ path = {:?} }}",
                sdk.display().to_string()
            ),
            standalone_table(),
        )
    };
    let type_name: String = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let human = name.replace('-', " ");
    let fill = |t: &str| {
        t.replace("{{id}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{struct}}", &type_name)
            .replace("{{name}}", &human)
            .replace("{{sdk_dependency}}", &dependency)
            .replace("{{workspace_table}}", &workspace_table)
    };
    let write = |rel: &str, text: String| {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| CliError::Write {
                path: parent.into(),
                source,
            })?;
        }
        std::fs::write(&path, text).map_err(|source| CliError::Write { path, source })
    };
    write("Cargo.toml", fill(CARGO))?;
    write("src/lib.rs", fill(LIB))?;
    write("README.md", fill(README))?;
    if !in_workspace {
        write(".cargo/config.toml", CARGO_CONFIG.to_string())?;
    }
    println!(
        "created {} ({})",
        dir.display(),
        if in_workspace {
            "workspace member"
        } else {
            "standalone crate"
        }
    );
    println!(
        "next: cd {} && cargo test && cargo build --release --target wasm32-wasip2",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A standalone model is built as the repository's models are.
    #[test]
    fn standalone_build_settings_match_the_repository_models() {
        let settings = |text: &str| -> Vec<String> {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect()
        };
        let repository = include_str!("../../../plugins/.cargo/config.toml");
        assert_eq!(settings(CARGO_CONFIG), settings(repository));
        let release = release_profile();
        assert!(release.contains("lto = true"), "{release}");
        let standalone = standalone_table();
        assert_eq!(
            settings(&standalone[standalone.find("[profile.release]").expect("profile")..]),
            settings(release)
        );
    }

    #[test]
    fn names_must_be_ids() {
        assert!(valid_name("late-death"));
        for bad in ["Late", "1x", "a_b", "x-", ""] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
