//! Loading weights into a [`VarStore`] from a torchvision-layout state dict saved as
//! safetensors, with clear errors: names the model needs and the file lacks, shapes that
//! differ. BatchNorm's `num_batches_tracked` entries are ignored. A final layer of another
//! shape (the 1000-class ImageNet `fc`) is skipped and left freshly initialised, as
//! fine-tuning needs.

use std::collections::HashMap;
use std::path::Path;

use tch::nn::VarStore;
use tch::Tensor;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{path}: cannot read as safetensors: {detail}")]
    Read { path: String, detail: String },
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

pub fn load_safetensors(vs: &mut VarStore, path: &Path) -> Result<LoadReport, WeightsError> {
    let p = path.display().to_string();
    let named =
        Tensor::read_safetensors(path).map_err(|e| WeightsError::Read { path: p.clone(), detail: e.to_string() })?;
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
