//! Sprites: hard alpha, a bounded palette, an optional outline, nearest-neighbour upscale,
//! and a sheet with an atlas layout Bevy can load.

use std::collections::HashSet;

use image::{ImageBuffer, Pixel, Rgba, RgbaImage, imageops};
use kiln_recipe::SpriteParams;
use serde::{Deserialize, Serialize};

use crate::{GenerateError, ImageGenerator, ImageRequest};

/// Alpha at or above this becomes opaque; below, fully transparent.
pub const ALPHA_THRESHOLD: u8 = 128;

/// The variants of one sprite entry, single and as a sheet.
#[derive(Clone, Debug)]
pub struct SpriteSet {
    /// Each variant with its seed.
    pub sprites: Vec<(u64, RgbaImage)>,
    /// All variants on one grid, left to right, top to bottom.
    pub sheet: RgbaImage,
    /// Where each variant lies on the sheet.
    pub layout: AtlasLayout,
}

/// A texture-atlas layout in the shape of Bevy's `TextureAtlasLayout` (`size` + `textures` as
/// `URect`s), so its RON deserialises straight into one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtlasLayout {
    /// Sheet size in pixels.
    pub size: (u32, u32),
    /// Each sprite's rectangle, in variant order.
    pub textures: Vec<AtlasRect>,
}

/// A rectangle on the sheet: `min` inclusive, `max` exclusive, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtlasRect {
    /// Top-left corner.
    pub min: (u32, u32),
    /// Bottom-right corner (exclusive).
    pub max: (u32, u32),
}

impl AtlasLayout {
    /// The layout as RON.
    pub fn to_ron(&self) -> String {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::new().struct_names(false))
            .unwrap_or_else(|err| unreachable!("atlas layouts always serialise: {err}"))
    }
}

/// Makes one sprite per seed, post-processes each and lays them out on a sheet.
pub fn make_sprites(
    generator: &ImageGenerator,
    params: &SpriteParams,
    seeds: impl IntoIterator<Item = u64>,
) -> Result<SpriteSet, GenerateError> {
    let sprites = seeds
        .into_iter()
        .map(|seed| {
            let request = ImageRequest {
                seed,
                size: None,
                class: params.class.clone(),
            };
            let raw = generator.generate(&request)?.to_rgba8();
            Ok((seed, post_process(raw, params)))
        })
        .collect::<Result<Vec<_>, GenerateError>>()?;
    let (sheet, layout) = pack_sheet(sprites.iter().map(|(_, sprite)| sprite));
    Ok(SpriteSet {
        sprites,
        sheet,
        layout,
    })
}

/// Hard alpha, palette, despeckle, outline, upscale — in that order, so the outline is one
/// source pixel wide.
pub fn post_process(mut sprite: RgbaImage, params: &SpriteParams) -> RgbaImage {
    hard_alpha(&mut sprite);
    // The outline colour is one of the palette's colours.
    let colours = params.palette.get() as usize - usize::from(params.outline.is_some());
    reduce_palette(&mut sprite, colours.max(1));
    if params.despeckle {
        despeckle(&mut sprite);
    }
    if let Some((r, g, b)) = params.outline {
        outline(&mut sprite, Rgba([r, g, b, 255]));
    }
    upscale(&sprite, params.scale.get())
}

/// Integer nearest-neighbour upscale: each pixel becomes a `scale`×`scale` block (sprites and
/// pixel-art textures alike).
pub fn upscale<P: Pixel>(
    image: &ImageBuffer<P, Vec<P::Subpixel>>,
    scale: u32,
) -> ImageBuffer<P, Vec<P::Subpixel>> {
    if scale <= 1 {
        return image.clone();
    }
    ImageBuffer::from_fn(image.width() * scale, image.height() * scale, |x, y| {
        *image.get_pixel(x / scale, y / scale)
    })
}

/// Every pixel becomes fully opaque or fully transparent (transparent pixels are zeroed).
pub fn hard_alpha(sprite: &mut RgbaImage) {
    for pixel in sprite.pixels_mut() {
        *pixel = if pixel[3] >= ALPHA_THRESHOLD {
            Rgba([pixel[0], pixel[1], pixel[2], 255])
        } else {
            Rgba([0, 0, 0, 0])
        };
    }
}

/// Maps opaque pixels onto at most `colours` colours by median cut (deterministic: the box
/// with the widest channel range is split at its median until there are `colours` boxes; each
/// box becomes its mean colour). A sprite that already fits is left exactly as it is.
pub fn reduce_palette(sprite: &mut RgbaImage, colours: usize) {
    if count_colours(sprite) <= colours {
        return;
    }
    let mut boxes: Vec<Vec<[u8; 3]>> = vec![
        sprite
            .pixels()
            .filter(|p| p[3] == 255)
            .map(|p| [p[0], p[1], p[2]])
            .collect(),
    ];
    while boxes.len() < colours {
        let widest = boxes
            .iter()
            .enumerate()
            .filter(|(_, b)| b.len() > 1)
            .map(|(i, b)| (i, widest_channel(b)))
            .max_by_key(|&(i, (channel, range))| {
                (range, boxes[i].len(), std::cmp::Reverse(channel))
            });
        let Some((index, (channel, range))) = widest else {
            break;
        };
        if range == 0 {
            break;
        }
        let mut colours_in_box = boxes.swap_remove(index);
        colours_in_box.sort_unstable_by_key(|c| (c[channel], *c));
        let upper = colours_in_box.split_off(colours_in_box.len() / 2);
        boxes.push(colours_in_box);
        boxes.push(upper);
    }
    let palette: std::collections::HashMap<[u8; 3], [u8; 3]> = boxes
        .iter()
        .flat_map(|b| b.iter().map(move |&colour| (colour, mean(b))))
        .collect();
    for pixel in sprite.pixels_mut().filter(|p| p[3] == 255) {
        if let Some(&[r, g, b]) = palette.get(&[pixel[0], pixel[1], pixel[2]]) {
            *pixel = Rgba([r, g, b, 255]);
        }
    }
}

fn widest_channel(colours: &[[u8; 3]]) -> (usize, u8) {
    let (lo, hi) = box_bounds(colours);
    (0..3)
        .map(|c| (c, hi[c] - lo[c]))
        .max_by_key(|&(c, range)| (range, std::cmp::Reverse(c)))
        .unwrap_or((0, 0))
}

fn box_bounds(colours: &[[u8; 3]]) -> ([u8; 3], [u8; 3]) {
    colours.iter().fold(([255; 3], [0; 3]), |(lo, hi), c| {
        (
            std::array::from_fn(|i| lo[i].min(c[i])),
            std::array::from_fn(|i| hi[i].max(c[i])),
        )
    })
}

fn mean(colours: &[[u8; 3]]) -> [u8; 3] {
    let n = colours.len().max(1) as u32;
    std::array::from_fn(|i| (colours.iter().map(|c| u32::from(c[i])).sum::<u32>() / n) as u8)
}

/// Two colours closer than this (largest channel difference) count as alike.
const ALIKE: u8 = 24;
/// A speck is repainted only if some neighbour is within this contrast: single pixels that
/// stand out strongly (an eye's highlight) are drawn on purpose.
const SPECK_CONTRAST: u8 = 64;

/// The art grid of a sprite: the largest of 8, 4, 2 such that every g×g block is one colour
/// (a model that draws 16×16 art doubled to 32×32 has grid 2); else 1.
pub fn art_grid(sprite: &RgbaImage) -> u32 {
    let (width, height) = sprite.dimensions();
    [8, 4, 2]
        .into_iter()
        .find(|&g| {
            width % g == 0
                && height % g == 0
                && sprite
                    .enumerate_pixels()
                    .all(|(x, y, p)| p == sprite.get_pixel(x / g * g, y / g * g))
        })
        .unwrap_or(1)
}

/// Repaints specks: opaque art pixels unlike all eight neighbours (transparency is unlike any
/// colour; the image edge has no neighbours) whose closest opaque neighbour is within
/// [`SPECK_CONTRAST`] take that neighbour's colour (ties: the first in reading order). Works on
/// the sprite's [`art_grid`], reads the sprite as it was (so the result does not depend on
/// scan order) and keeps the palette (only existing colours are used).
pub fn despeckle(sprite: &mut RgbaImage) {
    let grid = art_grid(sprite);
    let (width, height) = (sprite.width() / grid, sprite.height() / grid);
    let art = |x: u32, y: u32| *sprite.get_pixel(x * grid, y * grid);
    let distance =
        |a: Rgba<u8>, b: Rgba<u8>| (0..3).map(|c| a[c].abs_diff(b[c])).max().unwrap_or(0);
    let mut repaint = Vec::new();
    for y in 0..height {
        for x in 0..width {
            let here = art(x, y);
            if here[3] != 255 {
                continue;
            }
            let neighbours = (-1_i64..=1)
                .flat_map(|dy| (-1_i64..=1).map(move |dx| (dx, dy)))
                .filter(|&offset| offset != (0, 0))
                .filter_map(|(dx, dy)| {
                    let (nx, ny) = (i64::from(x) + dx, i64::from(y) + dy);
                    (nx >= 0 && ny >= 0 && nx < i64::from(width) && ny < i64::from(height))
                        .then(|| art(nx as u32, ny as u32))
                });
            let mut closest: Option<(u8, Rgba<u8>)> = None;
            let mut alike = false;
            for neighbour in neighbours {
                if neighbour[3] != 255 {
                    continue;
                }
                let d = distance(here, neighbour);
                alike |= d <= ALIKE;
                if closest.is_none_or(|(best, _)| d < best) {
                    closest = Some((d, neighbour));
                }
            }
            if let Some((_, colour)) = closest.filter(|&(d, _)| !alike && d <= SPECK_CONTRAST) {
                repaint.push((x, y, colour));
            }
        }
    }
    for (x, y, colour) in repaint {
        for py in y * grid..(y + 1) * grid {
            for px in x * grid..(x + 1) * grid {
                sprite.put_pixel(px, py, colour);
            }
        }
    }
}

/// Number of distinct opaque colours.
pub fn count_colours(sprite: &RgbaImage) -> usize {
    sprite
        .pixels()
        .filter(|p| p[3] == 255)
        .map(|p| [p[0], p[1], p[2]])
        .collect::<HashSet<_>>()
        .len()
}

/// Paints `colour` on every transparent pixel that touches an opaque one (4-neighbourhood).
pub fn outline(sprite: &mut RgbaImage, colour: Rgba<u8>) {
    let (width, height) = sprite.dimensions();
    let opaque = |x: i64, y: i64| {
        x >= 0
            && y >= 0
            && x < i64::from(width)
            && y < i64::from(height)
            && sprite.get_pixel(x as u32, y as u32)[3] == 255
    };
    let edge: Vec<(u32, u32)> = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let (x, y) = (i64::from(x), i64::from(y));
            !opaque(x, y)
                && [(1, 0), (-1, 0), (0, 1), (0, -1)]
                    .iter()
                    .any(|(dx, dy)| opaque(x + dx, y + dy))
        })
        .collect();
    for (x, y) in edge {
        sprite.put_pixel(x, y, colour);
    }
}

/// Lays sprites of equal size on a near-square grid (columns = ⌈√n⌉), left to right, top to bottom.
pub fn pack_sheet<'a>(
    sprites: impl IntoIterator<Item = &'a RgbaImage>,
) -> (RgbaImage, AtlasLayout) {
    let sprites: Vec<&RgbaImage> = sprites.into_iter().collect();
    let (tile_w, tile_h) = sprites.first().map_or((0, 0), |s| s.dimensions());
    let columns = (sprites.len() as f64).sqrt().ceil().max(1.0) as u32;
    let rows = (sprites.len() as u32).div_ceil(columns);
    let mut sheet = RgbaImage::new(columns * tile_w, rows * tile_h);
    let mut textures = Vec::with_capacity(sprites.len());
    for (index, sprite) in sprites.into_iter().enumerate() {
        let (x, y) = (
            (index as u32 % columns) * tile_w,
            (index as u32 / columns) * tile_h,
        );
        imageops::replace(&mut sheet, sprite, i64::from(x), i64::from(y));
        textures.push(AtlasRect {
            min: (x, y),
            max: (x + tile_w, y + tile_h),
        });
    }
    let layout = AtlasLayout {
        size: sheet.dimensions(),
        textures,
    };
    (sheet, layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(palette: u32, outline: Option<(u8, u8, u8)>, scale: u32) -> SpriteParams {
        SpriteParams {
            class: None,
            palette: kiln_recipe::PaletteSize::new(palette).expect("palette"),
            outline,
            scale: kiln_recipe::Scale::new(scale).expect("scale"),
            despeckle: true,
        }
    }

    #[test]
    fn despeckle_repaints_low_contrast_specks_on_the_art_grid_and_keeps_bold_ones() {
        // 6×6 art doubled to 12×12: a grey field with one near-grey speck and one white one.
        let grey = Rgba([100, 100, 100, 255]);
        let mut art = RgbaImage::from_pixel(6, 6, grey);
        art.put_pixel(1, 1, Rgba([140, 100, 100, 255])); // 40 from grey: a speck
        art.put_pixel(4, 4, Rgba([255, 255, 255, 255])); // 155 from grey: drawn on purpose
        let mut sprite = upscale(&art, 2);
        assert_eq!(art_grid(&sprite), 2);
        despeckle(&mut sprite);
        assert_eq!(art_grid(&sprite), 2, "blocks stay whole");
        assert_eq!(
            *sprite.get_pixel(2, 3),
            grey,
            "the speck took its neighbours' colour"
        );
        assert_eq!(*sprite.get_pixel(9, 9), Rgba([255, 255, 255, 255]));
        // A pixel with one alike neighbour is not a speck.
        let mut pair = upscale(&art, 1);
        pair.put_pixel(2, 1, Rgba([140, 100, 100, 255]));
        let before = pair.clone();
        despeckle(&mut pair);
        assert_eq!(pair.get_pixel(1, 1), before.get_pixel(1, 1));
    }

    /// A soft-edged disc with a colour gradient: many colours and partial alpha.
    fn blob() -> RgbaImage {
        RgbaImage::from_fn(16, 16, |x, y| {
            let d = ((x as f32 - 7.5).powi(2) + (y as f32 - 7.5).powi(2)).sqrt();
            let alpha = ((6.0 - d) * 80.0).clamp(0.0, 255.0) as u8;
            Rgba([(x * 16) as u8, (y * 16) as u8, 128, alpha])
        })
    }

    #[test]
    fn alpha_is_hard_and_palette_bounded() {
        let sprite = post_process(blob(), &params(4, None, 1));
        assert!(sprite.pixels().all(|p| p[3] == 0 || p[3] == 255));
        assert!(
            sprite
                .pixels()
                .filter(|p| p[3] == 0)
                .all(|p| p.0 == [0, 0, 0, 0])
        );
        let colours = count_colours(&sprite);
        assert!((2..=4).contains(&colours), "{colours} colours");
        assert!(count_colours(&blob()) > 4);
    }

    #[test]
    fn outline_surrounds_the_shape_within_the_palette() {
        let plain = post_process(blob(), &params(6, None, 1));
        let outlined = post_process(blob(), &params(6, Some((0, 0, 0)), 1));
        let opaque = |s: &RgbaImage| s.pixels().filter(|p| p[3] == 255).count();
        assert!(opaque(&outlined) > opaque(&plain));
        assert!(count_colours(&outlined) <= 6);
        // Every newly opaque pixel is the outline colour and touches the old shape.
        for (x, y, p) in outlined.enumerate_pixels() {
            if p[3] == 255 && plain.get_pixel(x, y)[3] == 0 {
                assert_eq!(p.0, [0, 0, 0, 255]);
            }
        }
    }

    #[test]
    fn upscale_is_nearest_neighbour() {
        let small = post_process(blob(), &params(8, None, 1));
        let big = post_process(blob(), &params(8, None, 3));
        assert_eq!(big.dimensions(), (48, 48));
        for (x, y, p) in big.enumerate_pixels() {
            assert_eq!(p, small.get_pixel(x / 3, y / 3));
        }
    }

    #[test]
    fn sheet_layout_matches_bevy_atlas_shape() {
        let sprites: Vec<RgbaImage> = (0..5)
            .map(|i| RgbaImage::from_pixel(8, 4, Rgba([i * 40, 0, 0, 255])))
            .collect();
        let (sheet, layout) = pack_sheet(&sprites);
        assert_eq!(sheet.dimensions(), (24, 8));
        assert_eq!(layout.size, (24, 8));
        assert_eq!(
            layout.textures[4],
            AtlasRect {
                min: (8, 4),
                max: (16, 8)
            }
        );
        for (sprite, rect) in sprites.iter().zip(&layout.textures) {
            assert_eq!(
                sheet.get_pixel(rect.min.0, rect.min.1),
                sprite.get_pixel(0, 0)
            );
        }
        let ron = layout.to_ron();
        assert!(
            ron.contains("size: (24, 8)") && ron.contains("min: (8, 4)"),
            "{ron}"
        );
        assert_eq!(ron::from_str::<AtlasLayout>(&ron).expect("parse"), layout);
    }
}
