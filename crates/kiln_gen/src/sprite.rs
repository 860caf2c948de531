//! Sprites: hard alpha, a bounded palette, an optional outline, nearest-neighbour upscale,
//! and a sheet with an atlas layout Bevy can load.

use image::{Rgba, RgbaImage, imageops};
use kiln_recipe::SpriteParams;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::pixel_art::{despeckle, reduce_palette, upscale};
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

/// Makes one sprite per seed (in batches), post-processes each (in parallel) and lays them
/// out on a sheet.
pub fn make_sprites(
    generator: &ImageGenerator,
    params: &SpriteParams,
    seeds: impl IntoIterator<Item = u64>,
) -> Result<SpriteSet, GenerateError> {
    let requests: Vec<ImageRequest> = seeds
        .into_iter()
        .map(|seed| ImageRequest {
            seed,
            size: None,
            class: params.class.clone(),
        })
        .collect();
    let sprites = generator.generate_each(None, &requests, |request, raw| {
        (request.seed, post_process(raw.to_rgba8(), params))
    })?;
    Ok(SpriteSet::from_sprites(sprites))
}

/// [`make_sprites`] for sprites drawn by other means (a pixel-drawing sequence model, at its
/// art grid): each is post-processed (in parallel) and laid out on a sheet.
pub fn finish_sprites(drawn: Vec<(u64, RgbaImage)>, params: &SpriteParams) -> SpriteSet {
    SpriteSet::from_sprites(
        drawn
            .into_par_iter()
            .map(|(seed, sprite)| (seed, post_process(sprite, params)))
            .collect(),
    )
}

impl SpriteSet {
    /// The set of finished `sprites` (with their seeds), laid out on a sheet.
    fn from_sprites(sprites: Vec<(u64, RgbaImage)>) -> Self {
        let (sheet, layout) = pack_sheet(sprites.iter().map(|(_, sprite)| sprite));
        Self {
            sprites,
            sheet,
            layout,
        }
    }
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
    use crate::pixel_art::count_colours;

    fn params(palette: u32, outline: Option<(u8, u8, u8)>, scale: u32) -> SpriteParams {
        SpriteParams {
            class: None,
            palette: kiln_recipe::PaletteSize::new(palette).expect("palette"),
            outline,
            scale: kiln_recipe::Scale::new(scale).expect("scale"),
            despeckle: true,
        }
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
