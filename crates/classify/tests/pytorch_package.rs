//! A classifier made in PyTorch (not by ichscan's exporter; different network, channel
//! count, size and tensor names) runs in ichscan through the package contract alone and
//! gives the outputs PyTorch computed. Fixture and reference: fixtures/make_pytorch_package.py.

use std::path::Path;

use ichscan_classify::Classifier;
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

    let c = Classifier::open(pkg, false).unwrap();
    let x = c.input(hu.view());
    let (logits, types) = c.run(&x, n).unwrap();
    assert!(types.is_some(), "the type head is named in model.json and must be read");
    let scores = c.scores(&logits, types.as_deref(), n);
    let (p, pt) = (&reference["p"].data, &reference["types"].data);
    for (i, sc) in scores.iter().enumerate() {
        assert!((sc.p - p[i] as f64).abs() < 1e-5, "slice {i}: P {} vs PyTorch {}", sc.p, p[i]);
        assert_eq!(sc.types.len(), 5);
        for (k, t) in sc.types.iter().enumerate() {
            assert!((t - pt[i * 5 + k] as f64).abs() < 1e-5, "slice {i} type {k}: {t} vs {}", pt[i * 5 + k]);
        }
    }
    // The fixture is informative: its probabilities are not all on one side.
    assert!(p.iter().any(|&v| v > 0.5) && p.iter().any(|&v| v < 0.5), "{p:?}");
}
