//! L2-regularised logistic regression on sparse rows, fitted by L-BFGS: the discriminative stage that
//! trains on naive-Bayes-scaled features (Wang & Manning 2012, "Baselines and Bigrams").
//!
//! The objective, with targets `t = ±1`, sample weights `s` and an unregularised bias `b`:
//!
//! ```text
//! C · Σᵢ sᵢ · log(1 + exp(−tᵢ (xᵢ·w + b)))  +  ½ ‖w‖²
//! ```
//!
//! It is strictly convex, so the minimum is unique and any solver run to convergence finds it; L-BFGS
//! gets there in a few hundred passes over the data. Everything here is sequential and in a fixed
//! order, so the same input gives the same weights to the bit: training stays reproducible.

/// A sparse matrix in compressed rows: row `i` holds `values[indptr[i]..indptr[i+1]]` at the
/// columns `indices[..]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Row starts into `indices` and `values`; one more entry than there are rows.
    pub indptr: Vec<usize>,
    /// Column of each stored value.
    pub indices: Vec<u32>,
    /// The stored values.
    pub values: Vec<f64>,
    /// Number of columns.
    pub columns: usize,
}

impl Rows {
    /// An empty matrix with `columns` columns.
    pub fn new(columns: usize) -> Rows {
        Rows {
            indptr: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
            columns,
        }
    }

    /// Append a row of `(column, value)` pairs.
    pub fn push(&mut self, row: impl IntoIterator<Item = (u32, f64)>) {
        for (c, v) in row {
            self.indices.push(c);
            self.values.push(v);
        }
        self.indptr.push(self.indices.len());
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i` as `(column, value)` pairs.
    pub fn row(&self, i: usize) -> impl Iterator<Item = (u32, f64)> + '_ {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        self.indices[a..b]
            .iter()
            .copied()
            .zip(self.values[a..b].iter().copied())
    }

    fn dot(&self, i: usize, w: &[f64]) -> f64 {
        self.row(i).map(|(c, v)| w[c as usize] * v).sum()
    }
}

/// How the fit is run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Weight of the data term against the regulariser: larger fits the training data more closely.
    pub c: f64,
    /// Most L-BFGS iterations.
    pub max_iterations: usize,
    /// Stop when the gradient's largest component is below this, relative to its start.
    pub tolerance: f64,
    /// Correction pairs L-BFGS keeps.
    pub memory: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            c: 1.0,
            max_iterations: 500,
            tolerance: 1e-5,
            memory: 10,
        }
    }
}

/// A fitted model and how the fit went.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// One weight per column.
    pub weights: Vec<f64>,
    /// The bias.
    pub bias: f64,
    /// Iterations run.
    pub iterations: usize,
    /// Whether the tolerance was reached (else `max_iterations` ran out).
    pub converged: bool,
    /// The objective at the end.
    pub objective: f64,
}

/// The objective and its gradient (weights, then bias) at `p` (weights, then bias).
fn evaluate(
    x: &Rows,
    targets: &[f64],
    sample_weights: &[f64],
    c: f64,
    p: &[f64],
    grad: &mut [f64],
) -> f64 {
    let d = x.columns;
    let (w, b) = (&p[..d], p[d]);
    grad[..d].copy_from_slice(w);
    grad[d] = 0.0;
    let mut loss = 0.0;
    for i in 0..x.len() {
        let m = targets[i] * (x.dot(i, w) + b);
        // log(1 + e^-m) without overflow either way.
        loss += sample_weights[i]
            * if m > 0.0 {
                (-m).exp().ln_1p()
            } else {
                -m + m.exp().ln_1p()
            };
        // d/d(x·w+b) of the weighted loss: −s·t·σ(−m).
        let g = -c * sample_weights[i] * targets[i] / (1.0 + m.exp());
        for (col, v) in x.row(i) {
            grad[col as usize] += g * v;
        }
        grad[d] += g;
    }
    c * loss + 0.5 * w.iter().map(|v| v * v).sum::<f64>()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Fit the model. `labels[i]` says whether row `i` is positive (spam). `progress` is called after each
/// iteration with the iteration number and the gradient's size relative to its start.
pub fn fit(
    x: &Rows,
    labels: &[bool],
    sample_weights: &[f64],
    settings: &Settings,
    mut progress: impl FnMut(usize, f64),
) -> Fit {
    debug_assert_eq!(x.len(), labels.len());
    debug_assert_eq!(x.len(), sample_weights.len());
    let n = x.columns + 1;
    let targets: Vec<f64> = labels.iter().map(|&l| if l { 1.0 } else { -1.0 }).collect();
    let eval = |p: &[f64], g: &mut [f64]| evaluate(x, &targets, sample_weights, settings.c, p, g);

    let mut p = vec![0.0; n];
    let mut g = vec![0.0; n];
    let mut f = eval(&p, &mut g);
    let g0 = max_abs(&g).max(f64::MIN_POSITIVE);
    let (mut s_hist, mut y_hist, mut rho): (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<f64>) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut next_p, mut next_g) = (vec![0.0; n], vec![0.0; n]);
    let mut direction = vec![0.0; n];
    let mut alpha = vec![0.0; settings.memory.max(1)];
    let mut iterations = 0;
    let mut converged = max_abs(&g) / g0 < settings.tolerance;
    while !converged && iterations < settings.max_iterations {
        iterations += 1;
        // Two-loop recursion: direction = −H·g.
        direction.copy_from_slice(&g);
        for k in (0..s_hist.len()).rev() {
            alpha[k] = rho[k] * dot(&s_hist[k], &direction);
            for (d, y) in direction.iter_mut().zip(&y_hist[k]) {
                *d -= alpha[k] * y;
            }
        }
        if let (Some(s), Some(y)) = (s_hist.last(), y_hist.last()) {
            let gamma = dot(s, y) / dot(y, y);
            direction.iter_mut().for_each(|d| *d *= gamma);
        } else {
            // First step: a unit step along the steepest descent, scaled to the gradient.
            let scale = 1.0 / max_abs(&g).max(1.0);
            direction.iter_mut().for_each(|d| *d *= scale);
        }
        for k in 0..s_hist.len() {
            let beta = rho[k] * dot(&y_hist[k], &direction);
            for (d, s) in direction.iter_mut().zip(&s_hist[k]) {
                *d += (alpha[k] - beta) * s;
            }
        }
        direction.iter_mut().for_each(|d| *d = -*d);
        let mut slope = dot(&g, &direction);
        if slope >= 0.0 {
            // Not a descent direction (rounding): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            let scale = 1.0 / max_abs(&g).max(1.0);
            for (d, gi) in direction.iter_mut().zip(&g) {
                *d = -gi * scale;
            }
            slope = dot(&g, &direction);
        }
        // Backtracking line search under the Armijo condition; the objective is convex and smooth, so
        // a step that decreases it enough always exists.
        let mut step = 1.0;
        let mut f_next;
        loop {
            for ((np, pi), di) in next_p.iter_mut().zip(&p).zip(&direction) {
                *np = pi + step * di;
            }
            f_next = eval(&next_p, &mut next_g);
            if f_next <= f + 1e-4 * step * slope || step < 1e-20 {
                break;
            }
            step *= 0.5;
        }
        let s: Vec<f64> = next_p.iter().zip(&p).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = next_g.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        std::mem::swap(&mut p, &mut next_p);
        std::mem::swap(&mut g, &mut next_g);
        let improved = f - f_next;
        f = f_next;
        // Keep the pair only when it carries curvature, as L-BFGS requires.
        if sy > 1e-12 * dot(&y, &y).sqrt() * dot(&s, &s).sqrt() {
            if s_hist.len() == settings.memory.max(1) {
                s_hist.remove(0);
                y_hist.remove(0);
                rho.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho.push(1.0 / sy);
        }
        let relative = max_abs(&g) / g0;
        progress(iterations, relative);
        converged = relative < settings.tolerance || improved.abs() <= 1e-15 * f.abs().max(1.0);
    }
    let bias = p[x.columns];
    p.truncate(x.columns);
    Fit {
        weights: p,
        bias,
        iterations,
        converged,
        objective: f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small problem: two informative columns, one noise column, an imbalance the bias must absorb.
    fn problem() -> (Rows, Vec<bool>, Vec<f64>) {
        let mut x = Rows::new(3);
        let mut labels = Vec::new();
        for i in 0..60u32 {
            let spam = i % 3 != 0;
            let a = if spam { 1.0 } else { 0.2 * f64::from(i % 4) };
            let b = if spam { 0.1 * f64::from(i % 5) } else { 1.0 };
            x.push([(0, a), (1, b), (2, f64::from(i % 7) / 7.0)]);
            labels.push(spam);
        }
        // Two contradictions keep the optimum finite even at large C.
        x.push([(0, 1.0), (1, 0.0), (2, 0.5)]);
        labels.push(false);
        x.push([(0, 0.0), (1, 1.0), (2, 0.5)]);
        labels.push(true);
        let weights = (0..labels.len()).map(|i| 1.0 + (i % 2) as f64).collect();
        (x, labels, weights)
    }

    #[test]
    fn the_gradient_is_the_objectives_derivative() {
        let (x, labels, sw) = problem();
        let t: Vec<f64> = labels.iter().map(|&l| if l { 1.0 } else { -1.0 }).collect();
        let p = [0.3, -0.7, 0.2, 0.1];
        let mut g = [0.0; 4];
        evaluate(&x, &t, &sw, 2.0, &p, &mut g);
        for k in 0..4 {
            let h = 1e-6;
            let (mut up, mut down) = (p, p);
            up[k] += h;
            down[k] -= h;
            let mut scratch = [0.0; 4];
            let numeric = (evaluate(&x, &t, &sw, 2.0, &up, &mut scratch)
                - evaluate(&x, &t, &sw, 2.0, &down, &mut scratch))
                / (2.0 * h);
            assert!((numeric - g[k]).abs() < 1e-5, "{k}: {numeric} vs {}", g[k]);
        }
    }

    #[test]
    fn the_fit_reaches_the_optimum_and_is_reproducible() {
        let (x, labels, sw) = problem();
        let settings = Settings {
            c: 5.0,
            tolerance: 1e-9,
            ..Settings::default()
        };
        let mut seen = 0;
        let fit1 = fit(&x, &labels, &sw, &settings, |_, _| seen += 1);
        assert!(fit1.converged, "{fit1:?}");
        assert_eq!(seen, fit1.iterations);
        // At the optimum the gradient vanishes.
        let t: Vec<f64> = labels.iter().map(|&l| if l { 1.0 } else { -1.0 }).collect();
        let mut p = fit1.weights.clone();
        p.push(fit1.bias);
        let mut g = vec![0.0; 4];
        evaluate(&x, &t, &sw, settings.c, &p, &mut g);
        assert!(max_abs(&g) < 1e-5, "{g:?}");
        // Informative columns point the right way; the same input gives the same bits.
        assert!(fit1.weights[0] > 0.0 && fit1.weights[1] < 0.0, "{fit1:?}");
        let fit2 = fit(&x, &labels, &sw, &settings, |_, _| {});
        assert_eq!(fit1, fit2);
    }

    #[test]
    fn more_regularisation_means_smaller_weights() {
        let (x, labels, sw) = problem();
        let norm = |c: f64| {
            let s = Settings {
                c,
                ..Settings::default()
            };
            let f = fit(&x, &labels, &sw, &s, |_, _| {});
            f.weights.iter().map(|w| w * w).sum::<f64>()
        };
        assert!(norm(0.01) < norm(1.0));
        assert!(norm(1.0) < norm(100.0));
    }
}
