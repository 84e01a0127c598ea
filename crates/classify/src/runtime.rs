//! Finding and starting ONNX Runtime.
//!
//! The library (`libonnxruntime.so.*` from the PyPI `onnxruntime-openvino` wheel, or the plain
//! `onnxruntime` one: [`ORT_WHEEL`]) is looked for, in
//! order: `ORT_DYLIB_PATH`; beside the `ichscan` binary (`libonnxruntime.so*`); in the
//! project's Python environment (`.venv/lib/python3*/site-packages/onnxruntime/capi/`) of
//! any folder above the binary or of the source tree it was built from. A missing library
//! is one clear error saying how to install it: ort's own initialisation would panic.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The ONNX Runtime version `scripts/setup-python` installs.
pub const ORT_VERSION: &str = "1.24.1";

/// The wheel it comes in: with the OpenVINO provider where that wheel exists.
pub const ORT_WHEEL: &str =
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) { "onnxruntime-openvino" } else { "onnxruntime" };

/// What to do when the library is missing.
pub fn install_hint() -> String {
    format!(
        "install it with `scripts/setup-python` (puts {ORT_WHEEL}=={ORT_VERSION} into .venv), or \
         `pip install {ORT_WHEEL}=={ORT_VERSION}` and set ORT_DYLIB_PATH to its \
         onnxruntime/capi/libonnxruntime.so.{ORT_VERSION} (keep the other libraries of that folder beside it), or copy that folder's files beside the ichscan binary"
    )
}

/// The first `libonnxruntime.so*` file in `dir` (sorted, so the choice is stable).
fn lib_in(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so")) && p.is_file()
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

fn in_venv(root: &Path) -> Option<PathBuf> {
    let lib = root.join(".venv").join("lib");
    let mut pys: Vec<PathBuf> = std::fs::read_dir(&lib).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    pys.sort();
    pys.iter().find_map(|py| lib_in(&py.join("site-packages").join("onnxruntime").join("capi")))
}

/// Folders that may hold the project's `.venv`: those above the binary, then the source
/// tree this crate was built from.
pub fn project_roots() -> Vec<PathBuf> {
    let exe = std::env::current_exe().ok();
    let mut roots: Vec<PathBuf> = exe.iter().flat_map(|e| e.ancestors().skip(1)).map(Path::to_path_buf).collect();
    roots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    roots
}

/// Where the library is, by the rule in the module docs.
pub fn find_library() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "ONNX Runtime library not found: ORT_DYLIB_PATH={} is not a file; {}",
                p.display(),
                install_hint()
            ))
        };
    }
    let exe = std::env::current_exe().ok();
    if let Some(dir) = exe.as_deref().and_then(Path::parent) {
        if let Some(p) = lib_in(dir) {
            return Ok(p);
        }
    }
    for root in project_roots() {
        if let Some(p) = in_venv(&root) {
            return Ok(p);
        }
    }
    Err(format!("ONNX Runtime library (libonnxruntime.so) not found; {}", install_hint()))
}

static ENV: OnceLock<Result<(ort::environment::Environment, PathBuf), String>> = OnceLock::new();

/// The process's one ONNX Runtime environment, started on first use.
pub fn environment() -> Result<&'static ort::environment::Environment, String> {
    let r = ENV.get_or_init(|| {
        let path = find_library()?;
        let env = ort::init_from(&path)
            .map_err(|e| format!("ONNX Runtime at {}: {e}; {}", path.display(), install_hint()))?
            .with_name("ichscan")
            .build()
            .map_err(|e| format!("ONNX Runtime at {}: {e}", path.display()))?;
        tracing::info!("ONNX Runtime from {}", path.display());
        Ok((env, path))
    });
    r.as_ref().map(|(e, _)| e).map_err(Clone::clone)
}

static OPENVINO: OnceLock<Result<bool, String>> = OnceLock::new();

/// Whether the library in use has OpenVINO's execution provider (starts the environment).
pub fn has_openvino() -> Result<bool, String> {
    environment()?;
    OPENVINO
        .get_or_init(|| {
            use ort::ep::ExecutionProvider;
            ort::ep::OpenVINO::is_available().map_err(|e| format!("ONNX Runtime's provider list: {e}"))
        })
        .clone()
}

/// The engines this library can run (resolved: CPU, and OpenVINO where present), for
/// tests and benchmarks that check each.
pub fn engines() -> Result<Vec<crate::Engine>, String> {
    let mut e = vec![crate::Engine::Cpu];
    if has_openvino()? {
        e.push(crate::Engine::OpenVino);
    }
    Ok(e)
}

/// The library in use, once started.
pub fn library_path() -> Option<&'static Path> {
    ENV.get().and_then(|r| r.as_ref().ok()).map(|(_, p)| p.as_path())
}
