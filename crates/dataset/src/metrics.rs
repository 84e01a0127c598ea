//! Classification metrics the method and its successors report, with confidence
//! intervals: accuracy, sensitivity, specificity, F1 (Wilson 95% intervals for the
//! proportions) and ROC AUC (Mann-Whitney, with the Hanley-McNeil 95% interval).

use serde::Serialize;

/// A proportion with its Wilson score 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Proportion {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
    pub n: usize,
}

pub fn wilson(k: usize, n: usize) -> Proportion {
    if n == 0 {
        return Proportion { value: f64::NAN, lo: f64::NAN, hi: f64::NAN, n };
    }
    let z = 1.959_963_984_540_054;
    let p = k as f64 / n as f64;
    let nf = n as f64;
    let d = 1.0 + z * z / nf;
    let c = (p + z * z / (2.0 * nf)) / d;
    let h = z * (p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)).sqrt() / d;
    Proportion { value: p, lo: (c - h).max(0.0), hi: (c + h).min(1.0), n }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub n: usize,
    pub positives: usize,
    pub threshold: f64,
    pub accuracy: Proportion,
    pub sensitivity: Proportion,
    pub specificity: Proportion,
    pub f1: f64,
    pub auc: f64,
    pub auc_lo: f64,
    pub auc_hi: f64,
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative (ties count half).
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mid-ranks over ties.
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    let np = labels.iter().filter(|l| **l).count() as f64;
    let nn = labels.len() as f64 - np;
    if np == 0.0 || nn == 0.0 {
        return f64::NAN;
    }
    let rank_sum: f64 = ranks.iter().zip(labels).filter(|(_, l)| **l).map(|(r, _)| r).sum();
    (rank_sum - np * (np + 1.0) / 2.0) / (np * nn)
}

/// Points (false positive rate, true positive rate) of the ROC curve, from (0,0) to (1,1).
/// The decision threshold that maximises Youden's J = sensitivity + specificity - 1 on
/// `scores` (positive when score >= threshold): the midpoint between the lowest score
/// taken as positive and the next lower score, so that it separates them. Ties in J go
/// to the threshold nearest 0.5. Clamped to [0.01, 0.99]; 0.5 without both classes.
pub fn youden_threshold(scores: &[f64], labels: &[bool]) -> f64 {
    let np = labels.iter().filter(|l| **l).count();
    let nn = labels.len() - np;
    if np == 0 || nn == 0 {
        return 0.5;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut best_j, mut best_t) = (f64::NEG_INFINITY, 0.5f64);
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == s {
            if labels[idx[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let next = if i < idx.len() { scores[idx[i]] } else { 0.0 };
        let t = (s + next) / 2.0;
        let j = tp as f64 / np as f64 - fp as f64 / nn as f64;
        if j > best_j + 1e-12 || ((j - best_j).abs() <= 1e-12 && (t - 0.5).abs() < (best_t - 0.5).abs()) {
            best_j = j;
            best_t = t;
        }
    }
    best_t.clamp(0.01, 0.99)
}

pub fn roc(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let np = labels.iter().filter(|l| **l).count().max(1) as f64;
    let nn = (labels.len() - labels.iter().filter(|l| **l).count()).max(1) as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut out = vec![(0.0, 0.0)];
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == s {
            if labels[idx[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        out.push((fp / nn, tp / np));
    }
    out
}

/// All metrics for scores (probability of haemorrhage) against labels at `threshold`.
pub fn metrics(scores: &[f64], labels: &[bool], threshold: f64) -> Metrics {
    let (mut tp, mut tn, mut fp, mut fneg) = (0, 0, 0, 0);
    for (s, l) in scores.iter().zip(labels) {
        match (*s >= threshold, *l) {
            (true, true) => tp += 1,
            (false, false) => tn += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
        }
    }
    let n = scores.len();
    let a = auc(scores, labels);
    // Hanley & McNeil (1982) standard error of the AUC.
    let (np, nn) = ((tp + fneg) as f64, (tn + fp) as f64);
    let q1 = a / (2.0 - a);
    let q2 = 2.0 * a * a / (1.0 + a);
    let se = ((a * (1.0 - a) + (np - 1.0) * (q1 - a * a) + (nn - 1.0) * (q2 - a * a)) / (np * nn)).max(0.0).sqrt();
    let f1 = if tp == 0 { 0.0 } else { 2.0 * tp as f64 / (2.0 * tp as f64 + fp as f64 + fneg as f64) };
    Metrics {
        n,
        positives: tp + fneg,
        threshold,
        accuracy: wilson(tp + tn, n),
        sensitivity: wilson(tp, tp + fneg),
        specificity: wilson(tn, tn + fp),
        f1,
        auc: a,
        auc_lo: (a - 1.959_963_984_540_054 * se).max(0.0),
        auc_hi: (a + 1.959_963_984_540_054 * se).min(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_by_hand() {
        // Positives 0.9, 0.4; negatives 0.5, 0.1: pairs (0.9>0.5, 0.9>0.1, 0.4<0.5, 0.4>0.1) = 3/4.
        assert_eq!(auc(&[0.9, 0.4, 0.5, 0.1], &[true, true, false, false]), 0.75);
        // A tie counts half: 0.5 vs 0.5.
        assert_eq!(auc(&[0.5, 0.5], &[true, false]), 0.5);
    }

    #[test]
    fn youden_by_hand() {
        // Scores 0.9 P, 0.3 P, 0.25 N, 0.2 P, 0.1 N, 0.05 N (3 positive, 3 negative).
        // Cut below 0.9: J = 1/3; below 0.3: 2/3; below 0.25: 2/3 - 1/3; below 0.2:
        // 1 - 1/3 = 2/3; below 0.1: 1 - 2/3. Best J = 2/3 at the cuts (0.3+0.25)/2 = 0.275 and
        // (0.2+0.1)/2 = 0.15: the one nearer 0.5 wins.
        let s = [0.9, 0.3, 0.25, 0.2, 0.1, 0.05];
        let l = [true, true, false, true, false, false];
        assert!((youden_threshold(&s, &l) - 0.275).abs() < 1e-12);
        let m = metrics(&s, &l, youden_threshold(&s, &l));
        assert!((m.sensitivity.value - 2.0 / 3.0).abs() < 1e-12 && m.specificity.value == 1.0);
        // Perfect separation at 0.6 / 0.4: the midpoint. One class only: 0.5.
        assert!((youden_threshold(&[0.6, 0.4], &[true, false]) - 0.5).abs() < 1e-12);
        assert_eq!(youden_threshold(&[0.6, 0.4], &[true, true]), 0.5);
        // Clamped: all positives at 1.0, negatives at 0.999 -> cut 0.9995 -> 0.99.
        assert_eq!(youden_threshold(&[1.0, 0.999], &[true, false]), 0.99);
    }

    #[test]
    fn wilson_by_hand() {
        // 8/10: Wilson 95% interval 0.490 .. 0.943 (standard tables).
        let p = wilson(8, 10);
        assert!((p.lo - 0.4902).abs() < 1e-3 && (p.hi - 0.9433).abs() < 1e-3, "{p:?}");
    }

    #[test]
    fn confusion_metrics_by_hand() {
        let s = [0.9, 0.8, 0.3, 0.6, 0.2, 0.1];
        let l = [true, true, true, false, false, false];
        let m = metrics(&s, &l, 0.5);
        // tp 2, fn 1, fp 1, tn 2.
        assert_eq!((m.sensitivity.value, m.specificity.value, m.accuracy.value), (2.0 / 3.0, 2.0 / 3.0, 4.0 / 6.0));
        assert!((m.f1 - 4.0 / 6.0).abs() < 1e-12);
        let r = roc(&s, &l);
        assert_eq!(r.first(), Some(&(0.0, 0.0)));
        assert_eq!(r.last(), Some(&(1.0, 1.0)));
    }
}
