//! Without the ONNX Runtime library, opening a model is one clear error (no panic) that
//! says how to install it. Own test binary: the runtime is started once per process.

use std::path::Path;

#[test]
fn a_missing_library_is_one_clear_error() {
    std::env::set_var("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch_tiny");
    let pkg = ichscan_model::Package::open(&dir).unwrap();
    let err = ichscan_classify::Classifier::open(pkg, ichscan_classify::Precision::F32, ichscan_classify::Engine::Auto)
        .err()
        .expect("must fail without the library");
    assert!(!err.contains('\n'), "one line: {err}");
    assert!(err.contains("ONNX Runtime library not found"), "{err}");
    assert!(err.contains("/nonexistent/libonnxruntime.so"), "names the path: {err}");
    assert!(
        err.contains("scripts/setup-python")
            && err.contains(&format!(
                "pip install {}=={}",
                ichscan_classify::runtime::ORT_WHEEL,
                ichscan_classify::runtime::ORT_VERSION
            )),
        "{err}"
    );
}
