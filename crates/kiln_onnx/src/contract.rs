//! Checking a session's real inputs and outputs against its model manifest.

use std::fmt;

use kiln_recipe::{Dim, ElementType, TensorSpec};
use ort::value::{TensorElementType, ValueType};

/// A tensor as the ONNX graph declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphTensor {
    /// Tensor name.
    pub name: String,
    /// Element type, as Kiln names it (`None` for types Kiln never uses).
    pub dtype: Option<ElementType>,
    /// Human name of the type, for messages (`F32`, `Uint8`, `Sequence`…).
    pub dtype_name: String,
    /// Dimensions; `-1` is dynamic.
    pub shape: Vec<i64>,
    /// The name of each dynamic dimension (`"batch_size"`), empty where the graph gives none.
    pub symbols: Vec<String>,
}

impl GraphTensor {
    pub(crate) fn from_outlet(outlet: &ort::value::Outlet) -> Self {
        let (dtype, dtype_name, shape, symbols) = match outlet.dtype() {
            ValueType::Tensor {
                ty,
                shape,
                dimension_symbols,
            } => {
                let dtype = element_type(*ty);
                let name = dtype.map_or_else(|| format!("{ty:?}"), |d| d.to_string());
                (dtype, name, shape.to_vec(), dimension_symbols.to_vec())
            }
            other => (None, format!("{other:?}"), Vec::new(), Vec::new()),
        };
        Self {
            name: outlet.name().to_owned(),
            dtype,
            dtype_name,
            shape,
            symbols,
        }
    }
}

impl fmt::Display for GraphTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self
            .shape
            .iter()
            .map(|&d| if d < 0 { "?".to_owned() } else { d.to_string() })
            .collect();
        write!(
            f,
            "{}: {} [{}]",
            self.name,
            self.dtype_name,
            dims.join(", ")
        )
    }
}

fn element_type(ty: TensorElementType) -> Option<ElementType> {
    Some(match ty {
        TensorElementType::Float32 => ElementType::F32,
        TensorElementType::Float16 => ElementType::F16,
        TensorElementType::Int64 => ElementType::I64,
        TensorElementType::Int32 => ElementType::I32,
        TensorElementType::Bool => ElementType::Bool,
        TensorElementType::Uint8 => ElementType::U8,
        _ => return None,
    })
}

/// One way a graph differs from its manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The manifest declares a tensor the graph lacks.
    Missing {
        /// `input` or `output`.
        role: &'static str,
        /// The declared name.
        name: String,
        /// What the graph has instead.
        available: Vec<String>,
    },
    /// The graph requires an input the manifest does not declare, so Kiln would never feed it.
    Undeclared {
        /// The graph's input.
        tensor: GraphTensor,
    },
    /// Element types differ.
    DType {
        /// Tensor name.
        name: String,
        /// Declared type.
        declared: ElementType,
        /// The graph's type.
        actual: String,
    },
    /// Number of dimensions differs.
    Rank {
        /// Tensor name.
        name: String,
        /// Declared shape.
        declared: Vec<Dim>,
        /// The graph's shape.
        actual: Vec<i64>,
    },
    /// A fixed dimension differs.
    Dim {
        /// Tensor name.
        name: String,
        /// Axis index.
        axis: usize,
        /// Declared size.
        declared: i64,
        /// The graph's size (`-1`: dynamic).
        actual: i64,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing {
                role,
                name,
                available,
            } => write!(
                f,
                "{role} {name:?} is declared but the model has no such {role} (it has: {})",
                available.join(", ")
            ),
            Self::Undeclared { tensor } => {
                write!(
                    f,
                    "the model needs input {tensor}, which the manifest does not declare"
                )
            }
            Self::DType {
                name,
                declared,
                actual,
            } => {
                write!(
                    f,
                    "{name:?} is declared {declared} but the model has {actual}"
                )
            }
            Self::Rank {
                name,
                declared,
                actual,
            } => write!(
                f,
                "{name:?} is declared with {} dimensions [{}] but the model has {} {actual:?}",
                declared.len(),
                declared
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                actual.len()
            ),
            Self::Dim {
                name,
                axis,
                declared,
                actual,
            } => {
                let actual = if *actual < 0 {
                    "a dynamic size".to_owned()
                } else {
                    actual.to_string()
                };
                write!(
                    f,
                    "{name:?} axis {axis} is declared {declared} but the model has {actual}"
                )
            }
        }
    }
}

/// A model whose graph does not match its manifest.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{model} does not match its manifest:\n  - {}\nfix: correct `inputs`/`outputs` in the manifest, or re-export the model", mismatches.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  - "))]
pub struct ContractError {
    /// The model (file or name) checked.
    pub model: String,
    /// Every difference found.
    pub mismatches: Vec<Mismatch>,
}

/// Lists every difference between declared and actual tensors.
pub fn compare(
    declared_inputs: &[TensorSpec],
    declared_outputs: &[TensorSpec],
    inputs: &[GraphTensor],
    outputs: &[GraphTensor],
) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    compare_role("input", declared_inputs, inputs, &mut mismatches);
    compare_role("output", declared_outputs, outputs, &mut mismatches);
    for tensor in inputs {
        if !declared_inputs.iter().any(|spec| spec.name == tensor.name) {
            mismatches.push(Mismatch::Undeclared {
                tensor: tensor.clone(),
            });
        }
    }
    mismatches
}

fn compare_role(
    role: &'static str,
    declared: &[TensorSpec],
    actual: &[GraphTensor],
    out: &mut Vec<Mismatch>,
) {
    for spec in declared {
        let Some(tensor) = actual.iter().find(|t| t.name == spec.name) else {
            out.push(Mismatch::Missing {
                role,
                name: spec.name.clone(),
                available: actual.iter().map(|t| t.name.clone()).collect(),
            });
            continue;
        };
        if tensor.dtype != Some(spec.dtype) {
            out.push(Mismatch::DType {
                name: spec.name.clone(),
                declared: spec.dtype,
                actual: tensor.dtype_name.clone(),
            });
        }
        if tensor.shape.len() != spec.shape.len() {
            out.push(Mismatch::Rank {
                name: spec.name.clone(),
                declared: spec.shape.clone(),
                actual: tensor.shape.clone(),
            });
            continue;
        }
        for (axis, (dim, &actual)) in spec.shape.iter().zip(&tensor.shape).enumerate() {
            // A declared fixed size must be fixed to the same value in the graph;
            // a declared free size accepts anything.
            if let Dim::Fixed(size) = *dim
                && size != actual
            {
                out.push(Mismatch::Dim {
                    name: spec.name.clone(),
                    axis,
                    declared: size,
                    actual,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, dtype: ElementType, shape: Vec<Dim>) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype,
            shape,
        }
    }

    fn graph(name: &str, dtype: ElementType, shape: Vec<i64>) -> GraphTensor {
        GraphTensor {
            name: name.into(),
            dtype: Some(dtype),
            dtype_name: dtype.to_string(),
            symbols: vec![String::new(); shape.len()],
            shape,
        }
    }

    #[test]
    fn names_every_difference() {
        let n = || Dim::Free("N".into());
        let declared_in = [
            spec("z", ElementType::F32, vec![n(), Dim::Fixed(16)]),
            spec("class", ElementType::I64, vec![n()]),
        ];
        let declared_out = [spec(
            "image",
            ElementType::F32,
            vec![n(), Dim::Fixed(3), n(), n()],
        )];
        let inputs = [
            graph("z", ElementType::F32, vec![-1, 8]),
            graph("noise", ElementType::F32, vec![-1]),
        ];
        let outputs = [graph("image", ElementType::F16, vec![-1, 3, 32])];
        let mismatches = compare(&declared_in, &declared_out, &inputs, &outputs);
        let text: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
        assert_eq!(mismatches.len(), 5, "{text:#?}");
        assert!(
            text[0].contains("\"z\" axis 1 is declared 16 but the model has 8"),
            "{}",
            text[0]
        );
        assert!(
            text[1].contains(
                "input \"class\" is declared but the model has no such input (it has: z, noise)"
            ),
            "{}",
            text[1]
        );
        assert!(
            text[2].contains("\"image\" is declared F32 but the model has F16"),
            "{}",
            text[2]
        );
        assert!(
            text[3].contains("declared with 4 dimensions"),
            "{}",
            text[3]
        );
        assert!(
            text[4].contains("needs input noise: F32 [?]"),
            "{}",
            text[4]
        );
    }

    #[test]
    fn matching_contract_has_no_mismatch() {
        let declared = [spec(
            "z",
            ElementType::F32,
            vec![Dim::Free("N".into()), Dim::Fixed(16)],
        )];
        let actual = [graph("z", ElementType::F32, vec![-1, 16])];
        assert!(compare(&declared, &[], &actual, &[]).is_empty());
    }
}
