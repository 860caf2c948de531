//! Textures: seamless tiles from a circular-padding image generator, measured and mapped.

use image::{Rgb, RgbImage};
use kiln_recipe::TextureParams;

use crate::{GenerateError, ImageGenerator, ImageRequest};

/// One generated texture variant.
#[derive(Clone, Debug)]
pub struct Texture {
    /// Seed it was made from.
    pub seed: u64,
    /// The colour texture.
    pub image: RgbImage,
    /// Tangent-space normal map, when asked for.
    pub normal_map: Option<RgbImage>,
    /// How visible the wrap-around seam is: see [`seam_score`].
    pub seam_score: f64,
}

/// Makes one texture per seed.
pub fn make_textures(
    generator: &ImageGenerator,
    params: &TextureParams,
    seeds: impl IntoIterator<Item = u64>,
) -> Result<Vec<Texture>, GenerateError> {
    seeds
        .into_iter()
        .map(|seed| {
            let request = ImageRequest {
                seed,
                size: Some((params.size.width(), params.size.height())),
                class: params.class.clone(),
            };
            let image = generator.generate(&request)?.to_rgb8();
            Ok(Texture {
                seed,
                normal_map: params
                    .normal_map
                    .then(|| normal_map(&image, NORMAL_STRENGTH)),
                seam_score: seam_score(&image),
                image,
            })
        })
        .collect()
}

/// Slope scale for normal maps: a full black-to-white step across one pixel tilts ~63°.
pub const NORMAL_STRENGTH: f32 = 2.0;

/// Seam score of a tile: the mean colour difference across the wrap-around edges (last column
/// to first, last row to first) divided by the mean difference between neighbouring pixels
/// inside the image. About 1 means the seam looks like any other pixel boundary (seamless);
/// a tile with a visible seam scores well above 1. Images under 2×2 score 1.
pub fn seam_score(image: &RgbImage) -> f64 {
    let (width, height) = image.dimensions();
    if width < 2 || height < 2 {
        return 1.0;
    }
    let diff = |a: &Rgb<u8>, b: &Rgb<u8>| -> f64 {
        a.0.iter()
            .zip(b.0)
            .map(|(&x, y)| f64::from(x.abs_diff(y)))
            .sum()
    };
    let (mut wrap, mut wrap_pairs, mut inner, mut inner_pairs) = (0.0, 0_u64, 0.0, 0_u64);
    for y in 0..height {
        for x in 0..width {
            let here = image.get_pixel(x, y);
            let right = image.get_pixel((x + 1) % width, y);
            let down = image.get_pixel(x, (y + 1) % height);
            for (is_wrap, d) in [
                (x + 1 == width, diff(here, right)),
                (y + 1 == height, diff(here, down)),
            ] {
                if is_wrap {
                    wrap += d;
                    wrap_pairs += 1;
                } else {
                    inner += d;
                    inner_pairs += 1;
                }
            }
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
        let tiled = seam_score(&periodic);
        let gradient = RgbImage::from_fn(32, 32, |x, y| Rgb([(x * 8) as u8, (y * 8) as u8, 0]));
        let seamed = seam_score(&gradient);
        assert!((tiled - 1.0).abs() < 0.1, "noise score {tiled}");
        assert!(seamed > 20.0, "gradient score {seamed}");
    }

    #[test]
    fn flat_image_is_seamless_and_its_normals_point_straight_up() {
        let flat = RgbImage::from_pixel(8, 8, Rgb([90, 90, 90]));
        assert_eq!(seam_score(&flat), 1.0);
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
