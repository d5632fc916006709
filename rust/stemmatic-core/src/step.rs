//! Per-sample features of one optimizer step on a linear layer (ResoFilter).
//!
//! A linear layer's weight gradient for one sample is the sum over its
//! positions of outer products, `G[o][i] = Σ_t d[t][o] · x[t][i]`, with `d`
//! the gradient of the layer's output and `x` its input. ResoFilter's
//! feature is a sum over the weight's elements of the size of one fresh
//! optimizer step, a function of `G` and the weight `W` alone:
//!
//! * AdamW's first step: `|g / (|g| + eps) + decay · w|` (the learning rate
//!   is applied by the caller);
//! * SGD: `|g + decay · w|`;
//! * the squared Frobenius norm: `g²`.
//!
//! [`step_sums`] forms `G` one output row at a time in a buffer of `in`
//! floats and reduces it at once, so no `samples × out × in` tensor is ever
//! materialised, and runs the samples in parallel. All arithmetic is in
//! `f32` as the reference's (each row's sum is added up in `f64`).

use rayon::prelude::*;

use crate::error::{CoreError, Result};
use crate::parallel::run_in_pool;

/// Which step size is summed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepKind {
    /// `|g / (|g| + eps) + decay · w|`.
    AdamW { eps: f32, decay: f32 },
    /// `|g + decay · w|`.
    Sgd { decay: f32 },
    /// `g²`.
    SquaredNorm,
}

/// Shapes of [`step_sums`]'s arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepShape {
    pub samples: usize,
    /// Positions per sample (padding positions have a zero output gradient).
    pub steps: usize,
    pub outs: usize,
    pub ins: usize,
}

/// Lanes of the row reductions (independent partial sums, so they vectorise).
const LANES: usize = 16;

/// For every sample `b`, the sum over `(o, i)` of `kind`'s step size of
/// `G_b[o][i] = Σ_t grad_out[b][t][o] · inputs[b][t][i]` and `weight[o][i]`.
/// `grad_out` is `(samples, steps, outs)`, `inputs` `(samples, steps, ins)`
/// and `weight` `(outs, ins)`, all row-major.
///
/// # Errors
/// A slice whose length does not match `shape`; a thread pool that cannot
/// be started.
pub fn step_sums(
    grad_out: &[f32],
    inputs: &[f32],
    weight: &[f32],
    shape: StepShape,
    kind: StepKind,
    workers: usize,
) -> Result<Vec<f64>> {
    let StepShape {
        samples,
        steps,
        outs,
        ins,
    } = shape;
    let check = |name: &'static str, len: usize, dims: &[usize]| {
        let want = dims.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
        if want == Some(len) {
            Ok(())
        } else {
            Err(CoreError::param(
                name,
                format!("has {len} values, expected {dims:?}"),
            ))
        }
    };
    check("grad_out", grad_out.len(), &[samples, steps, outs])?;
    check("inputs", inputs.len(), &[samples, steps, ins])?;
    check("weight", weight.len(), &[outs, ins])?;
    let one = |b: usize| {
        let d = &grad_out[b * steps * outs..(b + 1) * steps * outs];
        let x = &inputs[b * steps * ins..(b + 1) * steps * ins];
        sample_sum(d, x, weight, shape, kind)
    };
    if workers <= 1 || samples < 2 {
        Ok((0..samples).map(one).collect())
    } else {
        run_in_pool(workers, || (0..samples).into_par_iter().map(one).collect())
    }
}

/// [`step_sums`] of one sample, with the widest SIMD the CPU has.
fn sample_sum(d: &[f32], x: &[f32], w: &[f32], shape: StepShape, kind: StepKind) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { sample_sum_avx512(d, x, w, shape, kind) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { sample_sum_avx2(d, x, w, shape, kind) };
        }
    }
    sample_sum_portable(d, x, w, shape, kind)
}

/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2")]
unsafe fn sample_sum_avx512(
    d: &[f32],
    x: &[f32],
    w: &[f32],
    shape: StepShape,
    kind: StepKind,
) -> f64 {
    sample_sum_portable(d, x, w, shape, kind)
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sample_sum_avx2(
    d: &[f32],
    x: &[f32],
    w: &[f32],
    shape: StepShape,
    kind: StepKind,
) -> f64 {
    sample_sum_portable(d, x, w, shape, kind)
}

#[inline(always)]
fn sample_sum_portable(d: &[f32], x: &[f32], w: &[f32], shape: StepShape, kind: StepKind) -> f64 {
    let StepShape {
        steps, outs, ins, ..
    } = shape;
    // Positions with a non-zero output gradient somewhere (padding and
    // positions past the loss have none).
    let live: Vec<usize> = (0..steps)
        .filter(|&t| d[t * outs..(t + 1) * outs].iter().any(|&a| a != 0.0))
        .collect();
    let mut total = 0f64;
    for o in 0..outs {
        let wr = &w[o * ins..(o + 1) * ins];
        let mut start = 0;
        // A block of BLOCK inputs of this output row at a time, held in
        // registers while the positions are added in.
        while start + BLOCK <= ins {
            let mut acc = [0f32; BLOCK];
            for &t in &live {
                let a = d[t * outs + o];
                let xr = &x[t * ins + start..t * ins + start + BLOCK];
                for k in 0..BLOCK {
                    acc[k] += a * xr[k];
                }
            }
            total += f64::from(reduce(&acc, &wr[start..start + BLOCK], kind));
            start += BLOCK;
        }
        if start < ins {
            let width = ins - start;
            let mut acc = [0f32; BLOCK];
            for &t in &live {
                let a = d[t * outs + o];
                let xr = &x[t * ins + start..t * ins + ins];
                for k in 0..width {
                    acc[k] += a * xr[k];
                }
            }
            total += f64::from(reduce(&acc[..width], &wr[start..], kind));
        }
    }
    total
}

/// Inputs per register block of [`sample_sum_portable`].
const BLOCK: usize = 64;

/// The step sizes of a gradient slice `g` and its weights `w`, summed.
#[inline(always)]
fn reduce(g: &[f32], w: &[f32], kind: StepKind) -> f32 {
    match kind {
        StepKind::AdamW { eps, decay } => {
            reduce_with(g, w, |g, w| (g / (g.abs() + eps) + decay * w).abs())
        }
        StepKind::Sgd { decay } => reduce_with(g, w, |g, w| (g + decay * w).abs()),
        StepKind::SquaredNorm => reduce_with(g, w, |g, _| g * g),
    }
}

/// `Σ f(g[i], w[i])` in [`LANES`] independent partial sums.
#[inline(always)]
fn reduce_with(g: &[f32], w: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut g_chunks = g.chunks_exact(LANES);
    let mut w_chunks = w.chunks_exact(LANES);
    for (gc, wc) in (&mut g_chunks).zip(&mut w_chunks) {
        for k in 0..LANES {
            acc[k] += f(gc[k], wc[k]);
        }
    }
    let tail: f32 = g_chunks
        .remainder()
        .iter()
        .zip(w_chunks.remainder())
        .map(|(&g, &w)| f(g, w))
        .sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minhash::SplitMix64;

    fn values(rng: &mut SplitMix64, n: usize, zero_every: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let r = rng.next().unwrap_or(0);
                if zero_every > 0 && i % zero_every == 0 {
                    0.0
                } else {
                    ((r >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
                }
            })
            .collect()
    }

    /// The per-sample gradient formed in full, then the step sizes summed in f64.
    fn reference(d: &[f32], x: &[f32], w: &[f32], shape: StepShape, kind: StepKind) -> Vec<f64> {
        let StepShape {
            samples,
            steps,
            outs,
            ins,
        } = shape;
        (0..samples)
            .map(|b| {
                let mut total = 0f64;
                for o in 0..outs {
                    for i in 0..ins {
                        let g: f64 = (0..steps)
                            .map(|t| {
                                f64::from(d[(b * steps + t) * outs + o])
                                    * f64::from(x[(b * steps + t) * ins + i])
                            })
                            .sum();
                        let wv = f64::from(w[o * ins + i]);
                        total += match kind {
                            StepKind::AdamW { eps, decay } => {
                                (g / (g.abs() + f64::from(eps)) + f64::from(decay) * wv).abs()
                            }
                            StepKind::Sgd { decay } => (g + f64::from(decay) * wv).abs(),
                            StepKind::SquaredNorm => g * g,
                        };
                    }
                }
                total
            })
            .collect()
    }

    #[test]
    fn sums_match_the_full_gradient_and_do_not_depend_on_workers() {
        let mut rng = SplitMix64::new(3);
        for (samples, steps, outs, ins) in
            [(1, 1, 1, 1), (3, 5, 7, 17), (4, 11, 33, 40), (2, 3, 16, 64)]
        {
            let shape = StepShape {
                samples,
                steps,
                outs,
                ins,
            };
            let d = values(&mut rng, samples * steps * outs, 5);
            let x = values(&mut rng, samples * steps * ins, 0);
            let w = values(&mut rng, outs * ins, 0);
            for kind in [
                StepKind::AdamW {
                    eps: 1e-8,
                    decay: 0.01,
                },
                StepKind::Sgd { decay: 0.0 },
                StepKind::Sgd { decay: 0.1 },
                StepKind::SquaredNorm,
            ] {
                let expected = reference(&d, &x, &w, shape, kind);
                let one = step_sums(&d, &x, &w, shape, kind, 1).unwrap();
                let two = step_sums(&d, &x, &w, shape, kind, 2).unwrap();
                assert_eq!(one, two);
                for (got, want) in one.iter().zip(&expected) {
                    let tolerance = 1e-4 * want.abs().max(1e-12);
                    assert!((got - want).abs() <= tolerance, "{kind:?}: {got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn shapes_are_checked() {
        let shape = StepShape {
            samples: 2,
            steps: 3,
            outs: 4,
            ins: 5,
        };
        let err = step_sums(
            &[0.0; 23],
            &[0.0; 30],
            &[0.0; 20],
            shape,
            StepKind::SquaredNorm,
            1,
        );
        assert!(err.unwrap_err().to_string().contains("grad_out"));
    }
}
