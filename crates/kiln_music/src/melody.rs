//! Melody tokens from the model: `|` opens a bar of 16 steps, each `n<k>` (a note k semitones
//! from the tonic), `_` (hold) or `r` (rest).

use kiln_recipe::MusicParams;
use kiln_seq::{Decoding, Sampler, SequenceModel};

use crate::{MusicError, STEPS_PER_BAR};

/// Bars the model sees at once: continuations are prompted with the last `CONTEXT_BARS`.
const CONTEXT_BARS: usize = 4;
/// Bars generated per run of the model (its training windows were 8 bars).
const PHRASE_BARS: usize = 8;

/// A monophonic melody on a sixteenth-note grid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Melody {
    /// Bars of 16 steps: `Some(semitones from the tonic)` where a note starts, `None` for rests
    /// and holds (see `held`).
    pub steps: Vec<Step>,
}

/// One sixteenth-note step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A note starts, this many semitones from the tonic.
    Note(i32),
    /// The previous note holds.
    Hold,
    /// Silence.
    Rest,
}

impl Melody {
    /// Number of bars.
    pub fn bars(&self) -> u32 {
        self.steps.len() as u32 / STEPS_PER_BAR
    }

    /// Notes as `(start step, length in steps, semitones)`; holds extend the note before them,
    /// and a note still sounding at the end carries on over the loop's start (its holds there).
    pub fn notes(&self) -> Vec<(u32, u32, i32)> {
        let total = self.steps.len();
        let mut notes = Vec::new();
        for (start, step) in self.steps.iter().enumerate() {
            if let Step::Note(pitch) = step {
                let length = (1..total)
                    .take_while(|offset| self.steps[(start + offset) % total] == Step::Hold)
                    .count()
                    + 1;
                notes.push((start as u32, length as u32, *pitch));
            }
        }
        notes
    }
}

/// Vocabulary ids the grammar needs.
struct Tokens {
    bar: u32,
    steps: Vec<(u32, Step)>,
}

impl Tokens {
    fn of(model: &SequenceModel) -> Result<Self, MusicError> {
        let bar = model.token_id("|")?;
        let mut steps = Vec::new();
        for id in 0..model.vocabulary() as u32 {
            let Some(text) = model.token(id) else {
                continue;
            };
            let step = match text.as_str() {
                "_" => Step::Hold,
                "r" => Step::Rest,
                other => match other.strip_prefix('n').and_then(|k| k.parse().ok()) {
                    Some(k) => Step::Note(k),
                    None => continue,
                },
            };
            steps.push((id, step));
        }
        if steps.iter().all(|(_, s)| !matches!(s, Step::Note(_))) {
            return Err(MusicError::Tokens {
                model: model.name().to_owned(),
                message: "its tokenizer has no note tokens (n<k>)".to_owned(),
            });
        }
        Ok(Self { bar, steps })
    }

    fn step(&self, id: u32) -> Option<Step> {
        self.steps.iter().find(|(t, _)| *t == id).map(|(_, s)| *s)
    }
}

/// Samples `params.bars` bars from `model` in the recipe's mode, exactly: a grammar lets the
/// model choose only step tokens inside a bar and only `|` between bars.
pub fn generate_melody(
    model: &SequenceModel,
    params: &MusicParams,
    seed: u64,
) -> Result<Melody, MusicError> {
    let mut melodies = generate_melodies(model, params, &[seed])?;
    Ok(melodies.remove(0))
}

/// [`generate_melody`] for each of `seeds`, in seed order: the melodies are generated side
/// by side ([`SequenceModel::generate_rows`]), the same as one by one in fewer runs.
pub fn generate_melodies(
    model: &SequenceModel,
    params: &MusicParams,
    seeds: &[u64],
) -> Result<Vec<Melody>, MusicError> {
    let tokens = Tokens::of(model)?;
    let bar_len = STEPS_PER_BAR as usize + 1; // `|` + 16 steps
    let wanted = params.bars.get() as usize;
    let mut samplers: Vec<Sampler> = seeds
        .iter()
        .map(|&seed| Sampler::new(params.sampling, seed))
        .collect();
    // Every melody has as many bars as the others at each round, so its prompt is as long.
    let mut bars: Vec<Vec<Vec<u32>>> = vec![Vec::new(); seeds.len()];
    let mut done = 0;
    while done < wanted {
        let prompts = bars
            .iter()
            .map(|bars| {
                let mut prompt = model.prompt(params.mode.name(), None)?;
                for bar in bars.iter().skip(done.saturating_sub(CONTEXT_BARS)) {
                    prompt.extend(bar);
                    prompt.push(tokens.bar);
                }
                Ok(prompt)
            })
            .collect::<Result<Vec<_>, MusicError>>()?;
        // The prompt ends with `|`: generated token k is step k % 17 of a bar, or the next `|`.
        let count = (wanted - done).min(PHRASE_BARS - done.min(CONTEXT_BARS));
        let filter = |generated: &[u32], candidate: u32| {
            if generated.len() % bar_len == STEPS_PER_BAR as usize {
                candidate == tokens.bar
            } else {
                tokens.step(candidate).is_some()
            }
        };
        let decoding = Decoding {
            filter: &filter,
            ..Decoding::new(count * bar_len - 1)
        };
        let generations = model.generate_rows(&prompts, &mut samplers, &decoding)?;
        for (bars, generation) in bars.iter_mut().zip(generations) {
            if generation.tokens.len() != count * bar_len - 1 {
                return Err(MusicError::Tokens {
                    model: model.name().to_owned(),
                    message: format!(
                        "it stopped after {} tokens of {} (is its context too short?)",
                        generation.tokens.len(),
                        count * bar_len - 1
                    ),
                });
            }
            bars.extend(
                generation
                    .tokens
                    .split(|&t| t == tokens.bar)
                    .map(<[u32]>::to_vec),
            );
        }
        done += count;
    }
    Ok(bars
        .iter()
        .map(|bars| Melody {
            steps: bars
                .iter()
                .flatten()
                .map(|&id| tokens.step(id).unwrap_or(Step::Rest))
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_extend_notes_and_wrap_over_the_loop_start() {
        let mut steps = vec![Step::Rest; 16];
        steps[0] = Step::Hold;
        steps[1] = Step::Hold;
        steps[2] = Step::Note(0);
        steps[3] = Step::Hold;
        steps[8] = Step::Note(7);
        steps[15] = Step::Note(4);
        let melody = Melody { steps };
        assert_eq!(melody.notes(), vec![(2, 2, 0), (8, 1, 7), (15, 3, 4)]);
    }
}
