//! What a generation made, typed: pixels with their metrics, strings, loops.

use std::collections::BTreeMap;
use std::time::Duration;

use kiln_gen::pixel_art::count_colours;
use kiln_gen::{SpriteSet, Texture};
use kiln_music::MusicLoop;
use kiln_onnx::Provider;
use kiln_seq::Flavour;

/// The variants of one entry, generated, with how they were made.
#[derive(Clone, Debug)]
pub struct Made {
    /// The entry's name in its recipe (string tables key by it).
    pub entry: String,
    /// Model name.
    pub model: String,
    /// sha256 of the ONNX bytes that ran.
    pub model_sha256: String,
    /// The model's licence (SPDX).
    pub licence: String,
    /// The credit the model's licence requires whoever ships this content to give.
    pub attribution: Option<String>,
    /// Execution provider that ran.
    pub execution_provider: Provider,
    /// Time inside ONNX Runtime's `session.run`.
    pub inference: Duration,
    /// Each variant's seed, in order.
    pub seeds: Vec<u64>,
    /// The variants.
    pub content: Content,
}

/// The variants of one entry, by kind.
#[derive(Clone, Debug)]
pub enum Content {
    /// Tileable textures (with normal maps where asked for) and their seam scores.
    Textures(Vec<Texture>),
    /// Sprites, and the sheet and atlas of all of them.
    Sprites(SpriteSet),
    /// A name and a description per variant.
    Strings(Vec<Flavour>),
    /// Music loops: samples, arrangement (MIDI events), WAV and MIDI files.
    Loops(Vec<MusicLoop>),
}

impl Made {
    /// Number of variants.
    pub fn len(&self) -> usize {
        self.seeds.len()
    }

    /// Whether no variant was made.
    pub fn is_empty(&self) -> bool {
        self.seeds.is_empty()
    }

    /// The key of variant `variant` in string tables: `<entry>/<variant>`.
    pub fn string_key(&self, variant: usize) -> String {
        format!("{}/{variant}", self.entry)
    }

    /// The string table of a text entry (`<entry>/<variant>` → name and text); empty for
    /// other kinds.
    pub fn string_table(&self) -> BTreeMap<String, Flavour> {
        match &self.content {
            Content::Strings(strings) => strings
                .iter()
                .enumerate()
                .map(|(variant, flavour)| (self.string_key(variant), flavour.clone()))
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// Measurements of each variant, as bakes record them and the editor shows them:
    /// `seam_score` (textures), `colours` (sprites), `samples`, `seconds` and `seam_jump`
    /// (loops); none for text.
    pub fn metrics(&self) -> Vec<BTreeMap<String, f64>> {
        let metric = |name: &str, value: f64| (name.to_owned(), value);
        match &self.content {
            Content::Textures(textures) => textures
                .iter()
                .map(|texture| BTreeMap::from([metric("seam_score", texture.seam_score)]))
                .collect(),
            Content::Sprites(set) => set
                .sprites
                .iter()
                .map(|(_, sprite)| {
                    BTreeMap::from([metric("colours", count_colours(sprite) as f64)])
                })
                .collect(),
            Content::Strings(strings) => vec![BTreeMap::new(); strings.len()],
            Content::Loops(loops) => loops
                .iter()
                .map(|music| {
                    let samples = music.samples.len() as f64;
                    BTreeMap::from([
                        metric("samples", samples),
                        metric("seconds", samples / f64::from(music.sample_rate)),
                        metric("seam_jump", kiln_music::synth::seam_jump(&music.samples)),
                    ])
                })
                .collect(),
        }
    }
}
