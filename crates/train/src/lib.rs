//! # ichscan-train
//!
//! The third step of the pipeline: the plane classifiers. ResNet18/34/50 in libtorch
//! through tch ([`resnet`]), with torchvision's parameter names so ImageNet weights load
//! ([`weights`]).
//!
//! This is the only crate that links libtorch; the I/O, geometry and slicing crates stay
//! light. Build with `eval "$(scripts/setup-python)"` first (it installs libtorch 2.11.0
//! from the PyPI torch wheel into `.venv` and exports `LIBTORCH`).

pub mod alloc;
pub mod cuda;
pub mod data;
pub mod resnet;
pub mod train;
pub mod weights;

pub use resnet::{Arch, Config, Output, ResNet};
pub use weights::{load_safetensors, load_weights, LoadReport, WeightsError};
