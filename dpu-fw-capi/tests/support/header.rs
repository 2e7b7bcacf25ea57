//! The header as cbindgen generates it from the crate (shared by `tests/header.rs` and
//! `examples/gen-header.rs`).

/// `include/dpu_fw.h`'s text, generated from the crate at `crate_dir`.
pub(crate) fn generate(crate_dir: &std::path::Path) -> Result<String, String> {
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))?;
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).map_err(|e| e.to_string())
}
