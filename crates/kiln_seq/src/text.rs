//! Flavour text: a name and a description of whole sentences within a recipe's word limits.

use kiln_recipe::{SequenceContract, TextParams};
use serde::{Deserialize, Serialize};

use crate::lexicon::singular_forms;
use crate::{Decoding, Sampler, SequenceError, SequenceModel};

/// Attempts (each with its own derived seed) before giving up on the word limits.
const ATTEMPTS: u64 = 12;
/// Most tokens in a generated name.
const NAME_TOKENS: usize = 12;
/// Most names drawn in one attempt while looking for one the training texts do not have.
const NAME_DRAWS: usize = 64;
/// Names drawn side by side, in one batch: most made-up names take several draws (about 10
/// in the example recipes: the model likes its training texts' names), and four cost two to
/// three times one (docs/benchmarks.md, rows side by side).
const NAMES_AT_ONCE: usize = 4;

/// One piece of flavour text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flavour {
    /// The thing's name (the recipe's, or one the model made).
    pub name: String,
    /// The description: whole sentences, within the word limits.
    pub text: String,
}

/// Why no text came out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// The model failed.
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    /// No attempt gave whole sentences within the limits.
    #[error(
        "model {model:?} gave no description of {min}..={max} words in whole sentences in {ATTEMPTS} \
         attempts: widen min_words/max_words or raise sampling.max_tokens"
    )]
    Limits {
        /// Model name.
        model: String,
        /// The recipe's min_words.
        min: u32,
        /// The recipe's max_words.
        max: u32,
    },
}

/// Generates flavour text for `params` reproducibly from `seed`: the name (unless the recipe
/// gives one; a made-up one must fit the kind, see [`name_fits`], and is drawn again while it
/// is a name of the training texts, see [`SequenceModel::corpus_names`]),
/// then a description cut to the last whole sentence within `max_words`, both in words of the
/// model's lexicon when it has one. Of `candidates` descriptions drawn side by side, the one
/// the model finds most natural ([`Generation::mean_log_prob`](crate::Generation)) is kept. An
/// attempt with no fitting name, or no description of whole sentences within the limits, is
/// retried with a derived seed.
pub fn make_flavour(
    model: &SequenceModel,
    params: &TextParams,
    seed: u64,
) -> Result<Flavour, TextError> {
    let contract = model.contract();
    let end = model.token_id(&contract.end)?;
    let name_end = contract
        .name_end
        .as_deref()
        .map(|token| model.token_id(token))
        .transpose()?;
    // The text may name what the recipe names, whatever its words.
    let names = lower_words(params.name.as_deref().unwrap_or_default());
    for attempt in 0..ATTEMPTS {
        let mut sampler = Sampler::new(
            params.sampling,
            seed ^ attempt.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut prompt = model.prompt(&params.kind, params.name.as_deref())?;
        let name = match (&params.name, name_end) {
            (Some(name), _) => name.trim().to_owned(),
            (None, Some(name_end)) => {
                let Some((tokens, name)) =
                    make_up_name(model, &params.kind, &prompt, &mut sampler, [name_end, end])?
                else {
                    continue;
                };
                prompt.extend(&tokens);
                prompt.push(name_end);
                name
            }
            (None, None) => String::new(),
        };
        let budget = params.sampling.max_tokens.get() as usize;
        let unwanted = unwanted_words(contract, &params.kind, &name);
        // Words past `max_words` cannot change the cut (see `whole_sentences`): once word
        // `max_words + 1` has begun, the text has all it needs.
        let max_words = params.max_words.get() as usize;
        let enough = |tokens: &[u32]| {
            // A word takes a token at least: fewer tokens cannot have begun word max + 1.
            tokens.len() > max_words
                && model
                    .decode(tokens)
                    .is_ok_and(|text| text.split_whitespace().nth(max_words).is_some())
        };
        let decoding = Decoding {
            stop: &[end],
            done: &enough,
            real_words: true,
            names: &names,
            unwanted: &unwanted,
            score: true,
            ..Decoding::new(budget)
        };
        let candidates = params.candidates.get() as usize;
        let prompts = vec![prompt; candidates];
        let mut samplers: Vec<Sampler> = prompts.iter().map(|_| sampler.fork()).collect();
        let (min, max) = (params.min_words.get(), params.max_words.get());
        let mut best: Option<(f32, String)> = None;
        for generated in model.generate_rows(&prompts, &mut samplers, &decoding)? {
            let text = model.decode(&generated.tokens)?;
            let Some(text) = whole_sentences(&text, min, max) else {
                continue;
            };
            let score = generated.mean_log_prob();
            if best.as_ref().is_none_or(|(top, _)| score > *top) {
                best = Some((score, text));
            }
        }
        if let Some((_, text)) = best {
            return Ok(Flavour { name, text });
        }
    }
    Err(TextError::Limits {
        model: model.name().to_owned(),
        min: params.min_words.get(),
        max: params.max_words.get(),
    })
}

/// A name for a thing of `condition` drawn after `prompt` (its tokens, and its text), ended by
/// `name_end`, written as a name ([`looks_like_a_name`]) and fitting the condition
/// ([`name_fits`]); a draw that is not is drawn again, and so is a name of the model's training
/// texts ([`SequenceModel::corpus_names`]), so that made-up names are new: up to `NAME_DRAWS`
/// draws, then the first fitting name of the training texts is kept (`None` if none fit). Names are
/// drawn `NAMES_AT_ONCE` at a time, each with a sampler forked from `sampler`, and read in
/// order, as if drawn one after another.
fn make_up_name(
    model: &SequenceModel,
    condition: &str,
    prompt: &[u32],
    sampler: &mut Sampler,
    [name_end, end]: [u32; 2],
) -> Result<Option<(Vec<u32>, String)>, SequenceError> {
    let decoding = Decoding {
        stop: &[name_end, end],
        real_words: true,
        ..Decoding::new(NAME_TOKENS)
    };
    let prompts = vec![prompt.to_vec(); NAMES_AT_ONCE];
    let mut first_known = None;
    for _ in 0..NAME_DRAWS / NAMES_AT_ONCE {
        let mut samplers: Vec<Sampler> = prompts.iter().map(|_| sampler.fork()).collect();
        for generated in model.generate_rows(&prompts, &mut samplers, &decoding)? {
            let name = model.decode(&generated.tokens)?.trim().to_owned();
            let ended = generated.stopped_by == Some(name_end);
            if !ended || !looks_like_a_name(&name) || !name_fits(model.contract(), condition, &name)
            {
                continue;
            }
            let known = model
                .corpus_names()
                .is_some_and(|names| names.contains(&name));
            if !known {
                return Ok(Some((generated.tokens, name)));
            }
            first_known.get_or_insert((generated.tokens, name));
        }
    }
    Ok(first_known)
}

/// The words of `text`, lower case.
fn lower_words(text: &str) -> Vec<String> {
    crate::words(text).map(str::to_lowercase).collect()
}

/// The words a text of `condition` called `name` must not write, unless `name` has them (or
/// their plurals): the contract's `identity_nouns` of `condition` (other things of its kind)
/// and the `kind_words` of every other condition (other kinds of thing).
fn unwanted_words(contract: &SequenceContract, condition: &str, name: &str) -> Vec<String> {
    let own: Vec<String> = lower_words(name)
        .iter()
        .flat_map(|word| singular_forms(word))
        .collect();
    let others_kinds = contract
        .kind_words
        .iter()
        .filter(|(kind, _)| kind.as_str() != condition)
        .flat_map(|(_, words)| words);
    let nouns = contract.identity_nouns.get(condition).into_iter().flatten();
    nouns
        .chain(others_kinds)
        .filter(|noun| !singular_forms(noun).iter().any(|form| own.contains(form)))
        .cloned()
        .collect()
}

/// Whether a made-up `name` fits `condition` by the contract's
/// [`name_nouns`](SequenceContract::name_nouns): its noun (the word before "of", else the last)
/// must be listed for `condition` if it is listed for any.
pub fn name_fits(contract: &SequenceContract, condition: &str, name: &str) -> bool {
    let words = lower_words(name);
    let noun = match words.iter().skip(1).position(|w| w == "of") {
        Some(before_of) => &words[before_of],
        None => match words.last() {
            Some(last) => last,
            None => return true,
        },
    };
    let listed = |nouns: &Vec<String>| nouns.contains(noun);
    contract.name_nouns.get(condition).is_some_and(listed)
        || !contract.name_nouns.values().any(listed)
}

/// Words a name may write in lower case between its capitalised words ("Ring *of the* Drowned").
const JOINING_WORDS: [&str; 12] = [
    "of", "the", "and", "a", "an", "in", "on", "to", "at", "by", "for", "from",
];

/// Whether a made-up `name` is written as a name: words of letters (with inner apostrophes and
/// hyphens: "Alchemist's", "Half-Orc"), no two capitals in a row, the first, the last and every
/// other word capitalised but for joining words ("of", "the", "and"…) — not "Luck. Tamer of
/// Lightning", "Ring of XXI,aces", "Ring of XXV", "PR-staler Arm Guards", "Bamboo action" or
/// "Antipathy/Sympathy".
pub fn looks_like_a_name(name: &str) -> bool {
    let mut words = name.split(' ');
    let letters = |word: &str| {
        word.chars()
            .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
            && word.starts_with(char::is_alphabetic)
            && word.ends_with(char::is_alphabetic)
            && !word
                .chars()
                .zip(word.chars().skip(1))
                .any(|(a, b)| a.is_uppercase() && b.is_uppercase())
    };
    let capitalised = |word: &str| word.starts_with(char::is_uppercase);
    let last = name.rsplit(' ').next().unwrap_or_default();
    words
        .next()
        .is_some_and(|first| letters(first) && capitalised(first))
        && capitalised(last)
        && words.all(|word| letters(word) && (capitalised(word) || JOINING_WORDS.contains(&word)))
}

/// The longest run of whole sentences from the start of `text` with at most `max` words, if
/// it has at least `min` words. A sentence ends with `.`, `!` or `?` (and closing quotes or
/// brackets) followed by a space or the end, where every bracket and double quote opened
/// before it is closed: a tooltip never shows "…defend their young (or." or a `)` that
/// closes nothing (once one has, no later sentence end counts either). And the text must
/// begin as a sentence does, with a capital or a digit (after any opening quote or bracket):
/// "of the creature and the ally…" is the seam of a take-back, not a description.
pub fn whole_sentences(text: &str, min: u32, max: u32) -> Option<String> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let first = text.chars().find(|c| !matches!(c, '"' | '\'' | '(' | '['));
    if !first.is_some_and(|c| c.is_uppercase() || c.is_ascii_digit()) {
        return None;
    }
    let mut best = None;
    let mut words = 0;
    let mut marks = Marks::default();
    for (index, word) in text.split(' ').enumerate() {
        words += 1;
        if words > max {
            break;
        }
        marks.read(word);
        let core = word.trim_end_matches(['"', '\'', ')', ']']);
        if core.ends_with(['.', '!', '?']) && marks.all_closed() {
            let sentence_end: usize = text
                .split(' ')
                .take(index + 1)
                .map(|w| w.len() + 1)
                .sum::<usize>()
                - 1;
            best = Some((words, text[..sentence_end].to_owned()));
        }
    }
    best.filter(|(count, _)| *count >= min)
        .map(|(_, text)| text)
}

/// Brackets and double quotes read so far, for [`whole_sentences`].
#[derive(Default)]
struct Marks {
    /// Brackets open.
    depth: u32,
    /// Inside double quotes.
    quoted: bool,
    /// A bracket closed that was never opened.
    broken: bool,
}

impl Marks {
    fn read(&mut self, word: &str) {
        for c in word.chars() {
            match c {
                '(' | '[' => self.depth += 1,
                ')' | ']' => match self.depth.checked_sub(1) {
                    Some(depth) => self.depth = depth,
                    None => self.broken = true,
                },
                '"' => self.quoted = !self.quoted,
                _ => {}
            }
        }
    }

    fn all_closed(&self) -> bool {
        self.depth == 0 && !self.quoted && !self.broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> SequenceContract {
        SequenceContract {
            tokenizer: "tokenizer.json".to_owned(),
            lexicon: None,
            novelty: None,
            identity_nouns: Default::default(),
            kind_words: Default::default(),
            context: 64,
            conditions: vec!["weapon".to_owned(), "trinket".to_owned()],
            prompt: "<{condition}>".to_owned(),
            named_prompt: None,
            name_end: None,
            name_nouns: std::collections::BTreeMap::from([
                (
                    "weapon".to_owned(),
                    vec!["sword".to_owned(), "axe".to_owned()],
                ),
                (
                    "trinket".to_owned(),
                    vec!["wand".to_owned(), "sword".to_owned()],
                ),
            ]),
            end: "<end>".to_owned(),
            pixels: None,
        }
    }

    #[test]
    fn a_made_up_name_fits_its_condition_by_its_noun() {
        let contract = contract();
        assert!(name_fits(&contract, "weapon", "Frost Sword"));
        assert!(name_fits(&contract, "weapon", "Axe of the Dwarvish Lords"));
        assert!(!name_fits(&contract, "weapon", "Wand of Flying"));
        assert!(name_fits(&contract, "trinket", "Wand of Flying"));
        // Nouns no condition lists are free; so are names without words.
        assert!(
            name_fits(&contract, "weapon", "Emberfang") && name_fits(&contract, "weapon", "+1")
        );
    }

    #[test]
    fn a_text_may_name_only_its_own_kind_of_thing() {
        let mut contract = contract();
        contract.identity_nouns = std::collections::BTreeMap::from([(
            "weapon".to_owned(),
            vec!["sword".to_owned(), "axe".to_owned(), "raven".to_owned()],
        )]);
        contract.kind_words = std::collections::BTreeMap::from([
            ("trinket".to_owned(), vec!["wand".to_owned()]),
            ("weapon".to_owned(), vec!["blade".to_owned()]),
        ]);
        assert_eq!(
            unwanted_words(&contract, "weapon", "Swords of the Ravens"),
            ["axe", "wand"]
        );
        assert_eq!(
            unwanted_words(&contract, "weapon", "Emberfang"),
            ["sword", "axe", "raven", "wand"]
        );
        assert_eq!(
            unwanted_words(&contract, "weapon", "Wand Breaker"),
            ["sword", "axe", "raven"]
        );
        assert_eq!(unwanted_words(&contract, "trinket", "Emberfang"), ["blade"]);
    }

    #[test]
    fn a_made_up_name_is_written_as_a_name() {
        for name in [
            "Emberfang",
            "Ring of the Drowned King",
            "Alchemist's Fire",
            "Half-Orc Raider",
            "Wand of Flying",
            "McAllister's Blade",
        ] {
            assert!(looks_like_a_name(name), "{name:?}");
        }
        for name in [
            "Luck. Tamer of Lightning",
            "Ring of XXI,aces",
            "Bamboo action",
            "Antipathy/Sympathy",
            "Acid (vial)",
            "Ring of +2",
            "Ring of XXV",
            "PR-staler Arm Guards",
            "sword",
            "Ring  of Mist",
            "Ring of",
            "Ring of Mist-",
            "",
        ] {
            assert!(!looks_like_a_name(name), "{name:?}");
        }
    }

    #[test]
    fn cuts_at_the_last_whole_sentence_within_the_limit() {
        let text = "A blade of old iron. It hums when drawn! Nobody knows why it";
        assert_eq!(
            whole_sentences(text, 1, 100).as_deref(),
            Some("A blade of old iron. It hums when drawn!")
        );
        assert_eq!(
            whole_sentences(text, 1, 7).as_deref(),
            Some("A blade of old iron.")
        );
        assert_eq!(whole_sentences(text, 6, 7), None, "too short after the cut");
        assert_eq!(whole_sentences("no ending at all", 1, 10), None);
        assert_eq!(
            whole_sentences("of the creature and the ally. It bites.", 1, 10),
            None,
            "a text begins as a sentence does"
        );
        assert_eq!(
            whole_sentences("\"Run.\" 3 times.", 1, 10).as_deref(),
            Some("\"Run.\" 3 times.")
        );
        assert_eq!(
            whole_sentences("He said \"run.\" Then   left.", 1, 10).as_deref(),
            Some("He said \"run.\" Then left.")
        );
    }

    #[test]
    fn a_sentence_end_inside_open_brackets_or_quotes_does_not_count() {
        let open = "They hunt at night. Most defend their young (or. They rest.";
        assert_eq!(
            whole_sentences(open, 1, 100).as_deref(),
            Some("They hunt at night."),
            "a bracket left open"
        );
        let closed = "They hunt at night (mostly). Then \"rest.\" Done.";
        assert_eq!(whole_sentences(closed, 1, 100).as_deref(), Some(closed));
        let quote = "Bone white. Giant gecko\" lightning grasping. Run.";
        assert_eq!(
            whole_sentences(quote, 1, 100).as_deref(),
            Some("Bone white.")
        );
        let stray = "It bites. In prey slayer). Stored as caverns (deep).";
        assert_eq!(
            whole_sentences(stray, 1, 100).as_deref(),
            Some("It bites."),
            "a bracket that closes nothing spoils every later end"
        );
        assert_eq!(whole_sentences("[Open. Still open.", 1, 100), None);
    }
}
