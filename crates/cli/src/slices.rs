//! `ichscan slices`: writes the classifiers' input images for a person to look at.

use std::io::Write;
use std::path::{Path, PathBuf};

use ichscan_load::LoadOptions;
use ichscan_slices::{default_planes, prepare, Plane, Window};

#[derive(clap::Args)]
pub struct Args {
    /// DICOM folder, DICOM file, .zip, or NIfTI.
    pub input: PathBuf,
    /// axial, sagittal, coronal or all.
    #[arg(long, default_value = "all")]
    pub plane: String,
    /// Output folder (created): <plane>_<index>.png and index.csv.
    #[arg(long)]
    pub out: PathBuf,
    /// Windows as LEVEL/WIDTH, comma separated; the first three become R, G, B.
    #[arg(long, default_value = "40/80,80/200,600/2800")]
    pub windows: String,
    /// Write images only for slices with head in them (the CSV lists all).
    #[arg(long)]
    pub skip_empty: bool,
    #[arg(long)]
    pub series: Option<String>,
    /// Slice step (and slab thickness) of a plane, e.g. --step axial=2.5 (repeatable;
    /// defaults axial=5, sagittal=1.5, coronal=1.6).
    #[arg(long, value_name = "PLANE=MM")]
    pub step: Vec<String>,
    /// Square field of view of every image, mm (default 240).
    #[arg(long)]
    pub fov: Option<f64>,
}

pub fn run(a: Args) -> Result<u8, String> {
    let planes: Vec<Plane> = if a.plane.eq_ignore_ascii_case("all") {
        Plane::ALL.to_vec()
    } else {
        vec![Plane::parse(&a.plane)
            .ok_or_else(|| format!("--plane {}: expected axial, sagittal, coronal or all", a.plane))?]
    };
    let windows: Vec<Window> = a.windows.split(',').map(Window::parse).collect::<Result<_, _>>()?;
    let opts = LoadOptions { series: a.series.clone(), allow_single_slice: false };
    let scan = ichscan_load::load(&a.input, &opts).map_err(|e| e.to_string())?;
    let mut cfgs: Vec<_> = default_planes().into_iter().filter(|(p, _)| planes.contains(p)).collect();
    for st in &a.step {
        let (name, mm) = st.split_once('=').ok_or_else(|| format!("--step {st}: expected PLANE=MM"))?;
        let plane = Plane::parse(name).ok_or_else(|| format!("--step {st}: unknown plane {name}"))?;
        let mm: f64 = mm
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v > 0.0)
            .ok_or_else(|| format!("--step {st}: bad mm"))?;
        for (p, c) in cfgs.iter_mut() {
            if *p == plane {
                c.step_mm = mm;
                c.slab_mm = mm;
            }
        }
    }
    if let Some(f) = a.fov {
        if !(f.is_finite() && f > 0.0) {
            return Err(format!("--fov {f}: must be a positive number of mm"));
        }
        for (_, c) in cfgs.iter_mut() {
            c.fov_mm = f;
        }
    }
    let prep = prepare(&scan.volume, &cfgs);
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: cannot create: {e}", a.out.display()))?;
    let csv_path = a.out.join("index.csv");
    let mut csv = std::fs::File::create(&csv_path).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    let io = |e: std::io::Error| format!("{}: {e}", csv_path.display());
    writeln!(csv, "plane,index,position_mm,slab_min_mm,slab_max_mm,has_head,file").map_err(io)?;
    let mut written = 0;
    for s in &prep.stacks {
        let rgb = s.channels(&windows);
        for n in 0..s.len() {
            let (lo, hi) = s.extent_mm(n);
            let name = format!("{}_{:03}.png", s.plane.name(), n);
            let write = s.has_head[n] || !a.skip_empty;
            if write {
                write_png(&a.out.join(&name), &rgb, n)?;
                written += 1;
            }
            writeln!(
                csv,
                "{},{},{:.3},{:.3},{:.3},{},{}",
                s.plane.name(),
                n,
                s.positions_mm[n],
                lo,
                hi,
                s.has_head[n],
                if write { name.as_str() } else { "" }
            )
            .map_err(io)?;
        }
        eprintln!(
            "{}: {} slices ({} with head), step {} mm, {:.3} mm pixels",
            s.plane.name(),
            s.len(),
            s.has_head.iter().filter(|h| **h).count(),
            s.config.step_mm,
            s.config.pixel_mm()
        );
    }
    eprintln!("wrote {written} images and {} to {}", csv_path.file_name().unwrap().to_string_lossy(), a.out.display());
    Ok(crate::EXIT_OK)
}

/// Channels 0..3 as R, G, B (one window: grey; two: R, G).
fn write_png(path: &Path, ch: &ndarray::Array4<f32>, n: usize) -> Result<(), String> {
    let (_, c, h, w) = ch.dim();
    let mut buf = Vec::with_capacity(h * w * 3);
    for r in 0..h {
        for col in 0..w {
            for k in 0..3 {
                let v = if c == 1 {
                    ch[[n, 0, r, col]]
                } else if k < c {
                    ch[[n, k, r, col]]
                } else {
                    0.0
                };
                buf.push((v * 255.0).round() as u8);
            }
        }
    }
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let f = std::fs::File::create(path).map_err(|e| err(&e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(f), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().and_then(|mut wr| wr.write_image_data(&buf)).map_err(|e| err(&e))
}

/// Reads an 8-bit RGB PNG as written by `write_png`: (width, height, RGB bytes).
pub fn read_png_rgb(path: &Path) -> Result<(usize, usize, Vec<u8>), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let f = std::fs::File::open(path).map_err(|e| err(&e))?;
    let mut dec = png::Decoder::new(std::io::BufReader::new(f));
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().map_err(|e| err(&e))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).map_err(|e| err(&e))?;
    if info.color_type != png::ColorType::Rgb || info.bit_depth != png::BitDepth::Eight {
        return Err(format!("{}: {:?} {:?}, expected 8-bit RGB", path.display(), info.color_type, info.bit_depth));
    }
    buf.truncate(info.buffer_size());
    Ok((info.width as usize, info.height as usize, buf))
}
