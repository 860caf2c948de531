//! Recipes: `*.kiln.ron` files that define one or more named assets.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path};

use serde::{Deserialize, Deserializer, Serialize};

use crate::{Bounded, LoadError, ron_file};

/// File-name suffix that marks a Kiln recipe.
pub const RECIPE_EXTENSION: &str = "kiln.ron";

/// A recipe file: named asset entries, each made by one model.
///
/// ```ron
/// (
///     assets: {
///         "floor": (
///             model: "stone_texture",
///             seed: 7,
///             variants: 4,
///             kind: Texture(size: (256, 256), class: "stone_floor"),
///         ),
///     },
/// )
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The assets this recipe defines, by entry name (sorted, so bakes are ordered deterministically).
    pub assets: BTreeMap<String, AssetEntry>,
}

/// One named asset of a recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetEntry {
    /// Name of the model folder under `models/` that generates this asset.
    pub model: String,
    /// Seed of the first variant; variant `i` uses `seed + i`.
    pub seed: u64,
    /// How many variants to make.
    #[serde(default = "one_variant")]
    pub variants: VariantCount,
    /// Where outputs go, relative to the bake's output folder; defaults to `<recipe stem>/<entry>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputPath>,
    /// What to make, with the kind's own parameters.
    pub kind: AssetKind,
}

impl AssetEntry {
    /// Pixels of all its textures (`width × height × variants`; 0 for other kinds): what the
    /// entry holds in memory, which recipes bound (64 Mi pixels).
    pub fn texture_pixels(&self) -> u64 {
        match &self.kind {
            AssetKind::Texture(texture) => {
                u64::from(texture.size.width())
                    * u64::from(texture.size.height())
                    * u64::from(self.variants.get())
            }
            _ => 0,
        }
    }

    /// Pixels the model draws for its textures (each art pixel shown `scale`×`scale`; 0 for
    /// other kinds): a texture entry's share of a bake's inference.
    pub fn texture_art_pixels(&self) -> u64 {
        match &self.kind {
            AssetKind::Texture(texture) => {
                self.texture_pixels() / u64::from(texture.scale.get()).pow(2)
            }
            _ => 0,
        }
    }
}

/// Most texture pixels one entry may make (`width × height × variants`: 16 variants of
/// 2048², 4 of 4096²): an entry's variants are held in memory until all are encoded, a few
/// bytes per pixel, on top of one variant's inference (about 3 GB for a 2048² texture with
/// the shipped model). Sprites stay far below it (at most 256 × 512²).
pub const MAX_ENTRY_PIXELS: u64 = 64 * 1024 * 1024;

/// Number of variants of one entry.
pub type VariantCount = Bounded<1, 256>;

fn one_variant() -> VariantCount {
    Bounded::new(1).unwrap_or_else(|err| unreachable!("{err}"))
}

/// The kind of asset an entry makes, with its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AssetKind {
    /// A seamlessly tiling texture from an image generator.
    Texture(TextureParams),
    /// A character sprite from an image generator.
    Sprite(SpriteParams),
    /// Flavour text (a name and a description) from a sequence generator.
    Text(TextParams),
    /// A seamless music loop from a melody generator.
    Music(MusicParams),
    /// Any decoder's own continuation of a prompt: no template, no sentence or word limits.
    Completion(CompletionParams),
}

impl AssetKind {
    /// The kind's name as written in recipes.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Texture(_) => "Texture",
            Self::Sprite(_) => "Sprite",
            Self::Text(_) => "Text",
            Self::Music(_) => "Music",
            Self::Completion(_) => "Completion",
        }
    }
}

/// Parameters of a [`AssetKind::Texture`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextureParams {
    /// Output size in pixels; each side must be a multiple of the model's stride × `scale`.
    pub size: Size,
    /// Material class, one of the model's classes (see `kiln models`); the model's first class when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Also write a tangent-space normal map derived from the texture's luminance.
    #[serde(default, skip_serializing_if = "is_false")]
    pub normal_map: bool,
    /// Art pixel size: the model draws `size / scale` pixels, each shown as a `scale`×`scale`
    /// block (nearest neighbour), so pixel-art materials keep their art scale at any size.
    #[serde(default = "default_scale", skip_serializing_if = "is_one")]
    pub scale: Scale,
    /// Most colours in the texture (median cut, like sprites); unbounded when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub palette: Option<PaletteSize>,
}

/// Parameters of a [`AssetKind::Sprite`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpriteParams {
    /// Class of sprite, one of the model's classes; the model's first class when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Most colours a sprite may use (transparency not counted).
    #[serde(default = "default_palette")]
    pub palette: PaletteSize,
    /// Colour `(r, g, b)` of a 1-pixel outline around the sprite, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outline: Option<(u8, u8, u8)>,
    /// Nearest-neighbour upscale factor.
    #[serde(default = "default_scale")]
    pub scale: Scale,
    /// Repaint isolated low-contrast pixels (specks no pixel artist draws) with their closest
    /// neighbour's colour, on the sprite's art grid; on unless `false`.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub despeckle: bool,
}

/// Parameters of a [`AssetKind::Text`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextParams {
    /// What the text describes, one of the model's kinds (e.g. `"weapon"`, `"spell"`).
    pub kind: String,
    /// The thing's name; the model invents one when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Fewest words in the description.
    #[serde(default = "default_min_words")]
    pub min_words: WordCount,
    /// Most words in the description (it ends at the last whole sentence that fits).
    #[serde(default = "default_max_words")]
    pub max_words: WordCount,
    /// Descriptions drawn for each variant, side by side; the one the model finds most
    /// natural (highest mean log-probability per token) is kept. 1 keeps the only one; each
    /// more costs about one more description's decoding.
    #[serde(default = "default_candidates")]
    pub candidates: CandidateCount,
    /// How tokens are drawn.
    #[serde(default)]
    pub sampling: Sampling,
}

/// Parameters of a [`AssetKind::Music`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MusicParams {
    /// Tonic, e.g. `"D"`, `"F#"`, `"Bb"`.
    #[serde(default = "default_key")]
    pub key: String,
    /// Major or minor.
    #[serde(default)]
    pub mode: Mode,
    /// Beats (quarter notes) per minute.
    #[serde(default = "default_tempo")]
    pub tempo: Tempo,
    /// Length of the loop in 4/4 bars.
    #[serde(default = "default_bars")]
    pub bars: BarCount,
    /// Sounds of the melody, bass and chord parts.
    #[serde(default)]
    pub instruments: Instruments,
    /// Add a drum pattern.
    #[serde(default, skip_serializing_if = "is_false")]
    pub drums: bool,
    /// How melody tokens are drawn.
    #[serde(default)]
    pub sampling: Sampling,
}

/// Parameters of a [`AssetKind::Completion`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionParams {
    /// The text the model continues, as written.
    pub prompt: String,
    /// Texts that end the continuation, left out of it (e.g. `["\n"]`); the model's end token
    /// always ends it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// How tokens are drawn; `max_tokens` bounds the continuation.
    #[serde(default)]
    pub sampling: Sampling,
}

/// Major or minor mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Major (Ionian).
    #[default]
    Major,
    /// Natural minor (Aeolian).
    Minor,
}

impl Mode {
    /// The mode's name as the models' condition (`"major"`, `"minor"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Major => "major",
            Self::Minor => "minor",
        }
    }
}

/// The instrument of each part of a music loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instruments {
    /// Melody.
    #[serde(default = "default_lead")]
    pub lead: Instrument,
    /// Bass line (chord roots).
    #[serde(default = "default_bass")]
    pub bass: Instrument,
    /// Sustained chords; `None` for no chord part.
    #[serde(default = "default_chords")]
    pub chords: Option<Instrument>,
}

impl Default for Instruments {
    fn default() -> Self {
        Self {
            lead: default_lead(),
            bass: default_bass(),
            chords: default_chords(),
        }
    }
}

fn default_lead() -> Instrument {
    Instrument::Square
}
fn default_bass() -> Instrument {
    Instrument::Triangle
}
fn default_chords() -> Option<Instrument> {
    Some(Instrument::Organ)
}

/// A synthesised instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Instrument {
    /// Pure sine.
    Sine,
    /// Soft, flute-like triangle.
    Triangle,
    /// Chiptune square.
    Square,
    /// Bright sawtooth through a low-pass filter.
    Saw,
    /// Drawbar-organ-like additive tone.
    Organ,
}

/// How a sequence generator draws each token.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// Softmax temperature (0 picks the most likely token).
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (0: all).
    #[serde(default = "default_top_k")]
    pub top_k: u32,
    /// Keep the smallest set of tokens whose probability reaches `top_p`.
    #[serde(default = "default_top_p")]
    pub top_p: f32,
    /// Divide the logits of tokens already generated by this (1: off).
    #[serde(default = "default_repetition_penalty")]
    pub repetition_penalty: f32,
    /// Most tokens to generate.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: TokenCount,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: default_temperature(),
            top_k: default_top_k(),
            top_p: default_top_p(),
            repetition_penalty: default_repetition_penalty(),
            max_tokens: default_max_tokens(),
        }
    }
}

impl Sampling {
    /// Checks the ranges serde cannot: temperature 0..=5, top_p in (0, 1], penalty 1..=5.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=5.0).contains(&self.temperature) {
            return Err(format!(
                "temperature {} is out of range: use 0 (greedy) to 5",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!(
                "top_p {} is out of range: use a value above 0 and at most 1",
                self.top_p
            ));
        }
        if !(1.0..=5.0).contains(&self.repetition_penalty) {
            return Err(format!(
                "repetition_penalty {} is out of range: use 1 (off) to 5",
                self.repetition_penalty
            ));
        }
        Ok(())
    }
}

fn default_temperature() -> f32 {
    0.8
}
fn default_top_k() -> u32 {
    40
}
fn default_top_p() -> f32 {
    0.95
}
fn default_repetition_penalty() -> f32 {
    1.15
}
fn default_max_tokens() -> TokenCount {
    Bounded::new(160).unwrap_or_else(|err| unreachable!("{err}"))
}
fn default_min_words() -> WordCount {
    Bounded::new(8).unwrap_or_else(|err| unreachable!("{err}"))
}
fn default_max_words() -> WordCount {
    Bounded::new(60).unwrap_or_else(|err| unreachable!("{err}"))
}
fn default_candidates() -> CandidateCount {
    Bounded::new(4).unwrap_or_else(|err| unreachable!("{err}"))
}
fn default_key() -> String {
    "C".to_owned()
}
fn default_tempo() -> Tempo {
    Bounded::new(120).unwrap_or_else(|err| unreachable!("{err}"))
}
fn default_bars() -> BarCount {
    Bounded::new(8).unwrap_or_else(|err| unreachable!("{err}"))
}

/// Tokens one generation may produce.
pub type TokenCount = Bounded<1, 1024>;
/// Words in a description.
pub type WordCount = Bounded<1, 400>;
/// Descriptions drawn to choose one from.
pub type CandidateCount = Bounded<1, 16>;
/// Beats per minute.
pub type Tempo = Bounded<30, 300>;
/// Bars in a loop.
pub type BarCount = Bounded<1, 64>;

/// Number of colours in a sprite or texture palette.
pub type PaletteSize = Bounded<2, 256>;

/// Integer upscale factor.
pub type Scale = Bounded<1, 16>;

fn default_palette() -> PaletteSize {
    Bounded::new(16).unwrap_or_else(|err| unreachable!("{err}"))
}

fn default_scale() -> Scale {
    Bounded::new(1).unwrap_or_else(|err| unreachable!("{err}"))
}

fn is_false(value: &bool) -> bool {
    !value
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

fn is_one(scale: &Scale) -> bool {
    scale.get() == 1
}

/// One side of an image, in pixels.
pub type Side = Bounded<1, 4096>;

/// Width and height of an image, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size(pub Side, pub Side);

impl Size {
    /// Width in pixels.
    pub fn width(self) -> u32 {
        self.0.get()
    }

    /// Height in pixels.
    pub fn height(self) -> u32 {
        self.1.get()
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width(), self.height())
    }
}

/// A relative path inside the bake's output folder that cannot escape it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct OutputPath(String);

impl OutputPath {
    /// Accepts relative, `/`-separated paths without `..`, `.` or empty parts.
    pub fn new(path: &str) -> Result<Self, String> {
        let fix = "use a relative path such as \"textures/floor\"";
        if path.is_empty() || path.contains('\\') {
            return Err(format!("output path {path:?} is not allowed: {fix}"));
        }
        // Checked part by part: `Path::components` would quietly drop a `.` in the middle,
        // letting "shared/./b" pass for a different folder than "shared/b".
        let clean = Path::new(path)
            .components()
            .all(|part| matches!(part, Component::Normal(_)))
            && path
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if clean {
            Ok(Self(path.to_owned()))
        } else {
            Err(format!(
                "output path {path:?} would leave the output folder: {fix}"
            ))
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for OutputPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

impl Recipe {
    /// Parses recipe text; errors are attributed to `path`.
    pub fn from_str(text: &str, path: &Path) -> Result<Self, LoadError> {
        let recipe: Self = ron_file::parse(text, path)?;
        recipe.check(path)?;
        Ok(recipe)
    }

    /// Reads and parses the recipe at `path`.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_str(&text, path)
    }

    /// The recipe as RON text that [`Recipe::from_str`] reads back.
    pub fn to_ron(&self) -> String {
        ron_file::to_string(self)
    }

    /// The stem of a recipe file name (`dungeon` for `dungeon.kiln.ron`), if it is one.
    pub fn stem(path: &Path) -> Option<&str> {
        path.file_name()?
            .to_str()?
            .strip_suffix(RECIPE_EXTENSION)?
            .strip_suffix('.')
            .filter(|stem| OutputPath::new(stem).is_ok_and(|_| !stem.contains('/')))
    }

    /// What serde cannot check: names usable as folders, and value relations.
    fn check(&self, path: &Path) -> Result<(), LoadError> {
        for (name, entry) in &self.assets {
            let invalid = |message: String| LoadError::Invalid {
                path: path.to_path_buf(),
                message: format!("asset {name:?}: {message}"),
            };
            OutputPath::new(name).map_err(invalid)?;
            let sampling = match &entry.kind {
                AssetKind::Text(text) => {
                    if text.min_words > text.max_words {
                        return Err(invalid(format!(
                            "min_words ({}) is above max_words ({})",
                            text.min_words.get(),
                            text.max_words.get()
                        )));
                    }
                    Some(&text.sampling)
                }
                AssetKind::Music(music) => Some(&music.sampling),
                AssetKind::Completion(completion) => {
                    if completion.prompt.is_empty() {
                        return Err(invalid(
                            "a Completion needs a `prompt` for the model to continue".to_owned(),
                        ));
                    }
                    if completion.stop.iter().any(String::is_empty) {
                        return Err(invalid(
                            "a `stop` text is empty: remove it, or write the text that ends the continuation"
                                .to_owned(),
                        ));
                    }
                    Some(&completion.sampling)
                }
                AssetKind::Texture(texture) => {
                    let pixels = entry.texture_pixels();
                    if pixels > MAX_ENTRY_PIXELS {
                        return Err(invalid(format!(
                            "{} variants of {}×{} are {} million pixels, above the {} million \
                             one entry may hold in memory at once: lower `variants` or `size`, \
                             or split it into several entries",
                            entry.variants.get(),
                            texture.size.width(),
                            texture.size.height(),
                            pixels / 1_000_000,
                            MAX_ENTRY_PIXELS / 1_000_000
                        )));
                    }
                    None
                }
                AssetKind::Sprite(_) => None,
            };
            if let Some(sampling) = sampling {
                sampling.check().map_err(invalid)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOOR: &str = r#"
(
    assets: {
        "floor": (
            model: "stone",
            seed: 7,
            variants: 3,
            kind: Texture(size: (64, 32), class: "brick"),
        ),
        "hero": (model: "faces", seed: 1, output: "chars/hero", kind: Sprite()),
    },
)
"#;

    fn parse(text: &str) -> Result<Recipe, LoadError> {
        Recipe::from_str(text, Path::new("assets/dungeon.kiln.ron"))
    }

    fn syntax_error(text: &str) -> (usize, usize, String) {
        match parse(text) {
            Err(LoadError::Syntax {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn parses_entries_with_defaults() {
        let recipe = parse(FLOOR).expect("valid recipe");
        let floor = &recipe.assets["floor"];
        assert_eq!(floor.variants.get(), 3);
        assert_eq!(floor.output, None);
        let AssetKind::Texture(params) = &floor.kind else {
            panic!("floor is a texture")
        };
        assert_eq!((params.size.width(), params.size.height()), (64, 32));
        assert_eq!(params.class.as_deref(), Some("brick"));
        let hero = &recipe.assets["hero"];
        assert_eq!(hero.variants.get(), 1);
        assert_eq!(
            hero.output.as_ref().map(OutputPath::as_str),
            Some("chars/hero")
        );
    }

    #[test]
    fn texture_scale_and_palette_parse_and_default_to_unchanged_json() {
        let recipe = parse(FLOOR).expect("valid recipe");
        let AssetKind::Texture(plain) = &recipe.assets["floor"].kind else {
            panic!("floor is a texture")
        };
        assert_eq!((plain.scale.get(), plain.palette), (1, None));
        // Entries without the new fields serialise as before, so their lockfile keys hold.
        let text = ron::to_string(plain).expect("serialise");
        assert!(
            !text.contains("scale") && !text.contains("palette"),
            "{text}"
        );

        let pixel_art = FLOOR.replace(
            r#"class: "brick")"#,
            r#"class: "brick", scale: 4, palette: 12)"#,
        );
        let recipe = parse(&pixel_art).expect("valid recipe");
        let AssetKind::Texture(params) = &recipe.assets["floor"].kind else {
            panic!("floor is a texture")
        };
        assert_eq!(params.scale.get(), 4);
        assert_eq!(params.palette.map(Bounded::get), Some(12));

        let (line, _, message) =
            syntax_error(&FLOOR.replace(r#"class: "brick")"#, r#"class: "brick", scale: 32)"#));
        assert_eq!(line, 8);
        assert!(message.contains("between 1 and 16"), "{message}");
    }

    #[test]
    fn an_entry_too_large_to_hold_in_memory_is_refused_with_its_numbers() {
        let at_limit = FLOOR
            .replace("variants: 3", "variants: 16")
            .replace("(64, 32)", "(2048, 2048)");
        assert!(parse(&at_limit).is_ok());
        let above = at_limit.replace("variants: 16", "variants: 17");
        let Err(LoadError::Invalid { message, .. }) = parse(&above) else {
            panic!("accepted 17 × 2048²");
        };
        assert!(
            message.starts_with("asset \"floor\": 17 variants of 2048×2048 are 71 million pixels, above the 67 million")
                && message.contains("lower `variants` or `size`"),
            "{message}"
        );
    }

    #[test]
    fn round_trips_through_ron() {
        let recipe = parse(FLOOR).expect("valid recipe");
        let text = recipe.to_ron();
        assert_eq!(
            parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}")),
            recipe
        );
    }

    #[test]
    fn unknown_field_names_line_column_and_expected_fields() {
        let text = FLOOR.replace("class: \"brick\"", "colour: \"red\"");
        let (line, column, message) = syntax_error(&text);
        assert_eq!(line, 8);
        assert!(column > 1, "column {column}");
        assert!(message.contains("colour"), "{message}");
        assert!(message.contains("size"), "lists allowed fields: {message}");
    }

    #[test]
    fn out_of_range_values_name_the_range() {
        let (line, _, message) = syntax_error(&FLOOR.replace("variants: 3", "variants: 1000"));
        assert_eq!(line, 7);
        assert!(message.contains("between 1 and 256"), "{message}");
        let (line, _, message) = syntax_error(&FLOOR.replace("(64, 32)", "(64, 0)"));
        assert_eq!(line, 8);
        assert!(message.contains("between 1 and 4096"), "{message}");
    }

    #[test]
    fn output_paths_cannot_escape() {
        for bad in [
            "../up",
            "/abs",
            "a/../../b",
            "a//b",
            "",
            "./x",
            "a\\b",
            "shared/./b",
            "a/.",
            "a/",
        ] {
            assert!(OutputPath::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(OutputPath::new("textures/floor").is_ok());
        let text = FLOOR.replace("\"chars/hero\"", "\"../../etc\"");
        let (_, _, message) = syntax_error(&text);
        assert!(message.contains("leave the output folder"), "{message}");
    }

    #[test]
    fn unknown_kind_is_a_syntax_error() {
        let (line, _, message) = syntax_error(&FLOOR.replace("Sprite()", "Sculpture()"));
        assert_eq!(line, 10);
        assert!(message.contains("Texture"), "{message}");
    }

    #[test]
    fn stem_strips_the_recipe_suffix() {
        assert_eq!(
            Recipe::stem(Path::new("a/dungeon.kiln.ron")),
            Some("dungeon")
        );
        assert_eq!(Recipe::stem(Path::new("a/dungeon.ron")), None);
        assert_eq!(Recipe::stem(Path::new(".kiln.ron")), None);
        // "...kiln.ron" and "..kiln.ron" would name the folders ".." and ".".
        assert_eq!(Recipe::stem(Path::new("a/...kiln.ron")), None);
        assert_eq!(Recipe::stem(Path::new("a/..kiln.ron")), None);
    }
}
