//! The walk from a listing down a pattern's levels to the newest build's file.
//!
//! Each folder's listing is read whole (an S3 listing page by page), its entries matched
//! against the pattern's levels. A file that matches the rest of the pattern is the
//! answer, the newest of several; otherwise the newest matching folder is read next. A
//! folder with no match (a build still being uploaded) is passed over for the next
//! newest, at most [`MAX_FOLDERS_TRIED`] at each level, and the answer says so. Everything
//! is bounded: the pages and entries of one listing, the listings read in all, the
//! levels (by the pattern). Where the newest cannot be told from the next, the walk stops and says so
//! rather than guess.

use url::Url;

use super::pattern::{Rank, newest_first};
use super::{Entry, Page, Pattern, parse_listing, shorten};
use crate::error::{Error, Result, shown_url};

/// Folders tried at one level before giving up: the newest and those just before it.
const MAX_FOLDERS_TRIED: usize = 5;

/// Pages of one listing read at most (an S3 page holds up to 1,000 keys).
const MAX_PAGES: usize = 50;

/// Listing pages read at most in one walk.
const MAX_REQUESTS: usize = 200;

/// Entries of one listing kept at most, all its pages together.
const MAX_ENTRIES: usize = 100_000;

/// Names shown in a message about what a listing holds.
const NAMES_SHOWN: usize = 6;

/// The newest build a listing offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    /// Its file's URL.
    pub url: String,
    /// Its path below the listing, such as `1000/image.wic.zsync`.
    pub name: String,
    /// Newer folders that matched the pattern but had no such file (a build still being
    /// uploaded), newest first, as paths below the listing (`1001/`).
    pub passed_over: Vec<String>,
}

impl Latest {
    /// What a front end should say about the folders passed over, if any.
    pub fn note(&self) -> Option<String> {
        let (last, newer) = self.passed_over.split_last()?;
        let folders = match newer {
            [] => format!("{last} has"),
            _ => format!("{} and {last} have", newer.join(", ")),
        };
        Some(format!(
            "{folders} no such file yet, perhaps still being uploaded: took {}",
            self.name
        ))
    }
}

/// The newest build that the listing at `listing` offers under `pattern`, its pages
/// fetched with `fetch`.
pub(super) fn newest(
    fetch: impl FnMut(&Url) -> Result<Page>,
    listing: &Url,
    pattern: &Pattern,
) -> Result<Latest> {
    let mut walk = Walk {
        fetch,
        pattern,
        requests: 0,
    };
    match walk.newest_below(listing, 0, "")? {
        Found::Build(latest) => Ok(latest),
        Found::Nothing(nothing) => Err(nothing.into_error(pattern)),
    }
}

struct Walk<'p, F> {
    fetch: F,
    pattern: &'p Pattern,
    /// Listing pages fetched so far.
    requests: usize,
}

/// What a folder holds under the rest of the pattern.
enum Found {
    Build(Latest),
    Nothing(Nothing),
}

/// A folder without a match: what it was and held, for the message.
struct Nothing {
    folder: Url,
    /// At which level of the pattern it was read.
    level: usize,
    /// Its path below the listing.
    path: String,
    /// How many entries it has, and the first few names.
    entries: usize,
    names: Vec<String>,
    /// The folders below it that matched but held nothing, newest first.
    passed_over: Vec<Nothing>,
}

/// An entry that matches the pattern from some level on, and how many levels it covers.
struct Candidate {
    entry: Entry,
    levels: usize,
}

/// A candidate and where it stands among the others.
type Ranked = (Candidate, Rank);

impl<F: FnMut(&Url) -> Result<Page>> Walk<'_, F> {
    /// The newest match in the folder at `url`, read at pattern level `level`; `path` is
    /// where the folder is below the listing.
    fn newest_below(&mut self, url: &Url, level: usize, path: &str) -> Result<Found> {
        let (folder, entries) = self.read_folder(url)?;
        let (files, folders) = self.candidates(&entries, level);
        if !files.is_empty() {
            let files = newest_first(files);
            let file = take(&files, 0, &folder, path)?;
            return Ok(Found::Build(Latest {
                url: file.entry.url.to_string(),
                name: format!("{path}{}", file.entry.name),
                passed_over: Vec::new(),
            }));
        }
        let folders = newest_first(folders);
        let mut passed_over: Vec<Nothing> = Vec::new();
        for at in 0..folders.len().min(MAX_FOLDERS_TRIED) {
            let candidate = take(&folders, at, &folder, path)?;
            let below = format!("{path}{}", candidate.entry.name);
            match self.newest_below(&candidate.entry.url, level + candidate.levels, &below)? {
                Found::Build(mut latest) => {
                    let mut passed: Vec<String> = passed_over.into_iter().map(|n| n.path).collect();
                    passed.append(&mut latest.passed_over);
                    latest.passed_over = passed;
                    return Ok(Found::Build(latest));
                }
                Found::Nothing(nothing) => passed_over.push(nothing),
            }
        }
        Ok(Found::Nothing(Nothing {
            names: entries
                .iter()
                .take(NAMES_SHOWN)
                .map(|e| e.name.clone())
                .collect(),
            entries: entries.len(),
            folder,
            level,
            path: path.to_string(),
            passed_over,
        }))
    }

    /// Every entry of the folder at `url`, all pages of it; and where it was read from
    /// after redirects.
    fn read_folder(&mut self, url: &Url) -> Result<(Url, Vec<Entry>)> {
        let mut entries = Vec::new();
        let mut next = Some(url.clone());
        let mut folder = None;
        for _ in 0..MAX_PAGES {
            let Some(page_url) = next.take() else {
                break;
            };
            if self.requests == MAX_REQUESTS {
                return Err(Error::http(
                    &page_url,
                    format!(
                        "finding the newest build took more than {MAX_REQUESTS} listings; \
                         give a pattern that names fewer folders"
                    ),
                ));
            }
            self.requests += 1;
            let page = (self.fetch)(&page_url)?;
            let listing = parse_listing(&page)?;
            folder.get_or_insert(page.url);
            entries.extend(listing.entries);
            if entries.len() > MAX_ENTRIES {
                return Err(Error::http(
                    url,
                    format!(
                        "its listing names more than {MAX_ENTRIES} things: list a narrower \
                         folder or prefix (such as the folder of this year's builds)"
                    ),
                ));
            }
            if listing.next_page.as_ref() == Some(&page_url) {
                return Err(Error::http(
                    &page_url,
                    "its listing says it goes on at this very page, over and over",
                ));
            }
            next = listing.next_page;
        }
        if next.is_some() {
            return Err(Error::http(
                url,
                format!(
                    "its listing goes on past {MAX_PAGES} pages: list a narrower prefix \
                     (such as the folder of this year's builds)"
                ),
            ));
        }
        Ok((folder.unwrap_or_else(|| url.clone()), entries))
    }

    /// The entries matching the pattern from `level` on: files that match all the rest
    /// of it, and folders that match some levels of it.
    fn candidates(&self, entries: &[Entry], level: usize) -> (Vec<Ranked>, Vec<Ranked>) {
        let remaining = self.pattern.depth() - level;
        let mut files = Vec::new();
        let mut folders = Vec::new();
        for entry in entries {
            let segments: Vec<&str> = entry.segments().collect();
            let levels = segments.len();
            let fits = if entry.is_dir {
                levels < remaining
            } else {
                levels == remaining
            };
            if !fits {
                continue;
            }
            let Some(taken) = self.pattern.captures(level, &segments) else {
                continue;
            };
            let rank = Rank::new(&taken, entry.modified);
            let candidate = Candidate {
                entry: entry.clone(),
                levels,
            };
            if entry.is_dir {
                folders.push((candidate, rank));
            } else {
                files.push((candidate, rank));
            }
        }
        (files, folders)
    }
}

/// The candidate at `at` in `ordered` (newest first), if it is surely newer than the one
/// after it; else an error saying the newest cannot be told. `folder` is where they were
/// listed, at `path` below the listing.
fn take<'c>(ordered: &'c [Ranked], at: usize, folder: &Url, path: &str) -> Result<&'c Candidate> {
    let (candidate, rank) = &ordered[at];
    match ordered.get(at + 1) {
        Some((next, next_rank)) if !rank.is_newer_than(next_rank) => Err(Error::Invalid(format!(
            "{}: cannot tell which of \"{path}{}\" and \"{path}{}\" is the newer build: \
                 where the pattern has *, their names hold {}, and the listing gives no \
                 times that tell them apart. Give a pattern whose * covers the build \
                 number or date.",
            shown_url(folder.as_str()),
            candidate.entry.name,
            next.entry.name,
            if rank.has_number() {
                "the same numbers"
            } else {
                "no numbers"
            },
        ))),
        _ => Ok(candidate),
    }
}

impl Nothing {
    /// The error for a listing (`self`, read first) without a match for `pattern`.
    fn into_error(self, pattern: &Pattern) -> Error {
        let listing = shown_url(self.folder.as_str());
        let pattern_text = pattern.as_str();
        if self.passed_over.is_empty() {
            return Error::Invalid(format!(
                "{listing}: nothing in this listing matches \"{pattern_text}\"; {}",
                self.holds()
            ));
        }
        let folders: Vec<String> = self
            .passed_over
            .iter()
            .map(|folder| {
                format!(
                    "{} has no \"{}\" ({})",
                    folder.path,
                    pattern.rest_from(folder.level),
                    folder.holds()
                )
            })
            .collect();
        Error::Invalid(format!(
            "{listing}: no build matches \"{pattern_text}\" yet: {}",
            folders.join("; ")
        ))
    }

    /// What the folder holds, in a few words.
    fn holds(&self) -> String {
        if self.entries == 0 {
            return "it is empty".to_string();
        }
        let names: Vec<String> = self.names.iter().map(|n| shorten(n, 60)).collect();
        let more = match self.entries - self.names.len() {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        format!("it has {}{more}", names.join(", "))
    }
}
