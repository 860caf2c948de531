//! Real words only: a word list, the check that a drawn token keeps every word in it, and
//! which completed words must be taken back (copied runs, unwanted words).

use crate::{CorpusNames, CorpusSpans};

/// The words a text may use, case folded and sorted (prefixes are found by binary search).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lexicon {
    words: Vec<String>,
}

impl Lexicon {
    /// A word list: one word per line; blank lines and lines starting with `#` are skipped.
    pub fn parse(text: &str) -> Self {
        let mut words: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_lowercase)
            .collect();
        words.sort_unstable();
        words.dedup();
        Self { words }
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether it has no words.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether `word` (lower case) is in the list.
    pub fn contains(&self, word: &str) -> bool {
        self.words
            .binary_search_by(|w| w.as_str().cmp(word))
            .is_ok()
    }

    /// Whether some word of the list starts with `prefix` (lower case).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        let first = self.words.partition_point(|w| w.as_str() < prefix);
        self.words.get(first).is_some_and(|w| w.starts_with(prefix))
    }

    /// The words of `text` that are not in the list (what a check of generated text reports).
    pub fn unknown_words<'t>(&self, text: &'t str) -> Vec<&'t str> {
        words(text)
            .filter(|word| !self.contains(&word.to_lowercase()))
            .collect()
    }
}

/// The words of `text`: runs of letters, with apostrophes inside a word (`dragon's`).
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !is_word_char(c))
        .map(|run| run.trim_matches('\''))
        .filter(|word| !word.is_empty())
}

/// Whether a word's letters are all lower case but maybe the first, or all capitals.
fn well_cased(word: &str) -> bool {
    let mut letters = word.chars().filter(|c| c.is_alphabetic());
    let Some(first) = letters.next() else {
        return true;
    };
    let rest: Vec<char> = letters.collect();
    rest.iter().all(|c| c.is_lowercase())
        || (first.is_uppercase() && rest.iter().all(|c| c.is_uppercase()))
}

/// The words of `text` (lower case) but one still being written at its end.
fn complete_words(text: &str) -> Vec<String> {
    let mut complete: Vec<String> = words(text).map(str::to_lowercase).collect();
    if text.ends_with(is_word_char) {
        complete.pop();
    }
    complete
}

/// What `word` (lower case) may be the plural or possessive of, itself first: "sharks",
/// "sphinxes", "harpies", "wolves", "knives", "shark's" give "shark", "sphinx", "harpy",
/// "wolf", "knife", "shark" among others.
pub(crate) fn singular_forms(word: &str) -> Vec<String> {
    let word = word.trim_end_matches("'s").trim_end_matches('\'');
    let mut forms = vec![word.to_owned()];
    for (plural, singulars) in [
        ("s", &[""][..]),
        ("es", &[""]),
        ("ies", &["y"]),
        ("ves", &["f", "fe"]),
    ] {
        if let Some(stem) = word.strip_suffix(plural).filter(|stem| !stem.is_empty()) {
            forms.extend(singulars.iter().map(|ending| format!("{stem}{ending}")));
        }
    }
    forms
}

/// What letters right after a digit may be: an ordinal's ending ("1st", "22nd", "4th").
const ORDINAL_ENDINGS: [&str; 4] = ["st", "nd", "rd", "th"];

fn is_word_char(c: char) -> bool {
    c.is_alphabetic() || c == '\''
}

/// A [`Lexicon`] (and the runs of training text not to copy, if any) matched to one
/// tokenizer's tokens: what [`crate::Decoding::real_words`] checks drawn tokens against (made
/// by [`crate::SequenceModel::real_words`]).
#[derive(Debug)]
pub struct RealWords {
    pub(crate) lexicon: Lexicon,
    pub(crate) spans: Option<CorpusSpans>,
    pub(crate) names: Option<CorpusNames>,
    /// Text of each token id, special tokens empty (as decoding writes them).
    pub(crate) pieces: Vec<String>,
}

impl RealWords {
    /// The words.
    pub fn lexicon(&self) -> &Lexicon {
        &self.lexicon
    }

    /// The runs of training text its generations may not copy, if any.
    pub fn spans(&self) -> Option<&CorpusSpans> {
        self.spans.as_ref()
    }

    /// The names of the training texts, which a made-up name is drawn again for being, if any.
    pub fn names(&self) -> Option<&CorpusNames> {
        self.names.as_ref()
    }
}

/// Checks tokens of a generation against a [`Lexicon`], knowing each token's text.
#[derive(Debug)]
pub(crate) struct WordCheck<'a> {
    pub(crate) lexicon: &'a Lexicon,
    /// Text of each token id, special tokens empty (as decoding writes them).
    pub(crate) pieces: &'a [String],
    /// Tokens that end the text: the open word must be complete before them.
    pub(crate) ends: &'a [u32],
    /// Words allowed besides the lexicon's (a name the recipe gives), lower case.
    pub(crate) names: &'a [String],
    /// Words of the lexicon not to write (with their plurals), lower case.
    pub(crate) unwanted: &'a [String],
    /// Runs of words that may not be written, if any.
    pub(crate) spans: Option<&'a CorpusSpans>,
}

impl WordCheck<'_> {
    /// Whether `raw`, a whole word as written, is one of the lexicon's (in lower case, Title
    /// case or capitals; "lenIency" is not) or of the names.
    fn is_word(&self, raw: &str) -> bool {
        let word = raw.trim_end_matches('\'').to_lowercase();
        self.names.contains(&word) || (well_cased(raw) && self.lexicon.contains(&word))
    }

    /// Whether `word` (lower case) is an unwanted one, its plural or possessive.
    fn is_unwanted(&self, word: &str) -> bool {
        singular_forms(word)
            .iter()
            .any(|singular| self.unwanted.contains(singular))
    }

    /// Whether `raw`, the start of a word as written, can still become one.
    fn starts_word(&self, raw: &str) -> bool {
        let prefix = raw.to_lowercase();
        self.names.iter().any(|name| name.starts_with(&prefix))
            || (well_cased(raw) && self.lexicon.has_prefix(&prefix))
    }

    /// Whether `token` may follow `generated`: each word it completes is in the lexicon, and
    /// the word it leaves open is still the start of one. A token that holds only part of a
    /// character (a byte-level token of "ö", written alone as U+FFFD) never may: the word it
    /// would join cannot be checked until the character is whole. Nor may one glue letters
    /// and numbers ("15magical", "squirrel,000"): letters right after a digit must be an
    /// ordinal's ending ("4th"), and a digit may not follow a letter, nor a comma after one.
    pub(crate) fn allows(&self, generated: &[u32], token: u32) -> bool {
        let written = self.written(token);
        if written.contains(char::REPLACEMENT_CHARACTER) {
            return false;
        }
        let mut word = self.open_word(generated);
        let open = word.chars().count();
        let tail = self.tail(generated, open + 2);
        let back = |n: usize| tail.len().checked_sub(n).map(|at| tail[at]);
        let (mut before_last, mut last) = (back(2), back(1));
        // Whether the open word follows a digit, so must be an ordinal's ending.
        let mut ordinal = open > 0 && back(open + 1).is_some_and(|c| c.is_ascii_digit());
        for c in written.chars() {
            let after_letter = last.is_some_and(char::is_alphabetic)
                || (last == Some(',') && before_last.is_some_and(char::is_alphabetic));
            if c.is_ascii_digit() && after_letter {
                return false;
            }
            if c.is_alphabetic() || (c == '\'' && !word.is_empty()) {
                if word.is_empty() {
                    ordinal = last.is_some_and(|c| c.is_ascii_digit());
                }
                word.push(c);
            } else {
                let complete = match ordinal {
                    true => ORDINAL_ENDINGS.contains(&word.as_str()),
                    false => self.is_word(&word),
                };
                if !word.is_empty() && !complete {
                    return false;
                }
                word.clear();
            }
            (before_last, last) = (last, Some(c));
        }
        match (word.is_empty(), ordinal) {
            (true, _) => true,
            (false, true) => ORDINAL_ENDINGS
                .iter()
                .any(|ending| ending.starts_with(&word)),
            (false, false) => self.starts_word(&word),
        }
    }

    /// The last `n` characters `generated` wrote, in order (fewer if it wrote fewer).
    fn tail(&self, generated: &[u32], n: usize) -> Vec<char> {
        let mut tail = Vec::with_capacity(n);
        'tokens: for &token in generated.iter().rev() {
            for c in self.piece(token).chars().rev() {
                if tail.len() == n {
                    break 'tokens;
                }
                tail.push(c);
            }
        }
        tail.reverse();
        tail
    }

    /// Where to take a word back from (an index into `generated`, or `generated.len()` for a
    /// word inside `token`) if `token` completes one that must not be written: an unwanted
    /// word, or one that ends a run of the training texts.
    pub(crate) fn retreat_to(&self, generated: &[u32], token: u32) -> Option<usize> {
        if self.spans.is_none() && self.unwanted.is_empty() {
            return None;
        }
        // The last run's words are all a check needs: the text from the token where the word
        // before them starts (a partial first word is never looked at).
        let run = self.spans.map_or(1, CorpusSpans::words);
        let mut start = generated.len();
        let mut text = String::new();
        while start > 0 && words(&text).count() < run + 2 {
            start -= 1;
            text.insert_str(0, self.piece(generated[start]));
        }
        let before = complete_words(&text).len();
        text.push_str(self.written(token));
        let complete = complete_words(&text);
        let copies = |end: usize| {
            self.spans.is_some_and(|spans| {
                let n = spans.words();
                end + 1 >= n && spans.contains(&complete[end + 1 - n..=end])
            })
        };
        let end = (before..complete.len())
            .find(|&end| self.is_unwanted(&complete[end]) || copies(end))?;
        Some(match end == before {
            true => self.open_word_start(generated),
            false => generated.len(),
        })
    }

    /// The index of the token the open word at the end of `generated` starts in
    /// (`generated.len()` when no word is open).
    fn open_word_start(&self, generated: &[u32]) -> usize {
        for (index, &token) in generated.iter().enumerate().rev() {
            let piece = self.piece(token);
            if let Some((at, c)) = piece.char_indices().rev().find(|&(_, c)| !is_word_char(c)) {
                let word_follows = at + c.len_utf8() < piece.len();
                return if word_follows { index } else { index + 1 };
            }
        }
        0
    }

    /// What `token` writes: its text, or a space for a token that ends the text.
    fn written(&self, token: u32) -> &str {
        match self.ends.contains(&token) {
            true => " ",
            false => self.piece(token),
        }
    }

    fn piece(&self, token: u32) -> &str {
        self.pieces.get(token as usize).map_or("", String::as_str)
    }

    /// The word the text so far ends in, empty after a space or punctuation.
    fn open_word(&self, generated: &[u32]) -> String {
        let mut tail = String::new();
        for &token in generated.iter().rev() {
            let piece = self.piece(token);
            tail.insert_str(0, piece);
            if piece.chars().any(|c| !is_word_char(c)) {
                break;
            }
        }
        let start = tail
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_word_char(c))
            .map_or(0, |(index, c)| index + c.len_utf8());
        tail[start..].trim_start_matches('\'').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks against `lexicon` only: token 0 ends the text, no names, nothing unwanted.
    fn plain_check<'a>(lexicon: &'a Lexicon, pieces: &'a [String]) -> WordCheck<'a> {
        WordCheck {
            lexicon,
            pieces,
            ends: &[0],
            names: &[],
            unwanted: &[],
            spans: None,
        }
    }

    fn lexicon() -> Lexicon {
        Lexicon::parse("# a comment\nThe\nsword\nsworn\ndragon's\n\nhums\nsword\n")
    }

    #[test]
    fn parses_case_folded_without_comments_or_repeats() {
        let lexicon = lexicon();
        assert_eq!(lexicon.len(), 5);
        assert!(lexicon.contains("the") && !lexicon.contains("The"));
        assert!(lexicon.has_prefix("swo") && lexicon.has_prefix("sword"));
        assert!(!lexicon.has_prefix("swa") && !lexicon.has_prefix("swords"));
        assert_eq!(
            lexicon.unknown_words("The swordd hums; 'dragon's' +3 swrd."),
            ["swordd", "swrd"]
        );
    }

    #[test]
    fn a_token_may_finish_only_words_of_the_lexicon() {
        let lexicon = lexicon();
        // Token 0 is the end token, special, so written as nothing.
        let pieces = [
            "", " the", " sw", "ord", "ords", "orn", ".", " dragon", "'s", "x", " Sw", " SW", "ORD",
        ]
        .map(str::to_owned);
        let check = plain_check(&lexicon, &pieces);
        // " sw" opens a word that can still become "sword" or "sworn".
        assert!(check.allows(&[1], 2));
        assert!(check.allows(&[1, 2], 3) && check.allows(&[1, 2], 5));
        // "swords" starts no word; "x" after "the" neither.
        assert!(!check.allows(&[1, 2], 4));
        assert!(!check.allows(&[1], 9));
        // Punctuation or the end token finish the open word: "sword" is one, "sw" is not.
        assert!(check.allows(&[1, 2, 3], 6) && check.allows(&[1, 2, 3], 0));
        assert!(!check.allows(&[1, 2], 6) && !check.allows(&[1, 2], 0));
        // Case aside, but as words are written: "Sword" and "SWORD", not "swORD" nor "SwORD".
        assert!(check.allows(&[10], 3) && check.allows(&[10, 3], 6));
        assert!(check.allows(&[11], 12) && check.allows(&[11, 12], 6));
        assert!(!check.allows(&[2], 12) && !check.allows(&[10], 12));
        // Apostrophes inside a word belong to it.
        assert!(check.allows(&[7], 8) && check.allows(&[7, 8], 6));
        // A name the recipe gives is a word too.
        let names = ["swords".to_owned()];
        let named = WordCheck {
            names: &names,
            ..check
        };
        assert!(named.allows(&[1, 2], 4) && named.allows(&[1, 2, 4], 6));
    }

    #[test]
    fn letters_and_numbers_are_not_glued_together() {
        let lexicon = Lexicon::parse("the\nsword\nmagical\n");
        let pieces = [
            "", " 15", "magical", " magical", "th", "t", "h", " sword", ",", "000", "5", ".", "0",
        ]
        .map(str::to_owned);
        let check = plain_check(&lexicon, &pieces);
        // "15 magical" and "15th", not "15magical" nor "15t.".
        assert!(check.allows(&[1], 3) && !check.allows(&[1], 2));
        assert!(check.allows(&[1], 4) && check.allows(&[1, 4], 11));
        assert!(check.allows(&[1], 5) && check.allows(&[1, 5], 6));
        assert!(!check.allows(&[1, 5], 11));
        // "15,000" and "sword, 15", not "sword,000" nor "sword5".
        assert!(check.allows(&[1, 8], 9) && check.allows(&[7, 8], 1));
        assert!(!check.allows(&[7, 8], 9) && !check.allows(&[7], 10));
        // A number after a sentence is fine: "sword.0" is no word glued to a number.
        assert!(check.allows(&[7, 11], 12));
    }

    #[test]
    fn a_token_with_part_of_a_character_is_never_allowed() {
        let lexicon = Lexicon::parse("sword\nsmith\nsmiths\nmjölnir\n");
        // Byte-level tokens of "ö" alone decode to U+FFFD; "ö" whole is a letter.
        let pieces =
            ["", " sword", "\u{FFFD}", "smith", " mj", "ö", "lnir", "."].map(str::to_owned);
        let check = plain_check(&lexicon, &pieces);
        // "sword" + half an "ö" + "smith" would write "swordösmith", which no check saw whole.
        assert!(!check.allows(&[1], 2) && !check.allows(&[], 2));
        assert!(check.allows(&[4], 5) && check.allows(&[4, 5], 6) && check.allows(&[4, 5, 6], 7));
    }

    #[test]
    fn a_word_that_ends_a_run_of_the_training_texts_is_found_where_it_starts() {
        let lexicon = Lexicon::parse("the\nsword\nsworn\nhums\nsings\nlow\n");
        let pieces = [
            "", " the", " sw", "ord", " hums", " sings", ".", " low", "orn",
        ]
        .map(str::to_owned);
        let spans = CorpusSpans::of_texts(["The sword hums low."], 3);
        let check = WordCheck {
            spans: Some(&spans),
            ..plain_check(&lexicon, &pieces)
        };
        // "the sword hums" is a run: " hums" is fine until a space or stop completes it, and
        // the word to take back starts at " hums" (index 3).
        assert_eq!(check.retreat_to(&[1, 2, 3], 4), None);
        assert_eq!(check.retreat_to(&[1, 2, 3, 4], 6), Some(3));
        assert_eq!(check.retreat_to(&[1, 2, 3, 4], 0), Some(3));
        assert_eq!(check.retreat_to(&[1, 2, 3, 5], 6), None);
        // A run ending in a word split over tokens goes back to its first token (" sw").
        let spans = CorpusSpans::of_texts(["The the sword"], 3);
        let check = WordCheck {
            spans: Some(&spans),
            ..check
        };
        assert_eq!(check.retreat_to(&[1, 1, 2, 3], 6), Some(2));
        assert_eq!(
            check.retreat_to(&[1, 1, 2, 8], 6),
            None,
            "\"sworn\" is no copy"
        );
        // Without spans nothing is a copy.
        let check = WordCheck {
            spans: None,
            ..check
        };
        assert_eq!(check.retreat_to(&[1, 1, 2, 3], 6), None);
        // An unwanted word is taken back from its start, and its plural; "sworn" is not it.
        let unwanted = ["sword".to_owned()];
        let check = WordCheck {
            unwanted: &unwanted,
            ..check
        };
        assert_eq!(check.retreat_to(&[1, 2, 3], 6), Some(1));
        assert_eq!(check.retreat_to(&[1, 2, 8], 6), None);
    }

    #[test]
    fn unwanted_words_are_found_in_their_plurals_and_possessives() {
        let lexicon = lexicon();
        let unwanted = ["wolf", "harpy", "knife", "sphinx", "shark"].map(str::to_owned);
        let check = WordCheck {
            unwanted: &unwanted,
            ..plain_check(&lexicon, &[])
        };
        for word in [
            "wolves", "harpies", "knives", "sphinxes", "sharks", "shark's", "wolf",
        ] {
            assert!(check.is_unwanted(word), "{word}");
        }
        for word in ["wolfish", "harp", "ves", "ies", "sharky", "sphinxe"] {
            assert!(!check.is_unwanted(word), "{word}");
        }
    }
}
