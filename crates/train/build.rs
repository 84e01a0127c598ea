// Binaries and tests that link libtorch find it at run time through an rpath to the
// folder torch-sys linked against (the project's .venv), so no LD_LIBRARY_PATH is needed.
fn main() {
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        // Where libtorch_cuda.so is, for loading it on request (src/cuda.rs).
        println!("cargo:rustc-env=ICHSCAN_LIBTORCH_LIB={dir}");
    }
}
