//! Plain completion: any decoder's own continuation of a prompt, with the entry's sampling and
//! no template, sentence or word constraints.

use kiln_recipe::CompletionParams;

use crate::{Decoding, Sampler, SequenceError, SequenceModel};

/// A model's continuation of a prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The continuation, cut before the first stop text.
    pub text: String,
    /// The token ids generated (up to and including the one that completed a stop text;
    /// without the end token).
    pub tokens: Vec<u32>,
}

/// Continues `params.prompt` reproducibly from `seed` until the model's end token, a stop
/// text, `max_tokens` or the model's context.
pub fn complete(
    model: &SequenceModel,
    params: &CompletionParams,
    seed: u64,
) -> Result<Completion, SequenceError> {
    let mut completions = complete_each(model, params, &[seed])?;
    Ok(completions.remove(0))
}

/// [`complete`] for each of `seeds`, in seed order: the continuations are generated side by
/// side ([`SequenceModel::generate_rows`]), the same as one by one in fewer runs.
pub fn complete_each(
    model: &SequenceModel,
    params: &CompletionParams,
    seeds: &[u64],
) -> Result<Vec<Completion>, SequenceError> {
    let prompt = model.encode(&params.prompt)?;
    let end = model.token_id(&model.contract().end)?;
    let stop_written = |tokens: &[u32]| {
        !params.stop.is_empty()
            && model
                .decode(tokens)
                .is_ok_and(|text| first_stop(&text, &params.stop).is_some())
    };
    let decoding = Decoding {
        stop: &[end],
        done: &stop_written,
        ..Decoding::new(params.sampling.max_tokens.get() as usize)
    };
    let prompts = vec![prompt; seeds.len()];
    let mut samplers: Vec<Sampler> = seeds
        .iter()
        .map(|&seed| Sampler::new(params.sampling, seed))
        .collect();
    model
        .generate_rows(&prompts, &mut samplers, &decoding)?
        .into_iter()
        .map(|generation| {
            let mut text = model.decode(&generation.tokens)?;
            if let Some(at) = first_stop(&text, &params.stop) {
                text.truncate(at);
            }
            Ok(Completion {
                text,
                tokens: generation.tokens,
            })
        })
        .collect()
}

/// Where the earliest of `stops` begins in `text`.
fn first_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter_map(|stop| text.find(stop.as_str()))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_stop_text_wins() {
        let stops = ["\n".to_owned(), ".".to_owned()];
        assert_eq!(first_stop("A blade. Sharp\n", &stops), Some(7));
        assert_eq!(first_stop("no stop here", &stops), None);
        assert_eq!(first_stop("anything", &[]), None);
    }
}
