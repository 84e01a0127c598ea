//! A tiny end-to-end run on simulated scans: it learns, and a resumed run continues the
//! same run exactly.

use std::path::Path;

use ichscan_dataset::split::split;
use ichscan_load::write::{write_nifti, NiftiType};
use ichscan_slices::{Plane, PlaneConfig};
use ichscan_synth::{phantom_case, CaseSpec, Kind};
use ichscan_train::data::{build, ScanEntry};
use ichscan_train::train::{train, RunOptions, TrainConfig};
use ichscan_train::{Arch, Config};
use tch::Device;

/// The trained model as a package, exported to ONNX f32 and int8: ORT f32 gives tch's
/// probabilities, and int8 decisions agree with f32 on the held-out slices.
fn deploys_the_trained_model(
    run: &Path,
    cfg: &TrainConfig,
    train_data: &ichscan_train::data::PlaneData,
    val_data: &ichscan_train::data::PlaneData,
) {
    let meta = ichscan_train::train::package_meta(cfg, plane_cfg(), serde_json::json!({}), serde_json::json!({}));
    let pkg_dir = ichscan_train::train::write_package(run, &meta).unwrap();
    let src = ichscan_model::Package::open(&pkg_dir).unwrap();
    let calibration = train_data.hu(&train_data.spread(128));
    let held_out = val_data.hu(&(0..val_data.samples.len()).collect::<Vec<_>>());
    let out = run.join("deploy");
    let data = ichscan_classify::export::Int8Data { calibration: calibration.view(), held_out: held_out.view() };
    let pkg = ichscan_classify::export::export(&src, &out, Some(data)).unwrap();

    // tch reference on the same slices.
    let mut vs = tch::nn::VarStore::new(Device::Cpu);
    let net = ichscan_train::ResNet::new(&vs.root(), cfg.net);
    ichscan_train::weights::load_safetensors(&mut vs, &pkg_dir.join("weights.safetensors")).unwrap();
    let reference = ichscan_train::train::predict(&net, val_data, cfg, Device::Cpu);

    use ichscan_classify::{Classifier, Engine, Precision};
    let n = held_out.dim().0;
    assert!(n >= 100, "only {n} held-out slices");
    let mut ort = Vec::new();
    for engine in ichscan_classify::runtime::engines().unwrap() {
        let f32c = Classifier::open(pkg.clone(), Precision::F32, engine).unwrap();
        let x = f32c.input(held_out.view());
        let (l, t) = f32c.run(&x, n).unwrap();
        let scores = f32c.scores(&l, t.as_deref(), n);
        let worst = scores.iter().zip(&reference).map(|(a, b)| (a.p - b).abs()).fold(0.0, f64::max);
        eprintln!("ORT f32 ({engine:?}) vs tch on {n} held-out slices: max |dP| {worst:.2e}");
        assert!(worst < 1e-4, "ORT f32 ({engine:?}) differs from tch by {worst}");
        if engine == Engine::Cpu {
            ort = scores;
        }
    }

    let agreement = &pkg.meta.onnx.as_ref().unwrap().int8_agreement.as_ref().unwrap();
    eprintln!("int8: {agreement}");
    assert_eq!(agreement["held_out_slices"], n);
    let a = agreement["decision_agreement"].as_f64().unwrap();
    assert!(a >= 0.99, "int8 agrees with f32 on {a} of held-out slices");
    // The stored figure is what the int8 graph does: recount it here.
    let i8c = Classifier::open(pkg.clone(), Precision::Int8, Engine::Auto).unwrap();
    assert_eq!(agreement["engine"], i8c.engine.name());
    let x = i8c.input(held_out.view());
    let (l8, t8) = i8c.run(&x, n).unwrap();
    let same = i8c.scores(&l8, t8.as_deref(), n).iter().zip(&ort).filter(|(q, p)| (q.p >= 0.5) == (p.p >= 0.5)).count();
    assert_eq!(same as f64 / n as f64, a);
}

/// `n` simulated cases (small matrix, large lesions) written as NIfTI CT + mask.
fn cases(dir: &Path, n: usize) -> Vec<ScanEntry> {
    (0..n)
        .map(|i| {
            // Clearly visible types for a small, short run (subarachnoid blood is subtle).
            let kinds = vec![Kind::Epidural, Kind::Subdural, Kind::Intraparenchymal, Kind::Intraventricular];
            let spec = CaseSpec {
                matrix: 128,
                p_none: 0.35,
                max_lesions: 2,
                size: 2.5,
                kinds,
                ..CaseSpec::new(9000 + i as u64)
            };
            let case = phantom_case(&spec, true);
            let (ct, mask) = (dir.join(format!("c{i}.nii.gz")), dir.join(format!("c{i}_mask.nii.gz")));
            write_nifti(&ct, &case.volume.data.to_owned(), &case.volume.affine, NiftiType::I16).unwrap();
            write_nifti(&mask, &case.labels.mapv(f32::from), &case.volume.affine, NiftiType::U8).unwrap();
            ScanEntry { name: format!("c{i}"), ct, mask: Some(mask), scan_label: None }
        })
        .collect()
}

fn config() -> TrainConfig {
    let net = Config { arch: Arch::Resnet18, width: 8, in_channels: 3, classes: 2, types: 5 };
    TrainConfig { batch: 16, epochs: 6, lr: 2e-3, seed: 3, ..TrainConfig::for_plane(Plane::Axial, net) }
}

fn plane_cfg() -> PlaneConfig {
    PlaneConfig { size: 96, ..PlaneConfig::default_for(Plane::Axial) }
}

#[test]
fn a_tiny_run_learns_and_resumes_exactly() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let entries = cases(dir.path(), 24);
    let names: Vec<(String, Option<bool>)> = entries.iter().map(|e| (e.name.clone(), None)).collect();
    let s = split(&names, 0.7, 5);
    let pick = |set: &[String]| entries.iter().filter(|e| set.contains(&e.name)).cloned().collect::<Vec<_>>();
    let train_data = build(&pick(&s.train), Plane::Axial, plane_cfg(), None, &Default::default()).unwrap();
    let val_data = build(&pick(&s.val), Plane::Axial, plane_cfg(), None, &Default::default()).unwrap();
    assert!(
        train_data.positives() > 10 && val_data.positives() > 3,
        "{} / {}",
        train_data.positives(),
        val_data.positives()
    );
    let cfg = config();
    let run = dir.path().join("run");
    let m = train(
        &run,
        &cfg,
        &train_data,
        &val_data,
        &RunOptions { device: Device::Cpu, resume: false, weights: None },
        |p| {
            if let ichscan_train::train::Progress::Validated { epoch, metrics, train_loss } = p {
                eprintln!(
                    "epoch {epoch}: loss {train_loss:.3} val AUC {:.3} acc {:.3}",
                    metrics.auc, metrics.accuracy.value
                );
            }
        },
    )
    .unwrap();
    // Chance is 0.5 for both AUC and balanced accuracy (the loss is class-weighted, so
    // plain accuracy at 0.5 trades specificity for sensitivity on these 20-30% positive sets).
    let balanced = (m.sensitivity.value + m.specificity.value) / 2.0;
    eprintln!(
        "val: AUC {:.3}, balanced accuracy {balanced:.3}, sens {:.3}, spec {:.3}",
        m.auc, m.sensitivity.value, m.specificity.value
    );
    assert!(m.auc > 0.75, "AUC {}", m.auc);
    assert!(balanced > 0.7, "balanced accuracy {balanced}");
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap().lines().count();
    assert_eq!(lines, 6);
    deploys_the_trained_model(&run, &cfg, &train_data, &val_data);

    // Interrupted after 2 epochs, then resumed to 6: the same weights as the straight run.
    let run2 = dir.path().join("run2");
    let two = TrainConfig { epochs: 2, ..cfg.clone() };
    train(
        &run2,
        &two,
        &train_data,
        &val_data,
        &RunOptions { device: Device::Cpu, resume: false, weights: None },
        |_| {},
    )
    .unwrap();
    train(
        &run2,
        &cfg,
        &train_data,
        &val_data,
        &RunOptions { device: Device::Cpu, resume: true, weights: None },
        |_| {},
    )
    .unwrap();
    let a: std::collections::HashMap<_, _> =
        tch::Tensor::read_safetensors(run.join("checkpoint/weights.safetensors")).unwrap().into_iter().collect();
    let b: std::collections::HashMap<_, _> =
        tch::Tensor::read_safetensors(run2.join("checkpoint/weights.safetensors")).unwrap().into_iter().collect();
    assert_eq!(a.len(), b.len());
    for (k, t) in &a {
        let d = (t - &b[k]).abs().max().double_value(&[]);
        assert!(d < 1e-6, "{k}: resumed run differs by {d}");
    }
    assert_eq!(std::fs::read_to_string(run2.join("metrics.jsonl")).unwrap().lines().count(), 6);
}
