//! Bringing a model no one wrote for Kiln: `kiln models add <file.onnx>`.
//!
//! Reads the ONNX graph's inputs and outputs, recognises an image generator (latent `[N, Z]` or
//! `[N, Z, h, w]`, optional class input, image output in either axis order, F32 or U8) or a
//! decoder (Hugging Face/optimum names, with or without a KV cache, merged with
//! `use_cache_branch`), runs an image generator once to measure its value range and stride,
//! and writes `models/<name>/` with the model, its tokenizer and a `model.ron`: complete where
//! everything could be told, a draft with each gap marked [`kiln_recipe::DRAFT_MARKER`]
//! where not.

mod manifest_text;
mod probe;
mod recognise;

use std::path::{Path, PathBuf};

use kiln_onnx::{ModelSession, SessionCache, SessionError, sha256_hex};
use kiln_recipe::{MANIFEST_FILE_NAME, ModelManifest, draft_lines};

use crate::manifest_text::{DecoderFacts, Header, decoder_kind, feedable_constant, image_kind};
use crate::recognise::{DecoderGraph, ImageGraph, Recognised, recognise};

/// File name of a decoder's tokenizer in its model folder.
const TOKENIZER_FILE: &str = "tokenizer.json";

/// Tokens exports use to end a text, most common first.
const END_TOKENS: [&str; 7] = [
    "<|endoftext|>",
    "</s>",
    "<eos>",
    "<|end|>",
    "<end>",
    "<|im_end|>",
    "[SEP]",
];

/// Keys of a Hugging Face `config.json` that give a decoder's context length.
const CONTEXT_KEYS: [&str; 4] = [
    "n_positions",
    "max_position_embeddings",
    "n_ctx",
    "max_sequence_length",
];

/// What `kiln models add` was told besides the file.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImportOptions<'a> {
    /// Model name (its folder under the models folder); from the file name when `None`.
    pub name: Option<&'a str>,
    /// The decoder's `tokenizer.json`; the one beside the ONNX file when `None`.
    pub tokenizer: Option<&'a Path>,
    /// SPDX licence of the weights; a draft line when `None`.
    pub licence: Option<&'a str>,
}

/// A model folder written by [`add_model`].
#[derive(Clone, Debug)]
pub struct Imported {
    /// The folder.
    pub folder: PathBuf,
    /// What the model was recognised as, in words.
    pub recognised: String,
    /// Lines of `model.ron` still to fill in (with their line numbers); empty when complete.
    pub left: Vec<String>,
}

/// Why a model could not be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// ONNX Runtime could not open the model.
    #[error("{path}: {source}")]
    Session {
        /// The ONNX file.
        path: PathBuf,
        /// Why.
        source: SessionError,
    },
    /// Its weights are in a separate file, which a model loaded from one file cannot reach.
    #[error(
        "{path}: its weights are stored outside it (ONNX external data: {source}); Kiln keeps a \
         model in one file: save it again with the weights inside, e.g. \
         `onnx.save_model(onnx.load(path), path, save_as_external_data=False)` (up to 2 GB)"
    )]
    ExternalData {
        /// The ONNX file.
        path: PathBuf,
        /// What ONNX Runtime said.
        source: SessionError,
    },
    /// Its graph is neither an image generator nor a decoder Kiln can drive.
    #[error(
        "{path}: not a model Kiln can drive: {reason}\n  inputs: {inputs}\n  outputs: {outputs}\n\
         Kiln runs image generators (a latent F32 [N, Z] or [N, Z, h, w], optional class I64 [N], \
         an image [N, C, H, W] or [N, H, W, C]) and decoders (input_ids in, logits out)"
    )]
    NotRecognised {
        /// The ONNX file.
        path: PathBuf,
        /// What did not fit.
        reason: String,
        /// The graph's inputs.
        inputs: String,
        /// The graph's outputs.
        outputs: String,
    },
    /// The name gives no usable folder.
    #[error("{name:?} is not a model name: use lower-case letters, digits, `_` and `-` (--name)")]
    Name {
        /// The name asked for.
        name: String,
    },
    /// A model of that name exists.
    #[error("{folder} already exists: choose another --name, or remove that folder first")]
    Exists {
        /// The existing folder.
        folder: PathBuf,
    },
    /// The tokenizer is unusable or does not fit the model.
    #[error("{path}: {message}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The model folder could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// What was being written.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The manifest written does not load: a bug in `kiln models add`.
    #[error(
        "{path}: the manifest written does not load ({message}); please report this with the model's inputs and outputs"
    )]
    Unloadable {
        /// The manifest.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Adds the ONNX model at `onnx` to `models_dir` (see the crate docs): copies it, with its
/// tokenizer for a decoder, and writes its `model.ron`. A complete manifest is loaded back and
/// checked against the graph before this returns.
pub fn add_model(
    onnx: &Path,
    models_dir: &Path,
    options: &ImportOptions<'_>,
    sessions: &SessionCache,
) -> Result<Imported, ImportError> {
    let bytes = std::fs::read(onnx).map_err(|source| ImportError::Read {
        path: onnx.to_path_buf(),
        source,
    })?;
    let session = sessions.load_bytes(&bytes).map_err(|source| {
        let path = onnx.to_path_buf();
        if source.to_string().contains("external") {
            ImportError::ExternalData { path, source }
        } else {
            ImportError::Session { path, source }
        }
    })?;
    let not_recognised = |reason: String| {
        let list = |tensors: &[kiln_onnx::GraphTensor]| {
            tensors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        };
        ImportError::NotRecognised {
            path: onnx.to_path_buf(),
            reason,
            inputs: list(session.inputs()),
            outputs: list(session.outputs()),
        }
    };
    let recognised = recognise(session.inputs(), session.outputs()).map_err(not_recognised)?;
    let name = model_name(onnx, options.name)?;
    let folder = models_dir.join(&name);
    if folder.exists() {
        return Err(ImportError::Exists { folder });
    }
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    let (recognised, kind) = match recognised {
        Recognised::Image(graph) => image_kind_of(&session, &graph).map_err(not_recognised)?,
        Recognised::Decoder(graph) => {
            let (tokenizer, words, kind) = decoder_kind_of(onnx, options, &graph)?;
            files.extend(tokenizer.map(|bytes| (TOKENIZER_FILE, bytes)));
            (words, kind)
        }
    };
    let sha256 = sha256_hex(&bytes);
    let source = onnx.display().to_string();
    let description = format!("{recognised}, imported from {source}");
    let header = Header {
        name: &name,
        description: &description,
        sha256: &sha256,
        licence: options.licence,
        source: &source,
        inputs: session.inputs(),
        outputs: session.outputs(),
    };
    let text = manifest_text::manifest(&header, &kind).map_err(not_recognised)?;
    let left = draft_lines(&text);
    files.push(("model.onnx", bytes));
    files.push((MANIFEST_FILE_NAME, text.into_bytes()));
    write_folder(models_dir, &folder, &files)?;
    if left.is_empty() {
        let manifest_path = folder.join(MANIFEST_FILE_NAME);
        let unloadable = |message: String| ImportError::Unloadable {
            path: manifest_path.clone(),
            message,
        };
        let manifest =
            ModelManifest::load(&manifest_path).map_err(|err| unloadable(err.to_string()))?;
        sessions
            .load_model(&manifest, &manifest_path)
            .map_err(|err| unloadable(err.to_string()))?;
    }
    Ok(Imported {
        folder,
        recognised,
        left,
    })
}

/// An image generator in words, and its manifest's `kind` (value range and stride measured
/// by a trial run); why not, when an input cannot be fed.
fn image_kind_of(session: &ModelSession, graph: &ImageGraph) -> Result<(String, String), String> {
    if let Some(constant) = graph.constants.iter().find(|c| !feedable_constant(c.dtype)) {
        return Err(format!(
            "its input {constant} is neither latent nor class, and Kiln can feed such an input \
             only a constant F32, I64, I32 or Bool"
        ));
    }
    let probe = probe::probe(session, graph)?;
    let latent = if graph.latent.shape.len() == 4 {
        "spatial"
    } else {
        "flat"
    };
    let class = if graph.class.is_some() {
        ", class input"
    } else {
        ""
    };
    let words = format!(
        "image generator: {latent} latent {:?}, {:?} {:?} output{class}",
        graph.latent.name, graph.channels, graph.layout
    );
    Ok((words, image_kind(graph, &probe)))
}

/// A decoder's tokenizer bytes (when found), the decoder in words, and its manifest's `kind`
/// with what was found beside `onnx`.
fn decoder_kind_of(
    onnx: &Path,
    options: &ImportOptions<'_>,
    graph: &DecoderGraph,
) -> Result<(Option<Vec<u8>>, String, String), ImportError> {
    let beside = onnx.with_file_name(TOKENIZER_FILE);
    let tokenizer_path = options
        .tokenizer
        .map(Path::to_path_buf)
        .or_else(|| beside.is_file().then_some(beside));
    let (tokenizer, end) = match &tokenizer_path {
        Some(path) => {
            let (bytes, end) = read_tokenizer(path, graph)?;
            (Some(bytes), end)
        }
        None => (None, None),
    };
    let facts = DecoderFacts {
        tokenizer: tokenizer.as_ref().map(|_| TOKENIZER_FILE.to_owned()),
        end,
        context: context_from_config(onnx),
    };
    let cache = if graph.cached {
        " with a KV cache"
    } else {
        " without a cache"
    };
    let merged = if graph.merged {
        " (merged, use_cache_branch)"
    } else {
        ""
    };
    Ok((
        tokenizer,
        format!("decoder{cache}{merged}"),
        decoder_kind(&facts),
    ))
}

/// The model's name: `name`, else the file's stem (its folder's name for a `model.onnx`),
/// lower-cased with other characters as `_`.
fn model_name(onnx: &Path, name: Option<&str>) -> Result<String, ImportError> {
    let derived = || {
        let stem = onnx.file_stem()?.to_str()?;
        let stem = if stem == "model" {
            onnx.parent()?.file_name()?.to_str()?
        } else {
            stem
        };
        Some(
            stem.chars()
                .map(|c| {
                    let c = c.to_ascii_lowercase();
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>(),
        )
    };
    let name = name.map(str::to_owned).or_else(derived).unwrap_or_default();
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        Ok(name)
    } else {
        Err(ImportError::Name { name })
    }
}

/// The tokenizer's bytes and end-of-text token; refused when its vocabulary differs from the
/// model's logits.
fn read_tokenizer(
    path: &Path,
    graph: &DecoderGraph,
) -> Result<(Vec<u8>, Option<String>), ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let tokenizer_error = |message: String| ImportError::Tokenizer {
        path: path.to_path_buf(),
        message,
    };
    let tokenizer = tokenizers::Tokenizer::from_bytes(&bytes)
        .map_err(|err| tokenizer_error(format!("not a tokenizer.json: {err}")))?;
    let size = tokenizer.get_vocab_size(true) as i64;
    if let Some(vocabulary) = graph.vocabulary
        && vocabulary != size
    {
        return Err(tokenizer_error(format!(
            "it has {size} tokens but the model predicts {vocabulary}: give the tokenizer the \
             model was exported with (--tokenizer)"
        )));
    }
    let end = END_TOKENS
        .iter()
        .find(|token| tokenizer.token_to_id(token).is_some())
        .map(|token| (*token).to_owned())
        .or_else(|| {
            let mut special: Vec<(u32, String)> = tokenizer
                .get_added_tokens_decoder()
                .into_iter()
                .filter(|(_, token)| token.special)
                .map(|(id, token)| (id, token.content))
                .collect();
            special.sort();
            special.into_iter().next().map(|(_, content)| content)
        });
    Ok((bytes, end))
}

/// The context length from the `config.json` beside `onnx` (as optimum writes it), and the
/// key it came from.
fn context_from_config(onnx: &Path) -> Option<(u64, String)> {
    let text = std::fs::read_to_string(onnx.with_file_name("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    CONTEXT_KEYS.iter().find_map(|key| {
        let value = config.get(key)?.as_u64()?;
        Some((value, format!("config.json {key}")))
    })
}

/// Writes `files` into a new `folder` inside `models_dir` whole: staged beside it and renamed
/// into place, so a failure leaves no half-written model.
fn write_folder(
    models_dir: &Path,
    folder: &Path,
    files: &[(&str, Vec<u8>)],
) -> Result<(), ImportError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Write { path, source }
    };
    std::fs::create_dir_all(models_dir).map_err(write_error(models_dir))?;
    let staging = tempfile::Builder::new()
        .prefix(".kiln-add-")
        .tempdir_in(models_dir)
        .map_err(write_error(models_dir))?;
    for (name, bytes) in files {
        let path = staging.path().join(name);
        std::fs::write(&path, bytes).map_err(write_error(&path))?;
    }
    // Once renamed, the guard finds nothing left to remove at the staging path.
    std::fs::rename(staging.path(), folder).map_err(write_error(folder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_file_or_its_folder_and_must_be_folder_safe() {
        let name = |path: &str, given: Option<&str>| model_name(Path::new(path), given);
        assert_eq!(
            name("exports/Decoder Model-v2.onnx", None).expect("derived"),
            "decoder_model-v2"
        );
        assert_eq!(
            name("exports/stylegan/model.onnx", None).expect("derived"),
            "stylegan"
        );
        assert_eq!(name("x.onnx", Some("mine")).expect("given"), "mine");
        assert!(matches!(
            name("x.onnx", Some("../escape")),
            Err(ImportError::Name { .. })
        ));
    }
}
