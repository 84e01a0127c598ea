//! The ONNX export (crates/model) run by ONNX Runtime (crates/classify) gives the tch
//! model's logits: ResNet18/34/50 with random weights and non-trivial BatchNorm statistics,
//! batch 1 and 16.

use std::path::Path;

use ichscan_classify::{Classifier, Precision};
use ichscan_model::{ModelMeta, OnnxSpec, Package};
use ichscan_slices::{Plane, Window};
use ichscan_train::{Arch, Config, ResNet};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// A package around `weights` taking raw inputs (mean 0, std 1) of `size`.
pub fn raw_package(dir: &Path, weights: &Path, size: usize, channels: usize) -> Package {
    std::fs::copy(weights, dir.join("weights.safetensors")).unwrap();
    ichscan_model::export_onnx(weights, &dir.join("model.onnx"), size).unwrap();
    let meta = ModelMeta {
        format_version: 1,
        architecture: serde_json::json!({}),
        plane: Plane::Axial,
        input: ichscan_model::InputSpec {
            size,
            channels: vec![Window::BRAIN; channels],
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
            step_mm: 5.0,
            slab_mm: 5.0,
            fov_mm: 240.0,
        },
        labels: vec!["haemorrhage".into(), "healthy".into()],
        type_labels: vec![],
        threshold: 0.5,
        calibration: serde_json::json!({}),
        training: serde_json::json!({}),
        validation: serde_json::json!({}),
        onnx: Some(OnnxSpec {
            f32: "model.onnx".into(),
            int8: None,
            input: "input".into(),
            logits: "logits".into(),
            types: Some("types".into()),
            int8_agreement: None,
        }),
        weights: Some("weights.safetensors".into()),
    };
    Package::write_meta(dir, &meta).unwrap();
    Package::open(dir).unwrap()
}

fn check(arch: Arch, types: i64) {
    tch::manual_seed(11);
    let vs = VarStore::new(Device::Cpu);
    let cfg = Config { arch, width: 64, in_channels: 3, classes: 2, types };
    let net = ResNet::new(&vs.root(), cfg);
    // Non-trivial BatchNorm: scale, shift and running statistics all away from 1 / 0.
    tch::no_grad(|| {
        for (name, mut v) in vs.variables() {
            let n = v.size()[0];
            let r = |lo: f64, hi: f64| Tensor::rand([n], (Kind::Float, Device::Cpu)) * (hi - lo) + lo;
            if name.contains("bn") || name.contains("downsample.1") {
                match name.rsplit('.').next().unwrap() {
                    "weight" => v.copy_(&r(0.3, 1.2)),
                    "bias" => v.copy_(&r(-0.3, 0.3)),
                    "running_mean" => v.copy_(&r(-0.5, 0.5)),
                    "running_var" => v.copy_(&r(0.5, 2.0)),
                    _ => continue,
                };
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.safetensors");
    vs.save(&w).unwrap();
    let pkg_dir = dir.path().join("pkg");
    std::fs::create_dir_all(&pkg_dir).unwrap();
    let pkg = raw_package(&pkg_dir, &w, 224, 3);
    for engine in ichscan_classify::runtime::engines().unwrap() {
        let c = Classifier::open(pkg.clone(), Precision::F32, engine).unwrap();
        compare(arch, types, &net, &c);
    }
}

/// `c`'s logits (and type logits) against tch's on random inputs, batch 1 and 16.
fn compare(arch: Arch, types: i64, net: &ResNet, c: &Classifier) {
    let engine = c.engine;
    for batch in [1i64, 16] {
        let x = Tensor::randn([batch, 3, 224, 224], (Kind::Float, Device::Cpu));
        let out = tch::no_grad(|| net.forward(&x, false));
        let want: Vec<f32> = Vec::try_from(&out.logits.flatten(0, -1)).unwrap();
        let xs: Vec<f32> = Vec::try_from(&x.flatten(0, -1)).unwrap();
        let (got, got_t) = c.run(&xs, batch as usize).unwrap();
        let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
        let d = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        eprintln!("{arch:?} {engine:?} batch {batch}: max |logit| {scale:.3}, max difference {d:.2e}");
        assert_eq!(got.len(), want.len());
        assert!(
            d <= 1e-4 * scale,
            "{arch:?} {engine:?} batch {batch}: ORT differs from tch by {d} (logits up to {scale})"
        );
        if types > 0 {
            let want_t: Vec<f32> = Vec::try_from(&out.types.unwrap().flatten(0, -1)).unwrap();
            let got_t = got_t.expect("types output");
            let dt = want_t.iter().zip(&got_t).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(dt <= 1e-4 * scale.max(1.0), "{arch:?} {engine:?} types differ by {dt}");
        }
    }
}

#[test]
fn resnet18_onnx_matches_tch() {
    check(Arch::Resnet18, 5);
}

#[test]
fn resnet34_onnx_matches_tch() {
    check(Arch::Resnet34, 0);
}

#[test]
fn resnet50_onnx_matches_tch() {
    check(Arch::Resnet50, 5);
}
