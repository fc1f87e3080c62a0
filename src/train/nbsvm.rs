//! The discriminative stage on naive Bayes features (NBSVM: Wang & Manning 2012, "Baselines and Bigrams",
//! here with the logistic loss): naive Bayes log-count ratios scale each feature, a logistic layer is
//! trained on the scaled rows, and its weights are interpolated with naive Bayes' own.
//!
//! With `r` the naive Bayes log-count ratio of each feature (`ln P(t|spam) − ln P(t|ham)` from linfa's
//! fit) and `x` a document's feature values (family value × document scale, as naive Bayes saw them),
//! the logistic layer learns `w` and `b` on the rows `r ∘ x`. The served weight of feature `t` is then
//!
//! ```text
//! weight(t) = r(t) · value(t) · ((1 − β) · w̄ + β · w(t)),    w̄ = mean |w|
//! ```
//!
//! so β = 0 is naive Bayes (scaled by one number) and β = 1 the full logistic layer. Naive Bayes' ratios
//! carry the evidence of rare features that the logistic layer alone would regularise away; the layer
//! corrects what naive Bayes double-counts (a word and its dozen character n-grams, a campaign's every
//! phrase). Whatever β is, the result is one weight per feature plus a bias: the served model's table.
//!
//! The bias is refitted for the interpolated weights on the training rows (a one-dimensional logistic
//! fit), so that any β gives log-odds on the same footing. Every step is sequential in a fixed order:
//! the same input gives the same weights to the bit.

use crate::model::document_scale;
use crate::train::logistic::{self, Rows};

/// The training rows as the logistic layer sees them: `r ∘ x` per document.
///
/// `docs[i]` holds document `i`'s feature ids (unique), `value[j]` feature `j`'s family value and
/// `ratio[j]` its naive Bayes log-count ratio.
pub(crate) fn scaled_rows(
    docs: &[Vec<u32>],
    value: &[f64],
    ratio: &[f64],
    length_scale: f64,
) -> Rows {
    let mut rows = Rows::new(value.len());
    for ids in docs {
        let doc = document_scale(length_scale, ids.len());
        rows.push(
            ids.iter()
                .map(|&id| (id, ratio[id as usize] * value[id as usize] * doc)),
        );
    }
    rows
}

/// A feature's served weight for one β: see the module's formula. `fit.weights[j]` is the logistic
/// layer's weight of feature `j`.
pub(crate) fn interpolate(
    fit: &logistic::Fit,
    value: &[f64],
    ratio: &[f64],
    beta: f64,
) -> Vec<f64> {
    let n = fit.weights.len().max(1) as f64;
    let mean_abs = fit.weights.iter().map(|w| w.abs()).sum::<f64>() / n;
    fit.weights
        .iter()
        .zip(value)
        .zip(ratio)
        .map(|((&w, &v), &r)| r * v * ((1.0 - beta) * mean_abs + beta * w))
        .collect()
}

/// The bias that minimises the weighted logistic loss of documents whose summed, scaled weights are
/// `margins` (log-odds without bias): a one-dimensional Newton iteration from `start`, run to
/// convergence (the loss is convex in the bias). Returns `start` if nothing can be learnt.
pub(crate) fn fit_bias(
    margins: &[f64],
    labels: &[bool],
    sample_weights: &[f64],
    start: f64,
) -> f64 {
    /// Newton steps at most; the loss is smooth and convex in one variable, and converges in a handful.
    const MAX_STEPS: usize = 100;
    let mut b = start;
    for _ in 0..MAX_STEPS {
        let (mut gradient, mut curvature) = (0.0, 0.0);
        for ((&m, &spam), &s) in margins.iter().zip(labels).zip(sample_weights) {
            let p = crate::model::decision::probability(m + b);
            gradient += s * (p - if spam { 1.0 } else { 0.0 });
            curvature += s * p * (1.0 - p);
        }
        if curvature <= f64::MIN_POSITIVE {
            break;
        }
        // Damped so one wild step from a poor start cannot overshoot far.
        let step = (gradient / curvature).clamp(-10.0, 10.0);
        b -= step;
        if step.abs() < 1e-12 {
            break;
        }
    }
    b
}

/// The sum of `weights` over each document's features, times its document scale: each document's
/// log-odds without the bias.
pub(crate) fn margins(docs: &[Vec<u32>], weights: &[f64], length_scale: f64) -> Vec<f64> {
    docs.iter()
        .map(|ids| {
            let sum: f64 = ids.iter().map(|&id| weights[id as usize]).sum();
            document_scale(length_scale, ids.len()) * sum
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four features: 0 and 1 say spam, 2 says ham, 3 is in everything. Naive Bayes counts 0 and 1 as
    /// two pieces of evidence although they always come together.
    fn problem() -> (Vec<Vec<u32>>, Vec<bool>) {
        let mut docs = Vec::new();
        let mut labels = Vec::new();
        for i in 0..40u32 {
            let spam = i % 2 == 0;
            let mut ids = vec![3];
            if spam {
                ids.extend([0, 1]);
            } else {
                ids.push(2);
            }
            // A few contradictions keep the logistic optimum finite.
            if i % 10 == 1 {
                ids = vec![0, 1, 3];
            }
            ids.sort_unstable();
            docs.push(ids);
            labels.push(spam);
        }
        (docs, labels)
    }

    #[test]
    fn nb_scaled_logistic_weights_separate_the_classes() {
        let (docs, labels) = problem();
        let value = vec![1.0; 4];
        let ratio = vec![2.0, 2.0, -2.5, 0.0];
        let rows = scaled_rows(&docs, &value, &ratio, 0.0);
        assert_eq!(
            rows.row(0).collect::<Vec<_>>(),
            vec![(0, 2.0), (1, 2.0), (3, 0.0)]
        );
        let sw = vec![1.0; docs.len()];
        let fit = logistic::fit(
            &rows,
            &labels,
            &sw,
            &logistic::Settings::default(),
            |_, _| {},
        );
        for beta in [0.0, 0.5, 1.0] {
            let weights = interpolate(&fit, &value, &ratio, beta);
            let m = margins(&docs, &weights, 0.0);
            let b = fit_bias(&m, &labels, &sw, 0.0);
            let correct = m
                .iter()
                .zip(&labels)
                .filter(|(&m, &spam)| (m + b > 0.0) == spam)
                .count();
            // Only the four contradictions are wrong.
            assert_eq!(correct, docs.len() - 4, "beta {beta}: {weights:?} bias {b}");
            assert!(weights[0] > 0.0 && weights[2] < 0.0, "{weights:?}");
        }
        // β = 0 is naive Bayes' ratios times one positive number.
        let nb = interpolate(&fit, &value, &ratio, 0.0);
        let k = nb[0] / ratio[0];
        assert!(k > 0.0);
        for (w, r) in nb.iter().zip(&ratio) {
            assert!((w - k * r).abs() < 1e-12);
        }
    }

    #[test]
    fn the_bias_fit_reaches_the_loss_minimum() {
        let margins = [-2.0, -1.0, 0.5, 1.0, 3.0, -0.5];
        let labels = [false, false, true, true, true, true];
        let sw = [1.0, 2.0, 1.0, 1.0, 0.5, 1.0];
        let b = fit_bias(&margins, &labels, &sw, 0.0);
        let gradient: f64 = margins
            .iter()
            .zip(&labels)
            .zip(&sw)
            .map(|((&m, &y), &s)| {
                s * (crate::model::decision::probability(m + b) - f64::from(u8::from(y)))
            })
            .sum();
        assert!(gradient.abs() < 1e-9, "{gradient}");
        assert_eq!(b, fit_bias(&margins, &labels, &sw, 0.0));
    }
}
