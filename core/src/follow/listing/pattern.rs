//! Patterns (`*/image.wic.zsync`, `image-*.wic.zsync`, `builds/*/image.zsync`) and the
//! order of the builds they match.
//!
//! A pattern is a path of levels; each level is a name in which `*` stands for any run of
//! characters other than `/`. Builds are told apart by what the `*`s took: its runs of
//! digits compare as numbers, in order (build 1000 is newer than 999; `2026-12-04` and
//! `20261204` are dates that compare right too, and `2026-12-04.1` is newer than
//! `2026-12-04`). A name whose `*` took no digits is no build when others have numbers
//! (`latest-tmp/` beside `1000/`). Where the numbers tie or no name has one, the time the
//! listing gives decides; where that cannot tell either, the walk says so rather than
//! guess.

use std::cmp::Ordering;
use std::time::SystemTime;

use crate::error::{Error, Result};

/// Patterns deeper than this are refused: each level may cost a listing or more.
pub(super) const MAX_LEVELS: usize = 8;

/// Which names in a listing are builds, level by level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    text: String,
    levels: Vec<Level>,
}

/// One level: the literal pieces between its `*`s.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Level {
    pieces: Vec<String>,
}

impl Pattern {
    /// Reads `text`; the error says what is wrong with it and what a pattern looks like.
    pub fn parse(text: &str) -> Result<Pattern> {
        let invalid = |why: &str| {
            Error::Invalid(format!(
                "the pattern \"{text}\" {why}; a pattern names the build's file below the \
                 listing, with * where the build number or date is, such as \
                 */image.wic.zsync or image-*.wic.zsync"
            ))
        };
        if text.is_empty() {
            return Err(invalid("is empty"));
        }
        if text.starts_with('/') || text.contains("://") {
            return Err(invalid("is not a path below the listing"));
        }
        if text.ends_with('/') {
            return Err(invalid("names a folder, not a file"));
        }
        let levels: Vec<Level> = text
            .split('/')
            .map(|level| match level {
                "" => Err(invalid("has an empty level (//)")),
                "." | ".." => Err(invalid("climbs with . or ..")),
                _ if level.contains('\\') => Err(invalid("has a \\ in it")),
                _ => Ok(Level {
                    pieces: level.split('*').map(str::to_string).collect(),
                }),
            })
            .collect::<Result<_>>()?;
        if levels.len() > MAX_LEVELS {
            return Err(invalid(&format!("has more than {MAX_LEVELS} levels")));
        }
        Ok(Pattern {
            text: text.to_string(),
            levels,
        })
    }

    /// How many levels (folders, then the file) it has.
    pub fn depth(&self) -> usize {
        self.levels.len()
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The levels from `level` on, as text (for messages: what a folder lacks).
    pub fn rest_from(&self, level: usize) -> String {
        self.text
            .split('/')
            .skip(level)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// What the `*`s took if the path `segments` matches the levels from `level` on
    /// (one segment per level), or `None`.
    pub fn captures<'n>(&self, level: usize, segments: &[&'n str]) -> Option<Vec<&'n str>> {
        let levels = self.levels.get(level..level + segments.len())?;
        let mut taken = Vec::new();
        for (level, segment) in levels.iter().zip(segments) {
            taken.extend(level.captures(segment)?);
        }
        Some(taken)
    }
}

impl Level {
    /// What each `*` takes of `name`, if it matches: each `*` but the last takes as
    /// little as it can, the last what is left before the final piece.
    fn captures<'n>(&self, name: &'n str) -> Option<Vec<&'n str>> {
        let (first, rest) = self.pieces.split_first()?;
        let Some((last, middle)) = rest.split_last() else {
            return (name == first).then(Vec::new);
        };
        let inner = name.strip_prefix(first.as_str())?;
        let inner = inner.strip_suffix(last.as_str())?;
        let mut taken = Vec::with_capacity(rest.len());
        let mut left = inner;
        for piece in middle {
            let at = left.find(piece.as_str())?;
            taken.push(&left[..at]);
            left = &left[at + piece.len()..];
        }
        taken.push(left);
        Some(taken)
    }
}

/// Where a build stands among others: the numbers its `*`s took, then its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rank {
    numbers: Vec<Number>,
    modified: Option<SystemTime>,
}

impl Rank {
    pub fn new(captures: &[&str], modified: Option<SystemTime>) -> Rank {
        let numbers = captures
            .iter()
            .flat_map(|taken| {
                taken
                    .split(|c: char| !c.is_ascii_digit())
                    .filter(|run| !run.is_empty())
                    .map(Number::new)
            })
            .collect();
        Rank { numbers, modified }
    }

    pub fn has_number(&self) -> bool {
        !self.numbers.is_empty()
    }

    /// True when this rank is surely newer than `older`'s, which sorts after it: a
    /// larger number, or on equal numbers a later time.
    pub fn is_newer_than(&self, older: &Rank) -> bool {
        self.numbers > older.numbers
            || (self.numbers == older.numbers
                && matches!((self.modified, older.modified), (Some(a), Some(b)) if a > b))
    }

    fn newest_first(&self, other: &Rank) -> Ordering {
        other
            .numbers
            .cmp(&self.numbers)
            .then(other.modified.cmp(&self.modified))
    }
}

/// `candidates` (anything with its rank), newest first; those without a number left out
/// if any has one.
pub(super) fn newest_first<T>(mut candidates: Vec<(T, Rank)>) -> Vec<(T, Rank)> {
    if candidates.iter().any(|(_, rank)| rank.has_number()) {
        candidates.retain(|(_, rank)| rank.has_number());
    }
    candidates.sort_by(|(_, a), (_, b)| a.newest_first(b));
    candidates
}

/// A run of decimal digits as a number of any size: leading zeros dropped, then the
/// longer is the larger, and equal lengths compare digit by digit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Number(String);

impl Number {
    fn new(digits: &str) -> Number {
        Number(digits.trim_start_matches('0').to_string())
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
