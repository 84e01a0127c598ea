//! The three planes' slice stacks: positions, slabs, 224 x 224 images in HU, head flags and
//! the pixel-to-patient mapping of every image.

use ichscan_geometry::affine::{add, scale};
use ichscan_geometry::Vec3;
use ndarray::{Array3, Array4, Axis};
use serde::{Deserialize, Serialize};

use crate::canonical::Canonical;
use crate::head::HeadMask;
use crate::resample::{apply, taps};
use crate::window::Window;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plane {
    Axial,
    Sagittal,
    Coronal,
}

impl Plane {
    pub const ALL: [Plane; 3] = [Plane::Axial, Plane::Sagittal, Plane::Coronal];

    /// The canonical (LPS) axis along the plane's normal: S for axial, L for sagittal,
    /// P for coronal.
    pub fn normal_axis(self) -> usize {
        match self {
            Plane::Axial => 2,
            Plane::Sagittal => 0,
            Plane::Coronal => 1,
        }
    }

    /// (column axis, row axis, rows run towards -axis): axial columns R->L and rows A->P;
    /// sagittal columns A->P, coronal columns R->L, both with superior at the top.
    fn image_axes(self) -> (usize, usize, bool) {
        match self {
            Plane::Axial => (0, 1, false),
            Plane::Sagittal => (1, 2, true),
            Plane::Coronal => (0, 2, true),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Plane::Axial => "axial",
            Plane::Sagittal => "sagittal",
            Plane::Coronal => "coronal",
        }
    }

    pub fn parse(s: &str) -> Option<Plane> {
        Plane::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(s))
    }
}

/// How one plane is cut.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlaneConfig {
    /// Distance between slice centres along the normal, mm.
    pub step_mm: f64,
    /// Thickness each slice averages over, mm (thin slices are averaged into slabs).
    pub slab_mm: f64,
    /// Image side in pixels.
    pub size: usize,
    /// Square field of view the image covers, mm, centred on the head.
    pub fov_mm: f64,
}

/// Default field of view: an adult head is at most about 200 mm long and 160 mm wide;
/// 240 mm leaves a margin and gives 1.07 mm pixels at 224.
pub const DEFAULT_FOV_MM: f64 = 240.0;
pub const DEFAULT_SIZE: usize = 224;

impl PlaneConfig {
    /// The method's data had about 50 axial, 100 sagittal and 120 coronal images per head:
    /// 5 mm axial slabs (the usual thick axial reconstruction), and about 1.5 mm across a
    /// ~150 mm wide head and 1.6 mm along a ~190 mm long one.
    pub fn default_for(plane: Plane) -> Self {
        let step = match plane {
            Plane::Axial => 5.0,
            Plane::Sagittal => 1.5,
            Plane::Coronal => 1.6,
        };
        PlaneConfig { step_mm: step, slab_mm: step, size: DEFAULT_SIZE, fov_mm: DEFAULT_FOV_MM }
    }

    pub fn pixel_mm(&self) -> f64 {
        self.fov_mm / self.size as f64
    }
}

/// Maps (slice n, column u, row v) of a plane's images to patient LPS mm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ImageGeometry {
    /// Centre of pixel (0, 0) of slice 0.
    pub origin: Vec3,
    pub col_step: Vec3,
    pub row_step: Vec3,
    pub slice_step: Vec3,
}

impl ImageGeometry {
    pub fn to_patient(&self, n: f64, col: f64, row: f64) -> Vec3 {
        add(self.origin, add(scale(self.slice_step, n), add(scale(self.col_step, col), scale(self.row_step, row))))
    }
}

/// One plane's slices.
#[derive(Debug, Clone)]
pub struct SliceStack {
    pub plane: Plane,
    pub config: PlaneConfig,
    /// HU images, `[n, row, column]`.
    pub hu: Array3<f32>,
    /// Patient coordinate of each slice centre along the plane normal (x for sagittal,
    /// y for coronal, z for axial; LPS mm).
    pub positions_mm: Vec<f64>,
    /// False for slices with no head in them (air, or only the table).
    pub has_head: Vec<bool>,
    pub image: ImageGeometry,
}

impl SliceStack {
    pub fn len(&self) -> usize {
        self.positions_mm.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions_mm.is_empty()
    }

    /// The patient range [lo, hi] along the normal that slice `n` covers (its slab).
    pub fn extent_mm(&self, n: usize) -> (f64, f64) {
        let h = self.config.slab_mm.max(self.config.step_mm) / 2.0;
        (self.positions_mm[n] - h, self.positions_mm[n] + h)
    }

    /// Model input: `[n, channel, row, column]`, one channel per window, values in [0, 1].
    pub fn channels(&self, windows: &[Window]) -> Array4<f32> {
        let (n, h, w) = self.hu.dim();
        let mut out = Array4::<f32>::zeros((n, windows.len(), h, w));
        use rayon::prelude::*;
        out.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(s, mut img)| {
            let src = self.hu.index_axis(Axis(0), s);
            for (c, win) in windows.iter().enumerate() {
                ndarray::Zip::from(img.index_axis_mut(Axis(0), c)).and(src).for_each(|o, &v| *o = win.apply(v));
            }
        });
        out
    }
}

/// Minimum head cross-section for a slice to count as "has head", mm².
pub const MIN_HEAD_AREA_MM2: f64 = 100.0;

/// Cuts one plane from the canonical volume.
pub fn cut(c: &Canonical, head: &HeadMask, plane: Plane, cfg: &PlaneConfig) -> SliceStack {
    let a = plane.normal_axis();
    let (ca, ra, rows_down) = plane.image_axes();
    let dims = c.dims();
    let px = cfg.pixel_mm();
    let centre = match head.bbox_mm {
        Some((lo, hi)) => [0, 1, 2].map(|d| (lo[d] + hi[d]) / 2.0),
        None => [0, 1, 2].map(|d| c.mm_of(d, (dims[d] - 1) as f64 / 2.0)),
    };
    // Slabs lie inside the scanned range (voxel edges), starting at its first edge, so the
    // end slices are not half air.
    let slab = cfg.slab_mm.max(cfg.step_mm);
    let edge = c.mm_of(a, -0.5);
    let extent = dims[a] as f64 * c.spacing[a];
    let (first, n) = if extent >= slab {
        (edge + slab / 2.0, ((extent - slab) / cfg.step_mm + 1e-6).floor() as usize + 1)
    } else {
        (edge + extent / 2.0, 1)
    };
    let positions: Vec<f64> = (0..n).map(|s| first + s as f64 * cfg.step_mm).collect();
    // Pixel centres along the column and row axes.
    let along = |axis: usize, down: bool| -> Vec<f64> {
        (0..cfg.size)
            .map(|u| {
                let off = (u as f64 + 0.5) * px - cfg.fov_mm / 2.0;
                if down {
                    centre[axis] - off
                } else {
                    centre[axis] + off
                }
            })
            .collect()
    };
    let mut coords: [Vec<f64>; 3] = [vec![], vec![], vec![]];
    let mut footprint = [0.0; 3];
    coords[a] = positions.clone();
    footprint[a] = cfg.slab_mm / c.spacing[a];
    coords[ca] = along(ca, false);
    footprint[ca] = px / c.spacing[ca];
    coords[ra] = along(ra, rows_down);
    footprint[ra] = px / c.spacing[ra];
    // Most-reducing pass first, so later passes touch less data.
    let mut order = [0usize, 1, 2];
    order.sort_by(|&x, &y| {
        let r = |d: usize| dims[d] as f64 / coords[d].len() as f64;
        r(y).total_cmp(&r(x))
    });
    let pass = |src: ndarray::ArrayView3<f32>, axis: usize| {
        let idx: Vec<f64> = coords[axis].iter().map(|mm| c.index_of(axis, *mm)).collect();
        apply(src, 2 - axis, &taps(dims[axis], &idx, footprint[axis]), crate::AIR)
    };
    // The first pass reads the canonical volume in place: no copy of it is made.
    let mut data = pass(c.data.view(), order[0]);
    for &axis in &order[1..] {
        data = pass(data.view(), axis);
    }
    let hu = data.permuted_axes([2 - a, 2 - ra, 2 - ca]).as_standard_layout().into_owned();
    let unit = |axis: usize, s: f64| {
        let mut v = [0.0; 3];
        v[axis] = s;
        v
    };
    let mut origin = [0.0; 3];
    origin[a] = positions[0];
    origin[ca] = coords[ca][0];
    origin[ra] = coords[ra][0];
    let image = ImageGeometry {
        origin,
        col_step: unit(ca, px),
        row_step: unit(ra, if rows_down { -px } else { px }),
        slice_step: unit(a, cfg.step_mm),
    };
    let profile = head.profile(a);
    let half = cfg.slab_mm.max(cfg.step_mm) / 2.0;
    let has_head =
        positions.iter().map(|p| head.area_between(&profile, a, p - half, p + half) >= MIN_HEAD_AREA_MM2).collect();
    SliceStack { plane, config: *cfg, hu, positions_mm: positions, has_head, image }
}
