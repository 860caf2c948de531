//! The `model.ron` that `kiln models add` writes: everything the file told, and a
//! [`DRAFT_MARKER`] on each line it could not.

use std::fmt::Write as _;

use kiln_onnx::GraphTensor;
use kiln_recipe::{ChannelLayout, DRAFT_MARKER, ElementType, ImageLayout};

use crate::probe::Probe;
use crate::recognise::ImageGraph;

/// What the manifest says about the model besides its kind.
pub(crate) struct Header<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub sha256: &'a str,
    pub licence: Option<&'a str>,
    /// The file it was imported from, as the user named it.
    pub source: &'a str,
    pub inputs: &'a [GraphTensor],
    pub outputs: &'a [GraphTensor],
}

/// What a decoder's manifest needs beyond its graph.
pub(crate) struct DecoderFacts {
    /// The tokenizer file beside the model, when there is one.
    pub tokenizer: Option<String>,
    /// Its end-of-text token, when one was found.
    pub end: Option<String>,
    /// Longest sequence, and where that was read.
    pub context: Option<(u64, String)>,
}

/// A RON string literal.
fn quoted(text: &str) -> String {
    ron::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}

fn todo(what: &str) -> String {
    quoted(&format!("{DRAFT_MARKER}: {what}"))
}

/// The manifest's text: header, tensors, then `kind`.
pub(crate) fn manifest(header: &Header<'_>, kind: &str) -> Result<String, String> {
    let mut text = format!(
        "// Written by `kiln models add {}`; `kiln doctor` lists anything left to fill in.\n(\n",
        header.source
    );
    let _ = writeln!(text, "    name: {},", quoted(header.name));
    let _ = writeln!(text, "    description: {},", quoted(header.description));
    let _ = writeln!(text, "    sha256: {},", quoted(header.sha256));
    match header.licence {
        Some(licence) => {
            let _ = writeln!(text, "    licence: {},", quoted(licence));
            if licence.to_ascii_uppercase().contains("CC-BY") {
                let _ = writeln!(
                    text,
                    "    attribution: {},",
                    todo("the credit its licence requires, word for word")
                );
            }
        }
        None => {
            let _ = writeln!(
                text,
                "    licence: {},",
                todo("SPDX id of the licence of the weights, e.g. MIT or CC-BY-4.0")
            );
        }
    }
    let _ = writeln!(
        text,
        "    provenance: (\n        training_script: {},\n        data: [],\n        notes: {},\n    ),",
        quoted(&format!("unknown: imported from {}", header.source)),
        quoted(
            "Imported by `kiln models add`. List the data it was trained on in `data`, for \
             your credits."
        )
    );
    text.push_str("    inputs: [\n");
    for tensor in header.inputs {
        let _ = writeln!(text, "        {},", tensor_spec(tensor)?);
    }
    text.push_str("    ],\n    outputs: [\n");
    for tensor in header.outputs {
        let _ = writeln!(text, "        {},", tensor_spec(tensor)?);
    }
    let _ = write!(text, "    ],\n    kind: {kind},\n)\n");
    Ok(text)
}

/// `(name: "z", dtype: F32, shape: ["N", 128])`: free dimensions by the graph's names for
/// them, or `N` for the batch and `d<axis>` for the rest.
fn tensor_spec(tensor: &GraphTensor) -> Result<String, String> {
    let dtype = tensor.dtype.ok_or_else(|| {
        format!(
            "{tensor} has element type {}, which Kiln does not feed or read",
            tensor.dtype_name
        )
    })?;
    let dims: Vec<String> = tensor
        .shape
        .iter()
        .enumerate()
        .map(|(axis, &size)| {
            let symbol = tensor.symbols.get(axis).filter(|s| !s.is_empty());
            match (size, symbol) {
                (size, _) if size >= 0 => size.to_string(),
                (_, Some(symbol)) => quoted(symbol),
                (_, None) if axis == 0 => quoted("N"),
                (_, None) => quoted(&format!("d{axis}")),
            }
        })
        .collect();
    Ok(format!(
        "(name: {}, dtype: {dtype}, shape: [{}])",
        quoted(&tensor.name),
        dims.join(", ")
    ))
}

/// `ImageGenerator(...)` for a recognised graph and what a trial run showed.
pub(crate) fn image_kind(graph: &ImageGraph, probe: &Probe) -> String {
    let mut kind = String::from("ImageGenerator(\n");
    let _ = writeln!(kind, "        latent: {},", quoted(&graph.latent.name));
    if let Some(class) = &graph.class {
        let _ = writeln!(kind, "        class_input: {},", quoted(&class.name));
        let _ = writeln!(
            kind,
            "        classes: [{}],",
            todo("the class names, in index order")
        );
    }
    let _ = writeln!(kind, "        output: {},", quoted(&graph.output.name));
    let channels = match graph.channels {
        ChannelLayout::Grey => "Grey",
        ChannelLayout::Rgb => "Rgb",
        ChannelLayout::Rgba => "Rgba",
    };
    let _ = writeln!(kind, "        channels: {channels},");
    if graph.layout == ImageLayout::Nhwc {
        kind.push_str("        layout: Nhwc,\n");
    }
    let (low, high) = probe.value_range;
    let _ = writeln!(
        kind,
        "        value_range: ({low:?}, {high:?}), // measured: a trial run gave {:.3}..{:.3}",
        probe.seen.0, probe.seen.1
    );
    if let Some(stride) = probe.stride {
        let _ = writeln!(
            kind,
            "        stride: {stride}, // measured: one latent cell makes {stride}×{stride} pixels"
        );
    }
    if !graph.constants.is_empty() {
        kind.push_str("        constants: [\n");
        for constant in &graph.constants {
            let _ = writeln!(
                kind,
                "            (name: {name}, value: 1.0), // {DRAFT_MARKER}: the value to feed {name} on every run",
                name = quoted(&constant.name)
            );
        }
        kind.push_str("        ],\n");
    }
    kind.push_str("    )");
    kind
}

/// `SequenceGenerator(...)` with what was found beside the model.
pub(crate) fn decoder_kind(facts: &DecoderFacts) -> String {
    let tokenizer = facts.tokenizer.as_deref().map_or_else(
        || todo("put the model's tokenizer.json beside model.onnx and name it here"),
        quoted,
    );
    let context = facts.context.as_ref().map_or_else(
        || {
            format!(
                "0, // {DRAFT_MARKER}: the longest sequence (prompt + continuation) it was trained on"
            )
        },
        |(context, from)| format!("{context}, // from {from}"),
    );
    let end = facts.end.as_deref().map_or_else(
        || todo("its end-of-text token, as the tokenizer writes it"),
        quoted,
    );
    format!(
        "SequenceGenerator(\n        tokenizer: {tokenizer},\n        context: {context}\n        \
         end: {end},\n    )"
    )
}

/// Whether `dtype` is one a constant input can be fed.
pub(crate) fn feedable_constant(dtype: Option<ElementType>) -> bool {
    matches!(
        dtype,
        Some(ElementType::F32 | ElementType::I64 | ElementType::I32 | ElementType::Bool)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_dimensions_keep_the_graphs_names() {
        let tensor = GraphTensor {
            name: "past_key_values.0.key".to_owned(),
            dtype: Some(ElementType::F32),
            dtype_name: "F32".to_owned(),
            shape: vec![-1, 12, -1, 64],
            symbols: vec![
                "batch_size".to_owned(),
                String::new(),
                String::new(),
                String::new(),
            ],
        };
        assert_eq!(
            tensor_spec(&tensor).expect("supported"),
            r#"(name: "past_key_values.0.key", dtype: F32, shape: ["batch_size", 12, "d2", 64])"#
        );
    }
}
