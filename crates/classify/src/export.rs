//! Turning a trained package (weights + model.json) into a deployable one: the f32 ONNX
//! graph, and optionally a static int8 graph.
//!
//! int8 uses ONNX Runtime's own quantizer (Python, installed with the onnxruntime wheel in
//! the project's .venv; `python/quantize_int8.py`): its QDQ placement is what ONNX Runtime's
//! int8 kernels are tuned for, and it is the tool users know. Calibration uses slices of
//! the model's own training data; agreement with f32 is measured on held-out slices and
//! stored in the package's model.json.

use std::path::{Path, PathBuf};

use ichscan_model::{ModelMeta, OnnxSpec, Package};
use ndarray::ArrayView3;
use serde_json::json;

use crate::{runtime, Classifier, Engine, Precision};

pub const F32_FILE: &str = "model.onnx";
pub const INT8_FILE: &str = "model.int8.onnx";
pub const WEIGHTS_FILE: &str = "weights.safetensors";
const QUANTIZE_PY: &str = include_str!("../python/quantize_int8.py");

/// Slices (HU, `[n, row, col]` at the model's input size) for int8 calibration and for
/// measuring its agreement with f32.
pub struct Int8Data<'a> {
    pub calibration: ArrayView3<'a, f32>,
    pub held_out: ArrayView3<'a, f32>,
}

/// The project venv's Python (for the quantizer): `ICHSCAN_VENV`, else `.venv` above the
/// binary or in the source tree.
pub fn python() -> Result<PathBuf, String> {
    let cands: Vec<PathBuf> = std::env::var_os("ICHSCAN_VENV")
        .map(PathBuf::from)
        .into_iter()
        .chain(runtime::project_roots().into_iter().map(|r| r.join(".venv")))
        .collect();
    cands.iter().map(|v| v.join("bin").join("python")).find(|p| p.is_file()).ok_or_else(|| {
        "the int8 quantizer needs the project's Python environment (.venv with onnxruntime and onnx): run scripts/setup-python"
            .to_string()
    })
}

/// Exports `src` into `out` (created): weights copied, `model.onnx` written, model.json
/// updated; with `int8`, `model.int8.onnx` and its measured agreement too.
pub fn export(src: &Package, out: &Path, int8: Option<Int8Data>) -> Result<Package, String> {
    let weights = src.dir.join(src.meta.weights.as_deref().unwrap_or(WEIGHTS_FILE));
    if !weights.is_file() {
        return Err(format!("{}: no weights to export (the package needs {WEIGHTS_FILE})", src.dir.display()));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let dst_w = out.join(WEIGHTS_FILE);
    if weights.canonicalize().ok() != dst_w.canonicalize().ok() {
        std::fs::copy(&weights, &dst_w).map_err(|e| format!("{}: {e}", dst_w.display()))?;
    }
    let info =
        ichscan_model::export_onnx(&weights, &out.join(F32_FILE), src.meta.input.size).map_err(|e| e.to_string())?;
    if info.in_channels != src.meta.input.channels.len() {
        return Err(format!(
            "{}: the network takes {} channels, model.json lists {} windows",
            weights.display(),
            info.in_channels,
            src.meta.input.channels.len()
        ));
    }
    let mut meta = ModelMeta {
        onnx: Some(OnnxSpec {
            f32: F32_FILE.into(),
            int8: None,
            input: "input".into(),
            logits: "logits".into(),
            types: (info.types > 0).then(|| "types".into()),
            int8_agreement: None,
        }),
        weights: Some(WEIGHTS_FILE.into()),
        ..src.meta.clone()
    };
    Package::write_meta(out, &meta).map_err(|e| e.to_string())?;
    if let Some(data) = int8 {
        let pkg = Package::open(out).map_err(|e| e.to_string())?;
        // The f32 reference on ONNX Runtime's own CPU kernels; the int8 graph on the engine that
        // will run it (OpenVINO where the library has it): the agreement users will get.
        let f32c = Classifier::open(pkg.clone(), Precision::F32, Engine::Cpu)?;
        let (n, s) = (data.calibration.dim().0, meta.input.size);
        if n == 0 || data.held_out.dim().0 == 0 {
            return Err("int8 export needs calibration and held-out slices (none found)".into());
        }
        let calib = f32c.input(data.calibration);
        let tmp = tempfile_dir(out)?;
        let calib_path = tmp.join("calibration.f32");
        let bytes: Vec<u8> = calib.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&calib_path, bytes).map_err(|e| format!("{}: {e}", calib_path.display()))?;
        let script = tmp.join("quantize_int8.py");
        std::fs::write(&script, QUANTIZE_PY).map_err(|e| format!("{}: {e}", script.display()))?;
        let py = python()?;
        let shape = format!("[{n}, {}, {s}, {s}]", meta.input.channels.len());
        let res = std::process::Command::new(&py)
            .arg(&script)
            .arg(out.join(F32_FILE))
            .arg(&calib_path)
            .arg(&shape)
            .arg(out.join(INT8_FILE))
            .output()
            .map_err(|e| format!("{}: {e}", py.display()))?;
        let _ = std::fs::remove_dir_all(&tmp);
        if !res.status.success() {
            let err = String::from_utf8_lossy(&res.stderr);
            let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            return Err(format!("int8 quantization failed ({}): {last}", py.display()));
        }
        let settings: serde_json::Value = String::from_utf8_lossy(&res.stdout)
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .unwrap_or(json!({}));
        let onnx = meta.onnx.as_mut().expect("set above");
        onnx.int8 = Some(INT8_FILE.into());
        Package::write_meta(out, &meta).map_err(|e| e.to_string())?;
        let i8c = Classifier::open(Package::open(out).map_err(|e| e.to_string())?, Precision::Int8, Engine::Auto)?;
        let held = data.held_out;
        let (mut same, mut dp) = (0usize, 0f64);
        let t = meta.threshold;
        for start in (0..held.dim().0).step_by(crate::BATCH) {
            let end = (start + crate::BATCH).min(held.dim().0);
            let v = held.slice(ndarray::s![start..end, .., ..]);
            let x = f32c.input(v);
            let (a, at) = f32c.run(&x, end - start)?;
            let (b, bt) = i8c.run(&x, end - start)?;
            for (p, q) in
                f32c.scores(&a, at.as_deref(), end - start).iter().zip(i8c.scores(&b, bt.as_deref(), end - start))
            {
                same += usize::from((p.p >= t) == (q.p >= t));
                dp += (p.p - q.p).abs();
            }
        }
        let m = held.dim().0;
        let onnx = meta.onnx.as_mut().expect("set above");
        onnx.int8_agreement = Some(json!({
            "held_out_slices": m,
            "engine": i8c.engine.name(),
            "decision_agreement": same as f64 / m as f64,
            "mean_abs_probability_difference": dp / m as f64,
            "quantization": settings,
        }));
        Package::write_meta(out, &meta).map_err(|e| e.to_string())?;
    }
    Package::open(out).map_err(|e| e.to_string())
}

fn tempfile_dir(near: &Path) -> Result<PathBuf, String> {
    let d = near.join(format!(".ichscan-export-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    Ok(d)
}
