use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An integer that deserialises only within `MIN..=MAX`, so a recipe with an
/// out-of-range value is rejected at the value's line and column, naming the range.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bounded<const MIN: u32, const MAX: u32>(u32);

impl<const MIN: u32, const MAX: u32> Bounded<MIN, MAX> {
    /// The smallest accepted value.
    pub const MIN: u32 = MIN;
    /// The largest accepted value.
    pub const MAX: u32 = MAX;

    /// Checks `value` against the range; the error says what is allowed.
    pub fn new(value: u32) -> Result<Self, String> {
        if (MIN..=MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!(
                "{value} is out of range: use a value between {MIN} and {MAX}"
            ))
        }
    }

    /// The value.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl<const MIN: u32, const MAX: u32> fmt::Debug for Bounded<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<const MIN: u32, const MAX: u32> fmt::Display for Bounded<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<const MIN: u32, const MAX: u32> Serialize for Bounded<MIN, MAX> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, const MIN: u32, const MAX: u32> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u32::deserialize(deserializer)?;
        Self::new(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_inclusive_range_only() {
        type Small = Bounded<2, 4>;
        assert!(Small::new(1).is_err());
        assert_eq!(Small::new(2).map(Small::get), Ok(2));
        assert_eq!(Small::new(4).map(Small::get), Ok(4));
        let err = Small::new(5).unwrap_err();
        assert!(err.contains("between 2 and 4"), "{err}");
    }
}
