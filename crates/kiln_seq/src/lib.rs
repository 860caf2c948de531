//! Kiln's sequence generation, shared by flavour text and music.
//!
//! - [`SequenceModel`]: a causal decoder in the Hugging Face/optimum export contract, with its
//!   `tokenizer.json`, run with a KV cache (the prompt once, then one token per step).
//! - [`Sampler`]: seeded temperature, top-k, top-p and repetition-penalty sampling; the same
//!   seed and model give the same tokens.

mod completion;
mod decoder;
mod sampler;
pub mod text;

pub use completion::{Completion, complete};
pub use decoder::{Decoding, Generation, SequenceError, SequenceModel, StepFilter};
pub use sampler::Sampler;
pub use text::{Flavour, TextError, make_flavour};
