//! # ichscan-dataset
//!
//! Labels for the slices of the three planes, from the label formats users have
//! ([`labels`]): a 3D label mask (the simulator's, or any NIfTI), CQ500 scan-level reads,
//! BHX 2D boxes, RSNA slice labels, and ichscan's explicit per-plane slice CSV. [`planes`]
//! maps each onto the slices [`ichscan_slices`] cuts; [`split`] makes the scan-level
//! train/validation split.
//!
//! No deep-learning dependency: the training crate consumes what this produces.

pub mod labels;
pub mod manifest;
pub mod metrics;
pub mod planes;
pub mod split;

pub use labels::{Label, TYPES};
pub use split::Split;
