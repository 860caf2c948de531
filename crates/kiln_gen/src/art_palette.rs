//! Art palettes: per class, the colours a model's training art is drawn in. A generator paints
//! continuous colours (a 32×32 window of a texture holds hundreds); pixel art is drawn from
//! ramps of a few. Replacing every pixel by the nearest colour of its class's art gives the
//! art's own ramps back (see `ImageContract::palettes`).

use image::{DynamicImage, ImageFormat, Rgba};
use rayon::prelude::*;

/// The colours of one class's art, held as a k-d tree for exact nearest-colour lookups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Palette {
    /// An implicit k-d tree: the node of a range is its middle element, split on `axis`.
    nodes: Vec<Node>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Node {
    colour: [u8; 3],
    axis: u8,
}

impl Palette {
    /// A palette of `colours` (duplicates are dropped); `None` when there are none.
    pub fn new(mut colours: Vec<[u8; 3]>) -> Option<Self> {
        colours.sort_unstable();
        colours.dedup();
        if colours.is_empty() {
            return None;
        }
        let mut nodes: Vec<Node> = colours
            .into_iter()
            .map(|colour| Node { colour, axis: 0 })
            .collect();
        build(&mut nodes);
        Some(Self { nodes })
    }

    /// How many colours the palette has.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a palette has at least one colour.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The palette's colour nearest to `colour` (squared RGB distance; of equally near ones,
    /// the least in (r, g, b) order, so the answer does not depend on the tree's shape).
    pub fn nearest(&self, colour: [u8; 3]) -> [u8; 3] {
        self.nearest_from(colour, None)
    }

    /// [`Palette::nearest`], starting the search from `hint` (a colour of the palette, e.g. the
    /// previous pixel's answer): the same answer, found faster when `hint` is near it.
    fn nearest_from(&self, colour: [u8; 3], hint: Option<[u8; 3]>) -> [u8; 3] {
        let mut best = hint.map_or((u32::MAX, [0; 3]), |hint| (distance(hint, colour), hint));
        search(&self.nodes, colour, &mut best);
        best.1
    }

    /// Replaces every pixel's colour by the nearest of the palette's; alpha is kept, and grey
    /// images become RGB. Runs of pixels are looked up in parallel.
    pub fn apply(&self, image: &mut DynamicImage) {
        match image {
            DynamicImage::ImageRgba8(rgba) => self.apply_to_pixels(rgba, 4),
            DynamicImage::ImageRgb8(rgb) => self.apply_to_pixels(rgb, 3),
            other => {
                let mut rgb = other.to_rgb8();
                self.apply_to_pixels(&mut rgb, 3);
                *other = DynamicImage::ImageRgb8(rgb);
            }
        }
    }

    /// [`Palette::apply`] on interleaved pixels of `channels` bytes, RGB first.
    fn apply_to_pixels(&self, pixels: &mut [u8], channels: usize) {
        const RUN: usize = 4096;
        pixels.par_chunks_mut(channels * RUN).for_each(|run| {
            // Neighbouring pixels have near colours: each search starts from the last answer.
            let mut hint = None;
            for pixel in run.chunks_exact_mut(channels) {
                let nearest = self.nearest_from([pixel[0], pixel[1], pixel[2]], hint);
                pixel[..3].copy_from_slice(&nearest);
                hint = Some(nearest);
            }
        });
    }
}

/// Orders `nodes` as an implicit k-d tree: each range's middle element splits it on the axis
/// along which the range's colours spread most.
fn build(nodes: &mut [Node]) {
    if nodes.len() <= 1 {
        return;
    }
    let spread = |axis: usize| {
        let values = nodes.iter().map(|node| node.colour[axis]);
        values.clone().max().unwrap_or(0) - values.min().unwrap_or(0)
    };
    let axis = (0..3).max_by_key(|&axis| spread(axis)).unwrap_or(0);
    let middle = nodes.len() / 2;
    nodes.select_nth_unstable_by_key(middle, |node| (node.colour[axis], node.colour));
    nodes[middle].axis = axis as u8;
    let (left, rest) = nodes.split_at_mut(middle);
    build(left);
    build(&mut rest[1..]);
}

/// Squared RGB distance.
fn distance(a: [u8; 3], b: [u8; 3]) -> u32 {
    (0..3).map(|c| u32::from(a[c].abs_diff(b[c])).pow(2)).sum()
}

fn search(nodes: &[Node], colour: [u8; 3], best: &mut (u32, [u8; 3])) {
    if nodes.is_empty() {
        return;
    }
    let middle = nodes.len() / 2;
    let node = nodes[middle];
    let distance = distance(node.colour, colour);
    if (distance, node.colour) < *best {
        *best = (distance, node.colour);
    }
    let axis = usize::from(node.axis);
    let step = i32::from(colour[axis]) - i32::from(node.colour[axis]);
    let (left, right) = (&nodes[..middle], &nodes[middle + 1..]);
    // Colours equal on the axis lie on both sides (the split orders by the whole colour too).
    let (near, far) = if step < 0 {
        (left, right)
    } else {
        (right, left)
    };
    search(near, colour, best);
    if (step * step) as u32 <= best.0 {
        search(far, colour, best);
    }
}

/// One [`Palette`] per class of a model, read from its palettes PNG.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtPalettes {
    classes: Vec<Palette>,
}

impl ArtPalettes {
    /// Reads a palettes PNG: row `k` holds class `k`'s colours as opaque pixels from the left,
    /// the first transparent pixel (alpha below 128) ending the row. `classes` are the model's
    /// class names (a model without classes has one row); the error says what is wrong.
    pub fn from_png(bytes: &[u8], classes: &[String]) -> Result<Self, String> {
        let image = image::load_from_memory_with_format(bytes, ImageFormat::Png)
            .map_err(|err| format!("not a PNG image: {err}"))?
            .to_rgba8();
        let rows = classes.len().max(1);
        if image.height() as usize != rows {
            return Err(format!(
                "has {} row(s) where the model needs {rows}: write one row of colours per class, in the manifest's class order",
                image.height()
            ));
        }
        let palettes = image
            .rows()
            .enumerate()
            .map(|(row, pixels)| {
                let colours = pixels
                    .take_while(|pixel| pixel[3] >= 128)
                    .map(|pixel| [pixel[0], pixel[1], pixel[2]])
                    .collect();
                Palette::new(colours).ok_or_else(|| {
                    let class = classes
                        .get(row)
                        .map_or(String::new(), |c| format!(" (class {c:?})"));
                    format!("row {row}{class} has no colours: its first pixel must be opaque")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { classes: palettes })
    }

    /// The palette of class `index` (a model without classes has one, at 0).
    pub fn class(&self, index: usize) -> Option<&Palette> {
        self.classes.get(index)
    }

    /// The palettes as a PNG [`ArtPalettes::from_png`] reads back (training scripts write the
    /// same layout).
    pub fn to_png(&self) -> Vec<u8> {
        let width = self.classes.iter().map(Palette::len).max().unwrap_or(1) as u32;
        let mut image = image::RgbaImage::new(width, self.classes.len() as u32);
        for (row, palette) in self.classes.iter().enumerate() {
            let mut colours: Vec<[u8; 3]> = palette.nodes.iter().map(|n| n.colour).collect();
            colours.sort_unstable();
            for (x, [r, g, b]) in colours.into_iter().enumerate() {
                image.put_pixel(x as u32, row as u32, Rgba([r, g, b, 255]));
            }
        }
        let mut png = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut png, ImageFormat::Png)
            .expect("writing a PNG to memory cannot fail");
        png.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn brute_force(colours: &[[u8; 3]], colour: [u8; 3]) -> [u8; 3] {
        let distance = |c: &[u8; 3]| -> u32 {
            (0..3)
                .map(|i| u32::from(c[i].abs_diff(colour[i])).pow(2))
                .sum()
        };
        *colours
            .iter()
            .min_by_key(|c| (distance(c), **c))
            .expect("colours")
    }

    #[test]
    fn nearest_is_the_exact_nearest_colour_with_ties_to_the_least() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        // Sparse ramps, a dense cloud, and a grid whose queries tie often.
        let sparse: Vec<[u8; 3]> = (0..7).map(|i| [20 + 30 * i, 10 + 20 * i, 5]).collect();
        let dense: Vec<[u8; 3]> = (0..3000)
            .map(|_| {
                [
                    rng.random_range(90..170),
                    rng.random(),
                    rng.random_range(0..40),
                ]
            })
            .collect();
        let grid: Vec<[u8; 3]> = (0..64)
            .map(|i| [(i % 4) * 64, ((i / 4) % 4) * 64, (i / 16) * 64])
            .collect();
        for colours in [sparse, dense, grid] {
            let palette = Palette::new(colours.clone()).expect("colours");
            for _ in 0..2000 {
                let query = [rng.random(), rng.random(), rng.random()];
                let hint = colours[rng.random_range(0..colours.len())];
                let want = brute_force(&colours, query);
                assert_eq!(palette.nearest(query), want, "query {query:?}");
                assert_eq!(
                    palette.nearest_from(query, Some(hint)),
                    want,
                    "query {query:?} from {hint:?}"
                );
            }
            for colour in &colours {
                assert_eq!(palette.nearest(*colour), *colour);
            }
        }
    }

    #[test]
    fn apply_keeps_alpha_and_uses_only_palette_colours() {
        let palette = Palette::new(vec![[0, 0, 0], [200, 40, 40], [250, 250, 250]]).unwrap();
        let mut image = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(8, 8, |x, y| {
            Rgba([
                (x * 32) as u8,
                (y * 30) as u8,
                60,
                if x < 4 { 255 } else { 0 },
            ])
        }));
        palette.apply(&mut image);
        let rgba = image.as_rgba8().expect("still RGBA");
        for (x, _, pixel) in rgba.enumerate_pixels() {
            assert_eq!(pixel[3], if x < 4 { 255 } else { 0 });
            assert!(
                palette
                    .nodes
                    .iter()
                    .any(|n| n.colour == [pixel[0], pixel[1], pixel[2]])
            );
        }
        assert_eq!(
            rgba.get_pixel(7, 0).0[..3],
            [200, 40, 40],
            "a reddish pixel maps to the red"
        );
    }

    #[test]
    fn palettes_round_trip_through_png_and_bad_pngs_say_why() {
        let palettes = ArtPalettes {
            classes: vec![
                Palette::new(vec![[1, 2, 3]]).unwrap(),
                Palette::new(vec![[9, 9, 9], [4, 5, 6], [200, 0, 0]]).unwrap(),
            ],
        };
        let png = palettes.to_png();
        let names = |n: usize| (0..n).map(|i| format!("class{i}")).collect::<Vec<_>>();
        assert_eq!(
            ArtPalettes::from_png(&png, &names(2)).as_ref(),
            Ok(&palettes)
        );
        let rows = ArtPalettes::from_png(&png, &names(3)).expect_err("3 classes, 2 rows");
        assert!(
            rows.contains("2 row(s)") && rows.contains("needs 3"),
            "{rows}"
        );
        let not_png = ArtPalettes::from_png(b"not a png", &names(2)).unwrap_err();
        assert!(not_png.contains("not a PNG"), "{not_png}");
        let mut empty = image::RgbaImage::new(2, 1);
        empty.put_pixel(1, 0, Rgba([1, 1, 1, 255]));
        let mut bytes = std::io::Cursor::new(Vec::new());
        empty.write_to(&mut bytes, ImageFormat::Png).unwrap();
        let message = ArtPalettes::from_png(&bytes.into_inner(), &names(1)).unwrap_err();
        assert!(
            message.contains("row 0 (class \"class0\") has no colours"),
            "{message}"
        );
    }
}
