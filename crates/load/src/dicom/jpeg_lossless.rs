//! JPEG Lossless (ITU-T T.81 Annex H, Huffman, one component): the compression of the
//! DICOM transfer syntaxes 1.2.840.10008.1.2.4.57 and .70, which CT scanners and archives
//! use (the CQ500 scans are stored so).
//!
//! Why our own: jpeg-decoder's lossless path (behind dicom-pixeldata) collects every
//! difference into a vector before predicting and reads the Huffman codes bit by bit; it was
//! a quarter of `ichscan detect`'s CPU time on the CQ500 scan (BENCHMARKS.md). This one
//! looks codes up in a table and predicts as it decodes. It covers what CT uses (1
//! component, 2-16 bits, predictors 1-7, point transform, restart intervals); anything
//! else, and any stream it cannot read, is left to dicom-pixeldata (the caller falls
//! back), so it can only be faster, never less able. Its output is checked against
//! jpeg-decoder on real scans and against an encoder in the tests.

/// Why a stream was not decoded here.
#[derive(Debug)]
pub struct NotDecoded(pub String);

fn nd<T>(why: impl Into<String>) -> Result<T, NotDecoded> {
    Err(NotDecoded(why.into()))
}

#[derive(Debug)]
/// A decoded image: `width * height` samples, row by row, each the stored value.
pub struct Image {
    pub width: usize,
    pub height: usize,
    /// Sample precision P in bits.
    pub precision: u8,
    pub samples: Vec<u16>,
}

/// Bits of code looked up in one step; longer codes (rare) take the canonical path.
const LOOKUP_BITS: u32 = 10;

/// A Huffman table (T.81 Annex C), with a lookup of codes up to [`LOOKUP_BITS`] long.
struct Huffman {
    /// Indexed by the next LOOKUP_BITS bits: `len << 8 | symbol`, 0 when the code is longer.
    lookup: Vec<u16>,
    /// Per length 1..=16: largest code of that length (-1 if none), and where its values start.
    maxcode: [i32; 17],
    valptr: [i32; 17],
    mincode: [i32; 17],
    values: Vec<u8>,
    /// Indexed like `lookup`: when a code and its extra bits both fit in LOOKUP_BITS (most
    /// differences in CT), their total length and the difference itself; length 0 otherwise.
    fast_len: Vec<u8>,
    fast_diff: Vec<i32>,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>) -> Result<Huffman, NotDecoded> {
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        if total != values.len() || total == 0 {
            return nd("bad Huffman table");
        }
        let mut h = Huffman {
            lookup: vec![0; 1 << LOOKUP_BITS],
            maxcode: [-1; 17],
            valptr: [0; 17],
            mincode: [0; 17],
            values,
            fast_len: vec![0; 1 << LOOKUP_BITS],
            fast_diff: vec![0; 1 << LOOKUP_BITS],
        };
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16u32 {
            let n = counts[len as usize - 1] as usize;
            h.valptr[len as usize] = k as i32;
            h.mincode[len as usize] = code;
            for _ in 0..n {
                // Codes must fit in `len` bits (a table that does not is corrupt).
                if code >= 1 << len {
                    return nd("bad Huffman table (over-full)");
                }
                if len <= LOOKUP_BITS {
                    let shift = LOOKUP_BITS - len;
                    let first = (code as usize) << shift;
                    for e in &mut h.lookup[first..first + (1 << shift)] {
                        *e = (len as u16) << 8 | h.values[k] as u16;
                    }
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                h.maxcode[len as usize] = code - 1;
            }
            code <<= 1;
        }
        for idx in 0..1usize << LOOKUP_BITS {
            let e = h.lookup[idx];
            let (len, sym) = ((e >> 8) as u32, (e & 0xFF) as u32);
            if e == 0 || sym > 16 || (sym < 16 && len + sym > LOOKUP_BITS) {
                continue;
            }
            h.fast_diff[idx] = match sym {
                0 => 0,
                16 => 32768,
                _ => extend((idx as u32 >> (LOOKUP_BITS - len - sym)) & ((1 << sym) - 1), sym),
            };
            h.fast_len[idx] = (len + if sym < 16 { sym } else { 0 }) as u8;
        }
        Ok(h)
    }
}

/// Entropy-coded bits, MSB first, with 0xFF00 unstuffed. At a marker (or the end) it feeds
/// zero bits and counts them, so that reading past the data is detected afterwards.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    n: u32,
    /// Fed zero bits still in `acc` (at its low end).
    padded: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Bits { data, pos, acc: 0, n: 0, padded: 0 }
    }

    #[inline]
    fn refill(&mut self) {
        while self.n <= 56 {
            let mut b = 0u8;
            match self.data.get(self.pos) {
                Some(&0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                    b = 0xFF;
                    self.pos += 2;
                }
                Some(&0xFF) | None => self.padded += 8,
                Some(&x) => {
                    b = x;
                    self.pos += 1;
                }
            }
            self.acc |= (b as u64) << (56 - self.n);
            self.n += 8;
        }
    }

    #[inline]
    fn peek(&self, k: u32) -> u32 {
        (self.acc >> (64 - k)) as u32
    }

    #[inline]
    fn consume(&mut self, k: u32) {
        self.acc <<= k;
        self.n -= k;
    }

    /// Whether the bits read so far were all real data.
    fn overran(&self) -> bool {
        self.n < self.padded
    }

    #[inline]
    fn decode(&mut self, h: &Huffman) -> Result<u8, NotDecoded> {
        if self.n < 32 {
            self.refill();
        }
        let e = h.lookup[self.peek(LOOKUP_BITS) as usize];
        if e != 0 {
            self.consume((e >> 8) as u32);
            return Ok(e as u8);
        }
        for len in LOOKUP_BITS + 1..=16 {
            let code = self.peek(len) as i32;
            if code <= h.maxcode[len as usize] {
                self.consume(len);
                return Ok(h.values[(h.valptr[len as usize] + code - h.mincode[len as usize]) as usize]);
            }
        }
        nd("bad Huffman code")
    }

    /// The difference of magnitude category `s` (T.81 H.1.2.2 and F.1.2.1).
    #[inline]
    fn diff(&mut self, s: u8) -> Result<i32, NotDecoded> {
        Ok(match s {
            0 => 0,
            1..=15 => {
                let v = self.peek(s as u32);
                self.consume(s as u32);
                extend(v, s as u32)
            }
            16 => 32768,
            _ => return nd("bad difference category"),
        })
    }
}

/// The difference that `s` extra bits `v` stand for (T.81 F.1.2.1, Figure F.12).
#[inline]
fn extend(v: u32, s: u32) -> i32 {
    let v = v as i32;
    if v < 1 << (s - 1) {
        v - (1 << s) + 1
    } else {
        v
    }
}

fn be16(d: &[u8], at: usize) -> Result<usize, NotDecoded> {
    match d.get(at..at + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]]) as usize),
        None => nd("truncated header"),
    }
}

/// Decodes one JPEG Lossless image (one DICOM frame's compressed bytes). `expect`: the
/// (width, height) the DICOM header gives, checked before anything is allocated (a damaged
/// frame header must not make it allocate or decode a 65535 x 65535 image).
pub fn decode(d: &[u8], expect: Option<(usize, usize)>) -> Result<Image, NotDecoded> {
    if d.get(..2) != Some(&[0xFF, 0xD8]) {
        return nd("no JPEG start-of-image marker");
    }
    let mut pos = 2;
    let mut tables: [Option<Huffman>; 4] = [None, None, None, None];
    let mut frame: Option<(u8, usize, usize, u8)> = None; // precision, height, width, component id
    let mut restart = 0usize;
    loop {
        // Markers may be preceded by fill bytes 0xFF.
        while d.get(pos) == Some(&0xFF) && d.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        if d.get(pos) != Some(&0xFF) {
            return nd("expected a marker");
        }
        let m = *d.get(pos + 1).ok_or(NotDecoded("truncated".into()))?;
        let len = be16(d, pos + 2)?;
        let seg = d.get(pos + 4..pos + 2 + len).filter(|_| len >= 2).ok_or(NotDecoded("truncated segment".into()))?;
        pos += 2 + len;
        match m {
            0xC4 => {
                let mut s = seg;
                while !s.is_empty() {
                    let (tc, th) = (s[0] >> 4, (s[0] & 15) as usize);
                    let counts: [u8; 16] = s.get(1..17).ok_or(NotDecoded("truncated DHT".into()))?.try_into().unwrap();
                    let n: usize = counts.iter().map(|&c| c as usize).sum();
                    let values = s.get(17..17 + n).ok_or(NotDecoded("truncated DHT".into()))?.to_vec();
                    if tc == 0 && th < 4 {
                        tables[th] = Some(Huffman::new(&counts, values)?);
                    }
                    s = &s[17 + n..];
                }
            }
            0xC3 => {
                if seg.len() < 9 || seg[5] != 1 {
                    return nd("not a one-component frame");
                }
                let (p, y, x) = (seg[0], be16(seg, 1)?, be16(seg, 3)?);
                if !(2..=16).contains(&p) || y == 0 || x == 0 {
                    return nd(format!("unsupported frame: {p} bits, {x}x{y}"));
                }
                if let Some(e) = expect.filter(|e| *e != (x, y)) {
                    return nd(format!("frame header says {x}x{y}, the DICOM header {}x{}", e.0, e.1));
                }
                frame = Some((p, y, x, seg[6]));
            }
            0xDD => restart = be16(seg, 0)?,
            0xDA => {
                let (p, h, w, id) = frame.ok_or(NotDecoded("scan before frame header".into()))?;
                if seg.len() < 6 || seg[0] != 1 || seg[1] != id {
                    return nd("not a one-component scan");
                }
                let td = (seg[2] >> 4) as usize;
                let table =
                    tables.get(td).and_then(|t| t.as_ref()).ok_or(NotDecoded(format!("no Huffman table {td}")))?;
                let (predictor, pt) = (seg[3], seg[5] & 15);
                if !(1..=7).contains(&predictor) || pt >= p {
                    return nd(format!("predictor {predictor}, point transform {pt}"));
                }
                let samples = scan(d, pos, table, p, pt, predictor, h, w, restart)?;
                return Ok(Image { width: w, height: h, precision: p, samples });
            }
            0xE0..=0xEF | 0xFE | 0xDB => {}
            0xC0..=0xCF => return nd(format!("not a lossless Huffman frame (SOF marker FF{m:02X})")),
            _ => return nd(format!("unexpected marker FF{m:02X}")),
        }
    }
}

/// The entropy-coded scan from `pos`: differences decoded and undone row by row.
#[allow(clippy::too_many_arguments)]
fn scan(
    d: &[u8],
    pos: usize,
    h: &Huffman,
    p: u8,
    pt: u8,
    predictor: u8,
    height: usize,
    width: usize,
    restart: usize,
) -> Result<Vec<u16>, NotDecoded> {
    // A restart interval counts samples here (one component: an MCU is a sample); the
    // standard makes it a whole number of rows in lossless mode.
    if restart % width != 0 {
        return nd("restart interval is not a whole number of rows");
    }
    // Every sample takes at least one bit: a header that claims more samples than the data
    // has bits is damaged (and is refused before its image is allocated).
    if width * height > 8 * (d.len() - pos) {
        return nd(format!("{width}x{height} samples cannot fit in {} bytes", d.len() - pos));
    }
    let rows_per_interval = if restart == 0 { usize::MAX } else { restart / width };
    let mut out = vec![0u16; width * height];
    let mut bits = Bits::new(d, pos);
    // 2^(P-Pt-1) (T.81 H.1.2.1; pt < p was checked, so 1 when P - Pt = 1).
    let first = 1i32 << (p - pt - 1);
    // Undone samples are kept before the point transform (P - Pt bits) for prediction.
    let mut prev = vec![0i32; width];
    let mut cur = vec![0i32; width];
    let mut rst = 0u8;
    for y in 0..height {
        let in_interval = y % rows_per_interval.max(1);
        if y > 0 && in_interval == 0 {
            // RSTm: byte-aligned; what is left of the current byte is padding.
            if bits.overran() {
                return nd("entropy-coded data ended early");
            }
            let mut at = bits.pos;
            while d.get(at) == Some(&0xFF) && d.get(at + 1) == Some(&0xFF) {
                at += 1;
            }
            if d.get(at) != Some(&0xFF) || d.get(at + 1) != Some(&(0xD0 + rst)) {
                return nd(format!("RST{rst} marker missing"));
            }
            rst = (rst + 1) % 8;
            bits = Bits::new(d, at + 2);
        }
        // The first row of the image and of each restart interval is predicted from the left;
        // the first sample of every other row from above.
        let first_row = in_interval == 0;
        for x in 0..width {
            if bits.n < 32 {
                bits.refill();
            }
            let idx = bits.peek(LOOKUP_BITS) as usize;
            let diff = match h.fast_len[idx] {
                0 => {
                    let s = bits.decode(h)?;
                    bits.diff(s)?
                }
                n => {
                    bits.consume(n as u32);
                    h.fast_diff[idx]
                }
            };
            let pred = if first_row {
                if x == 0 {
                    first
                } else {
                    cur[x - 1]
                }
            } else if x == 0 {
                prev[0]
            } else {
                let (ra, rb, rc) = (cur[x - 1], prev[x], prev[x - 1]);
                match predictor {
                    1 => ra,
                    2 => rb,
                    3 => rc,
                    4 => ra + rb - rc,
                    5 => ra + ((rb - rc) >> 1),
                    6 => rb + ((ra - rc) >> 1),
                    _ => (ra + rb) >> 1,
                }
            };
            // Modulo 2^16 (T.81 H.1.2.1).
            cur[x] = (pred + diff) & 0xFFFF;
        }
        // Data that ran out is found in the row it ran out in, not after decoding zeros for
        // the rest of the image.
        if bits.overran() {
            return nd("entropy-coded data ended early");
        }
        for (o, &v) in out[y * width..(y + 1) * width].iter_mut().zip(&cur) {
            *o = ((v as u32) << pt) as u16;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    if bits.overran() {
        return nd("entropy-coded data ended early");
    }
    Ok(out)
}
