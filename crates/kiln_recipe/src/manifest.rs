//! Model manifests: `models/<name>/model.ron`, the contract a generator model promises.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{LoadError, ron_file};

/// File name of a model manifest inside its model folder.
pub const MANIFEST_FILE_NAME: &str = "model.ron";

/// Marks what `kiln models add` could not tell from a model file: a manifest holding one is a
/// draft, which no model loads from until every marker is gone.
pub const DRAFT_MARKER: &str = "TODO(kiln)";

/// The lines of manifest `text` still holding a [`DRAFT_MARKER`], as `line <n>: <text>`.
pub fn draft_lines(text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.contains(DRAFT_MARKER))
        .map(|(index, line)| format!("line {}: {}", index + 1, line.trim()))
        .collect()
}

/// What a model is, what it was trained on and the tensors it takes and gives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    /// Model name; must equal its folder's name.
    pub name: String,
    /// One line for people browsing `kiln models`.
    pub description: String,
    /// The ONNX file, relative to the manifest.
    #[serde(default = "default_onnx_file")]
    pub onnx: String,
    /// Lower-case hex sha256 of the ONNX file.
    pub sha256: String,
    /// SPDX licence expression of the model weights.
    pub licence: String,
    /// Credit that whoever ships this model's output must give (e.g. for CC-BY training data):
    /// recorded with every baked file and printed by `kiln bake`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
    /// Where the weights came from.
    pub provenance: Provenance,
    /// Inputs the ONNX graph must have.
    pub inputs: Vec<TensorSpec>,
    /// Outputs the ONNX graph must have.
    pub outputs: Vec<TensorSpec>,
    /// How Kiln drives the model.
    pub kind: ModelKind,
}

fn default_onnx_file() -> String {
    "model.onnx".to_owned()
}

/// Training provenance of a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Script that trained and exported the model, relative to the repository root.
    pub training_script: String,
    /// Every data set the model saw.
    pub data: Vec<DataSource>,
    /// Anything else a user should know (caveats, attribution text).
    #[serde(default)]
    pub notes: String,
}

/// One training data set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    /// Human name of the data.
    pub name: String,
    /// Where it was obtained (registry and package).
    pub source: String,
    /// Its licence as stated by the source (SPDX where one exists).
    pub licence: String,
}

/// Declared name, element type and shape of one model input or output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    /// Tensor name in the ONNX graph.
    pub name: String,
    /// Element type.
    pub dtype: ElementType,
    /// Dimensions: numbers are fixed, names (`"N"`, `"h"`) are free.
    pub shape: Vec<Dim>,
}

/// Tensor element types Kiln's generators use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ElementType {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// 64-bit signed integer.
    I64,
    /// 32-bit signed integer.
    I32,
    /// Boolean.
    Bool,
    /// 8-bit unsigned integer (images already in 0..=255).
    U8,
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One dimension of a [`TensorSpec`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    /// A fixed size.
    Fixed(i64),
    /// A free size, named for documentation (`"N"` for batch).
    Free(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(size) => size.fmt(f),
            Self::Free(name) => f.write_str(name),
        }
    }
}

/// How Kiln drives a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ModelKind {
    /// Latent noise (+ optional class) in, image tensor out.
    ImageGenerator(ImageContract),
    /// A causal decoder over tokens (Hugging Face/optimum export contract: `input_ids` and,
    /// where the export has them, `attention_mask`, `position_ids`, `past_key_values.*` and
    /// `use_cache_branch` in; `logits` and `present.*` out).
    SequenceGenerator(SequenceContract),
}

/// Contract of a sequence generator, and how recipes prompt it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceContract {
    /// The Hugging Face `tokenizer.json` beside the model.
    pub tokenizer: String,
    /// A word list beside the model (one word per line; `#` starts a comment line): `Text`
    /// entries then write only these words, case aside. Without it any word may come out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lexicon: Option<String>,
    /// Keeps `Text` entries from copying the training texts (needs a `lexicon`, whose word
    /// checks it extends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub novelty: Option<Novelty>,
    /// Longest sequence (prompt + generated tokens) the model was trained on.
    pub context: u32,
    /// What a recipe may condition on (text kinds, musical modes); none for a model used
    /// only through `Completion` entries, which bring their own prompt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    /// The prompt of `Text` and `Music` entries; `{condition}` is replaced by the recipe's
    /// choice.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prompt: String,
    /// The prompt when the recipe gives a name; `{name}` is replaced too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named_prompt: Option<String>,
    /// Token that ends a generated name and starts the description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_end: Option<String>,
    /// Per condition, the nouns its names end in ("sword" for `weapon`, "wand" for `trinket`;
    /// the word before "of", else the last): a made-up name whose noun is listed only for
    /// other conditions is drawn again (`kiln_seq::name_fits`), so a weapon is not called
    /// "Wand of Flying".
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub name_nouns: BTreeMap<String, Vec<String>>,
    /// Per condition, nouns that each name one particular thing of that kind (for creatures:
    /// "shark", "sphinx", "mimic"), lower case: a text of that condition may write only those
    /// its own name has (and their plurals), so a ghoul is not described as a sphinx. Needs a
    /// lexicon, whose word checks apply it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub identity_nouns: BTreeMap<String, Vec<String>>,
    /// Per condition, words its own texts use and other conditions' texts hardly ever
    /// ("potion" and "drink" for potions, "ring" for rings), lower case: a text of another
    /// condition may write one only when its own name has it, so a sword is not drunk. Needs a
    /// lexicon, whose word checks apply it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kind_words: BTreeMap<String, Vec<String>>,
    /// Token that ends a generation.
    pub end: String,
    /// Set for a model that draws pixel art a pixel (or a block of pixels) per token: its
    /// tokens named `#rrggbb` or `#rrggbbaa` are colours (a block's token names its colours
    /// row by row, joined by commas: `#e3bd93,#e3bd93,#5e3a1e,#00000000`), and a `Sprite`
    /// entry takes one token per block of the grid after the prompt of its class (a
    /// condition), row by row, top left first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixels: Option<PixelGrid>,
}

/// The art grid of a pixel-drawing sequence model ([`SequenceContract::pixels`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelGrid {
    /// Art pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// The pixels one token draws (1×1 when absent); the grid is a whole number of blocks.
    #[serde(default, skip_serializing_if = "PixelBlock::is_one_pixel")]
    pub block: PixelBlock,
}

impl PixelGrid {
    /// Blocks per row and rows of blocks: the tokens of one sprite are their product.
    pub fn blocks(&self) -> (u32, u32) {
        (
            self.width / self.block.width.max(1),
            self.height / self.block.height.max(1),
        )
    }
}

/// The pixels one token of a pixel-drawing model draws ([`PixelGrid::block`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelBlock {
    /// Pixels per row of the block.
    pub width: u32,
    /// Rows of the block.
    pub height: u32,
}

impl PixelBlock {
    /// Pixels a token names: `width × height`.
    pub fn area(&self) -> usize {
        self.width as usize * self.height as usize
    }

    fn is_one_pixel(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for PixelBlock {
    fn default() -> Self {
        Self {
            width: 1,
            height: 1,
        }
    }
}

/// A sequence model's text may not repeat `words` words in a row of its training texts: a
/// drawn token that would finish such a run is masked and the step drawn again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Novelty {
    /// A file beside the model: the 64-bit FNV-1a hash of every run of `words` words of the
    /// training texts (lower case, as `kiln_seq::words` splits text, joined by one space), as
    /// little-endian `u64`s in ascending order.
    pub spans: String,
    /// How many words in a row may not be copied (at least 2).
    pub words: u32,
    /// A file beside the model: the names of the training texts, one per line. A name the
    /// model makes up (with `name_end`, when the recipe gives none) that is one of them, case
    /// and punctuation aside, is drawn again (up to 64 times, then the first is kept), so
    /// made-up names are new and the text under one is not the training text under that name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<String>,
}

/// Contract of an image generator: latent `[N, Z]` or spatial latent `[N, Z, h, w]`
/// (+ optional class `[N]`, + inputs held constant) in, `[N, C, H, W]` or `[N, H, W, C]` out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageContract {
    /// Name of the latent input.
    pub latent: String,
    /// Name of the class input (`i64 [N]`), if the model is conditional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_input: Option<String>,
    /// Class labels in index order; recipes choose one by name.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Name of the image output.
    pub output: String,
    /// Channel meaning of the output.
    pub channels: ChannelLayout,
    /// Axis order of the output: `Nchw` (PyTorch's default, assumed when absent) or `Nhwc`
    /// (TensorFlow, Keras, JAX and many other exports).
    #[serde(default, skip_serializing_if = "ImageLayout::is_nchw")]
    pub layout: ImageLayout,
    /// Values the output takes: `(black, white)`, e.g. `(-1.0, 1.0)` after `tanh`, `(0.0, 1.0)`
    /// after a sigmoid, `(0.0, 255.0)` for `U8` outputs.
    pub value_range: (f32, f32),
    /// Further inputs fed the same value every run (a truncation ψ, a noise scale), each with
    /// its declared element type and free dimensions set to 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constants: Vec<ConstantInput>,
    /// For spatial latents: output pixels per latent cell. Absent for fixed-size models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<u32>,
    /// A PNG beside the model with the colours of its training art: row `k` holds class `k`'s
    /// (one row for a model without classes) as opaque pixels from the left, the first
    /// transparent pixel ending the row. Every pixel the model draws for a class becomes the
    /// nearest of its row's colours, so pixel art comes out in its art's own colour ramps
    /// rather than the continuous colours a generator paints. Needs `Rgb` or `Rgba` channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub palettes: Option<String>,
}

/// Axis order of an image output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageLayout {
    /// `[N, C, H, W]`: channels first.
    #[default]
    Nchw,
    /// `[N, H, W, C]`: channels last.
    Nhwc,
}

impl ImageLayout {
    /// Whether this is the default, channels-first layout.
    pub fn is_nchw(&self) -> bool {
        *self == Self::Nchw
    }

    /// The axes of channels, height and width in an output of this layout.
    pub fn axes(self) -> (usize, usize, usize) {
        match self {
            Self::Nchw => (1, 2, 3),
            Self::Nhwc => (3, 1, 2),
        }
    }
}

/// An input an image generator is fed the same value on every run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstantInput {
    /// Name of the input (declared in `inputs`: `F32`, `I64`, `I32` or `Bool`).
    pub name: String,
    /// Its value (`Bool`: anything but 0 is true).
    pub value: f64,
}

/// Channel layout of an image output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChannelLayout {
    /// One grey channel.
    Grey,
    /// Red, green, blue.
    Rgb,
    /// Red, green, blue, alpha.
    Rgba,
}

impl ChannelLayout {
    /// Number of channels.
    pub fn count(self) -> usize {
        match self {
            Self::Grey => 1,
            Self::Rgb => 3,
            Self::Rgba => 4,
        }
    }
}

impl ModelManifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_str(&text, path)
    }

    /// Parses manifest text; errors are attributed to `path`. A draft (text still holding
    /// [`DRAFT_MARKER`]s) is refused with every line left to fill in.
    pub fn from_str(text: &str, path: &Path) -> Result<Self, LoadError> {
        let left = draft_lines(text);
        if !left.is_empty() {
            return Err(LoadError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "this manifest is a draft (written by `kiln models add`); fill in every \
                     {DRAFT_MARKER} and delete the marker:\n  - {}",
                    left.join("\n  - ")
                ),
            });
        }
        let manifest: Self = ron_file::parse(text, path)?;
        manifest.check(path)?;
        Ok(manifest)
    }

    /// The manifest as RON text.
    pub fn to_ron(&self) -> String {
        ron_file::to_string(self)
    }

    /// Path of the ONNX file for a manifest loaded from `manifest_path`.
    pub fn onnx_path(&self, manifest_path: &Path) -> PathBuf {
        manifest_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&self.onnx)
    }

    /// The declared input called `name`.
    pub fn input(&self, name: &str) -> Option<&TensorSpec> {
        self.inputs.iter().find(|spec| spec.name == name)
    }

    /// The declared output called `name`.
    pub fn output(&self, name: &str) -> Option<&TensorSpec> {
        self.outputs.iter().find(|spec| spec.name == name)
    }

    /// Checks that the kind-specific contract refers to declared tensors of the right form.
    fn check(&self, path: &Path) -> Result<(), LoadError> {
        let invalid = |message: String| LoadError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(format!(
                "sha256 {:?} is not 64 hex digits: run `kiln models --fix-hashes` or `sha256sum {}`",
                self.sha256, self.onnx
            )));
        }
        match &self.kind {
            ModelKind::ImageGenerator(image) => {
                let latent = self.input(&image.latent).ok_or_else(|| {
                    invalid(format!(
                        "ImageGenerator.latent names input {:?}, which `inputs` does not declare",
                        image.latent
                    ))
                })?;
                let want_rank = if image.stride.is_some() { 4 } else { 2 };
                if latent.shape.len() != want_rank || latent.dtype != ElementType::F32 {
                    return Err(invalid(format!(
                        "latent input {:?} must be F32 with {want_rank} dimensions ({}), \
                         declared {} with {} dimensions",
                        image.latent,
                        if want_rank == 4 {
                            "[N, Z, h, w] with a stride"
                        } else {
                            "[N, Z] without a stride"
                        },
                        latent.dtype,
                        latent.shape.len()
                    )));
                }
                if let Some(class_input) = &image.class_input {
                    let spec = self.input(class_input).ok_or_else(|| {
                        invalid(format!(
                            "ImageGenerator.class_input names input {class_input:?}, which `inputs` does not declare"
                        ))
                    })?;
                    if spec.dtype != ElementType::I64 || spec.shape.len() != 1 {
                        return Err(invalid(format!(
                            "class input {class_input:?} must be I64 with shape [N]"
                        )));
                    }
                    if image.classes.is_empty() {
                        return Err(invalid(
                            "a model with a class_input must list its `classes`".to_owned(),
                        ));
                    }
                }
                let output = self.output(&image.output).ok_or_else(|| {
                    invalid(format!(
                        "ImageGenerator.output names output {:?}, which `outputs` does not declare",
                        image.output
                    ))
                })?;
                if image.palettes.is_some() && image.channels == ChannelLayout::Grey {
                    return Err(invalid(
                        "ImageGenerator.palettes needs `Rgb` or `Rgba` channels: remove it for a `Grey` model".to_owned(),
                    ));
                }
                let channels = image.channels.count() as i64;
                let (channel_axis, _, _) = image.layout.axes();
                if output.shape.len() != 4 || output.shape[channel_axis] != Dim::Fixed(channels) {
                    let shape = match image.layout {
                        ImageLayout::Nchw => format!("[N, {channels}, H, W]"),
                        ImageLayout::Nhwc => format!("[N, H, W, {channels}]"),
                    };
                    return Err(invalid(format!(
                        "output {:?} must have shape {shape} for {:?} channels in layout {:?} \
                         (set `layout: Nhwc` for a channels-last output)",
                        image.output, image.channels, image.layout
                    )));
                }
                if !matches!(output.dtype, ElementType::F32 | ElementType::U8) {
                    return Err(invalid(format!(
                        "output {:?} must be F32 or U8, declared {}",
                        image.output, output.dtype
                    )));
                }
                for constant in &image.constants {
                    let declared = self.input(&constant.name).ok_or_else(|| {
                        invalid(format!(
                            "constant input {:?} is not declared in `inputs`",
                            constant.name
                        ))
                    })?;
                    if matches!(declared.dtype, ElementType::U8 | ElementType::F16) {
                        return Err(invalid(format!(
                            "constant input {:?} must be F32, I64, I32 or Bool, declared {}",
                            constant.name, declared.dtype
                        )));
                    }
                }
                if image.value_range.0 >= image.value_range.1 {
                    return Err(invalid(format!(
                        "value_range {:?} must be (low, high) with low < high",
                        image.value_range
                    )));
                }
                if image.stride == Some(0) {
                    return Err(invalid("stride must be at least 1".to_owned()));
                }
            }
            ModelKind::SequenceGenerator(sequence) => {
                for name in ["input_ids", "attention_mask", "position_ids"] {
                    match self.input(name) {
                        Some(spec) if spec.dtype == ElementType::I64 && spec.shape.len() == 2 => {}
                        None if name != "input_ids" => {}
                        _ => {
                            return Err(invalid(format!(
                                "a SequenceGenerator needs input {name:?}: I64 [batch, length]{}",
                                if name == "input_ids" {
                                    ""
                                } else {
                                    " (or none)"
                                }
                            )));
                        }
                    }
                }
                if self
                    .output("logits")
                    .is_none_or(|spec| spec.shape.len() != 3)
                {
                    return Err(invalid(
                        "a SequenceGenerator needs output \"logits\": F32 [batch, sequence, vocabulary]"
                            .to_owned(),
                    ));
                }
                if let Some(novelty) = &sequence.novelty {
                    if sequence.lexicon.is_none() {
                        return Err(invalid(
                            "novelty needs a lexicon: its checks run as words complete, which the lexicon's check finds; add `lexicon` or remove `novelty`".to_owned(),
                        ));
                    }
                    if novelty.words < 2 {
                        return Err(invalid(format!(
                            "novelty.words is {}: a run must be at least 2 words",
                            novelty.words
                        )));
                    }
                    if novelty.names.is_some() && sequence.name_end.is_none() {
                        return Err(invalid(
                            "novelty.names needs name_end: only names the model makes up are checked against it; add `name_end` or remove `names`".to_owned(),
                        ));
                    }
                }
                for (field, map, word_check) in [
                    ("name_nouns", &sequence.name_nouns, false),
                    ("identity_nouns", &sequence.identity_nouns, true),
                    ("kind_words", &sequence.kind_words, true),
                ] {
                    if let Some(unknown) = map.keys().find(|key| !sequence.conditions.contains(key))
                    {
                        return Err(invalid(format!(
                            "{field} has {unknown:?}, which is not one of its conditions ({})",
                            sequence.conditions.join(", ")
                        )));
                    }
                    if word_check && !map.is_empty() && sequence.lexicon.is_none() {
                        return Err(invalid(format!(
                            "{field} needs a lexicon: its word checks apply them; add `lexicon` or remove `{field}`"
                        )));
                    }
                }
                if let Some(grid) = sequence.pixels {
                    let block = grid.block;
                    if grid.width == 0 || grid.height == 0 || block.width == 0 || block.height == 0
                    {
                        return Err(invalid(format!(
                            "pixels is {}×{} in blocks of {}×{}: a grid and a block need at least one pixel",
                            grid.width, grid.height, block.width, block.height
                        )));
                    }
                    if grid.width % block.width != 0 || grid.height % block.height != 0 {
                        return Err(invalid(format!(
                            "pixels is {}×{}, which is not a whole number of {}×{} blocks: make the grid a multiple of the block",
                            grid.width, grid.height, block.width, block.height
                        )));
                    }
                    let (across, down) = grid.blocks();
                    let tokens = u64::from(across) * u64::from(down);
                    if tokens >= u64::from(sequence.context) {
                        return Err(invalid(format!(
                            "pixels is {}×{} = {tokens} tokens, which with the prompt do not fit the context of {}",
                            across, down, sequence.context
                        )));
                    }
                    if sequence.prompt.is_empty() || sequence.conditions.is_empty() {
                        return Err(invalid(
                            "a model with `pixels` needs `conditions` (its sprite classes) and a `prompt` that starts each sprite".to_owned(),
                        ));
                    }
                }
                for (prompt, name) in [
                    (Some(&sequence.prompt), "prompt"),
                    (sequence.named_prompt.as_ref(), "named_prompt"),
                ] {
                    if !sequence.conditions.is_empty()
                        && prompt.is_some_and(|p| !p.contains("{condition}"))
                    {
                        return Err(invalid(format!(
                            "{name} must contain {{condition}}, where a recipe's choice goes"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Number of layers whose key/value cache the model takes (`past_key_values.{i}.key`), and
    /// the cache's `[heads, head size]`; `None` for a model without a cache.
    pub fn kv_cache(&self) -> Option<(usize, i64, i64)> {
        let first = self.input("past_key_values.0.key")?;
        let (Some(Dim::Fixed(heads)), Some(Dim::Fixed(size))) =
            (first.shape.get(1), first.shape.get(3))
        else {
            return None;
        };
        let layers = (0..)
            .take_while(|i| self.input(&format!("past_key_values.{i}.key")).is_some())
            .count();
        Some((layers, *heads, *size))
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    pub(crate) const TEXTURE: &str = r#"
(
    name: "tiny",
    description: "test",
    sha256: "0000000000000000000000000000000000000000000000000000000000000000",
    licence: "CC0-1.0",
    provenance: (training_script: "make.py", data: [(name: "none", source: "random", licence: "CC0-1.0")]),
    inputs: [
        (name: "z", dtype: F32, shape: ["N", 4, "h", "w"]),
        (name: "class", dtype: I64, shape: ["N"]),
    ],
    outputs: [(name: "image", dtype: F32, shape: ["N", 3, "H", "W"])],
    kind: ImageGenerator(
        latent: "z",
        class_input: "class",
        classes: ["stone", "grass"],
        output: "image",
        channels: Rgb,
        value_range: (-1.0, 1.0),
        stride: 4,
    ),
)
"#;

    fn parse(text: &str) -> Result<ModelManifest, LoadError> {
        ModelManifest::from_str(text, Path::new("models/tiny/model.ron"))
    }

    #[test]
    fn a_draft_lists_every_line_left_to_fill_in() {
        let draft = TEXTURE
            .replace(
                r#"licence: "CC0-1.0","#,
                r#"licence: "TODO(kiln): SPDX id","#,
            )
            .replace("stride: 4,", "stride: 4, // TODO(kiln): check");
        let Err(LoadError::Invalid { message, .. }) = parse(&draft) else {
            panic!("a draft loaded");
        };
        assert!(
            message.contains("fill in every TODO(kiln)")
                && message.contains(r#"line 6: licence: "TODO(kiln): SPDX id","#)
                && message.contains("line 20: stride: 4, // TODO(kiln): check"),
            "{message}"
        );
    }

    #[test]
    fn parses_image_contract() {
        let manifest = parse(TEXTURE).expect("valid manifest");
        assert_eq!(manifest.onnx, "model.onnx");
        assert_eq!(
            manifest.onnx_path(Path::new("models/tiny/model.ron")),
            Path::new("models/tiny/model.onnx")
        );
        assert_eq!(
            manifest.inputs[0].shape,
            [
                Dim::Free("N".into()),
                Dim::Fixed(4),
                Dim::Free("h".into()),
                Dim::Free("w".into())
            ]
        );
        let ModelKind::ImageGenerator(image) = &manifest.kind else {
            panic!("an image generator: {:?}", manifest.kind);
        };
        assert_eq!(image.stride, Some(4));
        assert_eq!(image.classes, ["stone", "grass"]);
        assert_eq!(image.palettes, None);
        assert_eq!(parse(&manifest.to_ron()).expect("reparse"), manifest);
    }

    #[test]
    fn palettes_parse_and_need_colour_channels() {
        let with_palettes =
            TEXTURE.replace("stride: 4,", r#"stride: 4, palettes: "palettes.png","#);
        let manifest = parse(&with_palettes).expect("valid manifest");
        let ModelKind::ImageGenerator(image) = &manifest.kind else {
            panic!("an image generator: {:?}", manifest.kind);
        };
        assert_eq!(image.palettes.as_deref(), Some("palettes.png"));
        assert_eq!(parse(&manifest.to_ron()).expect("reparse"), manifest);
        let grey = with_palettes
            .replace("channels: Rgb", "channels: Grey")
            .replace(r#"["N", 3, "H", "W"]"#, r#"["N", 1, "H", "W"]"#);
        let err = parse(&grey).unwrap_err().to_string();
        assert!(err.contains("palettes needs `Rgb` or `Rgba`"), "{err}");
    }

    #[test]
    fn contract_must_name_declared_tensors() {
        let err = parse(&TEXTURE.replace("output: \"image\"", "output: \"rgb\"")).unwrap_err();
        assert!(err.to_string().contains("\"rgb\""), "{err}");
        let err = parse(&TEXTURE.replace("shape: [\"N\", 3,", "shape: [\"N\", 4,")).unwrap_err();
        assert!(err.to_string().contains("[N, 3, H, W]"), "{err}");
        let err = parse(&TEXTURE.replace("stride: 4,", "")).unwrap_err();
        assert!(err.to_string().contains("[N, Z] without a stride"), "{err}");
    }

    #[test]
    fn bad_hash_says_how_to_fix_it() {
        let err = parse(&TEXTURE.replace(
            "\"0000000000000000000000000000000000000000000000000000000000000000\"",
            "\"abc\"",
        ))
        .unwrap_err();
        assert!(
            err.to_string().starts_with("models/tiny/model.ron: sha256"),
            "{err}"
        );
    }

    const SEQUENCE: &str = r#"(
    name: "tiny_text",
    description: "a test",
    sha256: "0000000000000000000000000000000000000000000000000000000000000000",
    licence: "CC0-1.0",
    provenance: (training_script: "none", data: [], notes: ""),
    inputs: [(name: "input_ids", dtype: I64, shape: ["batch", "sequence"])],
    outputs: [(name: "logits", dtype: F32, shape: ["batch", "sequence", 11])],
    kind: SequenceGenerator(
        tokenizer: "tokenizer.json",
        lexicon: "lexicon.txt",
        context: 64,
        conditions: ["potion", "weapon"],
        prompt: "<{condition}>",
        kind_words: {"potion": ["drink", "potion"]},
        end: "<end>",
    ),
)"#;

    #[test]
    fn word_rules_need_a_lexicon_and_name_their_conditions() {
        let manifest = parse(SEQUENCE).expect("valid manifest");
        let ModelKind::SequenceGenerator(contract) = &manifest.kind else {
            panic!("a sequence generator: {:?}", manifest.kind);
        };
        assert_eq!(contract.kind_words["potion"], ["drink", "potion"]);
        let err = parse(&SEQUENCE.replace("lexicon: \"lexicon.txt\",", "")).unwrap_err();
        assert!(
            err.to_string().contains("kind_words needs a lexicon"),
            "{err}"
        );
        let err = parse(&SEQUENCE.replace("{\"potion\": [", "{\"ring\": [")).unwrap_err();
        assert!(
            err.to_string().contains(
                "kind_words has \"ring\", which is not one of its conditions (potion, weapon)"
            ),
            "{err}"
        );
    }

    #[test]
    fn corpus_names_need_made_up_names() {
        let with_names = SEQUENCE.replace(
            "context: 64,",
            "novelty: (spans: \"spans.bin\", words: 8, names: \"names.txt\"),\n        context: 64,",
        );
        let err = parse(&with_names).unwrap_err();
        assert!(
            err.to_string().contains("novelty.names needs name_end"),
            "{err}"
        );
        let manifest =
            parse(&with_names.replace("end: \"<end>\",", "name_end: \"<desc>\", end: \"<end>\","))
                .expect("valid manifest");
        let ModelKind::SequenceGenerator(contract) = &manifest.kind else {
            panic!("a sequence generator: {:?}", manifest.kind);
        };
        let novelty = contract.novelty.as_ref().expect("novelty");
        assert_eq!(novelty.names.as_deref(), Some("names.txt"));
    }

    #[test]
    fn a_pixel_grid_must_fit_the_context_after_a_class_prompt() {
        let pixels = |grid: &str| {
            SEQUENCE.replace(
                "end: \"<end>\",",
                &format!("end: \"<end>\", pixels: {grid},"),
            )
        };
        let manifest = parse(&pixels("(width: 9, height: 7)")).expect("valid manifest");
        let ModelKind::SequenceGenerator(contract) = &manifest.kind else {
            panic!("a sequence generator: {:?}", manifest.kind);
        };
        assert_eq!(
            contract.pixels,
            Some(PixelGrid {
                width: 9,
                height: 7,
                block: PixelBlock::default(),
            })
        );
        assert_eq!(parse(&manifest.to_ron()).expect("reparse"), manifest);
        assert!(
            !manifest.to_ron().contains("block"),
            "1×1 blocks are not written"
        );
        let blocks = parse(&pixels(
            "(width: 16, height: 14, block: (width: 2, height: 2))",
        ))
        .expect("valid manifest with blocks");
        assert_eq!(parse(&blocks.to_ron()).expect("reparse"), blocks);
        let ModelKind::SequenceGenerator(contract) = &blocks.kind else {
            panic!("a sequence generator");
        };
        assert_eq!(contract.pixels.map(|grid| grid.blocks()), Some((8, 7)));
        let err = parse(&pixels(
            "(width: 16, height: 15, block: (width: 2, height: 2))",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("16×15, which is not a whole number of 2×2 blocks"),
            "{err}"
        );
        let err = parse(&pixels(
            "(width: 16, height: 16, block: (width: 2, height: 0))",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("need at least one pixel"), "{err}");
        let err = parse(&pixels("(width: 8, height: 8)"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("8×8 = 64 tokens, which with the prompt do not fit the context of 64"),
            "{err}"
        );
        let err = parse(&pixels("(width: 0, height: 8)"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("need at least one pixel"), "{err}");
        let err = parse(
            &pixels("(width: 4, height: 4)")
                .replace("conditions: [\"potion\", \"weapon\"],", "")
                .replace("kind_words: {\"potion\": [\"drink\", \"potion\"]},", ""),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("needs `conditions` (its sprite classes)"),
            "{err}"
        );
    }

    #[test]
    fn unknown_dtype_names_position() {
        let err = parse(&TEXTURE.replace("dtype: I64", "dtype: I65")).unwrap_err();
        let LoadError::Syntax { line, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(line, 10);
    }
}
