//! Preprocessing speed on the real CQ500 scan: reorientation, head mask and the three
//! planes at their defaults (the input of the classifiers), windowed to 3 channels.
//! Run: `cargo bench -p ichscan-slices --bench preprocess` (needs ../shared/data).

use std::time::Instant;

use ichscan_slices::{default_planes, prepare, Window};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cq500/CQ500CT0 CQ500CT0");
    if !path.is_dir() {
        eprintln!("SKIP: {} is absent", path.display());
        return;
    }
    let runs = 7;
    let mut load = Vec::new();
    let mut prep_t = Vec::new();
    let mut win_t = Vec::new();
    let mut counts = String::new();
    let mut stages: Vec<Vec<f64>> = vec![Vec::new(); 5];
    for _ in 0..runs {
        let t = Instant::now();
        let scan = ichscan_load::load(&path, &Default::default()).expect("load");
        load.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let prep = prepare(&scan.volume, &default_planes());
        prep_t.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let c = ichscan_slices::to_canonical(&scan.volume);
        stages[0].push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let h = ichscan_slices::head::head_mask(&c);
        stages[1].push(t.elapsed().as_secs_f64());
        for (n, (p, cfg)) in default_planes().iter().enumerate() {
            let t = Instant::now();
            std::hint::black_box(ichscan_slices::plane::cut(&c, &h, *p, cfg));
            stages[2 + n].push(t.elapsed().as_secs_f64());
        }
        let t = Instant::now();
        let mut total = 0;
        for s in &prep.stacks {
            total += s.channels(&Window::defaults()).len();
        }
        win_t.push(t.elapsed().as_secs_f64());
        counts = prep.stacks.iter().map(|s| format!("{} {}", s.len(), s.plane.name())).collect::<Vec<_>>().join(", ");
        std::hint::black_box(total);
    }
    println!(
        "CQ500-CT-0 (238 x 512 x 512, JPEG Lossless), {runs} runs, median, {} threads",
        rayon::current_num_threads()
    );
    println!("  slices: {counts}");
    println!("  load (decode, tilt correction):        {:.3} s", median(load));
    println!("  prepare (canonical, head, 3 planes):   {:.3} s", median(prep_t.clone()));
    println!("  windows to 3 channels:                 {:.3} s", median(win_t.clone()));
    for (name, v) in ["canonical", "head mask", "axial cut", "sagittal cut", "coronal cut"].iter().zip(stages) {
        println!("    of which {name:<13} {:.3} s", median(v));
    }
    let total: Vec<f64> = prep_t.iter().zip(&win_t).map(|(a, b)| a + b).collect();
    println!("  preprocessing total (prepare+windows): {:.3} s", median(total));
}
