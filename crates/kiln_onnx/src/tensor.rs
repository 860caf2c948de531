//! Tensors Kiln builds itself: a shape filled with one value, in a manifest's element type.

use kiln_recipe::ElementType;
use ort::value::{DynValue, Tensor};

/// A tensor of `shape` whose every element is `value` in `dtype` (`Bool`: anything but 0 is
/// true; `F16` and `U8` are filled as `F32`, which a model declaring them refuses by name).
pub fn filled_tensor(dtype: ElementType, shape: Vec<i64>, value: f64) -> ort::Result<DynValue> {
    let len = shape.iter().product::<i64>().max(0) as usize;
    Ok(match dtype {
        ElementType::I64 => Tensor::from_array((shape, vec![value as i64; len]))?.into_dyn(),
        ElementType::I32 => Tensor::from_array((shape, vec![value as i32; len]))?.into_dyn(),
        ElementType::Bool => Tensor::from_array((shape, vec![value != 0.0; len]))?.into_dyn(),
        _ => Tensor::from_array((shape, vec![value as f32; len]))?.into_dyn(),
    })
}
