//! The checked-in `include/dpu_fw.h` is what cbindgen generates from the crate now.
//! `DPUFW_BLESS=1` rewrites it instead of failing.

#[path = "support/header.rs"]
mod header_gen;

#[test]
fn header_is_current() {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = crate_dir.join("../include/dpu_fw.h");
    let want = header_gen::generate(crate_dir).expect("cbindgen generates the header");
    if std::env::var_os("DPUFW_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write include/dpu_fw.h");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
        panic!(
            "include/dpu_fw.h is not what the crate generates (first difference at line {}): \
             run `cargo run -p dpu-fw-capi --example gen-header` (or DPUFW_BLESS=1 cargo test \
             -p dpu-fw-capi --test header) and commit the header",
            line + 1
        );
    }
}
