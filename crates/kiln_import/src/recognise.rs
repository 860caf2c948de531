//! Telling from an ONNX graph's inputs and outputs what kind of generator it is.

use kiln_onnx::GraphTensor;
use kiln_recipe::{ChannelLayout, ElementType, ImageLayout};

/// What a graph was recognised as.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Recognised {
    /// Latent (+ class, + constants) in, image out.
    Image(Box<ImageGraph>),
    /// A causal decoder in the Hugging Face/optimum export contract.
    Decoder(DecoderGraph),
}

/// The parts of an image generator's graph.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ImageGraph {
    /// Latent input: F32 `[N, Z]` or `[N, Z, h, w]`.
    pub latent: GraphTensor,
    /// Class input: I64 `[N]`.
    pub class: Option<GraphTensor>,
    /// Every other input: fed a constant.
    pub constants: Vec<GraphTensor>,
    /// The image output.
    pub output: GraphTensor,
    /// Its axis order.
    pub layout: ImageLayout,
    /// Its channels.
    pub channels: ChannelLayout,
}

/// The parts of a decoder's graph.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DecoderGraph {
    /// Vocabulary size, when `logits` fixes it.
    pub vocabulary: Option<i64>,
    /// Whether it takes a key/value cache (`past_key_values.*`).
    pub cached: bool,
    /// Whether it is a merged decoder (`use_cache_branch`).
    pub merged: bool,
}

/// Inputs a decoder may take: Kiln feeds these and no others.
const DECODER_INPUTS: [&str; 4] = [
    "input_ids",
    "attention_mask",
    "position_ids",
    "use_cache_branch",
];

/// Names exports give latent inputs, most telling first.
const LATENT_NAMES: [&str; 5] = ["z", "latent", "latents", "noise", "input"];

/// Recognises a decoder (`input_ids` in, `logits` out) or an image generator (a latent in, an
/// image out, in either axis order); otherwise says why not.
pub(crate) fn recognise(
    inputs: &[GraphTensor],
    outputs: &[GraphTensor],
) -> Result<Recognised, String> {
    let has_input = |name: &str| inputs.iter().any(|tensor| tensor.name == name);
    if has_input("input_ids") {
        return decoder(inputs, outputs).map(Recognised::Decoder);
    }
    image(inputs, outputs).map(|graph| Recognised::Image(Box::new(graph)))
}

fn decoder(inputs: &[GraphTensor], outputs: &[GraphTensor]) -> Result<DecoderGraph, String> {
    let logits = outputs
        .iter()
        .find(|tensor| tensor.name == "logits")
        .ok_or("it takes input_ids but has no `logits` output")?;
    if logits.shape.len() != 3 {
        return Err(format!(
            "its logits are {logits}; Kiln needs [batch, sequence, vocabulary]"
        ));
    }
    if let Some(other) = inputs.iter().find(|tensor| {
        !DECODER_INPUTS.contains(&tensor.name.as_str())
            && !tensor.name.starts_with("past_key_values.")
    }) {
        return Err(format!(
            "it takes input {other}, which Kiln does not feed a decoder (it feeds {} and \
             past_key_values.*)",
            DECODER_INPUTS.join(", ")
        ));
    }
    let cached = inputs
        .iter()
        .any(|tensor| tensor.name == "past_key_values.0.key");
    if cached {
        for tensor in inputs
            .iter()
            .filter(|t| t.name.starts_with("past_key_values."))
        {
            let fixed = |axis: usize| tensor.shape.get(axis).is_some_and(|&d| d > 0);
            if tensor.shape.len() != 4 || !fixed(1) || !fixed(3) {
                return Err(format!(
                    "its cache input {tensor} is not [batch, heads, past, head size] with fixed \
                     heads and head size"
                ));
            }
        }
    }
    Ok(DecoderGraph {
        vocabulary: logits.shape.get(2).copied().filter(|&d| d > 0),
        cached,
        merged: inputs.iter().any(|t| t.name == "use_cache_branch"),
    })
}

fn image(inputs: &[GraphTensor], outputs: &[GraphTensor]) -> Result<ImageGraph, String> {
    let is_latent = |tensor: &&GraphTensor| {
        tensor.dtype == Some(ElementType::F32)
            && matches!(tensor.shape.len(), 2 | 4)
            && tensor.shape[1] > 0
    };
    let latent = LATENT_NAMES
        .iter()
        .find_map(|name| inputs.iter().filter(is_latent).find(|t| t.name == *name))
        .or_else(|| inputs.iter().find(is_latent))
        .ok_or(
            "it has no latent input (F32 [N, Z] or [N, Z, h, w] with a fixed Z) and no input_ids",
        )?;
    let class = inputs
        .iter()
        .find(|t| t.dtype == Some(ElementType::I64) && t.shape.len() == 1);
    let constants = inputs
        .iter()
        .filter(|t| {
            t.name != latent.name && Some(t.name.as_str()) != class.map(|c| c.name.as_str())
        })
        .cloned()
        .collect();
    let output = outputs
        .iter()
        .find(|t| t.shape.len() == 4 && matches!(t.dtype, Some(ElementType::F32 | ElementType::U8)))
        .ok_or("it has no image output (F32 or U8, four dimensions)")?;
    let (layout, channels) = image_layout(&output.shape).ok_or_else(|| {
        format!(
            "its output {output} has no channel axis of 1, 3 or 4 first ([N, C, H, W]) or last \
             ([N, H, W, C])"
        )
    })?;
    Ok(ImageGraph {
        latent: latent.clone(),
        class: class.cloned(),
        constants,
        output: output.clone(),
        layout,
        channels,
    })
}

/// The axis order and channels of an image output's shape: channels first unless only the
/// last axis can be channels.
fn image_layout(shape: &[i64]) -> Option<(ImageLayout, ChannelLayout)> {
    let channels = |size: i64| match size {
        1 => Some(ChannelLayout::Grey),
        3 => Some(ChannelLayout::Rgb),
        4 => Some(ChannelLayout::Rgba),
        _ => None,
    };
    match (channels(shape[1]), channels(shape[3])) {
        (Some(first), _) => Some((ImageLayout::Nchw, first)),
        (None, Some(last)) => Some((ImageLayout::Nhwc, last)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, dtype: ElementType, shape: &[i64]) -> GraphTensor {
        GraphTensor {
            name: name.to_owned(),
            dtype: Some(dtype),
            dtype_name: dtype.to_string(),
            shape: shape.to_vec(),
            symbols: vec![String::new(); shape.len()],
        }
    }

    #[test]
    fn channels_first_unless_only_the_last_axis_can_be_channels() {
        assert_eq!(
            image_layout(&[-1, 3, -1, -1]),
            Some((ImageLayout::Nchw, ChannelLayout::Rgb))
        );
        assert_eq!(
            image_layout(&[-1, 48, 48, 4]),
            Some((ImageLayout::Nhwc, ChannelLayout::Rgba))
        );
        assert_eq!(
            image_layout(&[-1, -1, -1, 1]),
            Some((ImageLayout::Nhwc, ChannelLayout::Grey))
        );
        assert_eq!(image_layout(&[-1, 64, 64, 64]), None);
    }

    #[test]
    fn an_image_generator_has_its_latent_class_and_constants_told_apart() {
        let inputs = [
            tensor("psi", ElementType::F32, &[]),
            tensor("label", ElementType::I64, &[-1]),
            tensor("z", ElementType::F32, &[-1, 128]),
        ];
        let outputs = [tensor("rgb", ElementType::F32, &[-1, 48, 48, 3])];
        let Ok(Recognised::Image(image)) = recognise(&inputs, &outputs) else {
            panic!("not recognised");
        };
        assert_eq!(image.latent.name, "z");
        assert_eq!(image.class.map(|c| c.name), Some("label".to_owned()));
        assert_eq!(image.constants.len(), 1);
        assert_eq!(image.constants[0].name, "psi");
        assert_eq!(image.layout, ImageLayout::Nhwc);
    }

    #[test]
    fn a_decoder_input_kiln_cannot_feed_is_named() {
        let inputs = [
            tensor("input_ids", ElementType::I64, &[-1, -1]),
            tensor("token_type_ids", ElementType::I64, &[-1, -1]),
        ];
        let outputs = [tensor("logits", ElementType::F32, &[-1, -1, 50257])];
        let err = recognise(&inputs, &outputs).unwrap_err();
        assert!(err.contains("token_type_ids"), "{err}");
    }
}
