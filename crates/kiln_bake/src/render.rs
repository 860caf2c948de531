//! Generating an entry's files in memory, encoded and ready to write: images, sheets and
//! atlases, string tables, WAV and MIDI loops.

use std::collections::BTreeMap;
use std::io::Cursor;

use image::{DynamicImage, ImageFormat};
use std::time::Duration;

use kiln_gen::{ImageGenerator, make_sprites, make_textures};
use kiln_recipe::AssetKind;
use kiln_seq::{Flavour, SequenceModel, make_flavour};

use crate::{ATLAS_FILE, EntryError, Job, SHEET_FILE};

/// One file of an entry, encoded and ready to write.
#[derive(Clone, Debug)]
pub struct EntryFile {
    /// File name inside the entry's output folder (`0.png`, `sheet.png`, `strings.json`…).
    pub file: String,
    /// The encoded file.
    pub bytes: Vec<u8>,
    /// The variant it shows; `None` for files combining all variants (sheets, string tables).
    pub variant: Option<u32>,
    /// Measurements recorded in the manifest (`seam_score`, `colours`, `seam_jump`…).
    pub metrics: BTreeMap<String, f64>,
}

/// The model of an entry, ready to generate its kind.
pub(crate) enum Generator {
    /// Textures and sprites.
    Image(ImageGenerator),
    /// Text and music.
    Sequence(Box<SequenceModel>),
}

impl Generator {
    /// Time spent in `session.run` so far.
    pub fn run_time(&self) -> Duration {
        match self {
            Self::Image(image) => image.run_time(),
            Self::Sequence(sequence) => sequence.run_time(),
        }
    }
}

/// String table of a text entry: `<entry>/<variant>` → name and text.
pub const STRINGS_RON: &str = "strings.ron";
/// The same table as JSON.
pub const STRINGS_JSON: &str = "strings.json";

/// Generates `job`'s files; `on_variant(i)` is called as variant `i` starts.
pub(crate) fn render(
    job: &Job,
    generator: &Generator,
    on_variant: &(dyn Fn(u32) + Sync),
) -> Result<Vec<EntryFile>, EntryError> {
    let seeds = (0..job.entry.variants.get()).map(|variant| {
        on_variant(variant);
        job.seed(variant)
    });
    let single =
        |variant: usize, file: String, bytes: Vec<u8>, metrics: BTreeMap<String, f64>| EntryFile {
            file,
            bytes,
            variant: Some(variant as u32),
            metrics,
        };
    let mut outputs = Vec::new();
    let whole = |file: &str, bytes| EntryFile {
        file: file.to_owned(),
        bytes,
        variant: None,
        metrics: BTreeMap::new(),
    };
    match (&job.entry.kind, generator) {
        (AssetKind::Texture(params), Generator::Image(generator)) => {
            for (variant, texture) in make_textures(generator, params, seeds)?
                .into_iter()
                .enumerate()
            {
                let metrics = BTreeMap::from([("seam_score".to_owned(), texture.seam_score)]);
                outputs.push(single(
                    variant,
                    format!("{variant}.png"),
                    encode_png(&texture.image.into()),
                    metrics,
                ));
                if let Some(normal) = texture.normal_map {
                    outputs.push(single(
                        variant,
                        format!("{variant}.normal.png"),
                        encode_png(&normal.into()),
                        BTreeMap::new(),
                    ));
                }
            }
        }
        (AssetKind::Sprite(params), Generator::Image(generator)) => {
            let set = make_sprites(generator, params, seeds)?;
            for (variant, (_, sprite)) in set.sprites.into_iter().enumerate() {
                let metrics = BTreeMap::from([(
                    "colours".to_owned(),
                    kiln_gen::pixel_art::count_colours(&sprite) as f64,
                )]);
                outputs.push(single(
                    variant,
                    format!("{variant}.png"),
                    encode_png(&sprite.into()),
                    metrics,
                ));
            }
            outputs.push(whole(SHEET_FILE, encode_png(&set.sheet.into())));
            outputs.push(whole(ATLAS_FILE, set.layout.to_ron().into_bytes()));
        }
        (AssetKind::Text(params), Generator::Sequence(model)) => {
            let mut table: BTreeMap<String, Flavour> = BTreeMap::new();
            for (variant, seed) in seeds.enumerate() {
                let key = format!("{}/{variant}", job.entry_name);
                table.insert(key, make_flavour(model, params, seed)?);
            }
            let ron = ron::ser::to_string_pretty(&table, ron::ser::PrettyConfig::default())
                .unwrap_or_else(|err| unreachable!("strings serialise: {err}"));
            let mut json = serde_json::to_vec_pretty(&table)
                .unwrap_or_else(|err| unreachable!("strings serialise: {err}"));
            json.push(b'\n');
            outputs.push(whole(STRINGS_RON, format!("{ron}\n").into_bytes()));
            outputs.push(whole(STRINGS_JSON, json));
        }
        (AssetKind::Music(params), Generator::Sequence(model)) => {
            for (variant, seed) in seeds.enumerate() {
                let music = kiln_music::make_loop(model, params, seed)?;
                let metrics = BTreeMap::from([
                    ("samples".to_owned(), music.samples.len() as f64),
                    (
                        "seconds".to_owned(),
                        music.samples.len() as f64 / f64::from(music.sample_rate),
                    ),
                    (
                        "seam_jump".to_owned(),
                        kiln_music::synth::seam_jump(&music.samples),
                    ),
                ]);
                outputs.push(single(
                    variant,
                    format!("{variant}.wav"),
                    music.wav,
                    metrics,
                ));
                outputs.push(single(
                    variant,
                    format!("{variant}.mid"),
                    music.midi,
                    BTreeMap::new(),
                ));
            }
        }
        (kind, _) => {
            return Err(EntryError::WrongModel {
                model: job.entry.model.clone(),
                kind: kind.name(),
            });
        }
    }
    Ok(outputs)
}

/// PNG bytes of `image` (deterministic: same pixels, same bytes).
fn encode_png(image: &DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap_or_else(|err| unreachable!("PNG encoding into memory cannot fail: {err}"));
    bytes
}
