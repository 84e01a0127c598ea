//! # ichscan-slices
//!
//! The second step of the pipeline: a loaded volume into the 2D images the three plane
//! classifiers read, with every image mapped back to patient millimetres.
//!
//! 1. [`canonical`]: reorient to one anatomical grid, LPS (i to the patient's left, j
//!    posterior, k superior), by axis permutation and flips, or by trilinear resampling
//!    when the scan is oblique.
//! 2. [`head`]: a coarse mask of the head (largest connected tissue body) that centres
//!    the field of view and marks slices with no head in them.
//! 3. [`plane`]: per plane, slices at a fixed step along its normal, each a slab average
//!    of that thickness, resampled to 224 x 224 over a fixed square field of view (so
//!    mm per pixel is the same for every scan; what lies outside the scan is air —
//!    padding, never stretching), with its position and extent in mm.
//! 4. [`window`]: HU to channels (brain, subdural, bone by default).
//! 5. [`boxes`]: positive slice ranges of the three planes to a 3D box in patient mm and
//!    in the input's voxel indices.
//!
//! Resampling is separable ([`resample`]): linear where the output is finer than the
//! input, area-averaged where coarser.

pub mod boxes;
pub mod canonical;
pub mod head;
pub mod plane;
pub mod resample;
pub mod window;

pub use boxes::{box_from_ranges, Box3};
pub use canonical::{to_canonical, Canonical};
pub use plane::{ImageGeometry, Plane, PlaneConfig, SliceStack};
pub use window::Window;

use ichscan_geometry::Volume;

/// Air, for everything outside the scan.
pub const AIR: f32 = ichscan_geometry::AIR_HU;

/// A volume cut into the requested planes.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub canonical: Canonical,
    pub head: head::HeadMask,
    pub stacks: Vec<SliceStack>,
}

impl Prepared {
    pub fn stack(&self, plane: Plane) -> Option<&SliceStack> {
        self.stacks.iter().find(|s| s.plane == plane)
    }
}

/// Reorients, finds the head and cuts each requested plane.
pub fn prepare(volume: &Volume, planes: &[(Plane, PlaneConfig)]) -> Prepared {
    let canonical = to_canonical(volume);
    let head = head::head_mask(&canonical);
    let stacks = planes.iter().map(|(p, cfg)| plane::cut(&canonical, &head, *p, cfg)).collect();
    Prepared { canonical, head, stacks }
}

/// The three planes with their default configurations.
pub fn default_planes() -> Vec<(Plane, PlaneConfig)> {
    Plane::ALL.iter().map(|p| (*p, PlaneConfig::default_for(*p))).collect()
}
