//! Generated variants, ready to show: RGBA pixels, text, loops with their waveforms, taken
//! straight from what the engine made (nothing is encoded and decoded on the way).

use std::collections::BTreeMap;
use std::time::Duration;

use image::DynamicImage;
use kiln_engine::Made;
use kiln_recipe::AssetEntry;
use kiln_seq::Flavour;

/// Columns of a loop's waveform overview.
pub const WAVEFORM_COLUMNS: usize = 256;

/// The variants of one generation of one entry, with how they were made.
#[derive(Clone, Debug)]
pub struct Gallery {
    /// Recipe label (`dungeon.kiln.ron`).
    pub recipe: String,
    /// Entry name.
    pub entry: String,
    /// The parameters the variants were made with (what Pin writes back).
    pub made_with: AssetEntry,
    /// One per variant, in order.
    pub variants: Vec<Variant>,
    /// Execution provider that ran.
    pub execution_provider: String,
    /// Wall time of the generation, model loading included.
    pub elapsed: Duration,
    /// Time inside `session.run`.
    pub inference: Duration,
}

/// One generated variant.
#[derive(Clone, Debug)]
pub struct Variant {
    /// Its seed (the entry's seed plus its index).
    pub seed: u64,
    /// What it is.
    pub content: Content,
    /// Measurements a bake records (`seam_score`, `colours`, `seam_jump`…).
    pub metrics: BTreeMap<String, f64>,
}

/// What a variant is, ready to show.
#[derive(Clone, Debug)]
pub enum Content {
    /// A texture (shown tiled 2×2) or a sprite (shown upscaled, nearest).
    Image {
        /// Width and height in pixels.
        size: [usize; 2],
        /// RGBA8, row by row.
        rgba: Vec<u8>,
        /// A sprite rather than a texture.
        sprite: bool,
    },
    /// A name and a description.
    Text(Flavour),
    /// A music loop.
    Loop {
        /// The WAV file, for playback.
        wav: Vec<u8>,
        /// Length in seconds.
        seconds: f32,
        /// Lowest and highest sample (−1..1) of each of [`WAVEFORM_COLUMNS`] columns.
        waveform: Vec<(f32, f32)>,
    },
}

impl Gallery {
    /// The variants of entry `name` of recipe `recipe`, made from `made_with`.
    pub fn new(
        recipe: &str,
        name: &str,
        made_with: &AssetEntry,
        made: Made,
        elapsed: Duration,
    ) -> Self {
        let metrics = made.metrics();
        let contents: Vec<Content> = match made.content {
            kiln_engine::Content::Textures(textures) => textures
                .into_iter()
                .map(|texture| Content::image(texture.image.into(), false))
                .collect(),
            kiln_engine::Content::Sprites(set) => set
                .sprites
                .into_iter()
                .map(|(_, sprite)| Content::image(sprite.into(), true))
                .collect(),
            kiln_engine::Content::Strings(strings) => {
                strings.into_iter().map(Content::Text).collect()
            }
            kiln_engine::Content::Loops(loops) => loops
                .into_iter()
                .map(|music| Content::Loop {
                    seconds: music.samples.len() as f32 / music.sample_rate as f32,
                    waveform: waveform(&music.samples),
                    wav: music.wav,
                })
                .collect(),
        };
        let variants = made
            .seeds
            .iter()
            .zip(contents)
            .zip(metrics)
            .map(|((&seed, content), metrics)| Variant {
                seed,
                content,
                metrics,
            })
            .collect();
        Self {
            recipe: recipe.to_owned(),
            entry: name.to_owned(),
            made_with: made_with.clone(),
            variants,
            execution_provider: made.execution_provider.to_string(),
            elapsed,
            inference: made.inference,
        }
    }
}

impl Content {
    fn image(image: DynamicImage, sprite: bool) -> Self {
        let rgba = image.into_rgba8();
        Self::Image {
            size: [rgba.width() as usize, rgba.height() as usize],
            rgba: rgba.into_raw(),
            sprite,
        }
    }
}

/// Lowest and highest sample of each of [`WAVEFORM_COLUMNS`] columns of a loop.
fn waveform(samples: &[f32]) -> Vec<(f32, f32)> {
    let per_column = samples.len().div_ceil(WAVEFORM_COLUMNS).max(1);
    samples
        .chunks(per_column)
        .map(|chunk| {
            chunk.iter().fold((0.0f32, 0.0f32), |(low, high), &s| {
                (low.min(s), high.max(s))
            })
        })
        .collect()
}
