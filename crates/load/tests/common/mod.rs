//! Test support: writes synthetic DICOM slices with dicom-rs from an explicit geometry,
//! so every expected value in the tests comes from the geometry used to write them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
pub const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
pub const CT_CLASS: &str = "1.2.840.10008.5.1.4.1.1.2";
pub const ENHANCED_CT_CLASS: &str = "1.2.840.10008.5.1.4.1.1.2.1";

/// Where the real scans are, or `None` (and a message) when this checkout has no copy.
pub fn shared_data() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIP: ../shared/data is absent; real-scan checks not run");
        None
    }
}

/// One slice to write. Stored values are given directly (`stored`), row-major.
#[derive(Clone, Debug)]
pub struct Slice {
    pub series_uid: String,
    pub sop_uid: String,
    pub modality: String,
    pub description: String,
    pub image_type: String,
    pub kernel: Option<String>,
    pub contrast: Option<String>,
    pub iop: [f64; 6],
    pub ipp: [f64; 3],
    /// DICOM order: [row spacing (between rows), column spacing (between columns)].
    pub pixel_spacing: [f64; 2],
    pub thickness: f64,
    pub rows: u16,
    pub cols: u16,
    pub stored: Vec<i32>,
    pub signed: bool,
    pub bits_stored: u16,
    pub slope: f64,
    pub intercept: f64,
    pub padding: Option<i32>,
    pub photometric: String,
    pub instance: i32,
    pub ts: String,
    /// Leave out the PixelData element.
    pub no_pixels: bool,
}

impl Slice {
    pub fn new(series: &str, k: usize, rows: u16, cols: u16) -> Self {
        Slice {
            series_uid: series.to_string(),
            sop_uid: format!("{series}.{k}"),
            modality: "CT".into(),
            description: "HEAD".into(),
            image_type: "ORIGINAL\\PRIMARY\\AXIAL".into(),
            kernel: Some("STANDARD".into()),
            contrast: None,
            iop: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            ipp: [0.0, 0.0, k as f64],
            pixel_spacing: [0.5, 0.5],
            thickness: 1.0,
            rows,
            cols,
            stored: vec![0; rows as usize * cols as usize],
            signed: true,
            bits_stored: 16,
            slope: 1.0,
            intercept: 0.0,
            padding: None,
            photometric: "MONOCHROME2".into(),
            instance: k as i32 + 1,
            ts: EXPLICIT_LE.into(),
            no_pixels: false,
        }
    }

    pub fn object(&self) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        let s = |o: &mut InMemDicomObject, tag: Tag, vr: VR, v: &str| {
            o.put(DataElement::new(tag, vr, PrimitiveValue::from(v.to_string())));
        };
        let ds = |v: &[f64]| v.iter().map(|x| format!("{x:.6}")).collect::<Vec<_>>().join("\\");
        s(&mut o, tags::SOP_CLASS_UID, VR::UI, CT_CLASS);
        s(&mut o, tags::SOP_INSTANCE_UID, VR::UI, &self.sop_uid);
        s(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3.4");
        s(&mut o, tags::SERIES_INSTANCE_UID, VR::UI, &self.series_uid);
        s(&mut o, tags::MODALITY, VR::CS, &self.modality);
        s(&mut o, tags::PATIENT_NAME, VR::PN, "Secret^Patient");
        s(&mut o, tags::PATIENT_ID, VR::LO, "PID-998877");
        s(&mut o, tags::PATIENT_BIRTH_DATE, VR::DA, "19010101");
        s(&mut o, tags::SERIES_DESCRIPTION, VR::LO, &self.description);
        s(&mut o, tags::IMAGE_TYPE, VR::CS, &self.image_type);
        if let Some(k) = &self.kernel {
            s(&mut o, tags::CONVOLUTION_KERNEL, VR::SH, k);
        }
        if let Some(c) = &self.contrast {
            s(&mut o, tags::CONTRAST_BOLUS_AGENT, VR::LO, c);
        }
        s(&mut o, tags::INSTANCE_NUMBER, VR::IS, &self.instance.to_string());
        s(&mut o, tags::IMAGE_ORIENTATION_PATIENT, VR::DS, &ds(&self.iop));
        s(&mut o, tags::IMAGE_POSITION_PATIENT, VR::DS, &ds(&self.ipp));
        s(&mut o, tags::PIXEL_SPACING, VR::DS, &ds(&self.pixel_spacing));
        s(&mut o, tags::SLICE_THICKNESS, VR::DS, &ds(&[self.thickness]));
        s(&mut o, tags::RESCALE_SLOPE, VR::DS, &ds(&[self.slope]));
        s(&mut o, tags::RESCALE_INTERCEPT, VR::DS, &ds(&[self.intercept]));
        s(&mut o, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, &self.photometric);
        self.put_pixel_module(&mut o);
        o
    }

    fn put_pixel_module(&self, o: &mut InMemDicomObject) {
        let us = |o: &mut InMemDicomObject, tag: Tag, v: u16| {
            o.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
        };
        us(o, tags::ROWS, self.rows);
        us(o, tags::COLUMNS, self.cols);
        us(o, tags::SAMPLES_PER_PIXEL, 1);
        us(o, tags::BITS_ALLOCATED, 16);
        us(o, tags::BITS_STORED, self.bits_stored);
        us(o, tags::HIGH_BIT, self.bits_stored - 1);
        us(o, tags::PIXEL_REPRESENTATION, self.signed as u16);
        if let Some(p) = self.padding {
            let v = if self.signed { PrimitiveValue::from(p as i16) } else { PrimitiveValue::from(p as u16) };
            o.put(DataElement::new(tags::PIXEL_PADDING_VALUE, if self.signed { VR::SS } else { VR::US }, v));
        }
        if !self.no_pixels {
            let words: Vec<u16> = self.stored.iter().map(|v| *v as u16).collect();
            o.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(words.into())));
        }
    }

    pub fn write(&self, path: &Path) {
        let obj = self.object().with_meta(FileMetaTableBuilder::new().transfer_syntax(self.ts.as_str())).expect("meta");
        obj.write_to_file(path).expect("write dicom");
    }
}

/// An enhanced CT (one file, many frames) with the given slices' geometry and pixels in
/// the per-frame functional groups; attributes common to all in the shared group.
pub fn write_enhanced(slices: &[Slice], path: &Path) {
    let first = &slices[0];
    let mut o = first.object();
    for t in [
        tags::IMAGE_POSITION_PATIENT,
        tags::IMAGE_ORIENTATION_PATIENT,
        tags::PIXEL_SPACING,
        tags::SLICE_THICKNESS,
        tags::RESCALE_SLOPE,
        tags::RESCALE_INTERCEPT,
        tags::PIXEL_DATA,
    ] {
        o.remove_element(t);
    }
    o.put(DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from(ENHANCED_CT_CLASS)));
    o.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from(slices.len().to_string())));
    let ds = |v: &[f64]| v.iter().map(|x| format!("{x:.6}")).collect::<Vec<_>>().join("\\");
    let item = |tag: Tag, vr: VR, value: String| {
        let mut it = InMemDicomObject::new_empty();
        it.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        it
    };
    let seq = |tag: Tag, items: Vec<InMemDicomObject>| DataElement::new(tag, VR::SQ, DataSetSequence::from(items));
    let mut shared = InMemDicomObject::new_empty();
    shared.put(seq(
        tags::PLANE_ORIENTATION_SEQUENCE,
        vec![item(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&first.iop))],
    ));
    let mut measures = item(tags::PIXEL_SPACING, VR::DS, ds(&first.pixel_spacing));
    measures.put(DataElement::new(tags::SLICE_THICKNESS, VR::DS, PrimitiveValue::from(ds(&[first.thickness]))));
    shared.put(seq(tags::PIXEL_MEASURES_SEQUENCE, vec![measures]));
    let per_frame: Vec<InMemDicomObject> = slices
        .iter()
        .map(|s| {
            let mut f = InMemDicomObject::new_empty();
            f.put(seq(tags::PLANE_POSITION_SEQUENCE, vec![item(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&s.ipp))]));
            let mut pvt = item(tags::RESCALE_SLOPE, VR::DS, ds(&[s.slope]));
            pvt.put(DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, PrimitiveValue::from(ds(&[s.intercept]))));
            f.put(seq(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE, vec![pvt]));
            f
        })
        .collect();
    o.put(seq(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, vec![shared]));
    o.put(seq(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame));
    let words: Vec<u16> = slices.iter().flat_map(|s| s.stored.iter().map(|v| *v as u16)).collect();
    o.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(words.into())));
    o.with_meta(FileMetaTableBuilder::new().transfer_syntax(EXPLICIT_LE))
        .expect("meta")
        .write_to_file(path)
        .expect("write");
}

/// A deterministic shuffle (no rand dependency): reverses and interleaves.
pub fn shuffled(n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).map(|i| (i * 7 + 3) % n).collect();
    v.dedup();
    assert_eq!(
        {
            let mut s = v.clone();
            s.sort();
            s
        },
        (0..n).collect::<Vec<_>>(),
        "n must be coprime with 7"
    );
    v
}

/// Runs the ichscan binary (built by cargo for the CLI crate's tests only; here the
/// library is used directly).
pub fn load(path: &Path) -> Result<ichscan_load::Scan, ichscan_load::LoadError> {
    ichscan_load::load(path, &ichscan_load::LoadOptions::default())
}
