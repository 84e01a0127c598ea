//! Our JPEG Lossless decoder (`dicom::jpeg_lossless`) against an encoder written here from
//! T.81 Annex H and against jpeg-decoder (what dicom-pixeldata uses) as the reference tool:
//! every predictor, 12 and 16 bits, point transform, restart intervals, short and long
//! Huffman codes; then every slice of the real CQ500 scan (skipped without ../shared/data).

mod common;

use ichscan_load::dicom::jpeg_lossless::decode;

/// Huffman code lengths for the 17 difference categories: `flat` all 5 bits; otherwise
/// category k gets k + 2 bits (up to 16), 15 and 16 get 16 (Kraft sum 1/2 + 2^-16 < 1).
fn lengths(flat: bool) -> [u8; 17] {
    std::array::from_fn(|k| if flat { 5 } else { (k as u8 + 2).min(16) })
}

/// Canonical codes (T.81 Annex C) for the lengths, and the DHT counts and values.
fn codes(len: &[u8; 17]) -> (Vec<(u32, u8)>, [u8; 16], Vec<u8>) {
    let mut order: Vec<usize> = (0..17).collect();
    order.sort_by_key(|&k| (len[k], k));
    let mut code = vec![(0u32, 0u8); 17];
    let (mut c, mut l) = (0u32, 1u8);
    let mut counts = [0u8; 16];
    for &k in &order {
        while l < len[k] {
            c <<= 1;
            l += 1;
        }
        code[k] = (c, l);
        counts[l as usize - 1] += 1;
        c += 1;
    }
    (code, counts, order.iter().map(|&k| k as u8).collect())
}

struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, v: u32, bits: u8) {
        for i in (0..bits).rev() {
            self.acc = self.acc << 1 | (v >> i & 1);
            self.n += 1;
            if self.n == 8 {
                self.byte(self.acc as u8);
                self.acc = 0;
                self.n = 0;
            }
        }
    }
    fn byte(&mut self, b: u8) {
        self.out.push(b);
        if b == 0xFF {
            self.out.push(0); // stuffing
        }
    }
    /// Pads the last byte with 1 bits (T.81 F.1.2.3).
    fn flush(&mut self) {
        while self.n != 0 {
            self.put(1, 1);
        }
    }
}

/// Encodes `img` (w x h samples of `p` bits) as JPEG Lossless, process 14.
/// Also returns how often each difference category was written.
#[allow(clippy::too_many_arguments)]
fn encode(
    img: &[u16],
    w: usize,
    h: usize,
    p: u8,
    pt: u8,
    predictor: u8,
    restart_rows: usize,
    flat: bool,
) -> (Vec<u8>, [usize; 17]) {
    let len = lengths(flat);
    let (code, counts, values) = codes(&len);
    let mut f = vec![0xFF, 0xD8];
    let seg = |f: &mut Vec<u8>, m: u8, body: &[u8]| {
        f.extend([0xFF, m]);
        f.extend(((body.len() + 2) as u16).to_be_bytes());
        f.extend(body);
    };
    let mut dht = vec![0x00];
    dht.extend(counts);
    dht.extend(&values);
    seg(&mut f, 0xC4, &dht);
    let mut sof = vec![p];
    sof.extend((h as u16).to_be_bytes());
    sof.extend((w as u16).to_be_bytes());
    sof.extend([1, 1, 0x11, 0]);
    seg(&mut f, 0xC3, &sof);
    if restart_rows > 0 {
        seg(&mut f, 0xDD, &((restart_rows * w) as u16).to_be_bytes());
    }
    seg(&mut f, 0xDA, &[1, 1, 0x00, predictor, 0, pt]);
    let x = |r: usize, c: usize| (img[r * w + c] >> pt) as i32;
    let mut bw = BitWriter { out: vec![], acc: 0, n: 0 };
    let mut categories = [0usize; 17];
    let first = 1i32 << (p - pt - 1);
    for r in 0..h {
        let in_interval = if restart_rows > 0 { r % restart_rows } else { r };
        if r > 0 && restart_rows > 0 && in_interval == 0 {
            bw.flush();
            f.append(&mut bw.out);
            f.extend([0xFF, 0xD0 + ((r / restart_rows - 1) % 8) as u8]);
        }
        for c in 0..w {
            // T.81 H.1.2.1: the first row of the image and of each restart interval from the
            // left (its first sample from 2^(P-Pt-1)), each row's first sample from above.
            let pred = if in_interval == 0 {
                if c == 0 {
                    first
                } else {
                    x(r, c - 1)
                }
            } else if c == 0 {
                x(r - 1, 0)
            } else {
                let (ra, rb, rc) = (x(r, c - 1), x(r - 1, c), x(r - 1, c - 1));
                match predictor {
                    1 => ra,
                    2 => rb,
                    3 => rc,
                    4 => ra + rb - rc,
                    5 => ra + ((rb - rc) >> 1),
                    6 => rb + ((ra - rc) >> 1),
                    _ => (ra + rb) / 2,
                }
            };
            // Differences modulo 2^16 into -32767..=32768 (H.1.2.2).
            let mut d = (x(r, c) - pred).rem_euclid(65536);
            if d > 32768 {
                d -= 65536;
            }
            let s = if d == 0 { 0 } else { 32 - d.unsigned_abs().leading_zeros() } as usize;
            categories[s] += 1;
            bw.put(code[s].0, code[s].1);
            if (1..16).contains(&s) {
                let v = if d < 0 { d - 1 } else { d };
                bw.put(v as u32 & ((1 << s) - 1), s as u8);
            }
        }
    }
    bw.flush();
    f.append(&mut bw.out);
    f.extend([0xFF, 0xD9]);
    (f, categories)
}

/// A CT-like test image: smooth rings, edges and noise, using the full `p`-bit range in
/// places (so that differences of every size, including 2^15 at 16 bits, occur).
fn image(w: usize, h: usize, p: u8, seed: u64) -> Vec<u16> {
    let mut s = seed;
    let mut rnd = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    let max = (1u32 << p) - 1;
    let mut img: Vec<u16> = (0..w * h)
        .map(|i| {
            let (r, c) = ((i / w) as f64, (i % w) as f64);
            let d = ((r - h as f64 / 2.0).powi(2) + (c - w as f64 / 2.0).powi(2)).sqrt();
            let base = if d < w as f64 / 3.0 { max as f64 * 0.3 + 40.0 * (d / 3.0).sin() } else { 0.0 };
            let v = match rnd() % 50 {
                0 => rnd() % (max + 1), // a spike of any size
                1 => max,               // the extremes
                2 => 0,
                _ => (base + (rnd() % 16) as f64).clamp(0.0, max as f64) as u32,
            };
            v as u16
        })
        .collect();
    // 0 then 2^(P-1) at the start of the first row: the largest difference, 2^(P-1) (at 16
    // bits category 16, which has no extra bits).
    img[1] = 0;
    img[2] = 1 << (p - 1);
    img
}

fn reference(stream: &[u8]) -> Vec<u16> {
    let mut d = jpeg_decoder::Decoder::new(stream);
    let px = d.decode().expect("jpeg-decoder reads the test stream");
    px.chunks(2).map(|b| u16::from_ne_bytes([b[0], b[1]])).collect()
}

#[test]
fn every_predictor_precision_and_table_round_trips() {
    let (w, h) = (37, 23); // odd sizes: no power-of-two luck
    let mut n = 0;
    let mut categories = [0usize; 17];
    for p in [12u8, 16] {
        for predictor in 1..=7u8 {
            for flat in [true, false] {
                for (pt, restart_rows) in [(0u8, 0usize), (2, 0), (0, 4), (3, 5)] {
                    let img = image(w, h, p, (p as u64) << 8 | predictor as u64);
                    let (stream, cats) = encode(&img, w, h, p, pt, predictor, restart_rows, flat);
                    categories.iter_mut().zip(cats).for_each(|(a, b)| *a += b);
                    let got = decode(&stream, Some((w, h)))
                        .unwrap_or_else(|e| panic!("P{p} pred {predictor} pt {pt}: {}", e.0));
                    assert_eq!((got.width, got.height, got.precision), (w, h, p));
                    let want: Vec<u16> = img.iter().map(|&v| (v >> pt) << pt).collect();
                    assert!(
                        got.samples == want,
                        "P{p} predictor {predictor} pt {pt} restart {restart_rows} flat {flat}"
                    );
                    // jpeg-decoder agrees where it follows T.81 too: without a point
                    // transform (it predicts from shifted samples) and without restarts
                    // (with predictor 1 it does not reset the prediction at a restart; with
                    // the others it predicts a restart's first row with the scan's predictor,
                    // not from the left).
                    if pt == 0 && restart_rows == 0 {
                        let r = reference(&stream);
                        let bad = r.iter().zip(&want).position(|(a, b)| a != b);
                        assert!(r == want, "jpeg-decoder: P{p} predictor {predictor} restart {restart_rows} flat {flat}: len {} vs {}, first difference at {bad:?}", r.len(), want.len());
                        n += 1;
                    }
                }
            }
        }
    }
    assert_eq!(n, 2 * 7 * 2);
    assert!(categories.iter().all(|&c| c > 0), "every difference category was coded: {categories:?}");
    // P - Pt = 1: the first prediction is 2^0 = 1 (T.81 H.1.2.1).
    let img: Vec<u16> = (0..w * h).map(|i| ((i * 7 / 5) % 4) as u16).collect();
    for predictor in 1..=7 {
        let (stream, _) = encode(&img, w, h, 2, 1, predictor, 0, true);
        let want: Vec<u16> = img.iter().map(|&v| (v >> 1) << 1).collect();
        assert!(decode(&stream, None).unwrap().samples == want, "P2 Pt1 predictor {predictor}");
    }
}

#[test]
fn broken_streams_are_refused_not_misread() {
    let (w, h) = (20, 10);
    let img = image(w, h, 12, 9);
    let (stream, _) = encode(&img, w, h, 12, 0, 1, 0, false);
    assert!(decode(&stream, Some((w, h))).is_ok());
    // A frame header that disagrees with the DICOM header's size is refused before decoding.
    assert!(decode(&stream, Some((w + 1, h))).unwrap_err().0.contains("frame header says"));
    // A damaged size (65535 x 65535 in this small stream) is refused before allocating.
    let mut huge = stream.clone();
    let at = huge.windows(2).position(|m| m == [0xFF, 0xC3]).unwrap() + 5;
    huge[at..at + 4].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    assert!(decode(&huge, None).unwrap_err().0.contains("cannot fit"));
    // Cut anywhere: an error (the loader then asks dicom-pixeldata, which says why), never
    // a panic nor an image from missing data.
    for cut in [0, 1, 2, 10, stream.len() / 2, stream.len() - 6] {
        assert!(decode(&stream[..cut], Some((w, h))).is_err(), "cut at {cut}");
    }
    // Every byte flipped in turn: no panic (the result may or may not decode).
    for i in 0..stream.len() {
        let mut s = stream.clone();
        s[i] ^= 0x5A;
        let _ = decode(&s, None);
    }
    // An over-full Huffman table (17 codes of 4 bits) is refused.
    let mut full = stream.clone();
    let at = full.windows(2).position(|m| m == [0xFF, 0xC4]).unwrap() + 5;
    full[at..at + 16].copy_from_slice(&[0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(decode(&full, None).unwrap_err().0.contains("Huffman"));
    // Not lossless: a baseline (SOF0) header is left to dicom-pixeldata.
    let mut sof0 = stream.clone();
    let at = sof0.windows(2).position(|m| m == [0xFF, 0xC3]).unwrap();
    sof0[at + 1] = 0xC0;
    assert!(decode(&sof0, None).unwrap_err().0.contains("FFC0"));
}

/// Every slice of the real CQ500 scan (JPEG Lossless, process 14 SV1): our samples equal
/// jpeg-decoder's through dicom-pixeldata.
#[test]
fn cq500_slices_match_jpeg_decoder() {
    use dicom_dictionary_std::tags;
    use dicom_pixeldata::PixelDecoder;
    let Some(d) = common::shared_data() else { return };
    let dir = d.join("cq500/CQ500CT0 CQ500CT0");
    let files: Vec<_> = walk(&dir);
    assert_eq!(files.len(), 238);
    for f in &files {
        let obj = dicom_object::open_file(f).unwrap();
        assert_eq!(obj.meta().transfer_syntax().trim_end_matches('\0'), "1.2.840.10008.1.2.4.70");
        let frags = obj.element(tags::PIXEL_DATA).unwrap().value().fragments().unwrap().concat();
        let ours = decode(&frags, None).unwrap_or_else(|e| panic!("{}: {}", f.display(), e.0));
        let theirs = obj.decode_pixel_data().unwrap();
        let want: Vec<u16> = theirs.data().chunks(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
        assert_eq!((ours.width, ours.height), (theirs.columns() as usize, theirs.rows() as usize));
        assert!(ours.samples == want, "{}", f.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
