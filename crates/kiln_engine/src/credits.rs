//! What a game owes for the generated content it ships: each model's licence and the
//! attribution that licence requires, with what the model made. The same list goes into a
//! bake's `CREDITS.md` and `kiln-bake.json` and into the Bevy plugin's credits resource.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Credits by model name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Credits {
    models: BTreeMap<String, ModelCredit>,
}

/// One model's credit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelCredit {
    /// SPDX licence expression of the model's weights.
    pub licence: String,
    /// The credit its licence requires whoever ships its output to give, word for word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
    /// What it made: output folders of a bake, or `<recipe>#<entry>` in a running game.
    pub made: BTreeSet<String>,
}

impl Credits {
    /// Notes that `model` (under `licence`, owing `attribution`) made `what`.
    pub fn add(&mut self, model: &str, licence: &str, attribution: Option<&str>, what: &str) {
        let credit = self.models.entry(model.to_owned()).or_default();
        credit.licence = licence.to_owned();
        credit.attribution = attribution.map(str::to_owned);
        credit.made.insert(what.to_owned());
    }

    /// Adds every credit of `other`.
    pub fn extend(&mut self, other: &Self) {
        for (model, credit) in &other.models {
            for what in &credit.made {
                self.add(model, &credit.licence, credit.attribution.as_deref(), what);
            }
        }
    }

    /// Each model and its credit, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ModelCredit)> {
        self.models
            .iter()
            .map(|(model, credit)| (model.as_str(), credit))
    }

    /// Whether no model is credited.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The credits as a Markdown document, ready to ship next to the content (`CREDITS.md`).
    pub fn to_markdown(&self) -> String {
        let mut text = String::from(
            "# Credits\n\nGenerated with Kiln. Each model's licence, the credit it requires \
             whoever ships its output to give, and what it made.\n",
        );
        if self.models.is_empty() {
            text.push_str("\nNo generated content.\n");
        }
        for (model, credit) in &self.models {
            let _ = write!(text, "\n## {model}\n\n- licence: {}\n", credit.licence);
            match &credit.attribution {
                Some(attribution) => {
                    let _ = writeln!(text, "- attribution (required): {attribution}");
                }
                None => text.push_str("- attribution: none required\n"),
            }
            let made: Vec<&str> = credit.made.iter().map(String::as_str).collect();
            let _ = writeln!(text, "- made: {}", made.join(", "));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_each_model_once_with_everything_it_made_and_its_required_credit() {
        let mut credits = Credits::default();
        credits.add(
            "flavour",
            "CC-BY-4.0",
            Some("Includes SRD 5.1."),
            "items/swords",
        );
        credits.add("textures", "MIT", None, "dungeon/floor");
        credits.add(
            "flavour",
            "CC-BY-4.0",
            Some("Includes SRD 5.1."),
            "items/rings",
        );
        let text = credits.to_markdown();
        assert!(
            text.contains(
                "## flavour\n\n- licence: CC-BY-4.0\n- attribution (required): Includes SRD 5.1.\n\
                 - made: items/rings, items/swords\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("## textures\n\n- licence: MIT\n- attribution: none required\n"),
            "{text}"
        );
        let mut merged = Credits::default();
        merged.extend(&credits);
        assert_eq!(merged, credits);
    }
}
