//! Simulator speed: cases per minute at the default reconstruction (512 x 512, 5 mm
//! slices) and at 256 x 256 (enough for training: the planes are cut at 1.07 mm pixels),
//! plus thin 1.25 mm slices. Generation only (writing files is separate).
//! Run: `cargo bench -p ichscan-synth --bench synth`.

use std::time::Instant;

use ichscan_synth::{phantom_case, CaseSpec};

fn main() {
    println!("ichscan synth, {} threads, generation only", rayon::current_num_threads());
    for (matrix, slice, n) in [(512usize, 5.0f64, 8usize), (256, 5.0, 8), (512, 1.25, 2)] {
        let t = Instant::now();
        let mut slices = 0;
        for s in 0..n {
            let case = phantom_case(&CaseSpec { matrix, slice_mm: slice, ..CaseSpec::new(1000 + s as u64) }, true);
            slices += case.volume.dims()[2];
        }
        let per = t.elapsed().as_secs_f64() / n as f64;
        println!(
            "  {matrix} x {matrix}, {slice} mm slices ({} slices/case): {per:.2} s/case, {:.0} cases/min",
            slices / n,
            60.0 / per
        );
    }
}
