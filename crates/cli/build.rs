// With the `train` feature the binary links libtorch: give it an rpath to the folder
// torch-sys linked against (the project's .venv), so it runs without LD_LIBRARY_PATH.
//
// The default model (models/default/<plane>/) is built into the binary when it is there
// (cfg `ichscan_default_model`); a source tree without it still builds, and `detect`
// without --model then says the build has no default model.
fn main() {
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo::rustc-check-cfg=cfg(ichscan_default_model)");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/default");
    let files = ["model.json", "model.onnx", "model.int8.onnx"];
    // A directory is scanned for changes as a whole (naming absent files would re-run
    // this script on every build).
    println!("cargo:rerun-if-changed={}", root.display());
    let all = ["axial", "sagittal", "coronal"].iter().all(|p| files.iter().all(|f| root.join(p).join(f).is_file()));
    if all {
        println!("cargo:rustc-cfg=ichscan_default_model");
    }
}
