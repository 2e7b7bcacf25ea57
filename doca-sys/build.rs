//! Build script for doca-sys.
//!
//! * no feature: nothing to probe, nothing to link; builds anywhere.
//! * `DOCS_RS` set: skip all probing (docs.rs has neither SDK).
//! * `dpdk`: DPDK from pkg-config (`libdpdk`), bindgen over
//!   `include/doca_sys_dpdk.h`, the C shim in `csrc/dpdk_shim.c`.
//! * `doca-api`: bindgen over `include/doca_sys_doca.h`, the DOCA Flow seam
//!   (ours, SDK-free: opaque handles and plain structs). Nothing is compiled
//!   or linked for it: the `dsys_*` symbols come from the SDK shim (`doca`)
//!   or from doca-flow's contract emulator.
//! * `doca`: `doca-api` plus the DOCA SDK, found by environment overrides
//!   first (`DOCA_SYS_INCLUDE_DIR` + `DOCA_SYS_LIB_DIR`, or
//!   `DOCA_SYS_PREFIX`), then pkg-config (`doca-flow`, `doca-common`,
//!   `doca-dpdk-bridge`); its version is read from `doca_version.h` and
//!   exposed as cfgs; `csrc/doca_shim.c` implements the seam over it.
//!
//! Every failure to find a dependency ends the build with a message that says
//! what to install or which variable to set.

use std::env;

/// Environment variables this script reads (each one re-runs it on change).
const ENV_VARS: &[&str] = &[
    "DOCS_RS",
    "DOCA_SYS_PREFIX",
    "DOCA_SYS_INCLUDE_DIR",
    "DOCA_SYS_LIB_DIR",
    "DOCA_SYS_NO_LINK",
    "PKG_CONFIG_PATH",
    "PKG_CONFIG_LIBDIR",
    "PKG_CONFIG_SYSROOT_DIR",
    "LIBCLANG_PATH",
];

/// The cfgs this script may set, declared for `unexpected_cfgs`.
const CFGS: &[&str] = &[
    "doca_sys_docs_rs",
    "doca_sys_has_dpdk",
    "doca_sys_has_doca",
    "doca_sys_has_doca_api",
    "doca_ge_3_0",
    "doca_ge_3_2",
    "doca_ge_3_3",
];

fn main() {
    for var in ENV_VARS {
        println!("cargo:rerun-if-env-changed={var}");
    }
    for cfg in CFGS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    if env::var_os("DOCS_RS").is_some() {
        println!("cargo:rustc-cfg=doca_sys_docs_rs");
    } else {
        #[cfg(feature = "dpdk")]
        if let Err(msg) = native::run() {
            // A panic would bury the message under a backtrace hint; print it
            // plainly and fail the build.
            eprintln!("\nerror: doca-sys: {msg}\n");
            let first = msg.lines().next().unwrap_or("");
            println!("cargo:warning=doca-sys: {first}");
            std::process::exit(1);
        }
    }
}

#[cfg(feature = "dpdk")]
mod native {
    use std::env;
    use std::fs;
    use std::path::{Path, PathBuf};

    /// What pkg-config (or an override) told us about one C library.
    #[derive(Default, Debug)]
    struct CLib {
        include_paths: Vec<PathBuf>,
        /// Other clang flags (`-include rte_config.h`, `-march=...`, `-D...`).
        other_cflags: Vec<String>,
        link_paths: Vec<PathBuf>,
        libs: Vec<String>,
        version: String,
    }

    pub(super) fn run() -> Result<(), String> {
        let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
        let include_dir = manifest.join("../include");
        let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
        let want_doca = env::var_os("CARGO_FEATURE_DOCA").is_some();
        let want_doca_api = want_doca || env::var_os("CARGO_FEATURE_DOCA_API").is_some();
        for f in [
            "include/doca_sys_dpdk.h",
            "include/doca_sys_doca.h",
            "doca-sys/csrc/dpdk_shim.c",
            "doca-sys/csrc/doca_shim.c",
        ] {
            println!(
                "cargo:rerun-if-changed={}",
                manifest.join("..").join(f).display()
            );
        }

        // DOCA first: when it is wanted, its pkg-config path may also be the
        // one that holds the DPDK fork DOCA bundles.
        let doca = if want_doca { Some(probe_doca()?) } else { None };
        let dpdk = probe_dpdk()?;
        println!("cargo:rustc-cfg=doca_sys_has_dpdk");
        println!("cargo:dpdk_version={}", dpdk.version);
        println!("cargo:include={}", include_dir.display());

        let mut clang_args: Vec<String> = Vec::new();
        clang_args.push(format!("-I{}", include_dir.display()));
        for p in &dpdk.include_paths {
            clang_args.push(format!("-I{}", p.display()));
        }
        clang_args.extend(dpdk.other_cflags.iter().cloned());

        // --- DPDK bindings + shim -------------------------------------------
        compile_shim(
            "doca_sys_dpdk_shim",
            &manifest.join("csrc/dpdk_shim.c"),
            &clang_args,
        );
        generate(
            &include_dir.join("doca_sys_dpdk.h"),
            &clang_args,
            &out.join("dpdk.rs"),
            dpdk_allowlist,
        )?;

        // --- the DOCA Flow seam: bindings (no SDK), and its SDK shim ----------
        if want_doca_api {
            generate(
                &include_dir.join("doca_sys_doca.h"),
                &[format!("-I{}", include_dir.display())],
                &out.join("doca.rs"),
                doca_allowlist,
            )?;
            println!("cargo:rustc-cfg=doca_sys_has_doca_api");
        }
        if let Some(doca) = &doca {
            let (major, minor) = doca_version(doca)?;
            check_doca_version(major, minor)?;
            println!("cargo:rustc-cfg=doca_sys_has_doca");
            println!("cargo:doca_version={major}.{minor}");
            if major >= 3 {
                println!("cargo:rustc-cfg=doca_ge_3_0");
            }
            if (major, minor) >= (3, 2) {
                println!("cargo:rustc-cfg=doca_ge_3_2");
            }
            if (major, minor) >= (3, 3) {
                println!("cargo:rustc-cfg=doca_ge_3_3");
            }
            let mut doca_args = vec!["-DDOCA_ALLOW_EXPERIMENTAL_API".to_string()];
            for p in &doca.include_paths {
                doca_args.push(format!("-I{}", p.display()));
            }
            doca_args.extend(doca.other_cflags.iter().cloned());
            doca_args.extend(clang_args.iter().cloned());
            compile_shim(
                "doca_sys_doca_shim",
                &manifest.join("csrc/doca_shim.c"),
                &doca_args,
            );
        }

        // --- link -------------------------------------------------------------
        // `DOCA_SYS_NO_LINK` lets a type-check against headers alone (no
        // libraries) succeed; `cargo check` never links anyway.
        if env::var_os("DOCA_SYS_NO_LINK").is_none() {
            if let Some(doca) = &doca {
                emit_link(doca);
            }
            emit_link(&dpdk);
        }
        Ok(())
    }

    fn probe_dpdk() -> Result<CLib, String> {
        let lib = pkg_config::Config::new()
            .cargo_metadata(false)
            .probe("libdpdk")
            .map_err(|e| {
                format!(
                    "feature `dpdk` needs DPDK's development files, found through pkg-config \
                     (`libdpdk`), and they were not found.\n\
                     On Debian/Ubuntu: apt-get install dpdk libdpdk-dev pkg-config clang libclang-dev\n\
                     With a DPDK of your own (or DOCA's bundled DPDK), add the directory that \
                     holds libdpdk.pc to PKG_CONFIG_PATH.\n\
                     pkg-config said: {e}"
                )
            })?;
        let mut out = CLib {
            include_paths: lib.include_paths.clone(),
            link_paths: lib.link_paths.clone(),
            version: lib.version.clone(),
            ..CLib::default()
        };
        // The libraries we call; the drivers (net_ring, net_null, af_packet,
        // pcap, ...) are plugins that the EAL loads from its driver directory.
        let wanted = [
            "rte_eal",
            "rte_ethdev",
            "rte_mbuf",
            "rte_mempool",
            "rte_ring",
            "rte_acl",
            "rte_bus_vdev",
            "rte_kvargs",
        ];
        for l in &lib.libs {
            if wanted.contains(&l.as_str()) {
                out.libs.push(l.clone());
            }
        }
        // rte_bus_vdev is a driver in some DPDK packagings, not in libdpdk.pc.
        if !out.libs.iter().any(|l| l == "rte_bus_vdev") {
            out.libs.push("rte_bus_vdev".into());
        }
        out.other_cflags = cflags_except_includes("libdpdk")?;
        Ok(out)
    }

    /// The `--cflags` of a pkg-config package minus `-I` flags, kept in order:
    /// DPDK's `-include rte_config.h` and `-march=...` must reach clang, or
    /// the headers see a different machine than the library was built for.
    fn cflags_except_includes(pkg: &str) -> Result<Vec<String>, String> {
        let out = std::process::Command::new(env::var("PKG_CONFIG").unwrap_or("pkg-config".into()))
            .args(["--cflags", pkg])
            .output()
            .map_err(|e| format!("could not run pkg-config --cflags {pkg}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pkg-config --cflags {pkg} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut flags = Vec::new();
        let mut toks = text.split_whitespace();
        while let Some(t) = toks.next() {
            if t.starts_with("-I") {
                continue;
            }
            if t == "-include" {
                if let Some(f) = toks.next() {
                    flags.push("-include".into());
                    flags.push(f.into());
                }
                continue;
            }
            flags.push(t.into());
        }
        Ok(flags)
    }

    fn probe_doca() -> Result<CLib, String> {
        let env_path = |v: &str| env::var_os(v).map(PathBuf::from);
        let (inc, lib) = match (
            env_path("DOCA_SYS_INCLUDE_DIR"),
            env_path("DOCA_SYS_LIB_DIR"),
            env_path("DOCA_SYS_PREFIX"),
        ) {
            (Some(inc), lib, _) => (Some(inc), lib),
            (None, lib, Some(prefix)) => {
                let lib = lib.or_else(|| {
                    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
                    let multiarch = format!("lib/{arch}-linux-gnu");
                    [multiarch.as_str(), "lib64", "lib"]
                        .iter()
                        .map(|d| prefix.join(d))
                        .find(|d| d.is_dir())
                });
                (Some(prefix.join("include")), lib)
            }
            (None, _, None) => (None, None),
        };
        if let Some(inc) = inc {
            if !inc.join("doca_flow.h").is_file() {
                return Err(format!(
                    "feature `doca`: {} has no doca_flow.h. Point DOCA_SYS_INCLUDE_DIR at the \
                     DOCA SDK's include directory (or DOCA_SYS_PREFIX at the SDK root, e.g. the \
                     directory that holds include/doca_flow.h).",
                    inc.display()
                ));
            }
            let mut out = CLib {
                include_paths: vec![inc],
                ..CLib::default()
            };
            if let Some(lib) = lib {
                out.link_paths.push(lib);
            }
            out.libs = ["doca_flow", "doca_dpdk_bridge", "doca_common"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            return Ok(out);
        }
        let mut out = CLib::default();
        for pkg in ["doca-flow", "doca-common", "doca-dpdk-bridge"] {
            let lib = pkg_config::Config::new()
                .cargo_metadata(false)
                .probe(pkg)
                .map_err(|e| {
                    format!(
                        "feature `doca` needs the NVIDIA DOCA SDK (DOCA Flow), and it was not \
                         found.\n\
                         Install the DOCA SDK (doca-sdk-flow / doca-devel packages on a BlueField \
                         or a DOCA host), then either\n  \
                         * add its pkg-config directory to PKG_CONFIG_PATH (on a BlueField: \
                         <doca root>/lib/aarch64-linux-gnu/pkgconfig, and DOCA's DPDK \
                         pkgconfig directory for libdpdk), or\n  \
                         * set DOCA_SYS_PREFIX=<doca root>, or DOCA_SYS_INCLUDE_DIR and \
                         DOCA_SYS_LIB_DIR.\n\
                         Builds without the `doca` feature need no SDK.\n\
                         pkg-config said for `{pkg}`: {e}"
                    )
                })?;
            for p in lib.include_paths {
                if !out.include_paths.contains(&p) {
                    out.include_paths.push(p);
                }
            }
            for p in lib.link_paths {
                if !out.link_paths.contains(&p) {
                    out.link_paths.push(p);
                }
            }
            for l in lib.libs {
                if !out.libs.contains(&l) {
                    out.libs.push(l);
                }
            }
            if pkg == "doca-flow" {
                out.version = lib.version;
            }
        }
        Ok(out)
    }

    /// `(major, minor)` from `doca_version.h` in the DOCA include path.
    fn doca_version(doca: &CLib) -> Result<(u32, u32), String> {
        let header = doca
            .include_paths
            .iter()
            .map(|p| p.join("doca_version.h"))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                format!(
                    "feature `doca`: doca_version.h not found in {:?}; is this a complete DOCA SDK?",
                    doca.include_paths
                )
            })?;
        println!("cargo:rerun-if-changed={}", header.display());
        let text = fs::read_to_string(&header)
            .map_err(|e| format!("cannot read {}: {e}", header.display()))?;
        parse_doca_version(&text).ok_or_else(|| {
            format!(
                "feature `doca`: could not read the DOCA version from {} (expected \
                 `#define DOCA_VERSION_MAJOR <n>` and `#define DOCA_VERSION_MINOR <n>`)",
                header.display()
            )
        })
    }

    /// The releases the version shim was written for (see
    /// docs/doca-versions.md): 2.9 LTS and 3.0 onwards; 2.10 mixes 2.9 and
    /// 3.0 APIs in a way no shim branch covers.
    fn check_doca_version(major: u32, minor: u32) -> Result<(), String> {
        if (major, minor) < (2, 9) || (major == 2 && minor >= 10) {
            return Err(format!(
                "feature `doca`: DOCA {major}.{minor} is not supported; doca-sys supports DOCA \
                 2.9 LTS and 3.0 or newer (see docs/doca-versions.md)."
            ));
        }
        if (major, minor) > (3, 3) {
            println!(
                "cargo:warning=doca-sys: DOCA {major}.{minor} is newer than 3.3, the newest \
                 release the version shim was checked against; it is built as 3.3."
            );
        }
        Ok(())
    }

    /// Finds `#define <NAME> <number>` for the major and minor macros.
    fn parse_doca_version(text: &str) -> Option<(u32, u32)> {
        let find = |names: &[&str]| {
            text.lines().find_map(|line| {
                let mut t = line.split_whitespace();
                if t.next()? != "#define" {
                    return None;
                }
                let name = t.next()?;
                if !names.contains(&name) {
                    return None;
                }
                let v = t.next()?.trim_matches(|c| c == '(' || c == ')');
                v.trim_end_matches(['u', 'U']).parse::<u32>().ok()
            })
        };
        Some((
            find(&["DOCA_VERSION_MAJOR", "DOCA_VER_MAJOR"])?,
            find(&["DOCA_VERSION_MINOR", "DOCA_VER_MINOR"])?,
        ))
    }

    fn compile_shim(name: &str, src: &Path, args: &[String]) {
        let mut build = cc::Build::new();
        build.file(src).warnings(true).opt_level(2);
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "-include" {
                if let Some(f) = it.next() {
                    build.flag("-include").flag(f);
                }
            } else {
                build.flag(a);
            }
        }
        build.compile(name);
    }

    fn emit_link(lib: &CLib) {
        for p in &lib.link_paths {
            println!("cargo:rustc-link-search=native={}", p.display());
        }
        for l in &lib.libs {
            println!("cargo:rustc-link-lib=dylib={l}");
        }
    }

    fn dpdk_allowlist(b: bindgen::Builder) -> bindgen::Builder {
        b.allowlist_function(
            "rte_(eal|eth|pktmbuf|mempool|ring|acl|vdev)_.*|rte_socket_id|rte_strerror|\
             rte_lcore_count|rte_get_tsc_hz|rte_version|rte_log_set_global_level|\
             rte_thread_register|rte_thread_unregister|dsys_.*",
        )
        .allowlist_type("dsys_.*|rte_acl_.*|rte_eth_.*|rte_mbuf|rte_mempool|rte_ring")
        .allowlist_var(
            "RTE_(ACL|ETH|MBUF|PKTMBUF|MEMPOOL|RING|MAX_ETHPORTS|MAX_LCORE|MAX_QUEUES|LOG)_.*|\
             RTE_PKTMBUF_HEADROOM|RTE_MBUF_DEFAULT_BUF_SIZE|RTE_MAX_ETHPORTS|SOCKET_ID_ANY|\
             LCORE_ID_ANY|RTE_CACHE_LINE_SIZE",
        )
        // Opaque: Rust reaches mbuf fields only through the shim accessors,
        // so the many unions and bitfields stay DPDK's business.
        .opaque_type("rte_mbuf")
        .opaque_type("rte_mempool")
        .opaque_type("rte_ring")
    }

    /// Everything the seam header declares, and nothing else.
    fn doca_allowlist(b: bindgen::Builder) -> bindgen::Builder {
        b.allowlist_file(".*doca_sys_doca\\.h")
    }

    fn generate(
        header: &Path,
        clang_args: &[String],
        out: &Path,
        allowlist: fn(bindgen::Builder) -> bindgen::Builder,
    ) -> Result<(), String> {
        let builder = bindgen::Builder::default()
            .header(header.to_string_lossy())
            .clang_args(clang_args)
            // DPDK's and DOCA's doxygen comments hold C snippets that rustdoc
            // would run as doctests.
            .generate_comments(false)
            .layout_tests(false)
            .derive_default(true)
            .derive_debug(true)
            .prepend_enum_name(false)
            .default_enum_style(bindgen::EnumVariation::Consts)
            .size_t_is_usize(true)
            .use_core()
            .wrap_unsafe_ops(true)
            .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
        // bindgen panics when it cannot load libclang; turn that into the
        // same helpful error as any other failure.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            allowlist(builder).generate().map_err(|e| e.to_string())
        }))
        .unwrap_or_else(|p| {
            Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "bindgen panicked".into()))
        });
        let bindings = result.map_err(|e| {
            format!(
                "bindgen failed on {}: {e}\n\
                 bindgen needs libclang (Debian/Ubuntu: apt-get install clang libclang-dev; or \
                 set LIBCLANG_PATH).",
                header.display()
            )
        })?;
        bindings
            .write_to_file(out)
            .map_err(|e| format!("cannot write {}: {e}", out.display()))
    }
}
