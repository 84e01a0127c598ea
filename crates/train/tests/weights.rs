//! Weight loading: torchvision-layout state dicts load, and the model then computes what
//! an independent implementation computes.

use std::path::{Path, PathBuf};

use ichscan_train::{load_safetensors, load_weights, Arch, Config, ResNet, WeightsError};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn tiny(arch: Arch, width: i64, types: i64) -> Config {
    Config { arch, width, in_channels: 3, classes: 2, types }
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// The committed fixtures (made by fixtures/make_resnet_fixtures.py with a NumPy forward
/// pass in float64): logits and type logits agree within 1e-4.
#[test]
fn fixtures_match_the_numpy_reference() {
    for (arch, width, name) in [(Arch::Resnet18, 4, "resnet18_w4"), (Arch::Resnet50, 2, "resnet50_w2")] {
        let mut vs = VarStore::new(Device::Cpu);
        let net = ResNet::new(&vs.root(), tiny(arch, width, 5));
        let report = load_safetensors(&mut vs, &fixture(&format!("{name}.safetensors"))).unwrap();
        assert!(report.replaced.is_empty() && report.unused.is_empty(), "{report:?}");
        assert_eq!(report.loaded, vs.variables().len());
        let refs: std::collections::HashMap<String, Tensor> =
            Tensor::read_safetensors(fixture(&format!("{name}_ref.safetensors"))).unwrap().into_iter().collect();
        let out = tch::no_grad(|| net.forward(&refs["input"], false));
        let d = max_diff(&out.logits, &refs["logits"]);
        assert!(d < 1e-4, "{name}: logits differ by {d}");
        let d = max_diff(&out.types.unwrap(), &refs["types"]);
        assert!(d < 1e-4, "{name}: type logits differ by {d}");
    }
}

/// The same weights as PyTorch saves them (`torch.save(model.state_dict())`, made by
/// fixtures/make_pth_fixture.py from a torch module with torchvision's names) load through
/// libtorch's unpickler and give the NumPy reference outputs; junk gets a one-line error.
#[test]
fn pytorch_pth_checkpoint_loads_and_matches_the_numpy_reference() {
    let mut vs = VarStore::new(Device::Cpu);
    let net = ResNet::new(&vs.root(), tiny(Arch::Resnet18, 4, 5));
    let report = load_weights(&mut vs, &fixture("resnet18_w4.pth")).unwrap();
    assert!(report.replaced.is_empty() && report.unused.is_empty(), "{report:?}");
    assert_eq!(report.loaded, vs.variables().len());
    let refs: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(fixture("resnet18_w4_ref.safetensors")).unwrap().into_iter().collect();
    let out = tch::no_grad(|| net.forward(&refs["input"], false));
    let d = max_diff(&out.logits, &refs["logits"]);
    assert!(d < 1e-4, "logits differ by {d}");
    let d = max_diff(&out.types.unwrap(), &refs["types"]);
    assert!(d < 1e-4, "type logits differ by {d}");
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pth");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    let e = load_weights(&mut vs, &junk).unwrap_err();
    assert!(matches!(e, WeightsError::Read { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("junk.pth") && msg.contains("PyTorch") && !msg.contains('\n'), "{msg}");
}

/// A state dict written by this test (random weights, BatchNorm statistics made non-trivial
/// by training-mode passes) loads into a fresh model that then gives the same outputs.
#[test]
fn a_saved_state_dict_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let x = Tensor::randn([3, 3, 48, 48], (Kind::Float, Device::Cpu));
    for arch in [Arch::Resnet18, Arch::Resnet34, Arch::Resnet50] {
        let vs = VarStore::new(Device::Cpu);
        let a = ResNet::new(&vs.root(), tiny(arch, 4, 0));
        for _ in 0..3 {
            let _ = a.forward(&(&x * 2.0 + 0.5), true);
        }
        vs.save(&path).unwrap();
        let want = tch::no_grad(|| a.forward(&x, false).logits);
        let mut vs2 = VarStore::new(Device::Cpu);
        let b = ResNet::new(&vs2.root(), tiny(arch, 4, 0));
        let before = tch::no_grad(|| b.forward(&x, false).logits);
        assert!(max_diff(&before, &want) > 1e-3, "{arch:?}: a fresh model should differ");
        load_safetensors(&mut vs2, &path).unwrap();
        let got = tch::no_grad(|| b.forward(&x, false).logits);
        assert!(max_diff(&got, &want) < 1e-6, "{arch:?}");
    }
}

/// An ImageNet checkpoint has a 1000-class fc: it is skipped (a new 2-class head), the rest loads.
#[test]
fn imagenet_head_is_replaced_and_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let vs = VarStore::new(Device::Cpu);
    let _ = ResNet::new(&vs.root(), Config { classes: 1000, ..tiny(Arch::Resnet18, 4, 0) });
    let imagenet = dir.path().join("imagenet.safetensors");
    vs.save(&imagenet).unwrap();
    let mut vs2 = VarStore::new(Device::Cpu);
    let _ = ResNet::new(&vs2.root(), tiny(Arch::Resnet18, 4, 5));
    let r = load_safetensors(&mut vs2, &imagenet).unwrap();
    assert_eq!(r.replaced, vec!["fc.bias", "fc.weight", "type_fc.bias", "type_fc.weight"]);
    // A body of another width is a shape error naming the parameter.
    let mut vs3 = VarStore::new(Device::Cpu);
    let _ = ResNet::new(&vs3.root(), tiny(Arch::Resnet18, 8, 0));
    match load_safetensors(&mut vs3, &imagenet) {
        Err(WeightsError::Shape { name, .. }) => assert_eq!(name, "bn1.bias"),
        other => panic!("{other:?}"),
    }
    // A ResNet18 file for a ResNet34 model: missing blocks.
    let mut vs4 = VarStore::new(Device::Cpu);
    let _ = ResNet::new(&vs4.root(), tiny(Arch::Resnet34, 4, 0));
    let e = load_safetensors(&mut vs4, &imagenet).unwrap_err();
    assert!(matches!(e, WeightsError::Missing { .. }) && e.to_string().contains("layer1.2"), "{e}");
    // Not a safetensors file.
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not tensors").unwrap();
    assert!(matches!(load_safetensors(&mut vs4, &junk), Err(WeightsError::Read { .. })));
}

/// torchvision's names, as its resnet18/50 state dicts have them.
#[test]
fn parameter_names_follow_torchvision() {
    let vs = VarStore::new(Device::Cpu);
    let _ = ResNet::new(&vs.root(), tiny(Arch::Resnet50, 2, 0));
    let names = vs.variables();
    for n in [
        "conv1.weight",
        "bn1.running_var",
        "layer1.0.conv3.weight",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.running_mean",
        "layer4.2.bn3.bias",
        "fc.weight",
    ] {
        assert!(names.contains_key(n), "{n}");
    }
    // Full-size ResNet50: 25,557,032 parameters with a 1000-class head (torchvision's count).
    let vs = VarStore::new(Device::Cpu);
    let _ = ResNet::new(&vs.root(), Config { classes: 1000, ..Config::new(Arch::Resnet50) });
    let trainable: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
    assert_eq!(trainable, 25_557_032);
}
