//! Small statistics on measured runs: geometric mean and coefficient of variation (how
//! benchmark-method.md §0.3 summarises a cell), ranks, and Spearman's rank correlation with
//! an exact or Monte Carlo permutation test.

/// Median (the mean of the middle two for an even count); `None` when empty.
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Arithmetic mean; `None` when empty.
pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Sample standard deviation divided by the mean; `None` with fewer than two values or a
/// zero mean.
pub fn cv(v: &[f64]) -> Option<f64> {
    if v.len() < 2 {
        return None;
    }
    let m = mean(v)?;
    if m == 0.0 {
        return None;
    }
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0);
    Some(var.sqrt() / m.abs())
}

/// Geometric mean of the positive values; `None` when there are none.
pub fn geomean(v: &[f64]) -> Option<f64> {
    let logs: Vec<f64> = v.iter().filter(|x| **x > 0.0).map(|x| x.ln()).collect();
    mean(&logs).map(f64::exp)
}

/// Ranks from 1 (smallest), ties sharing the mean of their ranks.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) share rank mean(i+1 ..= j+1).
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = r;
        }
        i = j + 1;
    }
    out
}

/// Pearson correlation; `None` for fewer than two pairs or a constant side.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let (mx, my) = (mean(x)?, mean(y)?);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Spearman's rank correlation: Pearson's on the ranks (correct with ties).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    pearson(&ranks(x), &ranks(y))
}

/// One-sided permutation p-value of Spearman's ρ: the share of the pairings of `y` with
/// `x` whose ρ is at least the observed one. Exact (all n! orders) up to n = 8, otherwise
/// `samples` random orders from a fixed seed (plus the observed one, so p > 0).
pub fn spearman_p_value(x: &[f64], y: &[f64], samples: usize) -> Option<f64> {
    let observed = spearman(x, y)?;
    let rx = ranks(x);
    let mut ry = ranks(y);
    let at_least = |ry: &[f64]| pearson(&rx, ry).is_some_and(|r| r >= observed - 1e-12);
    if x.len() <= 8 {
        let (mut hits, mut total) = (0u64, 0u64);
        permute(&mut ry, 0, &mut |p| {
            total += 1;
            if at_least(p) {
                hits += 1;
            }
        });
        return Some(hits as f64 / total as f64);
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut hits = 1u64;
    for _ in 0..samples {
        // Fisher-Yates with splitmix64.
        for i in (1..ry.len()).rev() {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let j = (z % (i as u64 + 1)) as usize;
            ry.swap(i, j);
        }
        if at_least(&ry) {
            hits += 1;
        }
    }
    Some(hits as f64 / (samples as f64 + 1.0))
}

/// Calls `f` with every permutation of `v` (Heap's algorithm, recursive form).
fn permute(v: &mut [f64], k: usize, f: &mut impl FnMut(&[f64])) {
    if k == v.len() {
        f(v);
        return;
    }
    for i in k..v.len() {
        v.swap(k, i);
        permute(v, k + 1, f);
        v.swap(k, i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        assert_eq!(mean(&[]), None);
        assert!((geomean(&[1.0, 100.0]).unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(geomean(&[0.0, -1.0]), None);
        assert!((cv(&[9.0, 10.0, 11.0]).unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(cv(&[1.0]), None);
    }

    #[test]
    fn ranks_share_ties() {
        assert_eq!(ranks(&[10.0, 30.0, 20.0, 20.0]), vec![1.0, 4.0, 2.5, 2.5]);
        assert_eq!(ranks(&[]), Vec::<f64>::new());
    }

    #[test]
    fn spearman_against_known_values() {
        // Monotone but not linear: ρ = 1.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((spearman(&x, &[1.0, 4.0, 9.0, 16.0, 100.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[5.0, 4.0, 3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        // Textbook: d² = [0,1,1,4,0,...]: ρ = 1 − 6Σd²/(n(n²−1)).
        let a = [
            86.0, 97.0, 99.0, 100.0, 101.0, 103.0, 106.0, 110.0, 112.0, 113.0,
        ];
        let b = [2.0, 20.0, 28.0, 27.0, 50.0, 29.0, 7.0, 17.0, 6.0, 12.0];
        let rho = spearman(&a, &b).unwrap();
        assert!((rho - (-29.0 / 165.0)).abs() < 1e-9, "{rho}");
        assert_eq!(spearman(&x, &[1.0; 5]), None);
    }

    #[test]
    fn permutation_p_values() {
        // Perfect agreement of 6: only 1 of 720 orders reaches ρ = 1.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let p = spearman_p_value(&x, &x, 0).unwrap();
        assert!((p - 1.0 / 720.0).abs() < 1e-12, "{p}");
        // Reversed: every order reaches ρ ≥ −1.
        let rev: Vec<f64> = x.iter().rev().copied().collect();
        assert!((spearman_p_value(&x, &rev, 0).unwrap() - 1.0).abs() < 1e-12);
        // Monte Carlo for n = 10, perfect agreement: about 1/(samples+1).
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let p = spearman_p_value(&x, &x, 9999).unwrap();
        assert!(p < 0.001, "{p}");
    }
}
