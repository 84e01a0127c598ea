//! The default model, built into the binary from `models/default/<plane>/` (see
//! `models/default/MODEL_CARD.md`): three plane packages, f32 and int8 ONNX graphs.

use std::path::PathBuf;

use ichscan_classify::{Engine, Precision};
use ichscan_model::Package;
use ichscan_slices::Plane;

use crate::detect::{ModelSet, PlannedModel};

/// Where the model is described, for messages and report.json.
pub const SOURCE: &str = "built-in default model (models/default, see MODEL_CARD.md)";

#[cfg(ichscan_default_model)]
macro_rules! plane_files {
    ($p:literal) => {
        (
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/default/", $p, "/model.json")),
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/default/", $p, "/model.onnx")).as_slice(),
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/default/", $p, "/model.int8.onnx"))
                .as_slice(),
        )
    };
}

/// (model.json, f32 graph, int8 graph) of one plane.
type PlaneFiles = (&'static str, &'static [u8], &'static [u8]);

/// The three planes' files in [`Plane::ALL`] order.
#[cfg(ichscan_default_model)]
fn files() -> Option<[PlaneFiles; 3]> {
    Some([plane_files!("axial"), plane_files!("sagittal"), plane_files!("coronal")])
}

#[cfg(not(ichscan_default_model))]
fn files() -> Option<[PlaneFiles; 3]> {
    None
}

/// The three plane packages of the built-in model at `precision` on `engine`, ready to open.
pub fn resolve(precision: Precision, engine: Engine) -> Result<ModelSet, String> {
    let files = files().ok_or(
        "this ichscan was built without the default model (models/default missing from its source tree): pass --model DIR",
    )?;
    let mut plans = Vec::new();
    for (plane, (meta, f32g, int8g)) in Plane::ALL.iter().zip(files) {
        let pkg =
            Package::from_json(&PathBuf::from("<built-in>").join(plane.name()), meta).map_err(|e| e.to_string())?;
        let graph = if precision.int8() { int8g } else { f32g };
        plans.push(PlannedModel { package: pkg, precision, graph: Some(graph) });
    }
    Ok(ModelSet { plans, engine, source: SOURCE.into() })
}
