//! `ichscan detect`: the main job. A head CT in; a verdict, a probability, types and 3D
//! boxes out, with `report.json` and `overview.png` for a person to check.
//!
//! Pipeline: load (ichscan-load) -> three planes (ichscan-slices) -> every head slice
//! scored by its plane's model (ichscan-classify, ONNX Runtime) -> fusion into runs, boxes
//! and a verdict (ichscan-localise) -> report (ichscan-report).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ichscan_classify::{Classifier, Engine, Precision};
use ichscan_localise::{evidence, fuse, Candidate, Curve, Fusion, PlaneRule, SCAN_THRESHOLD};
use ichscan_model::{find_packages, Package};
use ichscan_report::{named, BoxReport, HeadBox, InputSummary, PlaneReport, Report, NOTICE};
use ichscan_slices::{box_from_ranges, Plane, Prepared};
use serde_json::json;

/// Exit code when a haemorrhage is found (0: none found, 2: error).
pub const EXIT_FOUND: u8 = 1;

/// Candidate boxes with less blood-density volume than this are ghosts (ichscan-localise).
pub const MIN_EVIDENCE_ML: f64 = 0.05;

#[derive(clap::Args)]
pub struct Args {
    /// DICOM folder, file or .zip, or NIfTI (.nii, .nii.gz); several: each in turn, the
    /// models opened once (see --out and --json for where their results go).
    #[arg(required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// Folder for report.json and overview.png (created); without it nothing is written.
    /// With several inputs: one subfolder each, `NNN-<input name>` (NNN: position from 001),
    /// and `summary.csv` with a row per input.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Model folder with axial/ sagittal/ coronal/ packages (default: the built-in model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Print report.json to standard output instead of the summary (several inputs: one
    /// report per line, JSON Lines).
    #[arg(long)]
    pub json: bool,
    /// Arithmetic: int8 (the default where a package has an int8 graph, else f32), f32, or
    /// bf16 (the f32 graph computed in bfloat16; OpenVINO engine only).
    #[arg(long, value_name = "int8|f32|bf16")]
    pub precision: Option<Precision>,
    /// Same as --precision f32.
    #[arg(long, conflicts_with = "precision")]
    pub f32: bool,
    /// ONNX Runtime execution provider: auto (OpenVINO where the library has it, else cpu),
    /// openvino, or cpu (ONNX Runtime's own kernels).
    #[arg(long, value_name = "auto|openvino|cpu", default_value = "auto")]
    pub engine: Engine,
    /// Load this series instead of the best one.
    #[arg(long)]
    pub series: Option<String>,
    /// No smoothing of the slice probabilities along each plane.
    #[arg(long)]
    pub no_smooth: bool,
    /// Also write the network inputs of every scored slice to this .safetensors file:
    /// per plane `<plane>` [n, channels, size, size] f32 (windowed, normalised) and
    /// `<plane>_slices` [n] (slice indices), for checking the models with another engine
    /// (scripts/bench-detect does, in PyTorch).
    #[arg(long, value_name = "FILE")]
    pub save_inputs: Option<PathBuf>,
}

/// The three plane models and where they came from.
pub struct Models {
    pub planes: Vec<Classifier>,
    pub source: String,
}

/// One plane's package, read (model.json) but not yet opened.
pub struct PlannedModel {
    pub package: Package,
    pub precision: Precision,
    /// The graph in memory (the built-in model); `None`: the package's file.
    pub graph: Option<&'static [u8]>,
}

/// The three plane packages, in [`Plane::ALL`] order, to open on `engine`. Resolving is
/// quick (it reads model.json); opening compiles each graph, which `detect` does beside
/// loading, cutting and scoring.
pub struct ModelSet {
    pub plans: Vec<PlannedModel>,
    pub engine: Engine,
    pub source: String,
}

impl ModelSet {
    /// The three packages in `dir` (default: the built-in model), at `precision` (default:
    /// int8 where a package has an int8 graph, else f32) on `engine`.
    pub fn resolve(dir: Option<&Path>, precision: Option<Precision>, engine: Engine) -> Result<ModelSet, String> {
        let Some(dir) = dir else {
            return crate::default_model::resolve(precision.unwrap_or(Precision::Int8), engine);
        };
        let pkgs = find_packages(dir).map_err(|e| e.to_string())?;
        let mut plans = Vec::new();
        for p in Plane::ALL {
            let package: Package = pkgs.iter().find(|k| k.meta.plane == p).cloned().ok_or_else(|| {
                format!("{}: no {} model package (detect needs all three planes)", dir.display(), p.name())
            })?;
            let has_int8 = package.meta.onnx.as_ref().is_some_and(|o| o.int8.is_some());
            let precision = precision.unwrap_or(if has_int8 { Precision::Int8 } else { Precision::F32 });
            plans.push(PlannedModel { package, precision, graph: None });
        }
        Ok(ModelSet { plans, engine, source: dir.display().to_string() })
    }

    /// Opens plane `i`'s classifier (an ONNX Runtime session).
    pub fn open(&self, i: usize) -> Result<Classifier, String> {
        let m = &self.plans[i];
        match m.graph {
            Some(g) => Classifier::open_bytes(m.package.clone(), m.precision, self.engine, g),
            None => Classifier::open(m.package.clone(), m.precision, self.engine),
        }
    }
}

/// Models for [`detect`]: packages to open beside loading, or sessions already open (a
/// batch of scans opens them once).
pub enum ModelSource {
    Plan(ModelSet),
    Open(Models),
}

impl Models {
    fn identity(&self) -> serde_json::Value {
        let planes: serde_json::Map<String, serde_json::Value> = self
            .planes
            .iter()
            .map(|c| {
                let m = &c.package.meta;
                (
                    m.plane.name().to_string(),
                    json!({
                        "architecture": m.architecture,
                        "graph": if c.precision.int8() { "int8" } else { "f32" },
                        "precision": c.precision.name(),
                        "engine": c.engine.name(),
                        "input_size": m.input.size,
                        "step_mm": m.input.step_mm,
                        "threshold": m.threshold,
                        "validation": m.validation,
                    }),
                )
            })
            .collect();
        json!({ "source": self.source, "planes": planes })
    }
}

/// Why a detection failed, and the opened models when it got that far (a batch reuses them).
pub struct Failed {
    pub message: String,
    pub models: Option<Models>,
}

impl From<String> for Failed {
    fn from(message: String) -> Failed {
        Failed { message, models: None }
    }
}

impl From<&str> for Failed {
    fn from(message: &str) -> Failed {
        message.to_string().into()
    }
}

/// What one detection produced, for the command, the demo and the benchmark.
pub struct Detection {
    pub report: Report,
    pub prepared: Prepared,
    pub fusion: Fusion,
    pub models: Models,
}

/// Load, cut and score, taking the three classifiers from `models` (as the opener sends
/// them) into `opened`. Returns the scan, the planes and the curves; timings `load`,
/// `planes`, `classify` (scoring alone), `waiting_for_models` (time blocked on the opener)
/// and `open_models` (the opener's time to the last model).
fn score_planes(
    input: &Path,
    opts: &ichscan_load::LoadOptions,
    cfgs: &[(Plane, ichscan_slices::PlaneConfig)],
    models: std::sync::mpsc::Receiver<Result<(Classifier, f64), String>>,
    opened: &mut Vec<Classifier>,
    timings: &mut BTreeMap<&'static str, f64>,
    progress: &dyn Fn(&str),
) -> Result<(ichscan_load::Scan, Prepared, Vec<Curve>), String> {
    let t0 = Instant::now();
    let mut waited = 0.0;
    let mut open_s = 0.0;
    // All three classifiers into `opened` (kept by the caller, also when the input fails).
    let mut receive_all = |opened: &mut Vec<Classifier>| -> Result<(), String> {
        while opened.len() < cfgs.len() {
            let t = Instant::now();
            let r = models.recv().map_err(|_| "opening the models failed (a panic; please report it)".to_string());
            waited += t.elapsed().as_secs_f64();
            let (c, at) = r??;
            open_s = at;
            opened.push(c);
        }
        Ok(())
    };
    let scan = ichscan_load::load(input, opts);
    timings.insert("load", t0.elapsed().as_secs_f64());
    let scan = match scan {
        Ok(s) => s,
        // A model error first: it says what to install or pass, whatever the input.
        Err(e) => {
            receive_all(opened)?;
            return Err(e.to_string());
        }
    };
    let t = Instant::now();
    progress("cutting the three planes");
    let prepared = ichscan_slices::prepare(&scan.volume, cfgs);
    // No head in a plane means no head CT to judge: an error, not a reassuring "none".
    if let Some(st) = prepared.stacks.iter().find(|st| !st.has_head.iter().any(|h| *h)) {
        receive_all(opened)?;
        return Err(format!(
            "{}: no head found in the {} slices (tissue above -300 HU): not a head CT, or not in HU",
            input.display(),
            st.plane.name()
        ));
    }
    timings.insert("planes", t.elapsed().as_secs_f64());
    // All three before scoring: an OpenVINO graph compiling beside a scoring session
    // slows both (three busy threads on two cores: measured 3.40 s vs 3.13 s for ResNet50).
    receive_all(opened)?;
    let mut scoring = 0.0;
    let mut curves = Vec::new();
    for (c, st) in opened.iter().zip(&prepared.stacks) {
        let t = Instant::now();
        progress(&format!("classifying {} {} slices", st.has_head.iter().filter(|h| **h).count(), st.plane.name()));
        let scores = c.score_stack(st, true)?;
        curves.push(Curve {
            plane: st.plane,
            p: scores.iter().map(|s| s.as_ref().map(|s| s.p)).collect(),
            types: scores.iter().map(|s| s.as_ref().map(|s| s.types.clone()).unwrap_or_default()).collect(),
        });
        scoring += t.elapsed().as_secs_f64();
    }
    timings.insert("classify", scoring);
    timings.insert("waiting_for_models", waited);
    timings.insert("open_models", open_s);
    Ok((scan, prepared, curves))
}

/// Runs the whole pipeline on `input`. With [`ModelSource::Plan`] the three ONNX Runtime
/// sessions are opened one after another on a second thread (OpenVINO compiles each graph:
/// 0.15 s for the default model's, 0.5 s for a ResNet50's) beside loading and cutting the
/// planes, instead of coming on top; scoring starts once all three are open. On failure the
/// open sessions come back in [`Failed`] when all three were opened.
pub fn detect(
    input: &Path,
    series: Option<String>,
    models: ModelSource,
    smooth: bool,
    progress: &dyn Fn(&str),
) -> Result<Detection, Failed> {
    let t0 = Instant::now();
    let mut timings = BTreeMap::new();
    let opts = ichscan_load::LoadOptions { series, allow_single_slice: false };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel::<Result<(Classifier, f64), String>>();
    let cfg = |p: &Package| (p.meta.plane, p.meta.input.plane_config());
    let (set, source, cfgs) = match models {
        ModelSource::Plan(set) => {
            let cfgs: Vec<_> = set.plans.iter().map(|m| cfg(&m.package)).collect();
            let source = set.source.clone();
            (Some(set), source, cfgs)
        }
        ModelSource::Open(m) => {
            let cfgs: Vec<_> = m.planes.iter().map(|c| cfg(&c.package)).collect();
            for c in m.planes {
                tx.send(Ok((c, 0.0))).expect("the receiver is here");
            }
            (None, m.source, cfgs)
        }
    };
    progress("loading");
    let mut opened = Vec::new();
    let scanned = std::thread::scope(|s| {
        // The sender moves into the opener: when it ends, or panics, the channel closes and
        // a waiting `recv` returns instead of waiting for ever.
        let (set, stop) = (&set, &stop);
        let opener = s.spawn(move || {
            let tx = tx;
            let Some(set) = set else { return };
            let t = Instant::now();
            for i in 0..set.plans.len() {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let r = set.open(i).map(|c| (c, t.elapsed().as_secs_f64()));
                let failed = r.is_err();
                // A closed channel: detect stopped early (an error), nothing more to open.
                if tx.send(r).is_err() || failed {
                    break;
                }
            }
        });
        let r = score_planes(input, &opts, &cfgs, rx, &mut opened, &mut timings, progress);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        match opener.join() {
            Ok(()) => r,
            Err(p) => {
                let why =
                    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
                Err(format!(
                    "opening the models failed (a panic; please report it): {}",
                    why.unwrap_or_default().replace('\n', "; ")
                ))
            }
        }
    });
    let models = Models { planes: opened, source };
    let (scan, prepared, curves) = match scanned {
        Ok(s) => s,
        // The input failed with the three sessions open: hand them back for the next input.
        Err(message) => {
            let models = (models.planes.len() == cfgs.len()).then_some(models);
            return Err(Failed { message, models });
        }
    };
    let t = Instant::now();
    let rules: Vec<(Plane, PlaneRule)> = models
        .planes
        .iter()
        .map(|c| {
            let m = &c.package.meta;
            let mut r = PlaneRule::default_for(m.plane, m.threshold);
            if !smooth {
                r.sigma = 0.0;
            }
            (m.plane, r)
        })
        .collect();
    let stacks: Vec<_> = prepared.stacks.iter().collect();
    let mm_box = |c: &Candidate| {
        let ranges: Vec<_> = Plane::ALL.iter().map(|p| (*p, c.run(*p).first, c.run(*p).last)).collect();
        box_from_ranges(&stacks, &ranges, &scan.volume)
    };
    let ev = |c: &Candidate| {
        mm_box(c).map(|b| evidence::blood_ml(&prepared.canonical, b.patient_mm_min, b.patient_mm_max)).unwrap_or(0.0)
    };
    let fusion = fuse(&curves, &rules, MIN_EVIDENCE_ML, Some(&ev))?;
    let type_names =
        models.planes.iter().map(|c| &c.package.meta.type_labels).find(|t| !t.is_empty()).cloned().unwrap_or_default();
    let mut boxes = Vec::new();
    for c in &fusion.boxes {
        let b = mm_box(c).ok_or("a box from slice ranges outside their stacks")?;
        let size: [f64; 3] = [0, 1, 2].map(|d| b.patient_mm_max[d] - b.patient_mm_min[d]);
        boxes.push(BoxReport {
            voxel_min: b.voxel_min,
            voxel_max: b.voxel_max,
            patient_mm_min: b.patient_mm_min,
            patient_mm_max: b.patient_mm_max,
            size_mm: size,
            box_volume_ml: size.iter().product::<f64>() / 1000.0,
            probability: c.probability,
            blood_evidence_ml: c.evidence,
            slices: Plane::ALL.iter().map(|p| (p.name(), [c.run(*p).first, c.run(*p).last])).collect(),
            types: named(&type_names, &c.types),
        });
    }
    let mut planes = BTreeMap::new();
    for (k, plane) in Plane::ALL.iter().enumerate() {
        let st = prepared.stack(*plane).expect("three planes cut");
        let curve = curves.iter().find(|c| c.plane == *plane).expect("three curves");
        let rule = rules.iter().find(|r| r.0 == *plane).expect("three rules").1;
        planes.insert(
            plane.name(),
            PlaneReport {
                threshold: rule.threshold,
                smoothing_sigma_slices: rule.sigma,
                step_mm: st.config.step_mm,
                slab_mm: st.config.slab_mm,
                positions_mm: st.positions_mm.clone(),
                p: curve.p.clone(),
                smoothed: fusion.smoothed[k].clone(),
                runs: fusion.runs[k].iter().map(|r| [r.first, r.last]).collect(),
            },
        );
    }
    timings.insert("fuse", t.elapsed().as_secs_f64());
    timings.insert("total", t0.elapsed().as_secs_f64());
    let sel = scan.series.get(scan.selected);
    let v = &scan.volume;
    let dims = match &v.source {
        ichscan_geometry::SourceGrid::Same => v.dims(),
        ichscan_geometry::SourceGrid::Stack(s) => [s.dims[0], s.dims[1], s.origins.len()],
    };
    let report = Report {
        ichscan_version: env!("CARGO_PKG_VERSION").into(),
        notice: NOTICE,
        input: InputSummary {
            path: input.display().to_string(),
            format: scan.format,
            dims,
            spacing_mm: v.spacing(),
            orientation: v.affine.orientation_code(),
            series_found: scan.series.len(),
            notes: scan.notes.clone(),
        },
        // NIfTI has no series (its "series" is the file name, which may name the patient).
        series: sel.filter(|_| scan.format == "dicom").map(|s| serde_json::to_value(s).expect("plain data")),
        head: prepared.head.bbox_mm.map(|(lo, hi)| HeadBox { patient_mm_min: lo, patient_mm_max: hi }),
        verdict: if fusion.haemorrhage { "haemorrhage" } else { "none" },
        probability: fusion.probability,
        threshold: SCAN_THRESHOLD,
        ambiguous: fusion.ambiguous,
        types: named(&type_names, &fusion.types),
        boxes,
        planes,
        model: models.identity(),
        timings_s: timings,
    };
    Ok(Detection { report, prepared, fusion, models })
}

/// Writes `report.json` and `overview.png` into `out`.
pub fn write_outputs(d: &mut Detection, out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let t = Instant::now();
    ichscan_report::overview(&d.prepared, &d.report, &d.fusion).write_png(&out.join("overview.png"))?;
    d.report.timings_s.insert("overview", t.elapsed().as_secs_f64());
    let path = out.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&d.report).expect("plain data") + "\n")
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes the network inputs of every scored (head) slice, per plane (see `--save-inputs`).
fn save_inputs(models: &Models, prepared: &Prepared, path: &Path) -> Result<(), String> {
    use ichscan_model::safetensors::{write, F32Tensor};
    let mut t = BTreeMap::new();
    for (c, st) in models.planes.iter().zip(&prepared.stacks) {
        let idx: Vec<usize> = (0..st.len()).filter(|&i| st.has_head[i]).collect();
        let views: Vec<_> = idx.iter().map(|&i| st.hu.index_axis(ndarray::Axis(0), i)).collect();
        let hu = ndarray::stack(ndarray::Axis(0), &views).map_err(|e| e.to_string())?;
        let m = &c.package.meta.input;
        let shape = vec![idx.len(), m.channels.len(), m.size, m.size];
        t.insert(st.plane.name().to_string(), F32Tensor { shape, data: c.input(hu.view()) });
        let slices = F32Tensor { shape: vec![idx.len()], data: idx.iter().map(|&i| i as f32).collect() };
        t.insert(format!("{}_slices", st.plane.name()), slices);
    }
    write(path, &t).map_err(|e| e.to_string())
}

/// The one-screen summary.
pub fn summary(r: &Report) -> String {
    let mut s = format!(
        "{}: {} (probability {:.2}, threshold {:.2}){}\n",
        r.input.path,
        if r.verdict == "none" { "no haemorrhage found" } else { "HAEMORRHAGE" },
        r.probability,
        r.threshold,
        if r.ambiguous { " - boxes ambiguous: some may be ghosts of others" } else { "" }
    );
    if let Some(t) = &r.types {
        let mut v: Vec<_> = t.iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(a.1));
        s += &format!("  types: {}\n", v.iter().map(|(k, p)| format!("{k} {p:.2}")).collect::<Vec<_>>().join(", "));
    }
    for (i, b) in r.boxes.iter().enumerate() {
        s += &format!(
            "  box {}: voxels {:?}..{:?}, LPS mm ({:.1}, {:.1}, {:.1})..({:.1}, {:.1}, {:.1}), {:.0} x {:.0} x {:.0} mm, {:.1} mL box, P {:.2}\n",
            i + 1,
            b.voxel_min,
            b.voxel_max,
            b.patient_mm_min[0],
            b.patient_mm_min[1],
            b.patient_mm_min[2],
            b.patient_mm_max[0],
            b.patient_mm_max[1],
            b.patient_mm_max[2],
            b.size_mm[0],
            b.size_mm[1],
            b.size_mm[2],
            b.box_volume_ml,
            b.probability
        );
    }
    for (name, p) in &r.planes {
        let scored = p.p.iter().flatten().count();
        s += &format!("  {name}: {scored} head slices scored, {} positive run(s)\n", p.runs.len());
    }
    s += &format!("  {:.1} s. {}\n", r.timings_s.get("total").copied().unwrap_or(0.0), "Not for clinical use.");
    s
}

pub fn run(a: Args) -> Result<u8, String> {
    let precision = if a.f32 { Some(Precision::F32) } else { a.precision };
    // Mistakes in the flags are said before the scan is loaded (the models open beside it).
    if precision == Some(Precision::Bf16) && a.engine == Engine::Cpu {
        return Err("--precision bf16 needs the OpenVINO engine (--engine openvino or auto)".into());
    }
    if let Some(d) = a.model.as_deref().filter(|d| !d.is_dir()) {
        return Err(format!("--model {}: no such folder", d.display()));
    }
    if a.inputs.len() > 1 && a.save_inputs.is_some() {
        return Err("--save-inputs takes one input".into());
    }
    let resolve = || ModelSet::resolve(a.model.as_deref(), precision, a.engine);
    let set = resolve()?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let progress = |m: &str| bar.set_message(m.to_string());
    let smooth = !a.no_smooth;
    if let [input] = &a.inputs[..] {
        let mut d =
            detect(input, a.series.clone(), ModelSource::Plan(set), smooth, &progress).map_err(|f| f.message)?;
        bar.finish_and_clear();
        if let Some(out) = &a.out {
            write_outputs(&mut d, out)?;
        }
        if let Some(path) = &a.save_inputs {
            save_inputs(&d.models, &d.prepared, path)?;
        }
        if a.json {
            println!("{}", serde_json::to_string_pretty(&d.report).expect("plain data"));
        } else {
            print!("{}", summary(&d.report));
            if let Some(out) = &a.out {
                println!("  wrote {} and {}", out.join("report.json").display(), out.join("overview.png").display());
            }
        }
        return Ok(if d.report.verdict == "none" { crate::EXIT_OK } else { EXIT_FOUND });
    }
    // Several inputs: one after another, the sessions opened once (beside the first load)
    // and kept; an input that fails is reported and the rest go on.
    let mut models = Some(ModelSource::Plan(set));
    let mut csv = String::from("n,input,verdict,probability,boxes,error\n");
    let (mut found, mut failed) = (false, false);
    for (k, input) in a.inputs.iter().enumerate() {
        let source = match models.take() {
            Some(m) => m,
            // The last input failed before the models were all open: open them again (alone,
            // so that a model that cannot be opened stops the batch with its own error).
            None => ModelSource::Open(open_all(&resolve()?)?),
        };
        let name = format!("{:03}-{}", k + 1, input.file_name().map_or("input".into(), |n| n.to_string_lossy()));
        let row = match detect(input, a.series.clone(), source, smooth, &progress) {
            Ok(mut d) => {
                if let Some(out) = &a.out {
                    write_outputs(&mut d, &out.join(&name))?;
                }
                let r = &d.report;
                bar.suspend(|| {
                    if a.json {
                        println!("{}", serde_json::to_string(r).expect("plain data"));
                    } else {
                        print!("{}: {}", input.display(), summary(r));
                    }
                });
                found |= r.verdict != "none";
                let row = format!(
                    "{},{},{:.4},{},",
                    csv_field(&input.display().to_string()),
                    r.verdict,
                    r.probability,
                    r.boxes.len()
                );
                models = Some(ModelSource::Open(d.models));
                row
            }
            Err(Failed { message: e, models: kept }) => {
                failed = true;
                models = kept.map(ModelSource::Open);
                bar.suspend(|| eprintln!("error: {e}"));
                format!("{},,,,{}", csv_field(&input.display().to_string()), csv_field(&e))
            }
        };
        csv.push_str(&format!("{},{row}\n", k + 1));
        // Rewritten after every input: what was done is on disk even if the batch stops.
        if let Some(out) = &a.out {
            std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
            std::fs::write(out.join("summary.csv"), &csv).map_err(|e| format!("{}: {e}", out.display()))?;
        }
    }
    bar.finish_and_clear();
    if let Some(out) = a.out.as_ref().filter(|_| !a.json) {
        println!("wrote {} and a folder per input", out.join("summary.csv").display());
    }
    Ok(if failed {
        crate::EXIT_ERROR
    } else if found {
        EXIT_FOUND
    } else {
        crate::EXIT_OK
    })
}

/// The three classifiers of `set`, opened in turn.
fn open_all(set: &ModelSet) -> Result<Models, String> {
    let planes = (0..set.plans.len()).map(|i| set.open(i)).collect::<Result<_, _>>()?;
    Ok(Models { planes, source: set.source.clone() })
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
