//! Writes `include/dpu_fw.h`, the C API's header, from this crate with cbindgen.
//!
//! ```sh
//! cargo run -p dpu-fw-capi --example gen-header
//! ```
//!
//! `tests/header.rs` fails while the checked-in header differs from what this writes.

fn main() {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = crate_dir.join("../include/dpu_fw.h");
    match dpufw_header::generate(crate_dir) {
        Ok(text) => {
            if let Err(e) = std::fs::write(&out, text) {
                eprintln!("cannot write {}: {e}", out.display());
                std::process::exit(1);
            }
            println!("wrote {}", out.display());
        }
        Err(e) => {
            eprintln!("cbindgen: {e}");
            std::process::exit(1);
        }
    }
}

#[path = "../tests/support/header.rs"]
mod dpufw_header;
