//! Pixel data to Hounsfield units.
//!
//! dicom-pixeldata decodes the transfer syntax (native, JPEG baseline and lossless, RLE,
//! JPEG 2000 through the pure-Rust openjp2), except single-frame JPEG Lossless, which our
//! faster `jpeg_lossless` decodes (falling back to dicom-pixeldata); the stored values are
//! then interpreted here, where CT needs care that a generic decoder does not take:
//! * samples are masked or sign-extended to BitsStored;
//! * PixelPaddingValue (and PixelPaddingRangeLimit) mark "no data": air;
//! * HU = stored x RescaleSlope + RescaleIntercept, and anything below air (the -2000 or
//!   -3024 that scanners put outside the reconstruction circle) becomes air;
//! * MONOCHROME1 changes only how a viewer displays grey levels, not what the modality
//!   LUT means: HU are computed the same way (a CT HU must not depend on display).

use dicom_encoding::TransferSyntaxIndex;
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use ichscan_geometry::AIR_HU;

use super::header::{flatten, FrameHeader, PixelFormat};
use crate::error::{ErrorKind, LoadError, Result};
use crate::input::Source;

/// Decodes the given frames of one file (all from the same file) to HU, `rows x cols` each.
pub fn decode_frames(source: &Source, frames: &[&FrameHeader]) -> Result<Vec<Vec<f32>>> {
    let name = source.name();
    let obj = super::header::open(source, true)?;
    let mut out = Vec::with_capacity(frames.len());
    for fh in frames {
        if let Some(hu) = fast_lossless(&obj, fh) {
            out.push(hu.map_err(|m| LoadError::new(&name, ErrorKind::PixelData(m)))?);
            continue;
        }
        let decoded = obj.decode_pixel_data_frame(fh.frame).map_err(|e| {
            let detail = flatten(&e);
            let ts = &fh.transfer_syntax;
            match TransferSyntaxRegistry.get(ts) {
                Some(t) if !t.can_decode_all() => LoadError::new(
                    &name,
                    ErrorKind::UnsupportedTransferSyntax { uid: ts.clone(), name: t.name().to_string(), detail },
                ),
                None => LoadError::new(
                    &name,
                    ErrorKind::UnsupportedTransferSyntax { uid: ts.clone(), name: "unknown".into(), detail },
                ),
                _ => LoadError::new(&name, ErrorKind::PixelData(detail)),
            }
        })?;
        let n = fh.rows * fh.cols;
        if decoded.samples_per_pixel() != 1 {
            return Err(LoadError::new(
                &name,
                ErrorKind::PixelData(format!("{} samples per pixel; CT has 1", decoded.samples_per_pixel())),
            ));
        }
        let fmt = PixelFormat { bits_allocated: decoded.bits_allocated(), ..fh.pixel.clone() };
        let hu = to_hu(decoded.data(), n, &fmt, fh.slope, fh.intercept)
            .map_err(|m| LoadError::new(&name, ErrorKind::PixelData(m)))?;
        out.push(hu);
    }
    Ok(out)
}

/// JPEG Lossless frames through our own decoder (see `jpeg_lossless`): `None` when it does
/// not apply or cannot read the stream, and dicom-pixeldata decodes it instead.
fn fast_lossless(obj: &dicom_object::DefaultDicomObject, fh: &FrameHeader) -> Option<Result<Vec<f32>, String>> {
    use dicom_dictionary_std::tags;
    const LOSSLESS: [&str; 2] = ["1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"];
    let ts = fh.transfer_syntax.trim_end_matches('\0');
    if !LOSSLESS.contains(&ts) || fh.pixel.bits_allocated != 16 || fh.pixel.samples_per_pixel != 1 {
        return None;
    }
    // One frame per file: its fragments together are the stream (several frames would
    // need the offset table: left to dicom-pixeldata).
    let frames = obj.element(tags::NUMBER_OF_FRAMES).ok().and_then(|e| e.to_int::<i64>().ok()).unwrap_or(1);
    let fragments = obj.element(tags::PIXEL_DATA).ok()?.value().fragments()?;
    if frames != 1 || fh.frame != 0 || fragments.is_empty() {
        return None;
    }
    let stream: std::borrow::Cow<[u8]> =
        if fragments.len() == 1 { (&fragments[0][..]).into() } else { fragments.concat().into() };
    let img = match super::jpeg_lossless::decode(&stream, Some((fh.cols, fh.rows))) {
        Ok(img) => img,
        Err(e) => {
            tracing::debug!("JPEG Lossless left to dicom-pixeldata: {}", e.0);
            return None;
        }
    };
    // 8-bit streams come out of dicom-pixeldata as bytes: leave them to it. (The size was
    // checked against Rows/Columns by `decode`.)
    if img.precision <= 8 {
        return None;
    }
    Some(Ok(hu_16(img.samples.into_iter(), &fh.pixel, fh.slope, fh.intercept)))
}

/// Stored little-endian samples to HU (see the module docs for the rules).
pub fn to_hu(data: &[u8], n: usize, fmt: &PixelFormat, slope: f64, intercept: f64) -> Result<Vec<f32>, String> {
    let bytes = match fmt.bits_allocated {
        8 => 1,
        16 => 2,
        32 => 4,
        b => return Err(format!("BitsAllocated {b} is not supported (8, 16 or 32)")),
    };
    if data.len() < n * bytes {
        return Err(format!("truncated: {} bytes for {n} pixels of {bytes} byte(s)", data.len()));
    }
    if bytes == 2 {
        // The usual CT case, without the per-sample byte-width dispatch below.
        let samples = data[..2 * n].chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        return Ok(hu_16(samples, fmt, slope, intercept));
    }
    let stored = fmt.bits_stored.clamp(1, 8 * bytes as u16) as u32;
    let raw = |idx: usize| -> i64 {
        let b = &data[idx * bytes..(idx + 1) * bytes];
        let u = match bytes {
            1 => b[0] as u64,
            _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64,
        };
        let mask = if stored == 64 { u64::MAX } else { (1u64 << stored) - 1 };
        let v = u & mask;
        if fmt.signed && (v >> (stored - 1)) & 1 == 1 {
            v as i64 - (1i64 << stored)
        } else {
            v as i64
        }
    };
    let hu = hu_rule(fmt, slope, intercept);
    Ok((0..n).map(|idx| hu(raw(idx))).collect())
}

/// 16-bit stored samples to HU: masked or sign-extended to BitsStored (by shifts), then
/// [`hu_rule`].
fn hu_16(samples: impl Iterator<Item = u16>, fmt: &PixelFormat, slope: f64, intercept: f64) -> Vec<f32> {
    let stored = fmt.bits_stored.clamp(1, 16) as u32;
    let (mask, shift) = ((1u32 << stored) - 1, 32 - stored);
    let hu = hu_rule(fmt, slope, intercept);
    samples
        .map(|s| {
            let u = s as u32 & mask;
            hu(if fmt.signed { ((u << shift) as i32 >> shift) as i64 } else { u as i64 })
        })
        .collect()
}

/// A stored value (already masked and signed) to HU: padding is air, then the modality
/// LUT, and nothing below air.
fn hu_rule(fmt: &PixelFormat, slope: f64, intercept: f64) -> impl Fn(i64) -> f32 {
    let pad = fmt.padding.map(|(a, b)| {
        // Padding values are written with the pixel's own sign; a range may be given either way round.
        let b = b.unwrap_or(a);
        (a.min(b), a.max(b))
    });
    move |v| {
        if pad.is_some_and(|(lo, hi)| v >= lo && v <= hi) {
            return AIR_HU;
        }
        let hu = (v as f64 * slope + intercept) as f32;
        if hu < AIR_HU {
            AIR_HU
        } else {
            hu
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(bits_stored: u16, signed: bool, padding: Option<(i64, Option<i64>)>) -> PixelFormat {
        PixelFormat {
            bits_allocated: 16,
            bits_stored,
            signed,
            samples_per_pixel: 1,
            photometric: "MONOCHROME2".into(),
            padding,
        }
    }

    fn le(v: &[u16]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn unsigned_12_bit_with_intercept() {
        // 1024 stored with intercept -1024 is 0 HU (water); 1064 is 40 HU; high bits above
        // BitsStored are overlay garbage and must be masked off.
        let data = le(&[1024, 1064, 0xF000 | 1064]);
        let hu = to_hu(&data, 3, &fmt(12, false, None), 1.0, -1024.0).unwrap();
        assert_eq!(hu, vec![0.0, 40.0, 40.0]);
    }

    #[test]
    fn signed_16_bit_padding_and_out_of_field() {
        // -2000 stored is padding; -1000 stored is below air after intercept -1024 -> air;
        // 40 stored -> -984 HU.
        let data = le(&[(-2000i16) as u16, (-1000i16) as u16, 40]);
        let hu = to_hu(&data, 3, &fmt(16, true, Some((-2000, None))), 1.0, -1024.0).unwrap();
        assert_eq!(hu, vec![AIR_HU, AIR_HU, -984.0]);
    }

    #[test]
    fn signed_12_bit_sign_extends() {
        // 0xFFF in 12 bits is -1; 0x800 is -2048.
        let data = le(&[0x0FFF, 0x0800, 0x07FF]);
        let hu = to_hu(&data, 3, &fmt(12, true, None), 1.0, 0.0).unwrap();
        assert_eq!(hu, vec![-1.0, AIR_HU, 2047.0]);
    }

    #[test]
    fn padding_range_either_order() {
        let data = le(&[0, 5, 10, 11]);
        let hu = to_hu(&data, 4, &fmt(16, false, Some((10, Some(0)))), 1.0, 0.0).unwrap();
        assert_eq!(hu, vec![AIR_HU, AIR_HU, AIR_HU, 11.0]);
    }

    #[test]
    fn slope_applies_and_truncation_is_an_error() {
        let hu = to_hu(&le(&[100]), 1, &fmt(16, false, None), 0.5, -10.0).unwrap();
        assert_eq!(hu, vec![40.0]);
        assert!(to_hu(&le(&[1, 2]), 3, &fmt(16, false, None), 1.0, 0.0).unwrap_err().contains("truncated"));
    }
}
