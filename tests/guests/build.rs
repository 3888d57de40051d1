//! Builds every crate of `plugins/` to `wasm32-wasip2` (release) and writes their component
//! paths as constants, so tests run real guests built from source.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = here.join("../..").canonicalize().expect("repository root");
    let plugins = root.join("plugins");
    for watched in ["plugins", "plugin-sdk", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());

    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .expect("run rustc");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if !sysroot.join("lib/rustlib/wasm32-wasip2").is_dir() {
        panic!(
            "the wasm32-wasip2 target is not installed, so the guest components cannot be built.\n\
             Run `rustup target add wasm32-wasip2` (the README's setup command does this)."
        );
    }

    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        // From plugins/, so that cargo finds plugins/.cargo/config.toml (the models' build
        // settings), as it does for an author building there.
        .current_dir(&plugins)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .status()
        .expect("run cargo for plugins/");
    assert!(
        status.success(),
        "building plugins/ for wasm32-wasip2 failed; see the output above"
    );

    let out_dir = target.join("wasm32-wasip2/release");
    let mut consts = String::new();
    let mut all = String::from(
        "/// Every guest, as (crate name, component path).\npub const ALL: &[(&str, &str)] = &[\n",
    );
    let mut names: Vec<String> = std::fs::read_dir(&plugins)
        .expect("read plugins/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let file = out_dir.join(format!("{}.wasm", name.replace('-', "_")));
        assert!(file.is_file(), "{} was not built", file.display());
        let ident = name.replace('-', "_").to_uppercase();
        consts.push_str(&format!(
            "/// The `{name}` component.\npub const {ident}: &str = {:?};\n",
            file.display().to_string()
        ));
        all.push_str(&format!("    ({name:?}, {ident}),\n"));
    }
    all.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("set by cargo")).join("guests.rs");
    std::fs::write(dest, consts + &all).expect("write guests.rs");
}
