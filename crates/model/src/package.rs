//! The model package: one folder per plane.
//!
//! ```text
//! axial/
//!   model.json          the contract below (format_version 1)
//!   model.onnx          f32 graph: input [batch, C, S, S] -> logits [batch, 2] (+ types [batch, 5])
//!   model.int8.onnx     optional, static QDQ int8
//!   weights.safetensors optional, torchvision-layout weights for fine-tuning
//! ```
//!
//! The input contract, for models trained elsewhere: slices of `plane` cut as
//! `ichscan-slices` cuts them (`step_mm`, `slab_mm`, `fov_mm`, `size` x `size`, rows
//! anterior->posterior or superior->inferior as in `ichscan slices`), channel c = window c
//! applied to HU (`(hu - (level - width/2)) / width`, clamped to [0, 1]), then
//! `(x - mean[c]) / std[c]`. Output `logits`: softmax over classes, class 0 = haemorrhage.

use std::path::{Path, PathBuf};

use ichscan_slices::{Plane, PlaneConfig, Window};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ModelError;

pub const FORMAT_VERSION: u32 = 1;
pub const META_FILE: &str = "model.json";

/// How slices are cut and turned into the network's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub size: usize,
    /// One window per input channel.
    pub channels: Vec<Window>,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub step_mm: f64,
    pub slab_mm: f64,
    pub fov_mm: f64,
}

impl InputSpec {
    /// The plane cut this model expects.
    pub fn plane_config(&self) -> PlaneConfig {
        PlaneConfig { step_mm: self.step_mm, slab_mm: self.slab_mm, size: self.size, fov_mm: self.fov_mm }
    }
}

/// The ONNX files and their tensor names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnnxSpec {
    pub f32: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int8: Option<String>,
    #[serde(default = "default_input")]
    pub input: String,
    #[serde(default = "default_logits")]
    pub logits: String,
    /// The type head's output, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<String>,
    /// int8 vs f32 decisions on held-out slices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int8_agreement: Option<Value>,
}

fn default_input() -> String {
    "input".into()
}
fn default_logits() -> String {
    "logits".into()
}

/// `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format_version: u32,
    /// Free-form description of the network, e.g. `{"arch": "resnet50", "width": 64, ...}`.
    pub architecture: Value,
    pub plane: Plane,
    pub input: InputSpec,
    /// Class names; class 0 must be "haemorrhage".
    pub labels: Vec<String>,
    #[serde(default)]
    pub type_labels: Vec<String>,
    /// Decision threshold on P(haemorrhage).
    pub threshold: f64,
    /// How probabilities relate to frequencies ("softmax, uncalibrated" unless stated).
    #[serde(default = "uncalibrated")]
    pub calibration: Value,
    /// Where the model came from: data, recipe, code version.
    #[serde(default)]
    pub training: Value,
    #[serde(default)]
    pub validation: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<OnnxSpec>,
    /// Weights for fine-tuning, torchvision layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
}

fn uncalibrated() -> Value {
    serde_json::json!({ "probability": "softmax of the logits, not calibrated" })
}

/// A package folder and its metadata.
#[derive(Debug, Clone)]
pub struct Package {
    pub dir: PathBuf,
    pub meta: ModelMeta,
}

impl Package {
    /// Reads and checks `dir/model.json`, and that the graphs it names are in `dir`.
    pub fn open(dir: &Path) -> Result<Package, ModelError> {
        let path = dir.join(META_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ModelError::new(&path, format!("{e} (a model package folder holds {META_FILE})")))?;
        let pkg = Package::from_json(dir, &text)?;
        if let Some(o) = &pkg.meta.onnx {
            for f in std::iter::once(&o.f32).chain(o.int8.as_ref()) {
                if !dir.join(f).is_file() {
                    return Err(ModelError::new(&path, format!("names {f}, which is not in {}", dir.display())));
                }
            }
        }
        Ok(pkg)
    }

    /// Parses and checks a `model.json` text said to belong in `dir` (files not looked
    /// for: the graphs may be in memory, as for the embedded default model).
    pub fn from_json(dir: &Path, text: &str) -> Result<Package, ModelError> {
        let path = dir.join(META_FILE);
        let meta: ModelMeta = serde_json::from_str(text).map_err(|e| ModelError::new(&path, e.to_string()))?;
        let bad = |m: String| Err(ModelError::new(&path, m));
        if meta.format_version != FORMAT_VERSION {
            return bad(format!("format_version {} (this ichscan reads {FORMAT_VERSION})", meta.format_version));
        }
        if meta.labels.first().map(String::as_str) != Some("haemorrhage") {
            return bad(format!("labels {:?}: class 0 must be \"haemorrhage\"", meta.labels));
        }
        let i = &meta.input;
        if i.channels.is_empty() || i.mean.len() != i.channels.len() || i.std.len() != i.channels.len() {
            return bad(format!(
                "input: {} channels, {} means, {} stds (one each per channel)",
                i.channels.len(),
                i.mean.len(),
                i.std.len()
            ));
        }
        if i.size < 8 || !(i.step_mm > 0.0 && i.slab_mm > 0.0 && i.fov_mm > 0.0) || i.std.iter().any(|s| *s <= 0.0) {
            return bad("input: size, step_mm, slab_mm, fov_mm and std must be positive".into());
        }
        // Strictly inside: at 0 every head slice, at 1 none could be positive.
        if !(meta.threshold > 0.0 && meta.threshold < 1.0) {
            return bad(format!("threshold {} outside (0, 1)", meta.threshold));
        }
        Ok(Package { dir: dir.to_path_buf(), meta })
    }

    /// Writes `model.json` (pretty, stable key order).
    pub fn write_meta(dir: &Path, meta: &ModelMeta) -> Result<(), ModelError> {
        let path = dir.join(META_FILE);
        std::fs::create_dir_all(dir).map_err(|e| ModelError::new(dir, e.to_string()))?;
        std::fs::write(&path, serde_json::to_string_pretty(meta).expect("json") + "\n")
            .map_err(|e| ModelError::new(&path, e.to_string()))
    }

    /// The ONNX file to run: int8 when asked for and present, else f32.
    pub fn onnx_path(&self, int8: bool) -> Result<PathBuf, ModelError> {
        let o = self.meta.onnx.as_ref().ok_or_else(|| {
            ModelError::new(
                &self.dir.join(META_FILE),
                "no ONNX graph in this package (run `ichscan export` on it)".into(),
            )
        })?;
        match (int8, &o.int8) {
            (true, Some(f)) => Ok(self.dir.join(f)),
            (true, None) => Err(ModelError::new(
                &self.dir.join(META_FILE),
                "no int8 graph in this package (export with --int8)".into(),
            )),
            _ => Ok(self.dir.join(&o.f32)),
        }
    }
}

/// The plane packages under `dir`: `dir` itself when it is a package, else its
/// `axial`/`sagittal`/`coronal` subfolders that are packages (a model set), or a training run's
/// `PLANE/model` folders.
pub fn find_packages(dir: &Path) -> Result<Vec<Package>, ModelError> {
    if dir.join(META_FILE).is_file() {
        return Ok(vec![Package::open(dir)?]);
    }
    let mut out = Vec::new();
    for p in Plane::ALL {
        for sub in [dir.join(p.name()), dir.join(p.name()).join("model")] {
            if sub.join(META_FILE).is_file() {
                let pkg = Package::open(&sub)?;
                if pkg.meta.plane != p {
                    return Err(ModelError::new(
                        &sub.join(META_FILE),
                        format!("is a {} model in the {} folder", pkg.meta.plane.name(), p.name()),
                    ));
                }
                out.push(pkg);
                break;
            }
        }
    }
    if out.is_empty() {
        return Err(ModelError::new(
            dir,
            format!("no model package here ({META_FILE}, or axial/ sagittal/ coronal/ folders holding one)"),
        ));
    }
    Ok(out)
}
