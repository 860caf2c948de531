//! Textures: seamless tiles from a circular-padding image generator, measured and mapped.

use image::{DynamicImage, Rgb, RgbImage};
use kiln_recipe::TextureParams;

use crate::pixel_art::{reduce_palette, upscale};
use crate::{GenerateError, ImageGenerator, ImageRequest};

/// One generated texture variant.
#[derive(Clone, Debug)]
pub struct Texture {
    /// Seed it was made from.
    pub seed: u64,
    /// The colour texture, at the recipe's size.
    pub image: RgbImage,
    /// Tangent-space normal map, when asked for (derived at art scale, then upscaled with the
    /// texture so each art pixel keeps one normal).
    pub normal_map: Option<RgbImage>,
    /// How visible the wrap-around seam is, measured at art scale: see [`seam_score`].
    pub seam_score: f64,
}

/// Makes one texture per seed: the model draws `size / scale` art pixels (in batches), which
/// get the palette (if any), the seam score and the normal map, and are then upscaled
/// (nearest), in parallel.
pub fn make_textures(
    generator: &ImageGenerator,
    params: &TextureParams,
    seeds: impl IntoIterator<Item = u64>,
) -> Result<Vec<Texture>, GenerateError> {
    let scale = params.scale.get();
    let art_size = generator.art_size((params.size.width(), params.size.height()), scale)?;
    let requests: Vec<ImageRequest> = seeds
        .into_iter()
        .map(|seed| ImageRequest {
            seed,
            size: Some(art_size),
            class: params.class.clone(),
        })
        .collect();
    generator.generate_each(Some(art_size), &requests, |request, art| {
        let art = match params.palette {
            Some(colours) => {
                let mut rgba = art.to_rgba8();
                reduce_palette(&mut rgba, colours.get() as usize);
                DynamicImage::from(rgba).to_rgb8()
            }
            None => art.to_rgb8(),
        };
        Texture {
            seed: request.seed,
            normal_map: params
                .normal_map
                .then(|| upscale(&normal_map(&art, NORMAL_STRENGTH), scale)),
            seam_score: seam_score(&art, generator.stride().unwrap_or(1)),
            image: upscale(&art, scale),
        }
    })
}

/// Slope scale for normal maps: a full black-to-white step across one pixel tilts ~63°.
pub const NORMAL_STRENGTH: f32 = 2.0;

/// Seam score of a tile: the mean colour difference across the wrap-around edges (last column
/// to first, last row to first) divided by the mean difference across the interior pixel
/// boundaries *at the same phase of the generator's grid* — every `period`-th boundary (use the
/// model's stride; 1 compares with every boundary). A fully convolutional generator draws each
/// latent cell as a block, so boundaries between cells differ more than boundaries inside one;
/// the wrap edge is always a cell boundary and must be compared with its kind. About 1 means
/// the seam looks like any other cell boundary (seamless); a visible seam scores well above 1.
/// Images under two periods per side score 1.
pub fn seam_score(image: &RgbImage, period: u32) -> f64 {
    let (width, height) = image.dimensions();
    let period = period.max(1);
    if width < 2 * period || height < 2 * period {
        return 1.0;
    }
    let diff = |a: &Rgb<u8>, b: &Rgb<u8>| -> f64 {
        a.0.iter()
            .zip(b.0)
            .map(|(&x, y)| f64::from(x.abs_diff(y)))
            .sum()
    };
    let (mut wrap, mut wrap_pairs, mut inner, mut inner_pairs) = (0.0, 0_u64, 0.0, 0_u64);
    // The boundary after column (row) `i` is at the grid's phase when `i + 1` is a multiple of `period`.
    let mut add = |last: bool, on_phase: bool, d: f64| {
        if last {
            wrap += d;
            wrap_pairs += 1;
        } else if on_phase {
            inner += d;
            inner_pairs += 1;
        }
    };
    for y in 0..height {
        for x in 0..width {
            let here = image.get_pixel(x, y);
            add(
                x + 1 == width,
                (x + 1) % period == 0,
                diff(here, image.get_pixel((x + 1) % width, y)),
            );
            add(
                y + 1 == height,
                (y + 1) % period == 0,
                diff(here, image.get_pixel(x, (y + 1) % height)),
            );
        }
    }
    let inner = inner / inner_pairs as f64;
    let wrap = wrap / wrap_pairs as f64;
    if inner == 0.0 {
        return if wrap == 0.0 { 1.0 } else { f64::INFINITY };
    }
    wrap / inner
}

/// Tangent-space normal map from luminance as height, with wrap-around Sobel gradients so the
/// normal map tiles exactly like its texture. OpenGL/glTF convention (green points up), as
/// Bevy's `StandardMaterial` expects.
pub fn normal_map(image: &RgbImage, strength: f32) -> RgbImage {
    let (width, height) = image.dimensions();
    let luminance: Vec<f32> = image
        .pixels()
        .map(|p| {
            (0.2126 * f32::from(p[0]) + 0.7152 * f32::from(p[1]) + 0.0722 * f32::from(p[2])) / 255.0
        })
        .collect();
    let h = |x: i64, y: i64| {
        let x = x.rem_euclid(i64::from(width)) as usize;
        let y = y.rem_euclid(i64::from(height)) as usize;
        luminance[y * width as usize + x]
    };
    RgbImage::from_fn(width, height, |x, y| {
        let (x, y) = (i64::from(x), i64::from(y));
        let dx = (h(x + 1, y - 1) + 2.0 * h(x + 1, y) + h(x + 1, y + 1))
            - (h(x - 1, y - 1) + 2.0 * h(x - 1, y) + h(x - 1, y + 1));
        let dy = (h(x - 1, y + 1) + 2.0 * h(x, y + 1) + h(x + 1, y + 1))
            - (h(x - 1, y - 1) + 2.0 * h(x, y - 1) + h(x + 1, y - 1));
        // Sobel sums span 8 weights over 2 pixels: /8 gives the slope per pixel.
        let (nx, ny, nz) = (-dx / 8.0 * strength, dy / 8.0 * strength, 1.0_f32);
        let length = (nx * nx + ny * ny + nz * nz).sqrt();
        let encode = |v: f32| ((v / length * 0.5 + 0.5) * 255.0).round() as u8;
        Rgb([encode(nx), encode(ny), encode(nz)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structureless_noise_scores_one_and_a_gradient_scores_high() {
        // Independent noise has no structure, so its wrap edge is like any other pixel boundary.
        let mut state = 0x2545_f491_u32;
        let mut noise = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        };
        let periodic = RgbImage::from_fn(64, 64, |_, _| Rgb([noise(), noise(), noise()]));
        let tiled = seam_score(&periodic, 1);
        let gradient = RgbImage::from_fn(32, 32, |x, y| Rgb([(x * 8) as u8, (y * 8) as u8, 0]));
        let seamed = seam_score(&gradient, 1);
        assert!((tiled - 1.0).abs() < 0.1, "noise score {tiled}");
        assert!(seamed > 20.0, "gradient score {seamed}");
    }

    #[test]
    fn seam_is_compared_with_boundaries_of_the_same_grid_phase() {
        // 4-pixel blocks of alternating brightness: block edges differ, pixels inside do not.
        let blocks = RgbImage::from_fn(32, 32, |x, y| {
            let v = if (x / 4 + y / 4) % 2 == 0 { 40 } else { 200 };
            Rgb([v, v, v])
        });
        assert!(
            seam_score(&blocks, 1) > 3.0,
            "against every boundary the block edge looks like a seam"
        );
        assert!(
            (seam_score(&blocks, 4) - 1.0).abs() < 1e-9,
            "against block edges it is seamless"
        );
    }

    #[test]
    fn flat_image_is_seamless_and_its_normals_point_straight_up() {
        let flat = RgbImage::from_pixel(8, 8, Rgb([90, 90, 90]));
        assert_eq!(seam_score(&flat, 1), 1.0);
        assert!(
            normal_map(&flat, 2.0)
                .pixels()
                .all(|p| p.0 == [128, 128, 255])
        );
    }

    #[test]
    fn normals_lean_away_from_higher_ground_and_wrap() {
        // Bright (high) column at x = 0: its right neighbour slopes down to the right (+x normal),
        // and the wrap-around neighbour at x = width - 1 slopes down to the left (-x normal).
        let mut image = RgbImage::from_pixel(8, 8, Rgb([0, 0, 0]));
        for y in 0..8 {
            image.put_pixel(0, y, Rgb([255, 255, 255]));
        }
        let normals = normal_map(&image, 2.0);
        assert!(
            normals.get_pixel(1, 4)[0] > 128,
            "{:?}",
            normals.get_pixel(1, 4)
        );
        assert!(
            normals.get_pixel(7, 4)[0] < 128,
            "{:?}",
            normals.get_pixel(7, 4)
        );
        assert_eq!(normals.get_pixel(4, 4).0, [128, 128, 255]);
    }
}
