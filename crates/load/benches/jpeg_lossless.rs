//! JPEG Lossless decoding of the real CQ500 scan's 238 slices, one thread: our decoder
//! (`dicom::jpeg_lossless`) beside jpeg-decoder through dicom-pixeldata (what the loader
//! used before, and still uses for what ours leaves), same files, same run; the compressed
//! bytes are in memory for both, so only decoding is timed. Checks they agree.
//! Run: `cargo bench -p ichscan-load --bench jpeg_lossless` (needs ../shared/data).

use std::time::Instant;

use dicom_dictionary_std::tags;
use dicom_pixeldata::PixelDecoder;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cq500/CQ500CT0 CQ500CT0");
    if !dir.is_dir() {
        eprintln!("SKIP: {} is absent", dir.display());
        return;
    }
    let mut paths = Vec::new();
    files(&dir, &mut paths);
    let objs: Vec<_> = paths.iter().map(|p| dicom_object::open_file(p).expect("DICOM")).collect();
    let streams: Vec<Vec<u8>> = objs
        .iter()
        .map(|o| o.element(tags::PIXEL_DATA).expect("pixels").value().fragments().expect("encapsulated").concat())
        .collect();
    let px: usize = objs.iter().map(|o| o.decode_pixel_data().expect("decodes").data().len() / 2).sum();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        let mut sum = 0u64;
        for s in &streams {
            let img = ichscan_load::dicom::jpeg_lossless::decode(s, None).expect("ours decodes");
            sum += img.samples.iter().map(|&v| v as u64).sum::<u64>();
        }
        ours.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut sum2 = 0u64;
        for o in &objs {
            let d = o.decode_pixel_data().expect("decodes");
            sum2 += d.data().chunks(2).map(|b| u16::from_le_bytes([b[0], b[1]]) as u64).sum::<u64>();
        }
        theirs.push(t.elapsed().as_secs_f64());
        assert_eq!(sum, sum2, "the two decoders disagree");
    }
    let (a, b) = (median(ours), median(theirs));
    println!("CQ500CT0: {} slices, {:.1} Mpixel, one thread, median of 5", streams.len(), px as f64 / 1e6);
    println!("  ichscan jpeg_lossless: {:.3} s ({:.2} ns/pixel)", a, a * 1e9 / px as f64);
    println!("  dicom-pixeldata (jpeg-decoder): {:.3} s ({:.2} ns/pixel)", b, b * 1e9 / px as f64);
    println!("  ratio ours / theirs: {:.2}", a / b);
}
