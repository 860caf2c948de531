//! A project's licence policy: which model licences its shipped content may come from.
//!
//! `kiln-licences.ron` at the root of the recipes folder lists the SPDX licence ids allowed:
//!
//! ```
//! let policy = kiln_recipe::LicencePolicy::from_str(
//!     r#"(allow: ["MIT", "CC0-1.0", "CC-BY-4.0"])"#,
//!     "assets/kiln-licences.ron".as_ref(),
//! )
//! .unwrap();
//! assert!(policy.check("CC-BY-4.0").is_ok());
//! assert!(policy.check("MIT OR GPL-3.0-only").is_ok());
//! assert!(policy.check("CC-BY-NC-4.0").is_err());
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{LoadError, ron_file};

/// File name of the licence policy, at the root of the recipes folder.
pub const LICENCE_POLICY_FILE: &str = "kiln-licences.ron";

/// Licences a model's weights may have for its output to be baked.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicencePolicy {
    /// SPDX licence ids allowed (`LicenseRef-…` for custom ones), compared ignoring case.
    pub allow: Vec<String>,
    /// The file the policy was read from.
    #[serde(skip)]
    pub path: PathBuf,
}

impl LicencePolicy {
    /// The policy of the recipes folder `recipes_dir`, if it has one.
    pub fn find(recipes_dir: &Path) -> Result<Option<Self>, LoadError> {
        let path = recipes_dir.join(LICENCE_POLICY_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_str(&text, &path).map(Some)
    }

    /// Parses policy text; errors are attributed to `path`.
    pub fn from_str(text: &str, path: &Path) -> Result<Self, LoadError> {
        let mut policy: Self = ron_file::parse(text, path)?;
        policy.path = path.to_path_buf();
        Ok(policy)
    }

    /// Whether a model under the SPDX expression `licence` may be used: one alternative of
    /// an `OR` whose every `AND` part is allowed. Otherwise, why not and what to do.
    pub fn check(&self, licence: &str) -> Result<(), String> {
        let allowed = |id: &str| {
            self.allow
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(id))
        };
        let expression = licence.replace(['(', ')'], " ");
        let fits = expression
            .split(" OR ")
            .any(|alternative| alternative.split(" AND ").all(|id| allowed(id.trim())));
        if fits {
            return Ok(());
        }
        Err(format!(
            "its model's licence {licence} is not allowed by {} (allow: {}): use a model under \
             an allowed licence, or add the licence there if your game may ship it",
            self.path.display(),
            self.allow.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Result<LicencePolicy, LoadError> {
        LicencePolicy::from_str(text, Path::new("assets/kiln-licences.ron"))
    }

    #[test]
    fn allows_an_expression_when_one_alternative_is_wholly_allowed() {
        let policy = policy(r#"(allow: ["MIT", "cc-by-4.0"])"#).expect("valid");
        assert!(policy.check("MIT").is_ok());
        assert!(
            policy.check("CC-BY-4.0").is_ok(),
            "ids compare ignoring case"
        );
        assert!(policy.check("(MIT AND CC-BY-4.0)").is_ok());
        assert!(policy.check("GPL-3.0-only OR MIT").is_ok());
        let refusal = policy.check("MIT AND CC-BY-NC-4.0").unwrap_err();
        assert!(
            refusal.starts_with(
                "its model's licence MIT AND CC-BY-NC-4.0 is not allowed by \
                 assets/kiln-licences.ron (allow: MIT, cc-by-4.0)"
            ),
            "{refusal}"
        );
    }

    #[test]
    fn a_malformed_policy_names_the_file_and_place() {
        let err = policy(r#"(allowed: ["MIT"])"#).unwrap_err().to_string();
        assert!(err.starts_with("assets/kiln-licences.ron:1:"), "{err}");
    }

    #[test]
    fn a_folder_without_a_policy_has_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(LicencePolicy::find(dir.path()).expect("no error"), None);
        std::fs::write(dir.path().join(LICENCE_POLICY_FILE), r#"(allow: ["MIT"])"#).expect("write");
        let found = LicencePolicy::find(dir.path())
            .expect("valid")
            .expect("found");
        assert_eq!(found.allow, ["MIT"]);
        assert_eq!(found.path, dir.path().join(LICENCE_POLICY_FILE));
    }
}
