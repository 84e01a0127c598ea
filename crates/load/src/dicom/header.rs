//! Reading the attributes ichscan needs from a DICOM file, one [`FrameHeader`] per image
//! frame: classic CT has one frame per file; enhanced (multi-frame) CT has many, each with
//! its geometry and rescale in the per-frame (or shared) functional groups.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{InMemDicomObject, OpenFileOptions};

use crate::error::{ErrorKind, LoadError, Result};
use crate::input::Source;

/// Storage classes that hold no image: directories, reports, presentation states.
const DICOMDIR_CLASS: &str = "1.2.840.10008.1.3.10";

/// One image frame and the attributes that decide where it goes and how it decodes.
#[derive(Debug, Clone)]
pub struct FrameHeader {
    /// Index into the listing's files.
    pub file: usize,
    /// Frame number inside the file (0 for single-frame images).
    pub frame: u32,
    pub series_uid: String,
    pub sop_uid: String,
    pub modality: String,
    pub description: String,
    pub kernel: String,
    pub contrast: bool,
    pub localizer: bool,
    pub instance_number: Option<i64>,
    pub rows: usize,
    pub cols: usize,
    /// mm along a row (between columns) and along a column (between rows).
    pub pixel_spacing: [f64; 2],
    pub iop: [f64; 6],
    pub ipp: [f64; 3],
    pub thickness: Option<f64>,
    pub slope: f64,
    pub intercept: f64,
    pub transfer_syntax: String,
    pub pixel: PixelFormat,
}

/// How stored pixel values are laid out, and which ones mean "no data".
#[derive(Debug, Clone, PartialEq)]
pub struct PixelFormat {
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub signed: bool,
    pub samples_per_pixel: u16,
    pub photometric: String,
    /// PixelPaddingValue and, when present, PixelPaddingRangeLimit (stored values).
    pub padding: Option<(i64, Option<i64>)>,
}

/// What a file turned out to be.
pub enum Parsed {
    Frames(Vec<FrameHeader>),
    /// Valid DICOM but not an image to analyse (DICOMDIR, report, ...): skipped with this note.
    Skip(String),
}

/// True when the bytes start like a DICOM Part 10 file (preamble + "DICM", or bare "DICM").
pub fn looks_like_dicom(head: &[u8]) -> bool {
    (head.len() >= 132 && &head[128..132] == b"DICM") || head.starts_with(b"DICM")
}

/// Opens a DICOM file up to (`full = false`) or including the pixel data. Files on disk
/// are streamed, so reading headers of a large folder stops at each file's pixel data.
pub fn open(source: &Source, full: bool) -> Result<dicom_object::DefaultDicomObject> {
    let name = source.name();
    let mut opts = OpenFileOptions::new();
    if !full {
        opts = opts.read_until(tags::PIXEL_DATA);
    }
    let res = match source {
        Source::Disk(p) => opts.read_preamble(ReadPreamble::Auto).open_file(p),
        Source::Memory { bytes, .. } => {
            let body = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" { &bytes[128..] } else { &bytes[..] };
            opts.read_preamble(ReadPreamble::Never).from_reader(body)
        }
    };
    res.map_err(|e| LoadError::new(name, ErrorKind::Corrupt(flatten(&e))))
}

/// Error text on one line, with its causes.
pub(crate) fn flatten(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s.replace('\n', " ")
}

fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok()??;
    let s = e.to_str().ok()?;
    let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\0').to_string();
    (!s.is_empty()).then_some(s)
}

fn floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let v = obj.element_opt(tag).ok()??.to_multi_float64().ok()?;
    (!v.is_empty() && v.iter().all(|x| x.is_finite())).then_some(v)
}

fn float(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    floats(obj, tag).map(|v| v[0])
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    obj.element_opt(tag).ok()??.to_int::<i64>().ok()
}

/// The first item of a sequence.
fn item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    obj.element_opt(tag).ok()??.items()?.first()
}

/// Looks an attribute up in a frame's functional groups: the per-frame item first, then
/// the shared one, then the top level (where classic images keep it).
struct Groups<'a> {
    per_frame: Option<&'a InMemDicomObject>,
    shared: Option<&'a InMemDicomObject>,
    top: &'a InMemDicomObject,
}

impl<'a> Groups<'a> {
    fn find<T>(&self, seq: Tag, get: impl Fn(&InMemDicomObject) -> Option<T>) -> Option<T> {
        [self.per_frame, self.shared]
            .into_iter()
            .flatten()
            .find_map(|g| item(g, seq).and_then(&get))
            .or_else(|| get(self.top))
    }
}

pub fn parse(file: usize, source: &Source) -> Result<Parsed> {
    let name = source.name();
    let obj = open(source, false)?;
    let meta = obj.meta();
    let class = meta.media_storage_sop_class_uid.trim_end_matches('\0').trim().to_string();
    if class == DICOMDIR_CLASS {
        return Ok(Parsed::Skip(format!("{name}: DICOMDIR (an index, not an image): skipped")));
    }
    let ts = meta.transfer_syntax().trim_end_matches('\0').trim().to_string();
    if obj.element_opt(tags::ROWS).ok().flatten().is_none() {
        return Ok(Parsed::Skip(format!("{name}: DICOM without an image (SOP class {class}): skipped")));
    }
    let miss = |what: &'static str| LoadError::new(&name, ErrorKind::MissingAttribute(what));
    let top: &InMemDicomObject = &obj;
    let rows = int(top, tags::ROWS).filter(|v| *v > 0).ok_or_else(|| miss("Rows"))? as usize;
    let cols = int(top, tags::COLUMNS).filter(|v| *v > 0).ok_or_else(|| miss("Columns"))? as usize;
    let image_type = text(top, tags::IMAGE_TYPE).unwrap_or_default().to_ascii_uppercase();
    let pixel = PixelFormat {
        bits_allocated: int(top, tags::BITS_ALLOCATED).ok_or_else(|| miss("BitsAllocated"))? as u16,
        bits_stored: int(top, tags::BITS_STORED).or(int(top, tags::BITS_ALLOCATED)).unwrap_or(16) as u16,
        signed: int(top, tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1,
        samples_per_pixel: int(top, tags::SAMPLES_PER_PIXEL).unwrap_or(1) as u16,
        photometric: text(top, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_else(|| "MONOCHROME2".into()),
        padding: int(top, tags::PIXEL_PADDING_VALUE).map(|p| (p, int(top, tags::PIXEL_PADDING_RANGE_LIMIT))),
    };
    let n_frames = int(top, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as usize;
    let per_frame: Vec<&InMemDicomObject> = top
        .element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .map(|items| items.iter().collect())
        .unwrap_or_default();
    let shared = item(top, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    if n_frames > 1 && per_frame.len() != n_frames {
        return Err(LoadError::new(
            &name,
            ErrorKind::Corrupt(format!(
                "{n_frames} frames but {} per-frame functional group items (no per-frame geometry)",
                per_frame.len()
            )),
        ));
    }
    let series_uid = text(top, tags::SERIES_INSTANCE_UID).ok_or_else(|| miss("SeriesInstanceUID"))?;
    let sop_uid = text(top, tags::SOP_INSTANCE_UID).unwrap_or_default();
    let mut frames = Vec::with_capacity(n_frames);
    for f in 0..n_frames {
        let g = Groups { per_frame: per_frame.get(f).copied(), shared, top };
        let iop = g
            .find(tags::PLANE_ORIENTATION_SEQUENCE, |o| floats(o, tags::IMAGE_ORIENTATION_PATIENT))
            .filter(|v| v.len() == 6)
            .ok_or_else(|| miss("ImageOrientationPatient"))?;
        let ipp = g
            .find(tags::PLANE_POSITION_SEQUENCE, |o| floats(o, tags::IMAGE_POSITION_PATIENT))
            .filter(|v| v.len() == 3)
            .ok_or_else(|| miss("ImagePositionPatient"))?;
        let ps = g
            .find(tags::PIXEL_MEASURES_SEQUENCE, |o| floats(o, tags::PIXEL_SPACING))
            .filter(|v| v.len() == 2 && v.iter().all(|x| *x > 0.0))
            .ok_or_else(|| miss("PixelSpacing"))?;
        let thickness = g.find(tags::PIXEL_MEASURES_SEQUENCE, |o| float(o, tags::SLICE_THICKNESS)).filter(|t| *t > 0.0);
        let slope = g.find(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE, |o| float(o, tags::RESCALE_SLOPE)).unwrap_or(1.0);
        let intercept =
            g.find(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE, |o| float(o, tags::RESCALE_INTERCEPT)).unwrap_or(0.0);
        if slope == 0.0 {
            return Err(LoadError::new(&name, ErrorKind::MissingAttribute("RescaleSlope (it is 0)")));
        }
        let frame_type = g
            .find(tags::CT_IMAGE_FRAME_TYPE_SEQUENCE, |o| text(o, tags::FRAME_TYPE))
            .unwrap_or_default()
            .to_ascii_uppercase();
        frames.push(FrameHeader {
            file,
            frame: f as u32,
            series_uid: series_uid.clone(),
            sop_uid: sop_uid.clone(),
            modality: text(top, tags::MODALITY).unwrap_or_default().to_ascii_uppercase(),
            description: text(top, tags::SERIES_DESCRIPTION).unwrap_or_default(),
            kernel: g.find(tags::CT_RECONSTRUCTION_SEQUENCE, |o| text(o, tags::CONVOLUTION_KERNEL)).unwrap_or_default(),
            contrast: text(top, tags::CONTRAST_BOLUS_AGENT).is_some()
                || item(top, tags::CONTRAST_BOLUS_AGENT_SEQUENCE).is_some(),
            localizer: image_type.contains("LOCALIZER") || frame_type.contains("LOCALIZER"),
            instance_number: int(top, tags::INSTANCE_NUMBER),
            rows,
            cols,
            pixel_spacing: [ps[1], ps[0]],
            iop: [iop[0], iop[1], iop[2], iop[3], iop[4], iop[5]],
            ipp: [ipp[0], ipp[1], ipp[2]],
            thickness,
            slope,
            intercept,
            transfer_syntax: ts.clone(),
            pixel: pixel.clone(),
        });
    }
    Ok(Parsed::Frames(frames))
}
