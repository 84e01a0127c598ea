//! ichscan's side of the inference benchmark (`scripts/bench-infer`): images/s of the
//! torchvision ResNet18 / ResNet50 weights that `infer_speed_pytorch.py` wrote (directory in
//! `BENCH_WEIGHTS`), at batch 16, 3 x 224 x 224:
//!
//! - tch f32 (libtorch, eval mode, no grad): our training engine used for inference;
//! - ONNX Runtime f32: the graph ichscan exports (BatchNorm folded), run through `ort`;
//! - ONNX Runtime int8: the static QDQ graph `ichscan export --int8` makes, calibrated on
//!   axial slices of simulated head CTs;
//!
//! each on every execution provider the library has (ONNX Runtime's CPU kernels; OpenVINO's,
//! which also runs the f32 graph in bf16).
//!
//! The timed input is the same random batch for every engine; speed does not depend on
//! the values. Median of `BENCH_REPS` batches after 3 warm-up.

use std::path::PathBuf;
use std::time::Instant;

use ichscan_classify::export::{export, Int8Data};
use ichscan_classify::{Classifier, Engine, Precision};
use ichscan_model::{InputSpec, ModelMeta, Package};
use ichscan_slices::{Plane, PlaneConfig, Window};
use ichscan_train::{Arch, Config, ResNet};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn median_rate(reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    16.0 / t[t.len() / 2]
}

/// Head slices (HU, 224 x 224 axial) of a few simulated scans, for int8 calibration.
fn sim_slices() -> ndarray::Array3<f32> {
    let mut imgs = Vec::new();
    for seed in 0..4 {
        let case = ichscan_synth::phantom_case(
            &ichscan_synth::CaseSpec { matrix: 256, ..ichscan_synth::CaseSpec::new(seed) },
            true,
        );
        let prep = ichscan_slices::prepare(&case.volume, &[(Plane::Axial, PlaneConfig::default_for(Plane::Axial))]);
        let st = &prep.stacks[0];
        imgs.extend(
            (0..st.len()).filter(|&i| st.has_head[i]).map(|i| st.hu.index_axis(ndarray::Axis(0), i).to_owned()),
        );
    }
    let views: Vec<_> = imgs.iter().map(|a| a.view()).collect();
    ndarray::stack(ndarray::Axis(0), &views).expect("same shapes")
}

fn main() {
    let dir = PathBuf::from(
        std::env::var("BENCH_WEIGHTS").expect("BENCH_WEIGHTS: folder of resnet18/50.safetensors (scripts/bench-infer)"),
    );
    let reps: usize = std::env::var("BENCH_REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
    let threads: i32 = std::env::var("BENCH_THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    tch::set_num_threads(threads);
    let slices = sim_slices();
    let half = slices.dim().0 / 2;
    println!("ichscan, batch 16, 3x224x224, {threads} threads, median of {reps} batches after 3 warm-up");
    for (arch, name) in [(Arch::Resnet18, "resnet18"), (Arch::Resnet50, "resnet50")] {
        let weights = dir.join(format!("{name}.safetensors"));
        tch::manual_seed(0);
        let x = Tensor::randn([16, 3, 224, 224], (Kind::Float, Device::Cpu));
        let xs: Vec<f32> = Vec::try_from(&x.flatten(0, -1)).expect("f32");

        let mut vs = VarStore::new(Device::Cpu);
        let net = ResNet::new(&vs.root(), Config::new(arch));
        ichscan_train::load_safetensors(&mut vs, &weights).expect("weights");
        let tch_rate = median_rate(reps, || {
            tch::no_grad(|| net.forward(&x, false).logits.sum(Kind::Float).double_value(&[]));
        });
        println!("  ichscan tch f32 {name}: {tch_rate:.2} images/s");

        // A package around the weights, exported (f32 + int8) as `ichscan export --int8` does.
        let tmp = std::env::temp_dir().join(format!("ichscan-bench-infer-{name}-{}", std::process::id()));
        let src = tmp.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::copy(&weights, src.join("weights.safetensors")).unwrap();
        let meta = ModelMeta {
            format_version: ichscan_model::package::FORMAT_VERSION,
            architecture: serde_json::json!({ "arch": name }),
            plane: Plane::Axial,
            input: InputSpec {
                size: 224,
                channels: Window::defaults(),
                mean: vec![0.485, 0.456, 0.406],
                std: vec![0.229, 0.224, 0.225],
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
            onnx: None,
            weights: Some("weights.safetensors".into()),
        };
        Package::write_meta(&src, &meta).unwrap();
        let data = Int8Data {
            calibration: slices.slice(ndarray::s![..half;(half / 64).max(1), .., ..]),
            held_out: slices.slice(ndarray::s![half.., .., ..]),
        };
        let pkg = export(&Package::open(&src).unwrap(), &tmp.join("out"), Some(data)).expect("export");
        for engine in ichscan_classify::runtime::engines().expect("ONNX Runtime") {
            for precision in [Precision::F32, Precision::Bf16, Precision::Int8] {
                if precision == Precision::Bf16 && engine != Engine::OpenVino {
                    continue;
                }
                let c = Classifier::open(pkg.clone(), precision, engine).expect("ONNX Runtime");
                let r = median_rate(reps, || {
                    c.run(&xs, 16).expect("run");
                });
                println!("  ichscan onnxruntime-{} {} {name}: {r:.2} images/s", engine.name(), precision.name());
            }
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
