//! A classifier made in PyTorch (not by ichscan's exporter; different network, channel
//! count, size and tensor names) runs in ichscan through the package contract alone and
//! gives the outputs PyTorch computed. Fixture and reference: fixtures/make_pytorch_package.py.

use std::path::Path;

use ichscan_classify::{Classifier, Engine, Precision};
use ichscan_model::Package;

#[test]
fn a_pytorch_exported_package_gives_its_reference_outputs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch_tiny");
    let pkg = Package::open(&dir).unwrap();
    let reference = ichscan_model::safetensors::read(&dir.join("reference.safetensors")).unwrap();
    let hu = &reference["hu"];
    let (n, s) = (hu.shape[0], hu.shape[1]);
    assert_eq!((n, s), (5, pkg.meta.input.size));
    let hu = ndarray::Array3::from_shape_vec((n, s, s), hu.data.clone()).unwrap();

    let engines = ichscan_classify::runtime::engines().unwrap();
    // scripts/setup-python installs the OpenVINO provider here (unless the user points
    // ORT_DYLIB_PATH at a library of their own).
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) && std::env::var_os("ORT_DYLIB_PATH").is_none() {
        assert!(engines.contains(&Engine::OpenVino), "scripts/setup-python installs the OpenVINO provider here");
    }
    let (p, pt) = (&reference["p"].data, &reference["types"].data);
    for &engine in &engines {
        let c = Classifier::open(pkg.clone(), Precision::F32, engine).unwrap();
        assert_eq!(c.engine, engine);
        let x = c.input(hu.view());
        let (logits, types) = c.run(&x, n).unwrap();
        assert!(types.is_some(), "the type head is named in model.json and must be read");
        let scores = c.scores(&logits, types.as_deref(), n);
        for (i, sc) in scores.iter().enumerate() {
            assert!((sc.p - p[i] as f64).abs() < 1e-5, "{engine:?} slice {i}: P {} vs PyTorch {}", sc.p, p[i]);
            assert_eq!(sc.types.len(), 5);
            for (k, t) in sc.types.iter().enumerate() {
                let want = pt[i * 5 + k] as f64;
                assert!((t - want).abs() < 1e-5, "{engine:?} slice {i} type {k}: {t} vs {want}");
            }
        }
    }
    // bf16 (OpenVINO only): the same network at half the mantissa, so P moves a little and
    // no more. bf16 keeps 8 bits of mantissa (relative error 2^-8 per rounding); over this
    // small network the logits move by a few hundredths at most, P by less.
    if engines.contains(&Engine::OpenVino) {
        let c = Classifier::open(pkg.clone(), Precision::Bf16, Engine::OpenVino).unwrap();
        assert_eq!((c.engine, c.precision), (Engine::OpenVino, Precision::Bf16));
        let (logits, types) = c.run(&c.input(hu.view()), n).unwrap();
        for (i, sc) in c.scores(&logits, types.as_deref(), n).iter().enumerate() {
            assert!((sc.p - p[i] as f64).abs() < 2e-2, "bf16 slice {i}: P {} vs PyTorch {}", sc.p, p[i]);
        }
    } else {
        let e = Classifier::open(pkg.clone(), Precision::Bf16, Engine::Cpu).err().expect("bf16 on CPU kernels");
        assert!(e.contains("bf16 needs the OpenVINO engine"), "{e}");
    }
    // The fixture is informative: its probabilities are not all on one side.
    assert!(p.iter().any(|&v| v > 0.5) && p.iter().any(|&v| v < 0.5), "{p:?}");
}
