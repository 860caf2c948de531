//! Rewriting one entry of a recipe file in place: every other byte (comments, layout, the
//! other entries) stays as written, so a designer's edits and a tool's edits can share a file.

use std::ops::Range;
use std::path::Path;

use crate::{AssetEntry, LoadError, Recipe, ron_file};

/// `text` (the recipe at `path`) with entry `name` replaced by `entry`, in the same layout as
/// the old entry (one line, or one field per line at its indentation). Comments inside the
/// replaced entry go with it.
///
/// The recipe must parse; the result is parsed back and checked to hold exactly the old
/// entries with `name` replaced, so a file this returns is always a valid recipe.
///
/// ```
/// # use std::path::Path;
/// # use kiln_recipe::{Recipe, replace_entry};
/// let text = "// floors\n(assets: {\n  \"floor\": (model: \"stone\", seed: 1, kind: Texture(size: (64, 64))), // keep\n})\n";
/// let path = Path::new("dungeon.kiln.ron");
/// let mut entry = Recipe::from_str(text, path)?.assets["floor"].clone();
/// entry.seed = 42;
/// let edited = replace_entry(text, path, "floor", &entry)?;
/// assert!(edited.starts_with("// floors\n"));
/// assert!(edited.contains("seed: 42"));
/// assert!(edited.contains("// keep"));
/// # Ok::<(), kiln_recipe::LoadError>(())
/// ```
pub fn replace_entry(
    text: &str,
    path: &Path,
    name: &str,
    entry: &AssetEntry,
) -> Result<String, LoadError> {
    let invalid = |message: String| LoadError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let mut expected = Recipe::from_str(text, path)?;
    if !expected.assets.contains_key(name) {
        return Err(invalid(format!(
            "has no entry {name:?} to update; add it to the file first"
        )));
    }
    expected.assets.insert(name.to_owned(), entry.clone());

    let span = entry_span(text, name).ok_or_else(|| {
        invalid(format!(
            "entry {name:?} is not written as `\"{name}\": (...)` inside `assets: {{ ... }}`, \
             so it cannot be updated in place; write it in that form"
        ))
    })?;
    let old = &text[span.clone()];
    let new = if old.contains('\n') {
        let indent = line_indent(text, span.start);
        ron_file::to_string_depth(entry, 1).replace('\n', &format!("\n{indent}"))
    } else {
        ron_file::to_string_depth(entry, 0)
    };
    let edited = format!("{}{new}{}", &text[..span.start], &text[span.end..]);

    match Recipe::from_str(&edited, path) {
        Ok(recipe) if recipe == expected => Ok(edited),
        Ok(_) => Err(invalid(format!(
            "updating entry {name:?} in place would change other entries; edit the file by hand"
        ))),
        Err(err) => Err(invalid(format!(
            "updating entry {name:?} in place would not parse ({err}); edit the file by hand"
        ))),
    }
}

/// Leading whitespace of the line holding byte `at`.
fn line_indent(text: &str, at: usize) -> &str {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[start..];
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

/// Byte range of the value of `"name": (...)` in the recipe's `assets` map.
fn entry_span(text: &str, name: &str) -> Option<Range<usize>> {
    let tokens = tokenize(text)?;
    // `( assets : {` at the top level, then `"key" : value ,?` pairs until `}`.
    let mut i = tokens.iter().position(|t| t.kind == Kind::Open('('))? + 1;
    loop {
        match (tokens.get(i)?, tokens.get(i + 1)?, tokens.get(i + 2)?) {
            (ident, colon, open)
                if ident.kind == Kind::Ident
                    && &text[ident.span.clone()] == "assets"
                    && colon.kind == Kind::Colon
                    && open.kind == Kind::Open('{') =>
            {
                i += 3;
                break;
            }
            _ => i = skip_value(&tokens, i)?,
        }
    }
    loop {
        let key = tokens.get(i)?;
        if key.kind == Kind::Close {
            return None;
        }
        let is_name = key.kind == Kind::Str && unquote(&text[key.span.clone()]) == Some(name);
        if tokens.get(i + 1)?.kind != Kind::Colon {
            return None;
        }
        let value_start = i + 2;
        let value_end = skip_value(&tokens, value_start)?;
        if is_name {
            let last = tokens.get(value_end - 1)?;
            return Some(tokens.get(value_start)?.span.start..last.span.end);
        }
        i = value_end;
        if tokens.get(i).is_some_and(|t| t.kind == Kind::Comma) {
            i += 1;
        }
    }
}

/// Index just past the value (or field) starting at token `i`: a bracketed group with
/// whatever precedes it (`Texture(...)`, `Some(...)`), or a single token.
fn skip_value(tokens: &[Token], mut i: usize) -> Option<usize> {
    loop {
        let token = tokens.get(i)?;
        match token.kind {
            Kind::Open(_) => {
                let mut depth = 0usize;
                loop {
                    match tokens.get(i)?.kind {
                        Kind::Open(_) => depth += 1,
                        Kind::Close => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
            }
            Kind::Close | Kind::Comma | Kind::Colon => return Some(i),
            Kind::Ident if tokens.get(i + 1).is_some_and(|t| t.kind == Kind::Open('(')) => {
                i += 1;
            }
            _ => return Some(i + 1),
        }
    }
}

/// The text of a plain string literal without its quotes, if it has no escapes.
fn unquote(literal: &str) -> Option<&str> {
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then_some(inner)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Open(char),
    Close,
    Colon,
    Comma,
    Str,
    Ident,
    Other,
}

#[derive(Debug)]
struct Token {
    kind: Kind,
    span: Range<usize>,
}

/// RON tokens without whitespace and comments; `None` on an unterminated string or comment.
fn tokenize(text: &str) -> Option<Vec<Token>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let kind = match bytes[i] {
            b if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = block_comment_end(bytes, i)?;
                continue;
            }
            b'"' => {
                i = quoted_end(bytes, i + 1, b'"')?;
                Kind::Str
            }
            b'r' if matches!(bytes.get(i + 1), Some(b'"' | b'#')) => {
                let hashes = bytes[i + 1..].iter().take_while(|&&b| b == b'#').count();
                let close = format!("\"{}", "#".repeat(hashes));
                let body = i + 2 + hashes;
                i = body + text.get(body..)?.find(&close)? + close.len();
                Kind::Str
            }
            b'\'' => {
                i = quoted_end(bytes, i + 1, b'\'')?;
                Kind::Other
            }
            b @ (b'(' | b'[' | b'{') => {
                i += 1;
                Kind::Open(char::from(b))
            }
            b')' | b']' | b'}' => {
                i += 1;
                Kind::Close
            }
            b':' => {
                i += 1;
                Kind::Colon
            }
            b',' => {
                i += 1;
                Kind::Comma
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Kind::Ident
            }
            _ => {
                i += 1;
                while i < bytes.len()
                    && !bytes[i].is_ascii_whitespace()
                    && !b"()[]{}:,\"/".contains(&bytes[i])
                {
                    i += 1;
                }
                Kind::Other
            }
        };
        tokens.push(Token {
            kind,
            span: start..i,
        });
    }
    Some(tokens)
}

/// Index past the closing `quote` of a string or char literal whose body starts at `i`.
fn quoted_end(bytes: &[u8], mut i: usize, quote: u8) -> Option<usize> {
    loop {
        match *bytes.get(i)? {
            b'\\' => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// Index past a (nested) block comment starting at `i`.
fn block_comment_end(bytes: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match (bytes.get(i)?, bytes.get(i + 1)) {
            (b'/', Some(b'*')) => {
                depth += 1;
                i += 2;
            }
            (b'*', Some(b'/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECIPE: &str = r#"// Dungeon materials.
(
    assets: {
        // The floor everyone walks on.
        "floor": (
            model: "kiln_textures",
            seed: 100, // first seed
            variants: 4,
            kind: Texture(size: (256, 256), class: "stone_floor", normal_map: true),
        ),
        "wall": (model: "kiln_textures", seed: 200, kind: Texture(size: (64, 64))),
        "odd \"name\"": (model: "m", /* (not a bracket */ seed: 3, kind: Sprite()),
    },
)
"#;

    fn path() -> &'static Path {
        Path::new("assets/dungeon.kiln.ron")
    }

    fn entry(name: &str) -> AssetEntry {
        Recipe::from_str(RECIPE, path()).expect("valid").assets[name].clone()
    }

    #[test]
    fn multi_line_entry_keeps_its_layout_and_the_rest_of_the_file() {
        let mut floor = entry("floor");
        floor.seed = 103;
        let edited = replace_entry(RECIPE, path(), "floor", &floor).expect("edits");
        // Comments inside the replaced entry go with it; everything around it stays.
        let expected = RECIPE.replace("seed: 100, // first seed", "seed: 103,");
        assert_eq!(edited, expected);
    }

    #[test]
    fn one_line_entry_stays_on_one_line() {
        let mut wall = entry("wall");
        wall.seed = 7;
        wall.variants = crate::Bounded::new(2).expect("in range");
        let edited = replace_entry(RECIPE, path(), "wall", &wall).expect("edits");
        assert!(edited.contains(
            "        \"wall\": (model: \"kiln_textures\", seed: 7, variants: 2, kind: Texture(size: (64, 64))),\n"
        ), "{edited}");
        assert_eq!(edited.lines().count(), RECIPE.lines().count());
        assert!(edited.contains("/* (not a bracket */"));
        let recipe = Recipe::from_str(&edited, path()).expect("still valid");
        assert_eq!(recipe.assets["wall"], wall);
        assert_eq!(recipe.assets["floor"], entry("floor"));
    }

    #[test]
    fn unknown_or_unparsable_input_is_refused_with_the_file() {
        let err = replace_entry(RECIPE, path(), "ceiling", &entry("wall")).expect_err("no entry");
        assert!(
            err.to_string().starts_with("assets/dungeon.kiln.ron"),
            "{err}"
        );
        assert!(err.to_string().contains("\"ceiling\""), "{err}");
        let broken = RECIPE.replace("seed: 200", "seed: -1");
        let err = replace_entry(&broken, path(), "wall", &entry("wall")).expect_err("broken");
        assert!(matches!(err, LoadError::Syntax { line: 11, .. }), "{err}");
    }

    #[test]
    fn escaped_names_are_not_matched_by_text() {
        // Keys with escapes cannot be compared as written: refused rather than guessed.
        let err = replace_entry(RECIPE, path(), "odd \"name\"", &entry("odd \"name\""))
            .expect_err("escaped key");
        assert!(err.to_string().contains("in place"), "{err}");
    }
}
