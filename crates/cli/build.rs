// With the `train` feature the binary links libtorch: give it an rpath to the folder
// torch-sys linked against (the project's .venv), so it runs without LD_LIBRARY_PATH.
fn main() {
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
