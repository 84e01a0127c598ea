//! Augmentation keeps the label: a lesion is still in the image after reflection, shift and
//! rotation (at the mirrored / moved place), so the slice stays positive.

use ichscan_train::data::augment;
use tch::{Kind, Tensor};

#[test]
fn a_flipped_shifted_rotated_lesion_is_still_there() {
    // One 1-channel 64 x 64 image: background 0.2, a bright 6 x 6 "lesion" at rows 20-25, cols 10-15.
    let mut v = vec![0.2f32; 64 * 64];
    for r in 20..26 {
        for c in 10..16 {
            v[r * 64 + c] = 1.0;
        }
    }
    let x = Tensor::from_slice(&v).view([1, 1, 64, 64]);
    // Pure reflection (u0 < 0.5), no rotation (u1 = 0.5), no shift (u2 = u3 = 0.5).
    let flipped = augment(&x, &[0.0, 0.5, 0.5, 0.5], 0.05, 10.0);
    let f: Vec<f32> = flipped.view([-1]).try_into().unwrap();
    // Mirrored columns: 63 - 15 .. 63 - 10 = 48 .. 53.
    for r in 20..26 {
        for c in 48..54 {
            assert!((f[r * 64 + c] - 1.0).abs() < 1e-4, "({r},{c}) = {}", f[r * 64 + c]);
        }
    }
    assert!((f[22 * 64 + 12] - 0.2).abs() < 1e-4);
    // Largest rotation and shift the recipe allows: most of the lesion's brightness remains.
    let moved = augment(&x, &[0.9, 1.0, 1.0, 0.0], 0.05, 10.0);
    let lesion = |t: &Tensor| (t - 0.2).clamp_min(0.0).sum(Kind::Float).double_value(&[]);
    let kept = lesion(&moved) / lesion(&x);
    assert!(kept > 0.9, "kept {kept}");
    assert_eq!(moved.size(), vec![1, 1, 64, 64]);
}
