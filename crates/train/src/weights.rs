//! Loading weights into a [`VarStore`] from a torchvision-layout state dict saved as
//! safetensors or as a PyTorch checkpoint (`torch.save(model.state_dict())`, `.pth`/`.pt`/
//! `.bin`, read by [`ichscan_model::pth`]), with clear errors: names the model needs and
//! the file lacks, shapes that differ. BatchNorm's `num_batches_tracked` entries are ignored. A final layer of another
//! shape (the 1000-class ImageNet `fc`) is skipped and left freshly initialised, as
//! fine-tuning needs.

use std::collections::HashMap;
use std::path::Path;

use tch::nn::VarStore;
use tch::Tensor;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{path}: cannot read as {format}: {detail}")]
    Read { path: String, format: &'static str, detail: String },
    #[error("{path}: {n} parameter(s) the model needs are missing, e.g. {first}")]
    Missing { path: String, n: usize, first: String },
    #[error("{path}: {name} has shape {file:?} in the file but {model:?} in the model")]
    Shape { path: String, name: String, file: Vec<i64>, model: Vec<i64> },
}

/// What loading did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadReport {
    pub loaded: usize,
    /// Head parameters left as initialised because the file's shape differs (a new head).
    pub replaced: Vec<String>,
    /// Entries of the file the model does not use.
    pub unused: Vec<String>,
}

/// Head parameters: their shape may differ (a new task) without that being an error.
fn is_head(name: &str) -> bool {
    name.starts_with("fc.") || name.starts_with("type_fc.")
}

/// True for the extensions PyTorch checkpoints (zip + pickle) use.
pub fn is_pytorch_checkpoint(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "pth" | "pt" | "bin"))
}

/// Loads a state dict by its extension: `.pth`, `.pt`, `.bin` as a PyTorch checkpoint,
/// anything else as safetensors.
pub fn load_weights(vs: &mut VarStore, path: &Path) -> Result<LoadReport, WeightsError> {
    let p = path.display().to_string();
    if !is_pytorch_checkpoint(path) {
        return load_safetensors(vs, path);
    }
    // libtorch's own unpickler (Tensor::loadz_multi) rejects real state dicts (see
    // ichscan_model::pth), hence our reader.
    let file = ichscan_model::pth::read(path).map_err(|e| WeightsError::Read {
        path: p.clone(),
        format: "a PyTorch state dict",
        detail: e.message,
    })?;
    let named = file
        .into_iter()
        .map(|(k, t)| {
            let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
            (k, Tensor::from_slice(&t.data).reshape(shape))
        })
        .collect();
    assign(vs, named, p)
}

/// Loads a safetensors state dict.
pub fn load_safetensors(vs: &mut VarStore, path: &Path) -> Result<LoadReport, WeightsError> {
    let p = path.display().to_string();
    let named = Tensor::read_safetensors(path).map_err(|e| WeightsError::Read {
        path: p.clone(),
        format: "safetensors",
        detail: e.to_string(),
    })?;
    assign(vs, named, p)
}

fn assign(vs: &mut VarStore, named: Vec<(String, Tensor)>, p: String) -> Result<LoadReport, WeightsError> {
    let file: HashMap<String, Tensor> = named.into_iter().collect();
    let mut report = LoadReport::default();
    let mut missing = Vec::new();
    let mut vars = vs.variables();
    let mut names: Vec<String> = vars.keys().cloned().collect();
    names.sort();
    for name in &names {
        let var = vars.get_mut(name).expect("listed");
        match file.get(name) {
            None if is_head(name) => report.replaced.push(name.clone()),
            None => missing.push(name.clone()),
            Some(src) if src.size() != var.size() => {
                if is_head(name) {
                    report.replaced.push(name.clone());
                } else {
                    return Err(WeightsError::Shape {
                        path: p,
                        name: name.clone(),
                        file: src.size(),
                        model: var.size(),
                    });
                }
            }
            Some(src) => {
                tch::no_grad(|| var.copy_(&src.to_kind(var.kind()).to_device(var.device())));
                report.loaded += 1;
            }
        }
    }
    if let Some(first) = missing.first() {
        return Err(WeightsError::Missing { path: p, n: missing.len(), first: first.clone() });
    }
    let mut unused: Vec<String> =
        file.keys().filter(|k| !vars.contains_key(*k) && !k.ends_with("num_batches_tracked")).cloned().collect();
    unused.sort();
    report.unused = unused;
    Ok(report)
}
