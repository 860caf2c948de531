//! Keeping generated text from copying the texts a model was trained on.

use std::collections::HashSet;
use std::fmt;

/// Every run of a fixed number of words in a model's training texts, as hashes (the file a
/// manifest's `novelty` names; see [`kiln_recipe::Novelty`]): text that would repeat one is
/// drawn again as it is written ([`crate::Decoding::real_words`]).
#[derive(Clone, PartialEq, Eq)]
pub struct CorpusSpans {
    words: usize,
    /// Ascending.
    hashes: Vec<u64>,
}

impl CorpusSpans {
    /// Reads the file's bytes (little-endian `u64` hashes in ascending order) for runs of
    /// `words` words; the error says what is wrong with them.
    pub fn from_bytes(bytes: &[u8], words: usize) -> Result<Self, String> {
        if words < 2 {
            return Err(format!("runs of {words} word(s): at least 2 are needed"));
        }
        if !bytes.len().is_multiple_of(8) {
            return Err(format!(
                "{} bytes is not a whole number of 8-byte hashes: rewrite the file",
                bytes.len()
            ));
        }
        let hashes: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|chunk| u64::from_le_bytes(chunk.try_into().expect("8 bytes")))
            .collect();
        if let Some(at) = hashes.windows(2).position(|pair| pair[0] >= pair[1]) {
            return Err(format!(
                "hash {} is not above the one before it: the hashes must be in ascending order, without repeats",
                at + 1
            ));
        }
        Ok(Self { words, hashes })
    }

    /// The hashes of every run of `words` words of `texts`, as [`crate::words`] splits them.
    pub fn of_texts<'t>(texts: impl IntoIterator<Item = &'t str>, words: usize) -> Self {
        assert!(words >= 2, "runs of at least 2 words");
        let mut hashes: Vec<u64> = texts
            .into_iter()
            .flat_map(|text| {
                let lower: Vec<String> = crate::words(text).map(str::to_lowercase).collect();
                lower.windows(words).map(run_hash).collect::<Vec<_>>()
            })
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        Self { words, hashes }
    }

    /// The file's bytes (see [`CorpusSpans::from_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.hashes.iter().flat_map(|h| h.to_le_bytes()).collect()
    }

    /// How many words in a row may not be copied.
    pub fn words(&self) -> usize {
        self.words
    }

    /// How many runs the training texts have.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether there are no runs at all.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether `run` (lower-case words) is a run of the training texts; only runs of
    /// [`CorpusSpans::words`] words can be.
    pub fn contains(&self, run: &[impl AsRef<str>]) -> bool {
        run.len() == self.words && self.hashes.binary_search(&run_hash(run)).is_ok()
    }

    /// How many of the runs of `text` are runs of the training texts.
    pub fn copied_runs(&self, text: &str) -> usize {
        let lower: Vec<String> = crate::words(text).map(str::to_lowercase).collect();
        lower
            .windows(self.words)
            .filter(|run| self.contains(run))
            .count()
    }
}

impl fmt::Debug for CorpusSpans {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorpusSpans")
            .field("words", &self.words)
            .field("runs", &self.hashes.len())
            .finish()
    }
}

/// The names of a model's training texts (the file a manifest's `novelty.names` names, one per
/// line; see [`kiln_recipe::Novelty`]): a name the model makes up that is one of them is drawn
/// again (see [`crate::make_flavour`]).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CorpusNames {
    /// Each name's words, lower case, joined by one space.
    names: HashSet<String>,
}

impl CorpusNames {
    /// The names of `text`, one per line (blank lines aside).
    pub fn parse(text: &str) -> Self {
        let names = text
            .lines()
            .map(key)
            .filter(|name| !name.is_empty())
            .collect();
        Self { names }
    }

    /// How many names there are.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether `name` is one of them, case and punctuation aside ("potion of HEALING!" is
    /// "Potion of Healing").
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(&key(name))
    }
}

/// A name's words, lower case, joined by one space: what [`CorpusNames`] compares.
fn key(name: &str) -> String {
    crate::words(name)
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// 64-bit FNV-1a of the words joined by single spaces (what the training script writes).
fn run_hash(run: &[impl AsRef<str>]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for (index, word) in run.iter().enumerate() {
        let space = (index > 0).then_some(b' ');
        for byte in space.into_iter().chain(word.as_ref().bytes()) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_words_as_the_training_script_does() {
        // Python: h = 0xcbf29ce484222325; for b in "a b".encode(): h = ((h ^ b) * 0x100000001b3) % 2**64
        assert_eq!(run_hash(&["a", "b"]), 0xe63f_9919_0483_3892);
        assert_eq!(run_hash(&["ab"]), run_hash(&["ab"]));
        assert_ne!(run_hash(&["a", "b"]), run_hash(&["ab"]));
    }

    #[test]
    fn finds_the_runs_of_its_texts_case_aside_and_round_trips() {
        let spans = CorpusSpans::of_texts(
            ["The blade hums in the dark.", "A dragon's hoard glitters."],
            3,
        );
        assert_eq!(spans.len(), 4 + 2);
        assert!(spans.contains(&["hums", "in", "the"]));
        assert!(spans.contains(&["a", "dragon's", "hoard"]));
        assert!(
            !spans.contains(&["the", "dark", "a"]),
            "runs end with their text"
        );
        assert!(!spans.contains(&["in", "the"]), "only runs of 3 words");
        assert_eq!(spans.copied_runs("Its BLADE HUMS IN the night"), 2);
        let read = CorpusSpans::from_bytes(&spans.to_bytes(), 3).expect("valid");
        assert_eq!(read, spans);
    }

    #[test]
    fn a_corpus_name_is_known_whatever_its_case_and_punctuation() {
        let names = CorpusNames::parse("Potion of Healing\n\nDwarven Thrower\n  \n");
        assert_eq!(names.len(), 2);
        assert!(names.contains("potion of HEALING!"));
        assert!(names.contains(" Dwarven  Thrower"));
        assert!(!names.contains("Dwarven Thrower of Ice"));
        assert!(!names.contains("Potion"));
        assert!(!names.contains(""), "blank lines are not names");
    }

    #[test]
    fn refuses_files_it_cannot_trust() {
        let spans = CorpusSpans::of_texts(["one two three four"], 2).to_bytes();
        let err = CorpusSpans::from_bytes(&spans[..7], 2).unwrap_err();
        assert!(err.contains("8-byte"), "{err}");
        let mut reversed = spans.chunks(8).rev().flatten().copied().collect::<Vec<_>>();
        let err = CorpusSpans::from_bytes(&reversed, 2).unwrap_err();
        assert!(err.contains("ascending"), "{err}");
        reversed.truncate(8);
        let err = CorpusSpans::from_bytes(&reversed, 1).unwrap_err();
        assert!(err.contains("at least 2"), "{err}");
    }
}
