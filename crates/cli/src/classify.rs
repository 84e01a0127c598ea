//! `ichscan classify`: per-slice probabilities of one or more plane models, as CSV.

use std::io::Write;
use std::path::{Path, PathBuf};

use ichscan_classify::{Classifier, Engine, Precision};
use ichscan_model::find_packages;

#[derive(clap::Args)]
pub struct Args {
    /// A scan (DICOM folder/file/zip, NIfTI), or a folder written by `ichscan slices`
    /// (index.csv + PNGs made with the model's windows).
    pub input: PathBuf,
    /// Model package, or a folder with axial/ sagittal/ coronal/ packages.
    #[arg(long)]
    pub model: PathBuf,
    /// Run the int8 graphs (same as --precision int8).
    #[arg(long, conflicts_with = "precision")]
    pub int8: bool,
    /// Arithmetic: f32 (default), int8 (the int8 graphs), or bf16 (the f32 graphs computed in
    /// bfloat16; OpenVINO engine only).
    #[arg(long, value_name = "f32|int8|bf16")]
    pub precision: Option<Precision>,
    /// ONNX Runtime execution provider: auto (OpenVINO where the library has it, else cpu),
    /// openvino, or cpu.
    #[arg(long, value_name = "auto|openvino|cpu", default_value = "auto")]
    pub engine: Engine,
    /// CSV output file (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub series: Option<String>,
}

struct Row {
    plane: &'static str,
    index: usize,
    position_mm: f64,
    has_head: bool,
    score: ichscan_classify::SliceScore,
}

/// Slices written by `ichscan slices`: windowed RGB PNGs listed in index.csv.
fn from_pngs(dir: &Path, models: &[Classifier]) -> Result<Vec<Row>, String> {
    let index = dir.join("index.csv");
    let text = std::fs::read_to_string(&index).map_err(|e| format!("{}: {e}", index.display()))?;
    let mut rows = Vec::new();
    for (ln, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let bad = || {
            format!(
                "{}:{}: expected plane,index,position_mm,slab_min_mm,slab_max_mm,has_head,file",
                index.display(),
                ln + 1
            )
        };
        if f.len() < 7 || f[6].is_empty() {
            continue; // no image written (--skip-empty)
        }
        let Some(c) = models.iter().find(|c| c.package.meta.plane.name() == f[0]) else { continue };
        let png = dir.join(f[6]);
        let (w, h, rgb) = crate::slices::read_png_rgb(&png)?;
        let m = &c.package.meta;
        if w != m.input.size || h != m.input.size || m.input.channels.len() != 3 {
            return Err(format!(
                "{}: {w}x{h} RGB, the {} model takes {}x{} with {} channels",
                png.display(),
                f[0],
                m.input.size,
                m.input.size,
                m.input.channels.len()
            ));
        }
        let mut x = Vec::with_capacity(3 * w * h);
        for ch in 0..3 {
            x.extend(rgb.iter().skip(ch).step_by(3).map(|v| (*v as f32 / 255.0 - m.input.mean[ch]) / m.input.std[ch]));
        }
        let (l, t) = c.run(&x, 1)?;
        rows.push(Row {
            plane: m.plane.name(),
            index: f[1].parse().map_err(|_| bad())?,
            position_mm: f[2].parse().map_err(|_| bad())?,
            has_head: f[5] == "true" || f[5] == "1",
            score: c.scores(&l, t.as_deref(), 1).remove(0),
        });
    }
    Ok(rows)
}

pub fn run(a: Args) -> Result<u8, String> {
    let pkgs = find_packages(&a.model).map_err(|e| e.to_string())?;
    let precision = if a.int8 { Precision::Int8 } else { a.precision.unwrap_or(Precision::F32) };
    let models: Vec<Classifier> =
        pkgs.into_iter().map(|p| Classifier::open(p, precision, a.engine)).collect::<Result<_, _>>()?;
    let rows = if a.input.join("index.csv").is_file() {
        from_pngs(&a.input, &models)?
    } else {
        let opts = ichscan_load::LoadOptions { series: a.series.clone(), allow_single_slice: true };
        let scan = ichscan_load::load(&a.input, &opts).map_err(|e| e.to_string())?;
        let planes: Vec<_> =
            models.iter().map(|c| (c.package.meta.plane, c.package.meta.input.plane_config())).collect();
        let prep = ichscan_slices::prepare(&scan.volume, &planes);
        let mut rows = Vec::new();
        for (c, st) in models.iter().zip(&prep.stacks) {
            for (i, s) in c.score_stack(st, false)?.into_iter().enumerate() {
                let score = s.expect("every slice scored");
                rows.push(Row {
                    plane: st.plane.name(),
                    index: i,
                    position_mm: st.positions_mm[i],
                    has_head: st.has_head[i],
                    score,
                });
            }
        }
        rows
    };
    let types: Vec<String> = models
        .iter()
        .find(|c| !c.package.meta.type_labels.is_empty())
        .map(|c| c.package.meta.type_labels.clone())
        .unwrap_or_default();
    let mut out: Box<dyn Write> = match &a.out {
        Some(p) => {
            Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?))
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let io = |e: std::io::Error| format!("writing CSV: {e}");
    let mut head = "plane,index,position_mm,has_head,p_haemorrhage,positive".to_string();
    for t in &types {
        head += &format!(",p_{t}");
    }
    writeln!(out, "{head}").map_err(io)?;
    for r in &rows {
        let thr = models
            .iter()
            .find(|c| c.package.meta.plane.name() == r.plane)
            .map(|c| c.package.meta.threshold)
            .unwrap_or(0.5);
        let mut line = format!(
            "{},{},{:.2},{},{:.6},{}",
            r.plane,
            r.index,
            r.position_mm,
            r.has_head,
            r.score.p,
            r.score.p >= thr
        );
        for k in 0..types.len() {
            line += &r.score.types.get(k).map(|p| format!(",{p:.6}")).unwrap_or_else(|| ",".into());
        }
        writeln!(out, "{line}").map_err(io)?;
    }
    out.flush().map_err(io)?;
    Ok(crate::EXIT_OK)
}
