//! Kiln's sequence generation, shared by flavour text and music.
//!
//! - [`SequenceModel`]: a causal decoder in the Hugging Face/optimum export contract, with its
//!   `tokenizer.json`, run with a KV cache when it has one (the prompt once, then one token per
//!   step), merged (`use_cache_branch`) and cache-less exports too.
//! - [`make_flavour`]: a name and whole sentences within word limits; [`complete`]: the
//!   model's own continuation of a prompt.
//! - [`Lexicon`]: the words flavour text may write; a drawn token that would write another is
//!   masked and the step drawn again; [`CorpusSpans`]: runs of words of the training texts,
//!   which it may not copy, checked the same way; [`CorpusNames`]: their names, which a
//!   made-up name may not be.
//! - [`draw_pixel_art`]: sprites drawn one pixel (or block of pixels) per token by a model whose
//!   tokens are colours.
//! - [`Sampler`]: seeded temperature, top-k, top-p and repetition-penalty sampling; the same
//!   seed and model give the same tokens.

mod completion;
mod decoder;
mod lexicon;
mod novelty;
mod pixels;
mod sampler;
pub mod text;

pub use completion::{Completion, complete, complete_each};
pub use decoder::{
    Decoding, Generation, MAX_BATCH_ROWS, MAX_RETREATS, SequenceError, SequenceModel, StepFilter,
};
pub use lexicon::{Lexicon, RealWords, words};
pub use novelty::{CorpusNames, CorpusSpans};
pub use pixels::{
    BlockColours, PIXEL_BATCH_ROWS, PIXEL_TOP_K, PixelArt, draw_pixel_art, pixel_sampling,
    token_colour, token_colours,
};
pub use sampler::Sampler;
pub use text::{Flavour, TextError, looks_like_a_name, make_flavour, name_fits, whole_sentences};
