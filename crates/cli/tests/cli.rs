//! The `ichscan` binary: exit codes, JSON schema, and no patient identifiers in output.

#[path = "../../load/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::Slice;

fn ichscan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ichscan")).args(args).output().expect("run ichscan")
}

/// 12 axial slices, 16 x 20 pixels of 0.5 x 0.7 mm (columns x rows), 3 mm apart, tilted
/// 10 degrees; patient identifiers in every header.
fn write_tilted(dir: &Path) {
    let th = 10f64.to_radians();
    for k in 0..12 {
        let mut s = Slice::new("2.25.77", k, 20, 16);
        s.iop = [1.0, 0.0, 0.0, 0.0, th.cos(), -th.sin()];
        s.ipp = [0.0, 0.0, 3.0 * k as f64];
        s.pixel_spacing = [0.7, 0.5];
        s.intercept = -1024.0;
        s.stored = vec![1024 + 40; 320];
        s.write(&dir.join(format!("{k}.dcm")));
    }
}

#[test]
fn info_json_has_the_documented_schema_and_values() {
    let dir = tempfile::tempdir().unwrap();
    write_tilted(dir.path());
    let out = ichscan(&["info", dir.path().to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &doc["series"][0];
    assert_eq!(s["series_uid"], "2.25.77");
    assert_eq!(s["description"], "HEAD");
    assert_eq!(s["n_slices"], 12);
    assert!((s["gantry_tilt_deg"].as_f64().unwrap() - 10.0).abs() < 0.01);
    assert_eq!(s["slice_spacing_uniform"], true);
    assert_eq!(s["selected"], true);
    assert!(s["reason"].as_str().unwrap().contains("axial"));
    let v = &doc["volume"];
    assert_eq!(v["dims"], serde_json::json!([16, 20, 12]));
    let sp: Vec<f64> = v["spacing_mm"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    // Columns 0.5 mm, rows 0.7 mm, table step 3 mm after tilt correction.
    assert!((sp[0] - 0.5).abs() < 1e-9 && (sp[1] - 0.7).abs() < 1e-9 && (sp[2] - 3.0).abs() < 1e-9, "{sp:?}");
    // Stored 1064 everywhere with intercept -1024: 40 HU (interpolating a constant keeps
    // it); the tilt correction leaves air at the slab's edges.
    assert_eq!(v["hu_max"].as_f64().unwrap(), 40.0);
    let lo = v["hu_min"].as_f64().unwrap();
    assert!((-1024.0..40.0).contains(&lo), "{lo}");
    assert_eq!(v["resampled"], true);
}

#[test]
fn no_patient_identifiers_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    write_tilted(dir.path());
    let d = dir.path().to_str().unwrap();
    for args in [vec!["info", d], vec!["info", d, "--json"], vec!["-vv", "info", d]] {
        let out = ichscan(&args);
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        for secret in ["Secret", "PID-998877", "19010101"] {
            assert!(!all.contains(secret), "{args:?} printed {secret}");
        }
    }
}

#[test]
fn errors_are_one_line_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = ichscan(&["info", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(dir.path().to_str().unwrap()) && err.contains("no DICOM or NIfTI files"), "{err}");
    assert!(!err.contains("panicked"));
    // A bad NIfTI header.
    let nii = dir.path().join("bad.nii");
    std::fs::write(&nii, [0u8; 400]).unwrap();
    let out = ichscan(&["info", nii.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("bad.nii"), "{err}");
    // Usage errors are 2 as well.
    assert_eq!(ichscan(&["info"]).status.code(), Some(2));
}

#[test]
fn cq500_info_json() {
    let Some(d) = common::shared_data() else {
        return;
    };
    let p = d.join("cq500/CQ500CT0 CQ500CT0");
    let out = ichscan(&["info", p.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["series"][0]["n_slices"], 238);
    assert_eq!(doc["volume"]["dims"], serde_json::json!([512, 512, 239]));
}

#[test]
fn slices_writes_pngs_and_an_index() {
    let dir = tempfile::tempdir().unwrap();
    write_tilted(dir.path());
    let out_dir = dir.path().join("out");
    let out =
        ichscan(&["slices", dir.path().to_str().unwrap(), "--plane", "axial", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(out_dir.join("index.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), "plane,index,position_mm,slab_min_mm,slab_max_mm,has_head,file");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 12 slices 3 mm apart span 36 mm of voxel edges: 5 mm slabs from the first edge,
    // floor((36 - 5) / 5) + 1 = 7 axial slices.
    assert_eq!(rows.len(), 7);
    for (n, r) in rows.iter().enumerate() {
        assert_eq!((r[0], r[1].parse::<usize>().unwrap()), ("axial", n));
        let png = std::fs::read(out_dir.join(r[6])).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        // IHDR width and height: 224 x 224.
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 224);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 224);
    }
    // Slab centres: first edge at z = -1.5 (first slice at 0, 3 mm steps), so 1.0, 6.0, ...
    let first: f64 = rows[0][2].parse().unwrap();
    assert!((first - 1.0).abs() < 1e-3, "{first}");
    let bad =
        ichscan(&["slices", dir.path().to_str().unwrap(), "--plane", "oblique", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn synth_writes_cases_manifest_and_matching_boxes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("syn");
    let o = ichscan(&[
        "synth",
        "--cases",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--seed",
        "5",
        "--matrix",
        "128",
        "--format",
        "both",
        "--p-none",
        "0.34",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest = std::fs::read_to_string(out.join("manifest.csv")).unwrap();
    let mut lines = manifest.lines();
    assert_eq!(lines.next().unwrap(), "case,path,has_haemorrhage,types,mask,json");
    let rows: Vec<Vec<String>> = lines.map(|l| l.split(',').map(String::from).collect()).collect();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join(&r[5])).unwrap()).unwrap();
        assert_eq!(json["has_haemorrhage"].as_bool().unwrap().to_string(), r[2]);
        // The CT reads back (DICOM folder) and the mask's extent per label equals the JSON boxes.
        let ct = ichscan_load::load(&out.join(&r[1]), &Default::default()).unwrap();
        let mask = ichscan_load::load(&out.join(&r[4]), &Default::default()).unwrap();
        assert_eq!(ct.volume.dims(), mask.volume.dims());
        let nii = ichscan_load::load(&out.join(&r[0]).join("ct.nii.gz"), &Default::default()).unwrap();
        assert_eq!(nii.volume.data, ct.volume.data);
        let lesions = json["lesions"].as_array().unwrap();
        assert_eq!(lesions.is_empty(), r[2] == "false");
        for l in lesions {
            let label = l["label"].as_u64().unwrap() as f32;
            // Only compare when this label belongs to one lesion (boxes are per lesion).
            if lesions.iter().filter(|m| m["label"] == l["label"]).count() != 1 {
                continue;
            }
            let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
            for ((k, j, i), v) in mask.volume.data.indexed_iter() {
                if *v == label {
                    for (d, x) in [i, j, k].into_iter().enumerate() {
                        lo[d] = lo[d].min(x);
                        hi[d] = hi[d].max(x);
                    }
                }
            }
            let want: Vec<usize> =
                l["voxel_min"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
            assert_eq!(lo.to_vec(), want);
            let want: Vec<usize> =
                l["voxel_max"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
            assert_eq!(hi.to_vec(), want);
        }
    }
    // Same seed, same bytes.
    let out2 = dir.path().join("syn2");
    let o = ichscan(&["synth", "--cases", "1", "--out", out2.to_str().unwrap(), "--seed", "5", "--matrix", "128"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        std::fs::read(out.join("case_0000/ct/IM0005.dcm")).unwrap(),
        std::fs::read(out2.join("case_0000/ct/IM0005.dcm")).unwrap()
    );
}

#[test]
fn train_writes_a_run_folder_and_model_package() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = ichscan(&[
        "synth",
        "--cases",
        "6",
        "--out",
        data.to_str().unwrap(),
        "--seed",
        "21",
        "--matrix",
        "96",
        "--format",
        "nifti",
        "--p-none",
        "0.3",
        "--size",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let run = dir.path().join("run");
    let manifest = data.join("manifest.csv");
    let args = [
        "train",
        "--manifest",
        manifest.to_str().unwrap(),
        "--plane",
        "coronal",
        "--out",
        run.to_str().unwrap(),
        "--arch",
        "resnet18",
        "--width",
        "4",
        "--size",
        "48",
        "--epochs",
        "1",
        "--types",
    ];
    let o = ichscan(&args);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let split: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("split.json")).unwrap()).unwrap();
    // 6 scans, 7:3 by stratum (4 or 5 with haemorrhage): 4 train + 2 validation in all.
    assert_eq!(split["train"].as_array().unwrap().len() + split["val"].as_array().unwrap().len(), 6);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("coronal/model/model.json")).unwrap()).unwrap();
    assert_eq!(meta["plane"], "coronal");
    assert_eq!(meta["architecture"]["arch"], "resnet18");
    assert_eq!(meta["input"]["size"], 48);
    assert_eq!(meta["type_labels"].as_array().unwrap().len(), 5);
    assert!(run.join("coronal/model/weights.safetensors").is_file());
    assert_eq!(std::fs::read_to_string(run.join("coronal/metrics.jsonl")).unwrap().lines().count(), 1);
    // eval on the same validation split reproduces the final validation metrics.
    let o = ichscan(&["eval", "--manifest", manifest.to_str().unwrap(), "--run", run.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let ev: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval/eval.json")).unwrap()).unwrap();
    let plane = &ev["planes"][0];
    assert_eq!(plane["plane"], "coronal");
    for k in ["n", "positives"] {
        assert_eq!(plane["metrics"][k], meta["validation"][k], "{k}");
    }
    let (a, b) = (plane["metrics"]["auc"].as_f64(), meta["validation"]["auc"].as_f64());
    assert!(a.is_some() && (a.unwrap() - b.unwrap()).abs() < 1e-9, "{a:?} vs {b:?}");
    assert!(run.join("eval/roc_coronal.png").is_file() && run.join("eval/roc_scan.png").is_file());
    // export (f32 + int8, calibrated on the run's own split) then classify a scan.
    let dep = dir.path().join("deploy");
    let o = ichscan(&["export", run.to_str().unwrap(), "--out", dep.to_str().unwrap(), "--int8"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let dmeta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dep.join("coronal/model.json")).unwrap()).unwrap();
    assert_eq!(dmeta["onnx"]["f32"], "model.onnx");
    assert_eq!(dmeta["onnx"]["int8"], "model.int8.onnx");
    let held = dmeta["onnx"]["int8_agreement"]["held_out_slices"].as_u64().unwrap();
    assert!(held > 0);
    let ct = data.join("case_0000/ct.nii.gz");
    let csv = dir.path().join("p.csv");
    for int8 in [false, true] {
        let mut a = vec!["classify", ct.to_str().unwrap(), "--model", dep.to_str().unwrap(), "--out"];
        a.push(csv.to_str().unwrap());
        if int8 {
            a.push("--int8");
        }
        let o = ichscan(&a);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(&csv).unwrap();
        let mut lines = text.lines();
        let head = lines.next().unwrap();
        assert!(head.starts_with("plane,index,position_mm,has_head,p_haemorrhage,positive,p_epidural"), "{head}");
        // One row per coronal slice: 1.6 mm slabs laid from the first voxel edge along the
        // anterior-posterior (row, j) extent of the scan.
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        let vol = ichscan_load::load(&ct, &Default::default()).unwrap().volume;
        let extent = vol.data.dim().1 as f64 * vol.affine.spacing()[1];
        assert_eq!(rows.len(), ((extent - 1.6) / 1.6 + 1e-6).floor() as usize + 1);
        for (i, r) in rows.iter().enumerate() {
            assert_eq!((r[0], r[1].parse::<usize>().unwrap()), ("coronal", i));
            let p: f64 = r[4].parse().unwrap();
            assert!((0.0..=1.0).contains(&p) && (r[5] == "true") == (p >= 0.5), "{r:?}");
        }
    }
    // Without the ONNX Runtime library: one line naming it, exit 2, no panic.
    let o = Command::new(env!("CARGO_BIN_EXE_ichscan"))
        .args(["classify", ct.to_str().unwrap(), "--model", dep.to_str().unwrap()])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("ONNX Runtime library not found") && err.contains("scripts/setup-python"), "{err}");

    // Resuming a finished run trains nothing more and succeeds.
    let mut again = args.to_vec();
    again.push("--resume");
    assert_eq!(ichscan(&again).status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(run.join("coronal/metrics.jsonl")).unwrap().lines().count(), 1);
    // Bad device.
    let mut bad = args.to_vec();
    bad.extend(["--device", "tpu"]);
    assert_eq!(ichscan(&bad).status.code(), Some(2));
}
