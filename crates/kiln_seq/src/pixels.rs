//! Pixel art drawn one pixel per token, by a sequence model whose contract has `pixels`.

use kiln_recipe::Sampling;

use crate::{Decoding, Sampler, SequenceError, SequenceModel};

/// How a pixel is drawn: from the model's own distribution over its [`PIXEL_TOP_K`] likeliest
/// colours, at temperature 1. A repetition penalty would punish the flat fills pixel art is
/// made of, and a lower temperature or top-p would cut the rare colours (an eye, a glint)
/// that make a sprite read.
pub fn pixel_sampling() -> Sampling {
    Sampling {
        temperature: 1.0,
        top_k: PIXEL_TOP_K,
        top_p: 1.0,
        repetition_penalty: 1.0,
        ..Sampling::default()
    }
}

/// Colours a pixel is drawn from: the rest carry little probability (for `kiln_portraits`,
/// `probability_outside_top_32` in its `quality.json`), mostly the odd wrong colour, and
/// keeping a few in order is far cheaper than sorting hundreds of colours for every pixel.
pub const PIXEL_TOP_K: u32 = 32;

/// One sprite at its art grid: RGBA bytes, row by row, top left first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PixelArt {
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// `width × height × 4` bytes.
    pub rgba: Vec<u8>,
}

/// The colour a token names: `#rrggbb` (opaque) or `#rrggbbaa`, lower or upper case hex.
pub fn token_colour(token: &str) -> Option<[u8; 4]> {
    let hex = token.strip_prefix('#')?;
    if !matches!(hex.len(), 6 | 8) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([
        byte(0)?,
        byte(2)?,
        byte(4)?,
        if hex.len() == 8 { byte(6)? } else { 255 },
    ])
}

/// Draws one sprite of `condition` (the model's first when `None`) per seed: the prompt of its
/// condition, then one colour token per pixel of the contract's grid, sampled with
/// [`pixel_sampling`] from a sampler seeded with the variant's seed (so a variant is the same
/// drawn alone or beside others). Rows run in lock step, [`crate::MAX_BATCH_ROWS`] per
/// `session.run`.
pub fn draw_pixel_art(
    model: &SequenceModel,
    condition: Option<&str>,
    seeds: &[u64],
) -> Result<Vec<PixelArt>, SequenceError> {
    let contract = model.contract();
    let (Some(grid), Some(colours)) = (contract.pixels, model.pixel_colours()) else {
        return Err(SequenceError::Run {
            model: model.name().to_owned(),
            message: "it writes text, not pixels (its manifest has no `pixels`): use it in a Text, Music or Completion entry".to_owned(),
        });
    };
    let condition = condition.or(contract.conditions.first().map(String::as_str));
    let prompt = model.prompt(condition.unwrap_or_default(), None)?;
    let pixels = (grid.width * grid.height) as usize;
    let is_colour =
        |_: &[u32], token: u32| colours.get(token as usize).is_some_and(Option::is_some);
    let decoding = Decoding {
        filter: &is_colour,
        ..Decoding::new(pixels)
    };
    let prompts = vec![prompt; seeds.len()];
    let mut samplers: Vec<Sampler> = seeds
        .iter()
        .map(|&seed| Sampler::new(pixel_sampling(), seed))
        .collect();
    model
        .generate_rows(&prompts, &mut samplers, &decoding)?
        .into_iter()
        .map(|generation| {
            if generation.tokens.len() != pixels {
                return Err(SequenceError::Run {
                    model: model.name().to_owned(),
                    message: format!(
                        "drew {} of a sprite's {pixels} pixels: its context ({} tokens) must hold the prompt and {}×{} pixels",
                        generation.tokens.len(),
                        contract.context,
                        grid.width,
                        grid.height
                    ),
                });
            }
            let rgba = generation
                .tokens
                .iter()
                .flat_map(|&token| colours[token as usize].unwrap_or_default())
                .collect();
            Ok(PixelArt {
                width: grid.width,
                height: grid.height,
                rgba,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_tokens_are_hex_rgb_or_rgba() {
        assert_eq!(token_colour("#ff8000"), Some([255, 128, 0, 255]));
        assert_eq!(token_colour("#FF800040"), Some([255, 128, 0, 64]));
        for other in [
            "ff8000",
            "#ff800",
            "#ff80000",
            "#gg8000",
            "<portrait>",
            "#",
            "",
        ] {
            assert_eq!(token_colour(other), None, "{other:?}");
        }
    }
}
