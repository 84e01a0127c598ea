//! A tiny end-to-end run on simulated scans: it learns, and a resumed run continues the
//! same run exactly.

use std::path::Path;

use ichscan_train::data::{build, ScanEntry};
use ichscan_train::train::{train, RunOptions, TrainConfig};
use ichscan_train::{Arch, Config};
use ichscan_dataset::split::split;
use ichscan_load::write::{write_nifti, NiftiType};
use ichscan_slices::{Plane, PlaneConfig};
use ichscan_synth::{phantom_case, CaseSpec, Kind};
use tch::Device;

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
