//! # ichscan-model
//!
//! The model package that ties training to deployment (see [`package`] for the folder
//! layout and the input contract, which models trained elsewhere follow too), the ONNX
//! writer for our ResNets ([`onnx`], BatchNorm folded, dynamic batch) and a small
//! safetensors reader ([`safetensors`]) and a reader of PyTorch `.pth` state dicts ([`pth`]).
//!
//! No deep-learning engine here: export reads the weights file, so a package can be made
//! on a machine without libtorch, and the inference crate (`ichscan-classify`, ONNX
//! Runtime) reads packages without knowing how they were trained.

use std::path::{Path, PathBuf};

pub mod onnx;
pub mod package;
pub mod pth;
pub mod safetensors;

pub use package::{find_packages, InputSpec, ModelMeta, OnnxSpec, Package};

/// An error about one file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct ModelError {
    pub path: PathBuf,
    pub message: String,
}

impl ModelError {
    pub fn new(path: &Path, message: String) -> Self {
        ModelError { path: path.to_path_buf(), message }
    }
}

/// Writes `dir/model.onnx` from `dir/weights.safetensors` (torchvision-layout ResNet) and
/// records it in `meta.onnx`. Returns the graph's shape summary.
pub fn export_onnx(weights: &Path, out: &Path, size: usize) -> Result<onnx::GraphInfo, ModelError> {
    let w = safetensors::read(weights)?;
    let producer = format!("ichscan {}", env!("CARGO_PKG_VERSION"));
    let (bytes, info) = onnx::resnet_onnx(&w, size, &producer).map_err(|e| ModelError::new(weights, e.0))?;
    std::fs::write(out, bytes).map_err(|e| ModelError::new(out, e.to_string()))?;
    Ok(info)
}
