//! Writing volumes: a CT as a DICOM series (dicom-rs) and volumes or label masks as
//! NIfTI-1. Used by the simulator; what is written reads back through this crate's own
//! loader with the same voxels and geometry.

use std::io::Write;
use std::path::Path;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;
use ichscan_geometry::affine::normalize;
use ichscan_geometry::Volume;
use ndarray::{Array3, Axis};

/// Descriptive attributes of a written series (all synthetic; no real patient data).
#[derive(Debug, Clone)]
pub struct SeriesMeta {
    pub patient_name: String,
    pub patient_id: String,
    pub series_description: String,
    /// Seeds the UIDs, so the same case gets the same UIDs every time.
    pub uid_seed: u64,
    pub kernel: String,
}

/// A "2.25." UID (an integer under 2^128) derived from a seed and a purpose.
pub fn uid(seed: u64, what: u64) -> String {
    let mut x = seed ^ what.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let v = ((next() as u128) << 64 | next() as u128) >> 1;
    format!("2.25.{v}")
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// Writes `volume` (HU, whole numbers; a regular grid with orthogonal in-plane axes) as a
/// CT series of signed 16-bit slices, one file per slice, `IM0001.dcm`, ... in `dir`.
pub fn write_dicom_series(volume: &Volume, dir: &Path, meta: &SeriesMeta) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let a = volume.affine;
    let sp = a.spacing();
    let row = normalize(a.axes[0]).ok_or("degenerate i axis")?;
    let col = normalize(a.axes[1]).ok_or("degenerate j axis")?;
    let [ni, nj, nk] = volume.dims();
    let study = uid(meta.uid_seed, 1);
    let series = uid(meta.uid_seed, 2);
    let frame = uid(meta.uid_seed, 3);
    let ds = |v: &[f64]| v.iter().map(|x| format!("{x:.6}")).collect::<Vec<_>>().join("\\");
    for (k, plane) in volume.data.axis_iter(Axis(0)).enumerate() {
        let mut o = InMemDicomObject::new_empty();
        let mut put = |tag: Tag, vr: VR, v: String| {
            o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        };
        put(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.2".into());
        put(tags::SOP_INSTANCE_UID, VR::UI, uid(meta.uid_seed, 1000 + k as u64));
        put(tags::STUDY_INSTANCE_UID, VR::UI, study.clone());
        put(tags::SERIES_INSTANCE_UID, VR::UI, series.clone());
        put(tags::FRAME_OF_REFERENCE_UID, VR::UI, frame.clone());
        put(tags::MODALITY, VR::CS, "CT".into());
        put(tags::IMAGE_TYPE, VR::CS, "DERIVED\\SECONDARY\\AXIAL".into());
        put(tags::MANUFACTURER, VR::LO, "ichscan synth".into());
        put(tags::PATIENT_NAME, VR::PN, meta.patient_name.clone());
        put(tags::PATIENT_ID, VR::LO, meta.patient_id.clone());
        put(tags::PATIENT_POSITION, VR::CS, "HFS".into());
        put(tags::STUDY_DATE, VR::DA, "20260101".into());
        put(tags::SERIES_NUMBER, VR::IS, "1".into());
        put(tags::SERIES_DESCRIPTION, VR::LO, meta.series_description.clone());
        put(tags::CONVOLUTION_KERNEL, VR::SH, meta.kernel.clone());
        put(tags::INSTANCE_NUMBER, VR::IS, (k + 1).to_string());
        put(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&a.apply([0.0, 0.0, k as f64])));
        put(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&[row[0], row[1], row[2], col[0], col[1], col[2]]));
        put(tags::PIXEL_SPACING, VR::DS, ds(&[sp[1], sp[0]]));
        put(tags::SLICE_THICKNESS, VR::DS, ds(&[sp[2]]));
        put(tags::SPACING_BETWEEN_SLICES, VR::DS, ds(&[sp[2]]));
        put(tags::RESCALE_INTERCEPT, VR::DS, "0".into());
        put(tags::RESCALE_SLOPE, VR::DS, "1".into());
        put(tags::RESCALE_TYPE, VR::LO, "HU".into());
        put(tags::WINDOW_CENTER, VR::DS, "40".into());
        put(tags::WINDOW_WIDTH, VR::DS, "80".into());
        put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2".into());
        for (tag, v) in [
            (tags::ROWS, nj as u16),
            (tags::COLUMNS, ni as u16),
            (tags::SAMPLES_PER_PIXEL, 1),
            (tags::BITS_ALLOCATED, 16),
            (tags::BITS_STORED, 16),
            (tags::HIGH_BIT, 15),
            (tags::PIXEL_REPRESENTATION, 1),
        ] {
            o.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
        }
        let words: Vec<u16> = plane.iter().map(|v| (v.round().clamp(-32768.0, 32767.0) as i16) as u16).collect();
        o.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(words.into())));
        let path = dir.join(format!("IM{:04}.dcm", k + 1));
        o.with_meta(FileMetaTableBuilder::new().transfer_syntax("1.2.840.10008.1.2.1"))
            .map_err(|e| io_err(&path, e))?
            .write_to_file(&path)
            .map_err(|e| io_err(&path, e))?;
    }
    let _ = nk;
    Ok(())
}

/// Voxel type of a NIfTI written here.
#[derive(Debug, Clone, Copy)]
pub enum NiftiType {
    I16,
    U8,
}

/// Writes `data` (`[k, j, i]`) with the volume's voxel-to-LPS affine as NIfTI-1 (sform,
/// code 1 = scanner; RAS as NIfTI wants). `.nii.gz` paths are gzipped.
pub fn write_nifti(
    path: &Path,
    data: &Array3<f32>,
    affine: &ichscan_geometry::Affine,
    ty: NiftiType,
) -> Result<(), String> {
    let (nk, nj, ni) = data.dim();
    let mut h = vec![0u8; 352];
    let put = |h: &mut Vec<u8>, off: usize, v: &[u8]| h[off..off + v.len()].copy_from_slice(v);
    put(&mut h, 0, &348i32.to_le_bytes());
    let dims = [3i16, ni as i16, nj as i16, nk as i16, 1, 1, 1, 1];
    for (d, v) in dims.iter().enumerate() {
        put(&mut h, 40 + 2 * d, &v.to_le_bytes());
    }
    let (code, bits): (i16, i16) = match ty {
        NiftiType::I16 => (4, 16),
        NiftiType::U8 => (2, 8),
    };
    put(&mut h, 70, &code.to_le_bytes());
    put(&mut h, 72, &bits.to_le_bytes());
    let sp = affine.spacing();
    for (d, v) in [1.0f32, sp[0] as f32, sp[1] as f32, sp[2] as f32].iter().enumerate() {
        put(&mut h, 76 + 4 * d, &v.to_le_bytes());
    }
    put(&mut h, 108, &352f32.to_le_bytes());
    put(&mut h, 112, &1f32.to_le_bytes());
    h[123] = 2; // xyzt_units: mm
    put(&mut h, 254, &1i16.to_le_bytes());
    // LPS -> RAS: negate the x and y rows.
    for (r, sign) in [(0usize, -1.0), (1, -1.0), (2, 1.0)] {
        let row =
            [affine.axes[0][r] * sign, affine.axes[1][r] * sign, affine.axes[2][r] * sign, affine.origin[r] * sign];
        for (c, v) in row.iter().enumerate() {
            put(&mut h, 280 + 16 * r + 4 * c, &(*v as f32).to_le_bytes());
        }
    }
    put(&mut h, 344, b"n+1\0");
    // NIfTI stores i fastest, then j, then k: our [k, j, i] standard layout as is.
    let mut body = h;
    for v in data.iter() {
        match ty {
            NiftiType::I16 => body.extend_from_slice(&(v.round().clamp(-32768.0, 32767.0) as i16).to_le_bytes()),
            NiftiType::U8 => body.push(v.round().clamp(0.0, 255.0) as u8),
        }
    }
    let f = std::fs::File::create(path).map_err(|e| io_err(path, e))?;
    let name = path.to_string_lossy();
    if name.ends_with(".gz") {
        let mut enc = flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::fast());
        enc.write_all(&body).map_err(|e| io_err(path, e))?;
        enc.finish().map_err(|e| io_err(path, e))?;
    } else {
        std::io::BufWriter::new(f).write_all(&body).map_err(|e| io_err(path, e))?;
    }
    Ok(())
}
