//! NIfTI-1 files written byte by byte here, so the header fields are exactly known.

use std::io::Write;
use std::path::{Path, PathBuf};

use ichscan_load::{ErrorKind, LoadOptions};

#[derive(Clone)]
struct Header {
    dims: [u16; 3],
    pixdim: [f32; 4],
    qform_code: i16,
    sform_code: i16,
    quatern: [f32; 3],
    qoffset: [f32; 3],
    srow: [[f32; 4]; 3],
}

fn plain() -> Header {
    Header {
        dims: [4, 3, 2],
        pixdim: [1.0, 0.5, 0.6, 2.0],
        qform_code: 0,
        sform_code: 1,
        quatern: [0.0; 3],
        qoffset: [0.0; 3],
        srow: [[0.5, 0.0, 0.0, 10.0], [0.0, 0.6, 0.0, 20.0], [0.0, 0.0, 2.0, -30.0]],
    }
}

/// Voxel value at (i, j, k): i + 10 j + 100 k.
fn value(i: usize, j: usize, k: usize) -> i16 {
    (i + 10 * j + 100 * k) as i16
}

fn bytes(h: &Header, truncate_data: bool) -> Vec<u8> {
    let mut b = vec![0u8; 352];
    let put = |b: &mut Vec<u8>, off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
    put(&mut b, 0, &348i32.to_le_bytes());
    put(&mut b, 40, &3i16.to_le_bytes());
    for d in 0..3 {
        put(&mut b, 42 + 2 * d, &(h.dims[d] as i16).to_le_bytes());
    }
    for d in 3..7 {
        put(&mut b, 42 + 2 * d, &1i16.to_le_bytes());
    }
    put(&mut b, 70, &4i16.to_le_bytes()); // int16
    put(&mut b, 72, &16i16.to_le_bytes());
    for d in 0..4 {
        put(&mut b, 76 + 4 * d, &h.pixdim[d].to_le_bytes());
    }
    put(&mut b, 108, &352f32.to_le_bytes());
    put(&mut b, 112, &1f32.to_le_bytes());
    put(&mut b, 252, &h.qform_code.to_le_bytes());
    put(&mut b, 254, &h.sform_code.to_le_bytes());
    for d in 0..3 {
        put(&mut b, 256 + 4 * d, &h.quatern[d].to_le_bytes());
        put(&mut b, 268 + 4 * d, &h.qoffset[d].to_le_bytes());
    }
    for r in 0..3 {
        for c in 0..4 {
            put(&mut b, 280 + 16 * r + 4 * c, &h.srow[r][c].to_le_bytes());
        }
    }
    put(&mut b, 344, b"n+1\0");
    let [ni, nj, nk] = h.dims.map(|d| d as usize);
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                b.extend_from_slice(&value(i, j, k).to_le_bytes());
            }
        }
    }
    if truncate_data {
        b.truncate(b.len() - 10);
    }
    b
}

fn write(dir: &Path, name: &str, h: &Header) -> PathBuf {
    let p = dir.join(name);
    let data = bytes(h, false);
    if name.ends_with(".gz") {
        let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&p).unwrap(), flate2::Compression::fast());
        enc.write_all(&data).unwrap();
        enc.finish().unwrap();
    } else {
        std::fs::write(&p, data).unwrap();
    }
    p
}

fn load(p: &Path) -> Result<ichscan_load::Scan, ichscan_load::LoadError> {
    ichscan_load::load(p, &LoadOptions::default())
}

fn close(a: [f64; 3], b: [f64; 3]) -> bool {
    (0..3).all(|d| (a[d] - b[d]).abs() < 1e-5)
}

#[test]
fn sform_becomes_lps_and_voxels_keep_their_indices() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.nii", "a.nii.gz"] {
        let scan = load(&write(dir.path(), name, &plain())).unwrap();
        let v = &scan.volume;
        assert_eq!(v.dims(), [4, 3, 2]);
        // RAS (x, y) negated: origin (10, 20, -30) -> (-10, -20, -30); i -> -x, j -> -y.
        assert!(close(v.affine.origin, [-10.0, -20.0, -30.0]), "{:?}", v.affine);
        assert!(close(v.affine.axes[0], [-0.5, 0.0, 0.0]) && close(v.affine.axes[1], [0.0, -0.6, 0.0]));
        assert!(close(v.affine.axes[2], [0.0, 0.0, 2.0]));
        assert_eq!(v.affine.orientation_code(), "RAS");
        for ((k, j, i), hu) in v.data.indexed_iter() {
            assert_eq!(*hu, value(i, j, k) as f32);
        }
    }
}

#[test]
fn qform_quaternion_is_used_when_there_is_no_sform() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::f32::consts::FRAC_1_SQRT_2;
    for (qfac, k_z) in [(1.0f32, 2.0), (-1.0, -2.0)] {
        // 90 degrees about z: (b, c, d) = (0, 0, sin 45); RAS i -> +y, j -> -x.
        let h = Header {
            sform_code: 0,
            qform_code: 1,
            quatern: [0.0, 0.0, s],
            qoffset: [1.0, 2.0, 3.0],
            pixdim: [qfac, 0.5, 0.6, 2.0],
            ..plain()
        };
        let scan = load(&write(dir.path(), "q.nii", &h)).unwrap();
        let a = scan.volume.affine;
        assert!(close(a.origin, [-1.0, -2.0, 3.0]), "{a:?}");
        assert!(close(a.axes[0], [0.0, -0.5, 0.0]), "{a:?}");
        assert!(close(a.axes[1], [0.6, 0.0, 0.0]), "{a:?}");
        assert!(close(a.axes[2], [0.0, 0.0, k_z]), "{a:?}");
    }
}

#[test]
fn bad_headers_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Header, &str)> = vec![
        ("zero.nii", Header { pixdim: [1.0, 0.5, 0.6, 0.0], ..plain() }, "pixdim[3]"),
        ("nan.nii", Header { pixdim: [1.0, f32::NAN, 0.6, 2.0], ..plain() }, "pixdim[1]"),
        (
            "singular.nii",
            Header { srow: [[0.5, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]], ..plain() },
            "singular",
        ),
        ("badq.nii", Header { sform_code: 0, qform_code: 1, quatern: [0.9, 0.9, 0.9], ..plain() }, "quaternion"),
    ];
    for (name, h, want) in cases {
        let p = write(dir.path(), name, &h);
        let e = load(&p).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Nifti(_)), "{name}: {e}");
        assert!(e.to_string().contains(want), "{name}: {e}");
        assert!(e.path.ends_with(name));
    }
}

#[test]
fn garbage_and_truncated_files_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("junk.nii");
    std::fs::write(&p, b"this is not a nifti file at all").unwrap();
    assert!(matches!(load(&p).unwrap_err().kind, ErrorKind::Nifti(_)));
    let p = dir.path().join("short.nii");
    std::fs::write(&p, bytes(&plain(), true)).unwrap();
    let e = load(&p).unwrap_err();
    assert!(e.path.ends_with("short.nii"), "{e}");
}
