//! Running a causal decoder token by token, with its key/value cache when it has one.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kiln_onnx::{ModelSession, Provider, RunClock};
use kiln_recipe::{Dim, ModelKind, ModelManifest, SequenceContract};
use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session};
use ort::value::{DynValue, Tensor};
use tokenizers::Tokenizer;

use crate::Sampler;
use crate::lexicon::{Lexicon, RealWords, WordCheck};
use crate::pixels::{BlockColours, token_colours};
use crate::{CorpusNames, CorpusSpans};

/// Why a sequence model cannot be used or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SequenceError {
    /// The manifest does not describe a sequence generator.
    #[error("model {model:?} is not a sequence generator")]
    NotASequenceModel {
        /// Model name.
        model: String,
    },
    /// The tokenizer file is missing or unreadable.
    #[error("{path}: cannot load the tokenizer: {message}")]
    Tokenizer {
        /// The `tokenizer.json`.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The lexicon file is missing or unreadable.
    #[error("{path}: cannot read the lexicon: {message}")]
    Lexicon {
        /// The word list.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The file of a manifest's `novelty` is missing, unreadable or malformed.
    #[error("{path}: cannot read the training text's runs of words (novelty.spans): {message}")]
    CorpusSpans {
        /// The file.
        path: PathBuf,
        /// Why, and the fix.
        message: String,
    },
    /// The file of a manifest's `novelty.names` is missing or not UTF-8 text.
    #[error("{path}: cannot read the training texts' names (novelty.names): {message}")]
    CorpusNames {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Tokenizer and model disagree: they were not trained together.
    #[error(
        "{path}: this tokenizer has {tokenizer} tokens but model {model:?} predicts {logits}: \
         ship the tokenizer.json that was trained with this model"
    )]
    TokenizerMismatch {
        /// The `tokenizer.json`.
        path: PathBuf,
        /// Model name.
        model: String,
        /// Tokenizer vocabulary size.
        tokenizer: usize,
        /// Model vocabulary (logits) size.
        logits: i64,
    },
    /// A token the manifest relies on is not in the tokenizer.
    #[error("{path}: token {token:?} (used by model {model:?}'s prompts) is not in this tokenizer")]
    MissingToken {
        /// The `tokenizer.json`.
        path: PathBuf,
        /// Model name.
        model: String,
        /// The token.
        token: String,
    },
    /// A model with `pixels` whose tokenizer names no colours.
    #[error(
        "{path}: model {model:?} draws pixels, but no token of this tokenizer is a colour: \
         name each colour token `#rrggbb` or `#rrggbbaa`"
    )]
    NoColourTokens {
        /// The `tokenizer.json`.
        path: PathBuf,
        /// Model name.
        model: String,
    },
    /// A model with `pixels` in blocks whose tokenizer has a colour token of another size.
    #[error(
        "{path}: model {model:?} draws {}×{} blocks of pixels, but its token {token:?} names {colours} colour(s): \
         name a block's colours row by row, joined by commas, or change the manifest's `block`",
        block.0, block.1
    )]
    WrongBlockSize {
        /// The `tokenizer.json`.
        path: PathBuf,
        /// Model name.
        model: String,
        /// The token.
        token: String,
        /// How many colours it names.
        colours: u32,
        /// The manifest's block: width, height.
        block: (u32, u32),
    },
    /// The recipe asks for a condition the model does not know.
    #[error("model {model:?} has no {condition:?}: use one of {}", available.join(", "))]
    UnknownCondition {
        /// Model name.
        model: String,
        /// What the recipe asked for.
        condition: String,
        /// What the model knows.
        available: Vec<String>,
    },
    /// ONNX Runtime failed, or returned something unexpected.
    #[error("model {model:?}: {message}")]
    Run {
        /// Model name.
        model: String,
        /// What went wrong.
        message: String,
    },
}

/// Decides whether `candidate` may follow the `generated` tokens (for grammars such as bars of
/// music); return `true` to allow everything.
pub type StepFilter<'a> = dyn Fn(&[u32], u32) -> bool + 'a;

/// How one generation runs and when it ends (besides the model's context).
pub struct Decoding<'a> {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Tokens that end it, left out of the result.
    pub stop: &'a [u32],
    /// Which tokens may come next.
    pub filter: &'a StepFilter<'a>,
    /// Ends it once true of the tokens generated so far (e.g. a stop string was written).
    pub done: &'a dyn Fn(&[u32]) -> bool,
    /// Feed one token per step with the key/value cache, when the model has one; otherwise
    /// each step feeds the whole sequence again (same tokens, cost growing with length).
    pub kv_cache: bool,
    /// Write only words of the model's lexicon, when it has one: a drawn token that would
    /// finish another word, or start one the lexicon has no word for, is masked and the step
    /// drawn again; a word that would end a run of words of the training texts (the manifest's
    /// `novelty`), or is `unwanted`, is taken back whole (see [`SequenceModel::generate`]).
    pub real_words: bool,
    /// Words allowed besides the lexicon's (the words of a name the recipe gives), lower case.
    pub names: &'a [String],
    /// With `real_words`, words not to write here (nor their plurals and possessives), lower
    /// case: the `identity_nouns` of other things of the kind, other kinds' `kind_words`.
    pub unwanted: &'a [String],
    /// With `real_words`, most words taken back; a generation that would have to take back
    /// one more ends before it instead (see [`SequenceModel::generate`]).
    pub max_retreats: usize,
    /// Record each drawn token's log-probability in [`Generation::log_probs`], to rank
    /// candidates: a softmax over the vocabulary per step, so off unless asked for.
    pub score: bool,
    /// Most rows [`SequenceModel::generate_rows`] runs side by side in one `session.run`
    /// ([`MAX_BATCH_ROWS`] by default; pixel art, with short rows that never take a word
    /// back, runs more: [`crate::PIXEL_BATCH_ROWS`]).
    pub batch_rows: usize,
}

impl Decoding<'_> {
    /// Up to `max_tokens` of anything, with the cache: narrow it with struct update syntax.
    pub fn new(max_tokens: usize) -> Self {
        Self {
            max_tokens,
            stop: &[],
            filter: &allow_all,
            done: &never,
            kv_cache: true,
            real_words: false,
            names: &[],
            unwanted: &[],
            max_retreats: MAX_RETREATS,
            score: false,
            batch_rows: MAX_BATCH_ROWS,
        }
    }
}

fn allow_all(_: &[u32], _: u32) -> bool {
    true
}

fn never(_: &[u32]) -> bool {
    false
}

/// Which optional decoder inputs a model takes (Hugging Face/optimum export names).
#[derive(Clone, Copy, Debug)]
struct DecoderInputs {
    /// `attention_mask`: I64 `[batch, past + sequence]`.
    attention_mask: bool,
    /// `position_ids`: I64 `[batch, sequence]`.
    position_ids: bool,
    /// `use_cache_branch`: Bool `[1]` of merged decoders, true once a cache is fed.
    use_cache_branch: bool,
}

/// One generation's I/O binding and where its outputs go.
struct Binding {
    io: IoBinding,
    /// The session's device: the key/value cache.
    cache: MemoryInfo<'static>,
    /// The host: the logits.
    host: MemoryInfo<'static>,
}

/// How many positions back a generation can return to take a word back (the longest word, in
/// tokens, it can take back whole).
const RETREAT_STEPS: usize = 8;
/// Most rows in one `session.run` of [`SequenceModel::generate_rows`] by default
/// ([`Decoding::batch_rows`]).
pub const MAX_BATCH_ROWS: usize = 16;
/// Most words taken back in one generation by default ([`Decoding::max_retreats`]).
pub const MAX_RETREATS: usize = 48;

/// A token a row has fed the model, or will feed it next step.
#[derive(Clone, Copy)]
struct Slot {
    token: u32,
    /// Its `position_ids` entry.
    position: i64,
    /// Whether later tokens attend to it (`attention_mask`): not once its word is taken back.
    attended: bool,
}

/// One row of a lock-step generation.
struct Row {
    prompt_len: usize,
    /// Tokens drawn so far.
    generated: Vec<u32>,
    /// Their log-probabilities, with [`Decoding::score`].
    log_probs: Vec<f32>,
    /// Logits of the last positions drawn at, oldest first: `logits[i]` for position
    /// `first + i`; as many as a word can be taken back over.
    logits: VecDeque<Vec<f32>>,
    first: usize,
    /// Tokens masked at a position after a word was taken back to it.
    bans: Vec<(usize, u32)>,
    taken_back: usize,
    /// The prompt and the tokens drawn, as fed (taken-back ones too while the mask hides them).
    slots: Vec<Slot>,
    /// `Some(stop token, if one)` once the row has ended.
    ended: Option<Option<u32>>,
}

impl Row {
    fn new(prompt: &[u32]) -> Self {
        Self {
            prompt_len: prompt.len(),
            generated: Vec::new(),
            log_probs: Vec::new(),
            logits: VecDeque::new(),
            first: 0,
            bans: Vec::new(),
            taken_back: 0,
            slots: (0..)
                .zip(prompt)
                .map(|(position, &token)| Slot {
                    token,
                    position,
                    attended: true,
                })
                .collect(),
            ended: None,
        }
    }

    /// Keeps `logits` as those of the next position, dropping the oldest beyond `kept`.
    fn keep(&mut self, logits: Vec<f32>, kept: usize) {
        self.logits.push_back(logits);
        if self.logits.len() > kept {
            self.logits.pop_front();
            self.first += 1;
        }
    }

    /// Takes back the tokens from position `start` on: hidden from the model by the mask
    /// (`masked`), or cut from the slots, so that the cache is to be built again.
    fn take_back(&mut self, start: usize, masked: bool) {
        let prompt_len = self.prompt_len;
        self.generated.truncate(start);
        self.log_probs.truncate(start);
        self.logits.truncate(start + 1 - self.first);
        if masked {
            let from = (prompt_len + start) as i64;
            for slot in self.slots.iter_mut().filter(|slot| slot.position >= from) {
                slot.attended = false;
            }
        } else {
            self.slots.truncate(prompt_len + start);
        }
    }

    fn into_generation(self) -> Generation {
        Generation {
            tokens: self.generated,
            log_probs: self.log_probs,
            stopped_by: self.ended.flatten(),
            taken_back: self.taken_back,
        }
    }
}

/// Tokens generated after a prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// The generated tokens, without the prompt and without the stop token.
    pub tokens: Vec<u32>,
    /// The model's log-probability of each of `tokens` where it was drawn, before sampling
    /// changed the odds (temperature, penalty, masks): how natural the model finds the text.
    /// Empty unless [`Decoding::score`] asked for it.
    pub log_probs: Vec<f32>,
    /// The stop token that ended it, if one did (otherwise it hit its length limit, or ended
    /// before a word it could not take back).
    pub stopped_by: Option<u32>,
    /// How many words were taken back on the way ([`Decoding::real_words`]).
    pub taken_back: usize,
}

impl Generation {
    /// Mean log-probability per token (0 for no tokens, or without [`Decoding::score`]): higher
    /// reads more like the training texts, word to word.
    pub fn mean_log_prob(&self) -> f32 {
        if self.log_probs.is_empty() {
            return 0.0;
        }
        self.log_probs.iter().sum::<f32>() / self.log_probs.len() as f32
    }
}

/// `token`'s log-probability under the softmax of `logits`.
fn log_prob(logits: &[f32], token: u32) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    logits
        .get(token as usize)
        .map_or(f32::NEG_INFINITY, |&l| l - max - sum.ln())
}

/// A sequence generator: decoder session, tokenizer and prompt format.
#[derive(Debug)]
pub struct SequenceModel {
    name: String,
    session: Arc<ModelSession>,
    tokenizer: Arc<Tokenizer>,
    contract: SequenceContract,
    /// Layers, heads and head size of the key/value cache; `None` for a model without one.
    cache: Option<(usize, i64, i64)>,
    inputs: DecoderInputs,
    /// The words its `real_words` generations may write (see [`SequenceModel::with_real_words`]).
    real_words: Option<Arc<RealWords>>,
    /// For a model with `pixels`: each token's block of colours, row by row, by id (`None`
    /// for tokens that are not colours).
    pixel_blocks: Option<Arc<[Option<BlockColours>]>>,
    run_clock: RunClock,
}

impl SequenceModel {
    /// Checks the manifest's contract and loads its tokenizer, lexicon and the runs of words of
    /// its `novelty` (next to `manifest_path`).
    pub fn new(
        manifest: &ModelManifest,
        manifest_path: &Path,
        session: Arc<ModelSession>,
    ) -> Result<Self, SequenceError> {
        let ModelKind::SequenceGenerator(contract) = &manifest.kind else {
            return Err(SequenceError::NotASequenceModel {
                model: manifest.name.clone(),
            });
        };
        let path = manifest_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&contract.tokenizer);
        let bytes = std::fs::read(&path).map_err(|err| SequenceError::Tokenizer {
            path: path.clone(),
            message: err.to_string(),
        })?;
        let model = Self::with_tokenizer(manifest, &bytes, &path, session)?;
        let Some(file) = &contract.lexicon else {
            return Ok(model);
        };
        let beside = |file: &str| manifest_path.parent().unwrap_or(Path::new(".")).join(file);
        let lexicon_path = beside(file);
        let lexicon = std::fs::read(&lexicon_path).map_err(|err| SequenceError::Lexicon {
            path: lexicon_path.clone(),
            message: err.to_string(),
        })?;
        let novelty = contract.novelty.as_ref();
        let read = |file: Option<&String>, error: fn(PathBuf, String) -> SequenceError| {
            file.map(|file| {
                let path = beside(file);
                std::fs::read(&path)
                    .map(|bytes| (path.clone(), bytes))
                    .map_err(|err| error(path, err.to_string()))
            })
            .transpose()
        };
        let spans = read(novelty.map(|n| &n.spans), |path, message| {
            SequenceError::CorpusSpans { path, message }
        })?;
        let names = read(novelty.and_then(|n| n.names.as_ref()), |path, message| {
            SequenceError::CorpusNames { path, message }
        })?;
        let words = model.load_real_words(
            (&lexicon_path, &lexicon),
            spans
                .as_ref()
                .map(|(path, bytes)| (path.as_path(), &bytes[..])),
            names
                .as_ref()
                .map(|(path, bytes)| (path.as_path(), &bytes[..])),
        )?;
        Ok(model.with_real_words(Arc::new(words)))
    }

    /// Like [`SequenceModel::new`] with the tokenizer's bytes already read from `path`.
    pub fn with_tokenizer(
        manifest: &ModelManifest,
        tokenizer: &[u8],
        path: &Path,
        session: Arc<ModelSession>,
    ) -> Result<Self, SequenceError> {
        let ModelKind::SequenceGenerator(contract) = &manifest.kind else {
            return Err(SequenceError::NotASequenceModel {
                model: manifest.name.clone(),
            });
        };
        let path = path.to_path_buf();
        let tokenizer =
            Tokenizer::from_bytes(tokenizer).map_err(|err| SequenceError::Tokenizer {
                path: path.clone(),
                message: err.to_string(),
            })?;
        let logits = match manifest.output("logits").and_then(|spec| spec.shape.get(2)) {
            Some(Dim::Fixed(size)) => *size,
            _ => -1,
        };
        let vocabulary = tokenizer.get_vocab_size(true);
        if logits != vocabulary as i64 {
            return Err(SequenceError::TokenizerMismatch {
                path,
                model: manifest.name.clone(),
                tokenizer: vocabulary,
                logits,
            });
        }
        let model = Self {
            name: manifest.name.clone(),
            session,
            tokenizer: Arc::new(tokenizer),
            contract: contract.clone(),
            cache: manifest.kv_cache(),
            inputs: DecoderInputs {
                attention_mask: manifest.input("attention_mask").is_some(),
                position_ids: manifest.input("position_ids").is_some(),
                use_cache_branch: manifest.input("use_cache_branch").is_some(),
            },
            real_words: None,
            pixel_blocks: None,
            run_clock: RunClock::default(),
        };
        let model = match contract.pixels {
            None => model,
            Some(grid) => {
                let mut blocks = Vec::with_capacity(model.vocabulary());
                for id in 0..model.vocabulary() as u32 {
                    let token = model.token(id);
                    let colours = token.as_deref().and_then(token_colours);
                    if let Some(colours) = &colours
                        && colours.len() != grid.block.area()
                    {
                        return Err(SequenceError::WrongBlockSize {
                            path,
                            model: model.name,
                            token: token.unwrap_or_default(),
                            colours: colours.len() as u32,
                            block: (grid.block.width, grid.block.height),
                        });
                    }
                    blocks.push(colours.map(Vec::into_boxed_slice));
                }
                if blocks.iter().all(Option::is_none) {
                    return Err(SequenceError::NoColourTokens {
                        path,
                        model: model.name,
                    });
                }
                Self {
                    pixel_blocks: Some(blocks.into()),
                    ..model
                }
            }
        };
        let named_end = contract.name_end.iter().chain([&contract.end]);
        for token in named_end {
            model
                .token_id(token)
                .map_err(|_| SequenceError::MissingToken {
                    path: path.clone(),
                    model: model.name.clone(),
                    token: token.clone(),
                })?;
        }
        Ok(model)
    }

    /// The word checks of its contract from the bytes of its lexicon and, when the contract
    /// has `novelty`, of its spans file and names file (each with its path, for messages);
    /// see [`SequenceModel::real_words`].
    pub fn load_real_words(
        &self,
        (lexicon_path, lexicon): (&Path, &[u8]),
        spans: Option<(&Path, &[u8])>,
        names: Option<(&Path, &[u8])>,
    ) -> Result<RealWords, SequenceError> {
        let text = std::str::from_utf8(lexicon).map_err(|err| SequenceError::Lexicon {
            path: lexicon_path.to_path_buf(),
            message: format!("not UTF-8 text: {err}"),
        })?;
        let names = names
            .map(|(path, bytes)| {
                std::str::from_utf8(bytes)
                    .map(CorpusNames::parse)
                    .map_err(|err| SequenceError::CorpusNames {
                        path: path.to_path_buf(),
                        message: format!("not UTF-8 text: {err}"),
                    })
            })
            .transpose()?;
        let spans = match (&self.contract.novelty, spans) {
            (Some(novelty), Some((path, bytes))) => Some(
                CorpusSpans::from_bytes(bytes, novelty.words as usize).map_err(|message| {
                    SequenceError::CorpusSpans {
                        path: path.to_path_buf(),
                        message,
                    }
                })?,
            ),
            _ => None,
        };
        Ok(self.real_words(Lexicon::parse(text), spans, names))
    }

    /// `lexicon`, the training texts' `spans` and `names` (if any) matched to this model's
    /// tokens (decodes each token once: keep and share it).
    pub fn real_words(
        &self,
        lexicon: Lexicon,
        spans: Option<CorpusSpans>,
        names: Option<CorpusNames>,
    ) -> RealWords {
        let pieces = (0..self.vocabulary() as u32)
            .map(|id| self.tokenizer.decode(&[id], true).unwrap_or_default())
            .collect();
        RealWords {
            lexicon,
            spans,
            names,
            pieces,
        }
    }

    /// Another handle on this model, sharing its session, tokenizer and word checks, with its
    /// own [`SequenceModel::run_time`] from zero (cheap: nothing is parsed again).
    pub fn handle(&self) -> Self {
        Self {
            name: self.name.clone(),
            session: Arc::clone(&self.session),
            tokenizer: Arc::clone(&self.tokenizer),
            contract: self.contract.clone(),
            cache: self.cache,
            inputs: self.inputs,
            real_words: self.real_words.clone(),
            pixel_blocks: self.pixel_blocks.clone(),
            run_clock: RunClock::default(),
        }
    }

    /// Restricts [`Decoding::real_words`] generations to the words of `words` (made by
    /// [`SequenceModel::real_words`] of a model with the same tokenizer).
    pub fn with_real_words(mut self, words: Arc<RealWords>) -> Self {
        self.real_words = Some(words);
        self
    }

    /// The words its `real_words` generations may use, if it has a lexicon.
    pub fn lexicon(&self) -> Option<&Lexicon> {
        self.real_words.as_deref().map(RealWords::lexicon)
    }

    /// The runs of training text its `real_words` generations may not copy, if it has them.
    pub fn corpus_spans(&self) -> Option<&CorpusSpans> {
        self.real_words.as_deref().and_then(RealWords::spans)
    }

    /// The names of its training texts, which a made-up name should not be, if it has them.
    pub fn corpus_names(&self) -> Option<&CorpusNames> {
        self.real_words.as_deref().and_then(RealWords::names)
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The session it runs in.
    pub fn session(&self) -> &ModelSession {
        &self.session
    }

    /// Its contract.
    pub fn contract(&self) -> &SequenceContract {
        &self.contract
    }

    /// Time spent inside `session.run` so far.
    pub fn run_time(&self) -> Duration {
        self.run_clock.total()
    }

    /// Whether the model draws pixel art (its contract has `pixels`) rather than text.
    pub fn draws_pixels(&self) -> bool {
        self.pixel_blocks.is_some()
    }

    /// For a model with `pixels`: each token's block of colours, row by row (one colour for
    /// 1×1 blocks), by id; `None` for tokens that are not colours.
    pub fn pixel_blocks(&self) -> Option<&[Option<BlockColours>]> {
        self.pixel_blocks.as_deref()
    }

    /// Number of tokens the model knows.
    pub fn vocabulary(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The id of a token written as text (e.g. `"<end>"`).
    pub fn token_id(&self, token: &str) -> Result<u32, SequenceError> {
        self.tokenizer
            .token_to_id(token)
            .ok_or_else(|| SequenceError::Run {
                model: self.name.clone(),
                message: format!("token {token:?} is not in the tokenizer"),
            })
    }

    /// The text of token `id`, as the tokenizer stores it.
    pub fn token(&self, id: u32) -> Option<String> {
        self.tokenizer.id_to_token(id)
    }

    /// Token ids of the prompt for `condition` (and `name`, when the model takes one).
    pub fn prompt(&self, condition: &str, name: Option<&str>) -> Result<Vec<u32>, SequenceError> {
        if self.contract.conditions.is_empty() {
            return Err(self.run_error(format!(
                "it takes no conditions (its manifest lists none), so it cannot make {condition:?}: \
                 use it in a Completion entry with a prompt of your own"
            )));
        }
        if !self.contract.conditions.iter().any(|c| c == condition) {
            return Err(SequenceError::UnknownCondition {
                model: self.name.clone(),
                condition: condition.to_owned(),
                available: self.contract.conditions.clone(),
            });
        }
        let template = match (name, &self.contract.named_prompt) {
            (Some(_), Some(named)) => named,
            _ => &self.contract.prompt,
        };
        let text = template
            .replace("{condition}", condition)
            .replace("{name}", name.unwrap_or_default());
        self.encode(&text)
    }

    /// Token ids of `text`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, SequenceError> {
        self.tokenizer
            .encode(text, false)
            .map(|encoding| encoding.get_ids().to_vec())
            .map_err(|err| self.run_error(err))
    }

    /// Text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String, SequenceError> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|err| self.run_error(err))
    }

    /// Generates after `prompt` as `decoding` says, until the model's context is full.
    ///
    /// A word that would end a run of the training texts (the manifest's `novelty`), or an
    /// unwanted one ([`Decoding::unwanted`]), is taken back whole: generation returns to the
    /// position where it began, where that first token is masked, so the model picks another
    /// word instead of bending this one into a longer one ("shark" into "sharkskin"). The
    /// tokens taken back stay in the key/value cache, hidden by the attention mask; without
    /// the cache, or on a model without `attention_mask` and `position_ids` inputs, they are
    /// cut, and the cache is built again.
    /// When no take-back is left ([`Decoding::max_retreats`]) or the word began before the
    /// positions kept (`RETREAT_STEPS`), the generation ends before that word: masking the
    /// tokens that would end it one by one could only bend it, a draw per token of the
    /// vocabulary.
    pub fn generate(
        &self,
        prompt: &[u32],
        sampler: &mut Sampler,
        decoding: &Decoding<'_>,
    ) -> Result<Generation, SequenceError> {
        let mut generations =
            self.generate_in_step(&[prompt], std::slice::from_mut(sampler), decoding)?;
        generations
            .pop()
            .ok_or_else(|| self.run_error("no generation"))
    }

    /// [`SequenceModel::generate`] after each of `prompts`, row `r` drawing with `samplers[r]`:
    /// the same tokens, in fewer runs of the model. Prompts of one length run in lock step,
    /// up to [`Decoding::batch_rows`] rows per `session.run` (ONNX Runtime's CPU kernels give a row
    /// of a batch the logits of a batch of one, bit for bit; tested), a row that takes a word
    /// back staying in step behind its mask. Prompts of different lengths run one by one, and
    /// so do rows whose taken-back words are cut ([`SequenceModel::generate`]).
    pub fn generate_rows(
        &self,
        prompts: &[Vec<u32>],
        samplers: &mut [Sampler],
        decoding: &Decoding<'_>,
    ) -> Result<Vec<Generation>, SequenceError> {
        if samplers.len() != prompts.len() {
            return Err(self.run_error(format!(
                "{} prompts but {} samplers",
                prompts.len(),
                samplers.len()
            )));
        }
        let prompts: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
        let cut = self.word_check(decoding).is_some() && !self.masks_taken_back(decoding);
        let rows = if cut || prompts.windows(2).any(|w| w[0].len() != w[1].len()) {
            1
        } else {
            decoding.batch_rows.max(1)
        };
        let mut generations = Vec::with_capacity(prompts.len());
        for (prompts, samplers) in prompts.chunks(rows).zip(samplers.chunks_mut(rows)) {
            generations.extend(self.generate_in_step(prompts, samplers, decoding)?);
        }
        Ok(generations)
    }

    /// Whether tokens taken back stay in the key/value cache, hidden by the attention mask
    /// (the model takes a mask and positions); otherwise they are cut, and the cache (if any)
    /// is built again.
    fn masks_taken_back(&self, decoding: &Decoding<'_>) -> bool {
        decoding.kv_cache
            && self.cache.is_some()
            && self.inputs.attention_mask
            && self.inputs.position_ids
    }

    /// [`SequenceModel::generate_rows`] for prompts of one length: every row feeds one token
    /// per step (or, without the cache, its whole sequence); a finished row feeds its last
    /// token again, whose logits are not read. A row that takes a word back redraws from the
    /// logits it kept and stays in step, the tokens taken back hidden by its attention mask.
    fn generate_in_step(
        &self,
        prompts: &[&[u32]],
        samplers: &mut [Sampler],
        decoding: &Decoding<'_>,
    ) -> Result<Vec<Generation>, SequenceError> {
        let context = self.contract.context as usize;
        let prompt_len = prompts.first().map_or(0, |prompt| prompt.len());
        let limit = decoding.max_tokens.min(context.saturating_sub(prompt_len));
        let kv_cache = decoding.kv_cache && self.cache.is_some();
        let words = self.word_check(decoding);
        let masked = self.masks_taken_back(decoding);
        if words.is_some() && !masked && prompts.len() > 1 {
            return Err(self.run_error("rows that cut taken-back words run one by one"));
        }
        let kept = if words.is_some() { RETREAT_STEPS } else { 1 };
        let mut rows: Vec<Row> = prompts.iter().map(|prompt| Row::new(prompt)).collect();
        let empty = self.empty_cache(rows.len())?;
        let mut cache = Vec::new();
        // How many of each row's slots `cache` holds.
        let mut cached = 0;
        let mut session = self.session.lock();
        let mut binding = self.bind(&session)?;
        loop {
            for row in rows.iter_mut().filter(|row| row.ended.is_none()) {
                // Taken-back tokens fill the context too.
                if row.generated.len() >= limit
                    || row.slots.len() > context
                    || (decoding.done)(&row.generated)
                {
                    row.ended = Some(None);
                }
            }
            if rows.iter().all(|row| row.ended.is_some()) {
                break;
            }
            let from = if kv_cache { cached } else { 0 };
            let past = if from > 0 { &cache } else { &empty };
            let (logits, presents) = self.step(&mut session, &mut binding, &rows, from, past)?;
            if kv_cache {
                cache = presents;
                cached = rows[0].slots.len();
            }
            for ((row, logits), sampler) in rows.iter_mut().zip(logits).zip(&mut *samplers) {
                if row.ended.is_none() {
                    row.keep(logits, kept);
                    self.draw_next(row, sampler, decoding, words.as_ref(), masked);
                }
                if row.ended.is_some() {
                    let last = row.slots[row.slots.len() - 1];
                    row.slots.push(last);
                } else if row.slots.len() <= cached {
                    // Taken back without a mask: the cache is built again.
                    cached = 0;
                }
            }
        }
        Ok(rows.into_iter().map(Row::into_generation).collect())
    }

    /// Draws `row`'s next token from the logits it kept, and adds it to the row's slots;
    /// takes a word back and draws again where the word checks say so, or ends the row.
    fn draw_next(
        &self,
        row: &mut Row,
        sampler: &mut Sampler,
        decoding: &Decoding<'_>,
        words: Option<&WordCheck<'_>>,
        masked: bool,
    ) {
        loop {
            let position = row.generated.len();
            let banned_here: Vec<u32> = row
                .bans
                .iter()
                .filter(|&&(at, _)| at == position)
                .map(|&(_, token)| token)
                .collect();
            let banned = |t| banned_here.contains(&t);
            let logits = &row.logits[position - row.first];
            let Some(token) = self.draw(sampler, logits, &row.generated, decoding, words, &banned)
            else {
                row.ended = Some(None);
                return;
            };
            if let Some(start) = words.and_then(|w| w.retreat_to(&row.generated, token)) {
                if start < row.first || row.taken_back == decoding.max_retreats {
                    row.generated.truncate(start);
                    row.log_probs.truncate(start);
                    row.ended = Some(None);
                    return;
                }
                // Back to where the copied or unwanted word began; its first token is masked there.
                row.taken_back += 1;
                row.bans.retain(|&(at, _)| at <= start);
                row.bans
                    .push((start, row.generated.get(start).copied().unwrap_or(token)));
                row.take_back(start, masked);
                continue;
            }
            if decoding.stop.contains(&token) {
                row.ended = Some(Some(token));
                return;
            }
            if decoding.score {
                row.log_probs.push(log_prob(logits, token));
            }
            row.slots.push(Slot {
                token,
                position: (row.prompt_len + position) as i64,
                attended: true,
            });
            row.generated.push(token);
            return;
        }
    }

    /// The word checks `decoding` asks for, if this model has a lexicon.
    fn word_check<'d>(&'d self, decoding: &Decoding<'d>) -> Option<WordCheck<'d>> {
        match (&self.real_words, decoding.real_words) {
            (Some(words), true) => Some(WordCheck {
                lexicon: &words.lexicon,
                pieces: &words.pieces,
                ends: decoding.stop,
                names: decoding.names,
                unwanted: decoding.unwanted,
                spans: words.spans.as_ref(),
            }),
            _ => None,
        }
    }

    /// Draws the next token after `history` as `decoding` and `words` allow, never a `banned`
    /// one; `None` when nothing may follow.
    fn draw(
        &self,
        sampler: &mut Sampler,
        logits: &[f32],
        history: &[u32],
        decoding: &Decoding<'_>,
        words: Option<&WordCheck<'_>>,
        banned: &dyn Fn(u32) -> bool,
    ) -> Option<u32> {
        let filter = decoding.filter;
        // Words are checked on the drawn token only (checking every token first would cost
        // more than the step): a rejected token is masked and the step drawn again.
        let allowed = |t| filter(history, t) && !banned(t);
        let mut accept = |t| words.is_none_or(|words| words.allows(history, t));
        sampler.sample_checked(logits, history, &allowed, &mut accept)
    }

    /// An I/O binding for one generation: the key/value cache stays where the session runs (on
    /// the GPU under CUDA) from one step to the next, and only the logits come to the host.
    fn bind(&self, session: &Session) -> Result<Binding, SequenceError> {
        let error = |err: ort::Error| self.run_error(err);
        let device = match self.session.provider() {
            Provider::Cuda => AllocationDevice::CUDA,
            Provider::Cpu => AllocationDevice::CPU,
        };
        Ok(Binding {
            io: session.create_binding().map_err(error)?,
            cache: MemoryInfo::new(device, 0, AllocatorType::Device, MemoryType::Default)
                .map_err(error)?,
            host: MemoryInfo::new(
                AllocationDevice::CPU,
                0,
                AllocatorType::Device,
                MemoryType::CPUOutput,
            )
            .map_err(error)?,
        })
    }

    /// One `session.run` feeding each row's slots from `past_len` on (`past` holds those
    /// before): the logits of each row's last position and the new cache.
    fn step(
        &self,
        session: &mut Session,
        binding: &mut Binding,
        rows: &[Row],
        past_len: usize,
        past: &[DynValue],
    ) -> Result<(Vec<Vec<f32>>, Vec<DynValue>), SequenceError> {
        let total = rows.first().map_or(0, |row| row.slots.len());
        let (batch, n) = (rows.len(), total.saturating_sub(past_len));
        if n == 0 {
            return Err(self.run_error("nothing to feed it: the prompt is empty"));
        }
        let error = |err: ort::Error| self.run_error(err);
        let io = &mut binding.io;
        let fed = || rows.iter().flat_map(|row| &row.slots[past_len..]);
        let ids = fed().map(|slot| i64::from(slot.token)).collect::<Vec<_>>();
        io.bind_input(
            "input_ids",
            &Tensor::from_array(([batch, n], ids)).map_err(error)?,
        )
        .map_err(error)?;
        if self.inputs.attention_mask {
            let mask = rows
                .iter()
                .flat_map(|row| row.slots.iter().map(|slot| i64::from(slot.attended)))
                .collect::<Vec<_>>();
            let mask = Tensor::from_array(([batch, total], mask)).map_err(error)?;
            io.bind_input("attention_mask", &mask).map_err(error)?;
        }
        if self.inputs.position_ids {
            let positions = fed().map(|slot| slot.position).collect::<Vec<_>>();
            let positions = Tensor::from_array(([batch, n], positions)).map_err(error)?;
            io.bind_input("position_ids", &positions).map_err(error)?;
        }
        if self.inputs.use_cache_branch {
            let branch = Tensor::from_array(([1], vec![past_len > 0])).map_err(error)?;
            io.bind_input("use_cache_branch", &branch).map_err(error)?;
        }
        for (index, value) in past.iter().enumerate() {
            let kind = if index % 2 == 0 { "key" } else { "value" };
            io.bind_input(format!("past_key_values.{}.{kind}", index / 2), value)
                .map_err(error)?;
        }
        // Outputs are bound afresh every step: ONNX Runtime would otherwise write this step's
        // cache into the buffer the last step returned, which has another shape and is this
        // step's input.
        io.bind_output_to_device("logits", &binding.host)
            .map_err(error)?;
        let layers = self.cache.map_or(0, |(layers, _, _)| layers);
        for layer in 0..layers {
            for kind in ["key", "value"] {
                io.bind_output_to_device(format!("present.{layer}.{kind}"), &binding.cache)
                    .map_err(error)?;
            }
        }
        let mut outputs = self
            .run_clock
            .time(|| session.run_binding(io))
            .map_err(error)?;
        let (shape, values) = outputs["logits"]
            .try_extract_tensor::<f32>()
            .map_err(error)?;
        let vocabulary = shape.get(2).copied().unwrap_or_default() as usize;
        let logits = (0..batch)
            .map(|row| {
                let last = (row * n + n - 1) * vocabulary;
                let logits = values
                    .get(last..last + vocabulary)
                    .ok_or_else(|| self.run_error(format!("logits have shape {shape:?}")))?;
                // A branch-free check first (it vectorises); the culprit only when it fails.
                if logits.iter().fold(true, |finite, v| finite & v.is_finite()) {
                    return Ok(logits.to_vec());
                }
                let bad = logits
                    .iter()
                    .find(|v| !v.is_finite())
                    .copied()
                    .unwrap_or_default();
                Err(self.run_error(format!("the model produced a non-finite logit ({bad})")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut presents = Vec::with_capacity(2 * layers);
        for layer in 0..layers {
            for kind in ["key", "value"] {
                let name = format!("present.{layer}.{kind}");
                presents.push(
                    outputs
                        .remove(&name)
                        .ok_or_else(|| self.run_error(format!("output {name:?} is missing")))?,
                );
            }
        }
        Ok((logits, presents))
    }

    /// An empty key/value cache (past length 0) for every layer, for `batch` rows.
    fn empty_cache(&self, batch: usize) -> Result<Vec<DynValue>, SequenceError> {
        let Some((layers, heads, size)) = self.cache else {
            return Ok(Vec::new());
        };
        (0..2 * layers)
            .map(|_| {
                Tensor::from_array(([batch, heads as usize, 0, size as usize], Vec::<f32>::new()))
                    .map(Tensor::into_dyn)
                    .map_err(|err| self.run_error(err))
            })
            .collect()
    }

    fn run_error(&self, err: impl std::fmt::Display) -> SequenceError {
        SequenceError::Run {
            model: self.name.clone(),
            message: err.to_string(),
        }
    }
}
