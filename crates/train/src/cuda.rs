//! CUDA for training: libtorch's CUDA half, loaded when a CUDA device is asked for.
//!
//! torch-sys asks the linker for `libtorch_cuda`, but Rust links with `--as-needed` and no
//! symbol of that library is used directly, so the binary does not keep it: libtorch would
//! never see a GPU. Loading it at run time registers CUDA with libtorch (its static
//! initialisers do). It is not linked for good because it needs cuDNN, cuBLAS and the rest,
//! which the light CPU install (`scripts/setup-python`) leaves out: the binary must start
//! without them. `ICHSCAN_CUDA=1 scripts/setup-python` installs the full torch wheel.

use std::path::PathBuf;
use std::sync::OnceLock;

/// `libtorch_cuda.so`: `ICHSCAN_LIBTORCH_CUDA` if set, else beside the libtorch the binary
/// was linked against.
pub fn library() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ICHSCAN_LIBTORCH_CUDA").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    option_env!("ICHSCAN_LIBTORCH_LIB").map(|d| PathBuf::from(d).join("libtorch_cuda.so"))
}

/// Loads libtorch's CUDA library once; a one-line error says why it could not.
pub fn enable() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(load).clone()
}

#[cfg(unix)]
fn load() -> Result<(), String> {
    let hint = "CUDA training needs the full torch wheel: ICHSCAN_CUDA=1 scripts/setup-python";
    let path = library().ok_or_else(|| format!("libtorch's folder is unknown to this build; {hint}"))?;
    if !path.is_file() {
        return Err(format!("{} not found; {hint}", path.display()));
    }
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: dlopen with a NUL-terminated path; the handle is kept for the life of the
    // process (libtorch's CUDA hooks live in it); dlerror's string is copied at once.
    unsafe {
        if libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL).is_null() {
            let e = libc::dlerror();
            let why = if e.is_null() {
                "unknown error".to_string()
            } else {
                std::ffi::CStr::from_ptr(e).to_string_lossy().into_owned()
            };
            return Err(format!("{} could not be loaded ({why}); {hint}", path.display()));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn load() -> Result<(), String> {
    Ok(())
}
