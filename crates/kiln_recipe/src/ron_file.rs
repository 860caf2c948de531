//! The one place RON text becomes typed values, so every format reports errors alike.

use std::path::Path;

use ron::extensions::Extensions;
use serde::de::DeserializeOwned;

use crate::LoadError;

/// RON options shared by every Kiln format: `Some(..)` may be omitted and a newtype
/// variant's struct needs no second pair of parentheses (`Texture(size: (64, 64))`).
fn options() -> ron::Options {
    ron::Options::default()
        .with_default_extension(Extensions::IMPLICIT_SOME | Extensions::UNWRAP_VARIANT_NEWTYPES)
}

/// Parses `text`, attributing errors to `path`.
pub(crate) fn parse<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, LoadError> {
    options().from_str(text).map_err(|err| LoadError::Syntax {
        path: path.to_path_buf(),
        line: err.position.line,
        column: err.position.col,
        message: err.code.to_string(),
    })
}

/// Serialises `value` as pretty RON in the style the examples use.
pub(crate) fn to_string<T: serde::Serialize>(value: &T) -> String {
    to_string_depth(value, usize::MAX)
}

/// Like [`to_string`], with values nested deeper than `depth` on one line (0: all on one line).
pub(crate) fn to_string_depth<T: serde::Serialize>(value: &T, depth: usize) -> String {
    let config = ron::ser::PrettyConfig::new()
        .struct_names(false)
        .depth_limit(depth)
        .extensions(Extensions::IMPLICIT_SOME | Extensions::UNWRAP_VARIANT_NEWTYPES);
    // Serialising plain data structs to a String cannot fail.
    options()
        .to_string_pretty(value, config)
        .unwrap_or_else(|err| unreachable!("RON serialisation of Kiln types failed: {err}"))
}
