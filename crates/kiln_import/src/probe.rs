//! Running an image generator once to learn what its graph does not say: the values its
//! output takes and, for spatial latents, how many pixels one latent cell becomes.

use kiln_onnx::{GraphTensor, ModelSession};
use kiln_recipe::ElementType;
use ort::value::{DynValue, Tensor};

use crate::recognise::ImageGraph;

/// Latent cells per side fed to a spatial latent whose size is free.
const PROBE_CELLS: i64 = 4;

/// What one run of an image generator showed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Probe {
    /// `(black, white)` of the output, from the values seen.
    pub value_range: (f32, f32),
    /// Smallest and largest value seen.
    pub seen: (f32, f32),
    /// Output pixels per latent cell (spatial latents only).
    pub stride: Option<u32>,
}

/// Runs `graph` once: a latent of ±1 values (cells of [`PROBE_CELLS`] where the size is
/// free), class 0, every constant input 1.
pub(crate) fn probe(session: &ModelSession, graph: &ImageGraph) -> Result<Probe, String> {
    let error = |err: ort::Error| format!("a trial run failed: {err}");
    let spatial = graph.latent.shape.len() == 4;
    let latent_shape: Vec<i64> = graph
        .latent
        .shape
        .iter()
        .enumerate()
        .map(|(axis, &size)| match (axis, size) {
            (0, _) => 1,
            (_, size) if size > 0 => size,
            _ => PROBE_CELLS,
        })
        .collect();
    let len = latent_shape.iter().product::<i64>() as usize;
    // Alternating signs: a latent of the right scale with no randomness to explain.
    let latent: Vec<f32> = (0..len)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let mut inputs: Vec<(String, DynValue)> = vec![(
        graph.latent.name.clone(),
        Tensor::from_array((latent_shape.clone(), latent))
            .map_err(error)?
            .into_dyn(),
    )];
    if let Some(class) = &graph.class {
        inputs.push((
            class.name.clone(),
            Tensor::from_array(([1_i64], vec![0_i64]))
                .map_err(error)?
                .into_dyn(),
        ));
    }
    for constant in &graph.constants {
        inputs.push((constant.name.clone(), ones(constant).map_err(error)?));
    }
    let mut session = session.lock();
    let outputs = session.run(inputs).map_err(error)?;
    let output = &outputs[graph.output.name.as_str()];
    let (shape, values): (Vec<i64>, Vec<f32>) = if graph.output.dtype == Some(ElementType::U8) {
        let (shape, values) = output.try_extract_tensor::<u8>().map_err(error)?;
        (
            shape.to_vec(),
            values.iter().map(|&v| f32::from(v)).collect(),
        )
    } else {
        let (shape, values) = output.try_extract_tensor::<f32>().map_err(error)?;
        (shape.to_vec(), values.to_vec())
    };
    let seen = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(low, high), &v| {
            (low.min(v), high.max(v))
        });
    if !seen.0.is_finite() || !seen.1.is_finite() {
        return Err("a trial run gave NaN or infinite values".to_owned());
    }
    let (_, height_axis, _) = graph.layout.axes();
    let stride = spatial
        .then(|| shape[height_axis] / latent_shape[2])
        .map(|stride| stride.max(1) as u32);
    Ok(Probe {
        value_range: value_range(graph.output.dtype, seen),
        seen,
        stride,
    })
}

/// The range an output's values are meant to fill, from the values one run gave: bytes and
/// values above 1.5 are 0..255, values below 0 are −1..1, the rest 0..1.
fn value_range(dtype: Option<ElementType>, (low, high): (f32, f32)) -> (f32, f32) {
    if dtype == Some(ElementType::U8) || high > 1.5 {
        (0.0, 255.0)
    } else if low < -0.01 {
        (-1.0, 1.0)
    } else {
        (0.0, 1.0)
    }
}

/// A tensor of ones in `tensor`'s type and shape (free dimensions 1).
fn ones(tensor: &GraphTensor) -> Result<DynValue, ort::Error> {
    let shape = tensor.shape.iter().map(|&d| d.max(1)).collect();
    kiln_onnx::filled_tensor(tensor.dtype.unwrap_or(ElementType::F32), shape, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_follows_the_values_seen() {
        assert_eq!(
            value_range(Some(ElementType::F32), (0.02, 0.97)),
            (0.0, 1.0)
        );
        assert_eq!(
            value_range(Some(ElementType::F32), (-0.8, 0.9)),
            (-1.0, 1.0)
        );
        assert_eq!(
            value_range(Some(ElementType::F32), (3.0, 240.0)),
            (0.0, 255.0)
        );
        assert_eq!(value_range(Some(ElementType::U8), (0.0, 1.0)), (0.0, 255.0));
    }
}
