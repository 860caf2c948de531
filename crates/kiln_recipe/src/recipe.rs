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
}

impl AssetKind {
    /// The kind's name as written in recipes.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Texture(_) => "Texture",
            Self::Sprite(_) => "Sprite",
        }
    }
}

/// Parameters of a [`AssetKind::Texture`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextureParams {
    /// Output size in pixels; must be a multiple of the model's stride.
    pub size: Size,
    /// Material class, one of the model's classes (see `kiln models`); the model's first class when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Also write a tangent-space normal map derived from the texture's luminance.
    #[serde(default, skip_serializing_if = "is_false")]
    pub normal_map: bool,
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
}

/// Number of colours in a sprite palette.
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
        let clean = Path::new(path)
            .components()
            .all(|part| matches!(part, Component::Normal(_)))
            && !path.split('/').any(str::is_empty);
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
        recipe.check_names(path)?;
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
            .filter(|stem| !stem.is_empty())
    }

    fn check_names(&self, path: &Path) -> Result<(), LoadError> {
        for name in self.assets.keys() {
            if let Err(message) = OutputPath::new(name) {
                return Err(LoadError::Invalid {
                    path: path.to_path_buf(),
                    message: format!("asset name {name:?}: {message}"),
                });
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
        for bad in ["../up", "/abs", "a/../../b", "a//b", "", "./x", "a\\b"] {
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
    }
}
