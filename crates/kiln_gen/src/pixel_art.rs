//! Pixel-art steps shared by sprites and textures: nearest-neighbour upscale, median-cut
//! palette, art-grid detection and despeckling.

use std::collections::HashSet;

use image::{ImageBuffer, Pixel, Rgba, RgbaImage};

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
pub const ALIKE: u8 = 24;
/// A speck is repainted only if some neighbour is within this contrast: single pixels that
/// stand out strongly (an eye's highlight) are drawn on purpose.
pub const SPECK_CONTRAST: u8 = 64;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
