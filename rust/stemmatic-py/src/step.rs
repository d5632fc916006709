//! ResoFilter's per-sample step features of a linear layer.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray2, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::prelude::*;
use stemmatic_core::parallel::resolve_workers;
use stemmatic_core::step::{StepKind, StepShape, step_sums};

use crate::errors::{IntoPyResult, ParameterError};

/// Per-sample sums `(samples,)` float64 of one optimizer step's size over a
/// linear layer's weight, from the layer's output gradients `grad_out`
/// `(samples, steps, out)`, its inputs `(samples, steps, in)` and its weight
/// `(out, in)` (float32, C-contiguous): `feature` is `"adamw"`
/// (`|g / (|g| + eps) + decay·w|`), `"sgd"` (`|g + decay·w|`) or
/// `"grad_norm"` (`g²`), with `g` the sample's weight gradient, never
/// formed for all samples at once.
#[pyfunction]
#[pyo3(signature = (grad_out, inputs, weight, *, feature, eps = 1e-8, decay = 0.0, workers = None))]
#[allow(clippy::too_many_arguments)]
pub fn step_feature_sums<'py>(
    py: Python<'py>,
    grad_out: PyReadonlyArray3<'py, f32>,
    inputs: PyReadonlyArray3<'py, f32>,
    weight: PyReadonlyArray2<'py, f32>,
    feature: &str,
    eps: f32,
    decay: f32,
    workers: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let workers = resolve_workers(workers).into_py_result()?;
    let kind = match feature {
        "adamw" => StepKind::AdamW { eps, decay },
        "sgd" => StepKind::Sgd { decay },
        "grad_norm" => StepKind::SquaredNorm,
        other => {
            return Err(ParameterError::new_err(format!(
                "feature={other:?}; expected 'adamw', 'sgd' or 'grad_norm'"
            )));
        }
    };
    let (d_shape, x_shape, w_shape) = (grad_out.shape(), inputs.shape(), weight.shape());
    if d_shape[..2] != x_shape[..2] || w_shape != [d_shape[2], x_shape[2]] {
        return Err(ParameterError::new_err(format!(
            "shapes do not fit: grad_out {d_shape:?}, inputs {x_shape:?}, weight {w_shape:?} \
             (expected (samples, steps, out), (samples, steps, in), (out, in))"
        )));
    }
    let shape = StepShape {
        samples: d_shape[0],
        steps: d_shape[1],
        outs: d_shape[2],
        ins: x_shape[2],
    };
    let contiguous = |name: &str| ParameterError::new_err(format!("{name} must be C-contiguous"));
    let d = grad_out.as_slice().map_err(|_| contiguous("grad_out"))?;
    let x = inputs.as_slice().map_err(|_| contiguous("inputs"))?;
    let w = weight.as_slice().map_err(|_| contiguous("weight"))?;
    let sums = py
        .detach(|| step_sums(d, x, w, shape, kind, workers))
        .into_py_result()?;
    Ok(sums.into_pyarray(py))
}
