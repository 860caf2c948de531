//! Where a model's files come from: a models folder on disk ([`ModelRegistry`]) or bytes
//! read by someone else (Bevy's `models://` source), both ending as [`ModelFiles`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_onnx::{FileIdentity, sha256_hex};
use kiln_recipe::{LoadError, MANIFEST_FILE_NAME, ModelKind, ModelManifest};

use crate::EngineError;

/// A model's manifest and the bytes of the files it names, checked to belong together.
#[derive(Clone, Debug)]
pub struct ModelFiles {
    manifest: ModelManifest,
    manifest_path: PathBuf,
    onnx: Vec<u8>,
    /// The bytes of each of [`ModelFiles::companion_files`], in that order.
    companions: Vec<Vec<u8>>,
    onnx_sha256: String,
    content_sha256: String,
}

impl ModelFiles {
    /// Parses the manifest of the model in folder `folder` (read from `path`, named in
    /// messages) and checks that its `name` is the folder's.
    pub fn parse_manifest(
        folder: &str,
        text: &str,
        path: &Path,
    ) -> Result<ModelManifest, LoadError> {
        let manifest = ModelManifest::from_str(text, path)?;
        if manifest.name != folder {
            return Err(LoadError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "manifest name {:?} differs from its folder {folder:?}: rename one to match",
                    manifest.name
                ),
            });
        }
        Ok(manifest)
    }

    /// The files besides the ONNX file that a manifest names, relative to its folder: an
    /// image model's palettes if it has them; a sequence model's tokenizer, then its lexicon,
    /// its novelty's spans and names if it has them (a manifest with novelty has a lexicon).
    pub fn companion_files(manifest: &ModelManifest) -> Vec<&str> {
        match &manifest.kind {
            ModelKind::ImageGenerator(image) => image.palettes.iter().map(String::as_str).collect(),
            ModelKind::SequenceGenerator(sequence) => {
                let novelty = sequence.novelty.as_ref();
                std::iter::once(sequence.tokenizer.as_str())
                    .chain(sequence.lexicon.as_deref())
                    .chain(novelty.map(|n| n.spans.as_str()))
                    .chain(novelty.and_then(|n| n.names.as_deref()))
                    .collect()
            }
        }
    }

    /// A model from its manifest (read from `manifest_path`) and the bytes of its ONNX file and
    /// of each of its [`ModelFiles::companion_files`], in that order.
    pub fn new(
        manifest: ModelManifest,
        manifest_path: PathBuf,
        onnx: Vec<u8>,
        companions: Vec<Vec<u8>>,
    ) -> Result<Self, EngineError> {
        let names = Self::companion_files(&manifest);
        if names.len() != companions.len() {
            let path = match names.get(companions.len()) {
                Some(missing) => beside(&manifest_path, missing),
                None => manifest_path,
            };
            return Err(EngineError::Read {
                path,
                message: format!(
                    "{} file(s) given where the manifest names {}",
                    companions.len(),
                    names.len()
                ),
            });
        }
        let onnx_sha256 = sha256_hex(&onnx);
        let content_sha256 = match companions.is_empty() {
            true => onnx_sha256.clone(),
            false => {
                let hashes: Vec<String> = companions.iter().map(|c| sha256_hex(c)).collect();
                sha256_hex(format!("{onnx_sha256}:{}", hashes.join(":")).as_bytes())
            }
        };
        Ok(Self {
            manifest,
            manifest_path,
            onnx,
            companions,
            onnx_sha256,
            content_sha256,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// Where the manifest was read (for messages).
    pub fn manifest_path(&self) -> &Path {
        &self.manifest_path
    }

    /// Path of the ONNX file (for messages).
    pub fn onnx_path(&self) -> PathBuf {
        self.manifest.onnx_path(&self.manifest_path)
    }

    /// The ONNX file's bytes.
    pub fn onnx(&self) -> &[u8] {
        &self.onnx
    }

    /// sha256 of the ONNX file's bytes (lower-case hex).
    pub fn onnx_sha256(&self) -> &str {
        &self.onnx_sha256
    }

    /// The art palettes' path (for messages) and bytes, for image models that have them.
    pub fn palettes(&self) -> Option<(PathBuf, &[u8])> {
        self.image_companion(0)
    }

    /// The tokenizer's path (for messages) and bytes, for sequence models.
    pub fn tokenizer(&self) -> Option<(PathBuf, &[u8])> {
        self.sequence_companion(0)
    }

    /// The lexicon's path (for messages) and bytes, for sequence models that have one.
    pub fn lexicon(&self) -> Option<(PathBuf, &[u8])> {
        self.sequence_companion(1)
    }

    /// The novelty spans' path (for messages) and bytes, for sequence models that have them.
    pub fn corpus_spans(&self) -> Option<(PathBuf, &[u8])> {
        self.sequence_companion(2)
    }

    /// The novelty names' path (for messages) and bytes, for sequence models that have them.
    pub fn corpus_names(&self) -> Option<(PathBuf, &[u8])> {
        self.sequence_companion(3)
    }

    fn image_companion(&self, index: usize) -> Option<(PathBuf, &[u8])> {
        matches!(self.manifest.kind, ModelKind::ImageGenerator(_))
            .then(|| self.companion(index))
            .flatten()
    }

    fn sequence_companion(&self, index: usize) -> Option<(PathBuf, &[u8])> {
        matches!(self.manifest.kind, ModelKind::SequenceGenerator(_))
            .then(|| self.companion(index))
            .flatten()
    }

    fn companion(&self, index: usize) -> Option<(PathBuf, &[u8])> {
        let file = *Self::companion_files(&self.manifest).get(index)?;
        Some((
            beside(&self.manifest_path, file),
            self.companions.get(index)?.as_slice(),
        ))
    }

    /// Whether the ONNX file's sha256 is the one the manifest names (sessions refuse it
    /// otherwise, unless told to only warn).
    pub fn matches_manifest(&self) -> bool {
        self.onnx_sha256.eq_ignore_ascii_case(&self.manifest.sha256)
    }

    /// sha256 of everything of the model that decides its output: the ONNX file and its
    /// companion files. Equal hashes generate equal content.
    pub fn content_sha256(&self) -> &str {
        &self.content_sha256
    }
}

/// A folder of model folders: `<dir>/<name>/model.ron` + the files it names.
///
/// It keeps the models it has read, with each file's [`FileIdentity`], and reads a model again
/// only when one of its files changed: a `--watch` re-bake or an editor generation does not
/// read and hash tens of MB of unchanged models each time. Clones share what was read.
#[derive(Clone, Debug)]
pub struct ModelRegistry {
    dir: PathBuf,
    read: Arc<Mutex<HashMap<String, ReadModel>>>,
    /// How long a file must be unchanged before a read of it is kept (see
    /// [`FileIdentity::SETTLE`]).
    settle: Duration,
}

/// A model as read, and the identity of each of its files (manifest first) when read.
#[derive(Debug)]
struct ReadModel {
    files: Arc<ModelFiles>,
    identities: Vec<(PathBuf, FileIdentity)>,
}

/// One model folder and its manifest (or why the manifest cannot be read).
#[derive(Debug)]
pub struct ModelEntry {
    /// Folder name, which recipes use as the model name.
    pub name: String,
    /// Path of `model.ron`.
    pub manifest_path: PathBuf,
    /// The parsed manifest.
    pub manifest: Result<ModelManifest, LoadError>,
}

impl ModelRegistry {
    /// Models under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            read: Arc::default(),
            settle: FileIdentity::SETTLE,
        }
    }

    /// The models folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the manifest of model `name`.
    pub fn manifest_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join(MANIFEST_FILE_NAME)
    }

    /// Loads model `name`'s manifest, checking that its `name` matches the folder.
    pub fn load(&self, name: &str) -> Result<(ModelManifest, PathBuf), LoadError> {
        let path = self.manifest_path(name);
        if !path.is_file() {
            let available: Vec<String> = self.list().into_iter().map(|m| m.name).collect();
            return Err(LoadError::Invalid {
                path,
                message: format!(
                    "no model {name:?} in {} (available: {})",
                    self.dir.display(),
                    if available.is_empty() {
                        "none".to_owned()
                    } else {
                        available.join(", ")
                    }
                ),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|err| LoadError::Io {
            path: path.clone(),
            source: err,
        })?;
        Ok((ModelFiles::parse_manifest(name, &text, &path)?, path))
    }

    /// Reads model `name`: its checked manifest and the files it names; the model as read
    /// before when none of its files has changed since.
    pub fn read(&self, name: &str) -> Result<Arc<ModelFiles>, EngineError> {
        if let Some(files) = self.unchanged(name) {
            return Ok(files);
        }
        let manifest_path = self.manifest_path(name);
        let manifest_identity = FileIdentity::of(&manifest_path);
        let (manifest, manifest_path) = self.load(name)?;
        let paths: Vec<PathBuf> = std::iter::once(manifest.onnx.as_str())
            .chain(ModelFiles::companion_files(&manifest))
            .map(|file| beside(&manifest_path, file))
            .collect();
        let identities: Vec<Option<FileIdentity>> = std::iter::once(manifest_identity)
            .chain(paths.iter().map(|path| FileIdentity::of(path)))
            .collect();
        let mut bytes = paths.iter().map(|path| {
            std::fs::read(path).map_err(|err| EngineError::Read {
                path: path.clone(),
                message: err.to_string(),
            })
        });
        let onnx = bytes
            .next()
            .unwrap_or_else(|| unreachable!("the ONNX file is first"))?;
        let companions = bytes.collect::<Result<_, _>>()?;
        let files = Arc::new(ModelFiles::new(
            manifest,
            manifest_path.clone(),
            onnx,
            companions,
        )?);
        // Kept only where every file was settled before it was read and is unchanged after:
        // then the bytes are those of the identities.
        let kept: Option<Vec<(PathBuf, FileIdentity)>> = std::iter::once(manifest_path)
            .chain(paths)
            .zip(identities)
            .map(|(path, before)| {
                let before = before.filter(|id| id.vouches_for_read(&path, self.settle))?;
                Some((path, before))
            })
            .collect();
        let mut read = self.lock_read();
        match kept {
            Some(identities) => {
                let model = ReadModel {
                    files: Arc::clone(&files),
                    identities,
                };
                read.insert(name.to_owned(), model);
            }
            None => {
                read.remove(name);
            }
        }
        Ok(files)
    }

    /// The sha256 of the ONNX file (what sessions are cached by) of each model this registry
    /// has read, as the folder holds it now, so that `kiln bake --watch` can drop the sessions
    /// of models replaced or removed since. Unchanged models are not read again, and models
    /// never read are not read at all.
    pub fn onnx_hashes(&self) -> HashSet<String> {
        let names: Vec<String> = self.lock_read().keys().cloned().collect();
        names
            .iter()
            .filter_map(|name| self.read(name).ok())
            .map(|files| files.onnx_sha256().to_owned())
            .collect()
    }

    /// Model `name` as read before, if none of its files has changed since.
    fn unchanged(&self, name: &str) -> Option<Arc<ModelFiles>> {
        let read = self.lock_read();
        let model = read.get(name)?;
        model
            .identities
            .iter()
            .all(|(path, identity)| FileIdentity::of(path).as_ref() == Some(identity))
            .then(|| Arc::clone(&model.files))
    }

    fn lock_read(&self) -> std::sync::MutexGuard<'_, HashMap<String, ReadModel>> {
        self.read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every model folder (a sub-folder with a `model.ron`), sorted by name.
    pub fn list(&self) -> Vec<ModelEntry> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(MANIFEST_FILE_NAME).is_file())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let manifest_path = self.manifest_path(&name);
                let manifest = self.load(&name).map(|(m, _)| m);
                ModelEntry {
                    name,
                    manifest_path,
                    manifest,
                }
            })
            .collect()
    }
}

/// `file` (relative to the model folder) beside the manifest at `manifest_path`.
fn beside(manifest_path: &Path, file: &str) -> PathBuf {
    manifest_path.parent().unwrap_or(Path::new(".")).join(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flavour() -> (ModelManifest, PathBuf) {
        let registry =
            ModelRegistry::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"));
        registry.load("kiln_flavour").expect("shipped manifest")
    }

    #[test]
    fn a_sequence_model_s_companion_files_decide_its_content_hash() {
        let (manifest, path) = flavour();
        assert_eq!(
            ModelFiles::companion_files(&manifest),
            [
                "tokenizer.json",
                "lexicon.txt",
                "corpus_spans.bin",
                "corpus_names.txt"
            ]
        );
        let files = |lexicon: &[u8], spans: &[u8], names: &[u8]| {
            let companions = vec![
                b"{}".to_vec(),
                lexicon.to_vec(),
                spans.to_vec(),
                names.to_vec(),
            ];
            ModelFiles::new(manifest.clone(), path.clone(), b"onnx".to_vec(), companions)
                .expect("files")
        };
        let one = files(b"sword\n", &[0; 8], b"Holy Avenger\n");
        for other in [
            files(b"sword\nshield\n", &[0; 8], b"Holy Avenger\n"),
            files(b"sword\n", &[1; 8], b"Holy Avenger\n"),
            files(b"sword\n", &[0; 8], b"Vorpal Sword\n"),
        ] {
            assert_ne!(one.content_sha256(), other.content_sha256());
        }
        assert_eq!(
            one.content_sha256(),
            files(b"sword\n", &[0; 8], b"Holy Avenger\n").content_sha256()
        );
        let (lexicon_path, bytes) = one.lexicon().expect("lexicon");
        assert!(lexicon_path.ends_with("kiln_flavour/lexicon.txt"));
        assert_eq!(bytes, b"sword\n");
        let (spans_path, bytes) = one.corpus_spans().expect("spans");
        assert!(spans_path.ends_with("kiln_flavour/corpus_spans.bin"));
        assert_eq!(bytes, [0; 8]);
        let (names_path, bytes) = one.corpus_names().expect("names");
        assert!(names_path.ends_with("kiln_flavour/corpus_names.txt"));
        assert_eq!(bytes, b"Holy Avenger\n");
    }

    /// A models folder holding a copy of the `tiny_pixels` fixture (ONNX, manifest, tokenizer).
    fn copied_fixture() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let from =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/tiny_pixels");
        let model = dir.path().join("tiny_pixels");
        std::fs::create_dir(&model).expect("mkdir");
        for file in ["model.onnx", "model.ron", "tokenizer.json"] {
            std::fs::copy(from.join(file), model.join(file)).expect("copy");
        }
        (dir, model)
    }

    #[test]
    fn a_model_is_read_again_only_when_one_of_its_files_changed() {
        let (dir, model) = copied_fixture();
        let registry = ModelRegistry {
            settle: Duration::ZERO,
            ..ModelRegistry::new(dir.path())
        };
        let first = registry.read("tiny_pixels").expect("read");
        let clone = registry.clone();
        assert!(
            Arc::ptr_eq(&first, &clone.read("tiny_pixels").expect("read")),
            "unchanged"
        );
        let mut last = first;
        for file in ["model.onnx", "model.ron", "tokenizer.json"] {
            // The same bytes written again: a write all the same.
            std::thread::sleep(Duration::from_millis(20));
            let bytes = std::fs::read(model.join(file)).expect("read");
            std::fs::write(model.join(file), bytes).expect("write");
            let again = registry.read("tiny_pixels").expect("read");
            assert!(!Arc::ptr_eq(&last, &again), "{file} was written");
            assert_eq!(last.content_sha256(), again.content_sha256());
            last = again;
        }
        std::fs::write(model.join("tokenizer.json"), b"{}").expect("write");
        let edited = registry.read("tiny_pixels").expect("read");
        assert_ne!(
            last.content_sha256(),
            edited.content_sha256(),
            "new bytes read"
        );

        let hashes = registry.onnx_hashes();
        assert_eq!(hashes, HashSet::from([edited.onnx_sha256().to_owned()]));
        std::fs::write(model.join("model.onnx"), b"replaced").expect("write");
        assert_eq!(
            registry.onnx_hashes(),
            HashSet::from([sha256_hex(b"replaced")]),
            "the replaced model's hash, read again"
        );
    }

    #[test]
    fn a_model_written_just_now_is_not_kept() {
        let (dir, _model) = copied_fixture();
        let registry = ModelRegistry::new(dir.path());
        let first = registry.read("tiny_pixels").expect("read");
        assert!(!Arc::ptr_eq(
            &first,
            &registry.read("tiny_pixels").expect("read")
        ));
    }

    #[test]
    fn a_companion_file_not_given_is_named() {
        let (manifest, path) = flavour();
        let err = ModelFiles::new(manifest, path, b"onnx".to_vec(), vec![b"{}".to_vec()])
            .expect_err("no lexicon");
        let message = err.to_string();
        assert!(message.contains("lexicon.txt"), "{message}");
    }
}
