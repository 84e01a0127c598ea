//! Voxel-to-patient affine maps in DICOM patient coordinates (LPS, millimetres).

use serde::Serialize;

/// A point or direction in patient space: DICOM LPS (x to the patient's left, y to the
/// posterior, z to the head), in millimetres.
pub type Vec3 = [f64; 3];

pub fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

pub fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub fn scale(a: Vec3, s: f64) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

pub fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

/// `a` scaled to unit length, or `None` for a (near-)zero or non-finite vector.
pub fn normalize(a: Vec3) -> Option<Vec3> {
    let n = norm(a);
    (n.is_finite() && n > 1e-9).then(|| scale(a, 1.0 / n))
}

/// Maps voxel indices `[i, j, k]` (column, row, slice) to patient LPS mm:
/// `p = origin + i * cols[0] + j * cols[1] + k * cols[2]`, where each column vector
/// is the step in mm of one voxel along that index.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Affine {
    /// Patient position of voxel (0, 0, 0)'s centre.
    pub origin: Vec3,
    /// Step vectors of the i, j and k indices (direction times spacing).
    pub axes: [Vec3; 3],
}

impl Affine {
    pub fn new(origin: Vec3, axes: [Vec3; 3]) -> Self {
        Self { origin, axes }
    }

    /// An affine from unit directions and spacings.
    pub fn from_directions(origin: Vec3, dirs: [Vec3; 3], spacing: [f64; 3]) -> Self {
        Self::new(origin, [scale(dirs[0], spacing[0]), scale(dirs[1], spacing[1]), scale(dirs[2], spacing[2])])
    }

    pub fn apply(&self, ijk: Vec3) -> Vec3 {
        let mut p = self.origin;
        for (a, &t) in self.axes.iter().zip(ijk.iter()) {
            p = add(p, scale(*a, t));
        }
        p
    }

    /// Voxel spacing in mm along i, j, k.
    pub fn spacing(&self) -> [f64; 3] {
        [norm(self.axes[0]), norm(self.axes[1]), norm(self.axes[2])]
    }

    /// Unit directions of i, j, k in patient space.
    pub fn directions(&self) -> [Vec3; 3] {
        let s = self.spacing();
        [scale(self.axes[0], 1.0 / s[0]), scale(self.axes[1], 1.0 / s[1]), scale(self.axes[2], 1.0 / s[2])]
    }

    /// Determinant of the 3x3 part: its sign tells the handedness of the voxel grid.
    pub fn determinant(&self) -> f64 {
        dot(self.axes[0], cross(self.axes[1], self.axes[2]))
    }

    /// Three letters naming where increasing i, j and k point in the patient, by the
    /// dominant LPS component of each axis, e.g. "LPS" for an axial DICOM stack sorted
    /// from feet to head.
    pub fn orientation_code(&self) -> String {
        self.axes
            .iter()
            .map(|a| {
                let d = (0..3).max_by(|&x, &y| a[x].abs().total_cmp(&a[y].abs())).unwrap_or(0);
                let pos = a[d] >= 0.0;
                match (d, pos) {
                    (0, true) => 'L',
                    (0, false) => 'R',
                    (1, true) => 'P',
                    (1, false) => 'A',
                    (2, true) => 'S',
                    _ => 'I',
                }
            })
            .collect()
    }

    /// The inverse map, patient mm -> fractional voxel indices; `None` when singular.
    pub fn inverse(&self) -> Option<InverseAffine> {
        let [a, b, c] = self.axes;
        let det = self.determinant();
        if !det.is_finite() || det.abs() < 1e-12 {
            return None;
        }
        // Rows of the inverse of the matrix whose columns are a, b, c.
        let rows = [scale(cross(b, c), 1.0 / det), scale(cross(c, a), 1.0 / det), scale(cross(a, b), 1.0 / det)];
        Some(InverseAffine { origin: self.origin, rows })
    }
}

/// Patient mm -> fractional voxel indices.
#[derive(Debug, Clone, Copy)]
pub struct InverseAffine {
    origin: Vec3,
    rows: [Vec3; 3],
}

impl InverseAffine {
    pub fn apply(&self, p: Vec3) -> Vec3 {
        let d = sub(p, self.origin);
        [dot(self.rows[0], d), dot(self.rows[1], d), dot(self.rows[2], d)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_undoes_apply() {
        let a = Affine::new([10.0, -20.0, 5.0], [[0.5, 0.0, 0.0], [0.0, 0.4, 0.1], [0.0, -0.3, 2.0]]);
        let inv = a.inverse().unwrap();
        let ijk = [3.0, 7.5, -2.0];
        let back = inv.apply(a.apply(ijk));
        for d in 0..3 {
            assert!((back[d] - ijk[d]).abs() < 1e-12);
        }
    }

    #[test]
    fn singular_has_no_inverse() {
        let a = Affine::new([0.0; 3], [[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]);
        assert!(a.inverse().is_none());
    }

    #[test]
    fn orientation_codes() {
        let a = Affine::new([0.0; 3], [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 2.0]]);
        assert_eq!(a.orientation_code(), "LPS");
        // NIfTI RAS-stored data seen in LPS: i points right, j anterior.
        let b = Affine::new([0.0; 3], [[-0.5, 0.0, 0.0], [0.0, -0.5, 0.0], [0.0, 0.1, 2.0]]);
        assert_eq!(b.orientation_code(), "RAS");
    }

    #[test]
    fn cross_of_x_and_y_is_z() {
        assert_eq!(cross([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]), [0.0, 0.0, 1.0]);
    }
}
