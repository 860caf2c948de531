//! Pixel art drawn one pixel (or one block of pixels) per token, by a sequence model whose
//! contract has `pixels`.

use kiln_recipe::{PixelGrid, Sampling};

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

/// Tokens (colours or blocks of them) each step is drawn from: the rest carry little
/// probability (for `kiln_portraits`, `probability_outside_top_32` in its `quality.json`),
/// mostly the odd wrong colour, and keeping a few in order is far cheaper than sorting
/// thousands of tokens for every step.
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

/// Rows of pixel art drawn side by side in one `session.run` ([`Decoding::batch_rows`]): a
/// sheet of 64 in one run per step. With 64 steps of a 2×2-block model the runs' fixed cost
/// is a large share, and 64 rows take 25 % less time than four runs of 16 (docs/benchmarks.md).
pub const PIXEL_BATCH_ROWS: usize = 64;

/// A colour token's block of colours, row by row (one colour for 1×1 blocks).
pub type BlockColours = Box<[[u8; 4]]>;

/// The colours a token names, row by row: one for a colour token, a block's for colour
/// tokens joined by commas (`#e3bd93,#e3bd93,#5e3a1e,#00000000`).
pub fn token_colours(token: &str) -> Option<Vec<[u8; 4]>> {
    token.split(',').map(token_colour).collect()
}

/// A sprite's RGBA bytes from one token per block of `grid`, blocks in raster order, each
/// block's colours row by row (`blocks`, by token id, as [`SequenceModel::pixel_blocks`]).
fn place_blocks(grid: PixelGrid, tokens: &[u32], blocks: &[Option<BlockColours>]) -> Vec<u8> {
    let (across, _) = grid.blocks();
    let (block_width, width) = (grid.block.width as usize, grid.width as usize);
    let mut rgba = vec![0; width * grid.height as usize * 4];
    for (cell, &token) in tokens.iter().enumerate() {
        let colours = blocks
            .get(token as usize)
            .and_then(Option::as_deref)
            .unwrap_or_default();
        let left = cell % across as usize * block_width;
        let top = cell / across as usize * grid.block.height as usize;
        for (index, colour) in colours.iter().enumerate() {
            let (x, y) = (left + index % block_width, top + index / block_width);
            rgba[(y * width + x) * 4..][..4].copy_from_slice(colour);
        }
    }
    rgba
}

/// Draws one sprite of `condition` (the model's first when `None`) per seed: the prompt of its
/// condition, then one colour token per pixel (or block) of the contract's grid, sampled with
/// [`pixel_sampling`] from a sampler seeded with the variant's seed (so a variant is the same
/// drawn alone or beside others). Rows run in lock step, [`PIXEL_BATCH_ROWS`] per
/// `session.run`.
pub fn draw_pixel_art(
    model: &SequenceModel,
    condition: Option<&str>,
    seeds: &[u64],
) -> Result<Vec<PixelArt>, SequenceError> {
    let contract = model.contract();
    let (Some(grid), Some(blocks)) = (contract.pixels, model.pixel_blocks()) else {
        return Err(SequenceError::Run {
            model: model.name().to_owned(),
            message: "it writes text, not pixels (its manifest has no `pixels`): use it in a Text, Music or Completion entry".to_owned(),
        });
    };
    let condition = condition.or(contract.conditions.first().map(String::as_str));
    let prompt = model.prompt(condition.unwrap_or_default(), None)?;
    let (across, down) = grid.blocks();
    let cells = (across * down) as usize;
    let is_colour = |_: &[u32], token: u32| blocks.get(token as usize).is_some_and(Option::is_some);
    let decoding = Decoding {
        filter: &is_colour,
        batch_rows: PIXEL_BATCH_ROWS,
        ..Decoding::new(cells)
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
            if generation.tokens.len() != cells {
                return Err(SequenceError::Run {
                    model: model.name().to_owned(),
                    message: format!(
                        "drew {} of a sprite's {cells} tokens: its context ({} tokens) must hold the prompt and {across}×{down} tokens",
                        generation.tokens.len(),
                        contract.context,
                    ),
                });
            }
            Ok(PixelArt {
                width: grid.width,
                height: grid.height,
                rgba: place_blocks(grid, &generation.tokens, blocks),
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
        assert_eq!(
            token_colours("#ff8000,#00000000"),
            Some(vec![[255, 128, 0, 255], [0, 0, 0, 0]])
        );
        assert_eq!(token_colours("#ff8000"), Some(vec![[255, 128, 0, 255]]));
        for other in [
            "#ff8000,",
            ",#ff8000",
            "#ff8000,<portrait>",
            "#ff8000, #ff8000",
        ] {
            assert_eq!(token_colours(other), None, "{other:?}");
        }
    }

    #[test]
    fn blocks_are_placed_in_raster_order_each_row_by_row() {
        // A 6×4 grid of 3×2 blocks of 2×2 pixels: block token t holds colours whose red channel is
        // 10·t + its place in the block, so each pixel says which block and place drew it.
        let grid = PixelGrid {
            width: 6,
            height: 4,
            block: kiln_recipe::PixelBlock {
                width: 2,
                height: 2,
            },
        };
        let blocks: Vec<Option<BlockColours>> = (0..7u8)
            .map(|t| Some((0..4).map(|place| [10 * t + place, 0, 0, 255]).collect()))
            .collect();
        let tokens = [1, 2, 3, 4, 5, 6];
        let rgba = place_blocks(grid, &tokens, &blocks);
        let red = |x: usize, y: usize| rgba[(y * 6 + x) * 4];
        for y in 0..4 {
            for x in 0..6 {
                let token = tokens[y / 2 * 3 + x / 2] as u8;
                let place = (y % 2 * 2 + x % 2) as u8;
                assert_eq!(red(x, y), 10 * token + place, "({x}, {y})");
            }
        }
    }
}
