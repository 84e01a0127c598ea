//! # ichscan-synth
//!
//! Simulated head CTs with haemorrhages whose exact 3D extent is known: ground truth for
//! training, tests and demos without restricted data.
//!
//! * [`phantom`]: a procedural head in HU, randomised per seed (anatomy, densities, size,
//!   pose in the scanner).
//! * [`lesion`]: the five haemorrhage types, placed on any [`Anatomy`] — the phantom's, or
//!   one derived from a real scan's HU ([`real`]).
//! * [`case`]: one case — the CT on a scanner grid with partial volume (slice-profile
//!   sub-sampling, in-plane blur) and noise, the label mask, and each lesion's type,
//!   volume and box.
//!
//! Everything is deterministic for a seed.

pub mod case;
pub mod phantom;
pub mod real;
pub mod rng;

pub mod lesion;

pub use case::{insert_into_scan, phantom_case, phantom_head, Case, CaseSpec, LesionInfo, PlacedHead};
pub use lesion::Kind;

use ichscan_geometry::Vec3;

/// What a point of the head is, as far as placing lesions goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tissue {
    /// Air outside the head, or in sinuses.
    Outside,
    Scalp,
    Bone,
    /// Subarachnoid CSF: the film over the brain, sulci, fissures, cisterns.
    Csf,
    Ventricle,
    /// Brain tissue (grey or white matter, deep nuclei, cerebellum, brainstem).
    Parenchyma,
    /// Falx and tentorium.
    Falx,
    Calcification,
    /// Other soft tissue (face, neck, eyes), or the headrest.
    Other,
}

/// A head whose points can be classified, in patient LPS mm.
pub trait Anatomy: Sync {
    /// Tissue and HU (no lesion, no noise) at `p`.
    fn at(&self, p: Vec3) -> (Tissue, f32);
    /// Depth below the inner table of the skull, mm; negative outside the cranial cavity.
    fn depth(&self, p: Vec3) -> f64;
    /// Patient-mm box around the cranial cavity.
    fn cavity_box(&self) -> (Vec3, Vec3);
    fn cavity_centre(&self) -> Vec3;
    /// Direction blood settles towards (posterior for a supine patient).
    fn down(&self) -> Vec3;
    /// Typical brain parenchyma HU (for oedema).
    fn parenchyma_hu(&self) -> f32;
}
