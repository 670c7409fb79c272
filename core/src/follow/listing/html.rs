//! Autoindex HTML: nginx (`<pre>` lines), Apache's mod_autoindex (a list, `<pre>` or a
//! table), lighttpd, Python's `http.server`, and any page whose links name the files in
//! its folder.
//!
//! An entry is a link to one file or folder directly inside the page's folder whose text
//! is that name (a listing shows each entry's name; servers cut long ones with `..>`).
//! That leaves out, whatever the server: links to other hosts, to parents (`../`,
//! "Parent Directory"), to other paths, sort links (`?C=M;O=A`), `javascript:`, icon
//! links (no text) and a page's own navigation ("Help" is not the name of `help.html`).
//! The `href` is what counts, never the shown text, which servers truncate. The date a
//! server prints after a link is its modified time.

use std::collections::HashSet;
use std::time::SystemTime;

use html5gum::{DefaultEmitter, Token, Tokenizer};
use percent_encoding::percent_decode_str;
use url::Url;

use super::{Entry, Listing, folder_of, is_plain_name, not_a_listing, shorten, url_below};
use crate::error::Result;

/// Text kept after each link, in which servers print its date and size.
const MAX_TEXT_AFTER_LINK: usize = 200;

/// Text kept of the title and first heading, for telling an empty listing from another
/// page.
const MAX_HEADING: usize = 300;

/// How names end where a server cut them short: nginx and Apache `..>`, others `...`
/// or `…`.
const TRUNCATION_MARKS: [&str; 3] = ["..>", "...", "\u{2026}"];

/// The entries of the HTML listing `body`, which came from `page`.
pub(super) fn parse(page: &Url, body: &[u8]) -> Result<Listing> {
    let links = Links::read(body);
    let base = links
        .base
        .as_deref()
        .and_then(|href| page.join(href).ok())
        .unwrap_or_else(|| page.clone());
    let folder = folder_of(page);
    // A page may link an entry twice (`1002/`, `./1002/`): the first link counts.
    let mut seen = HashSet::new();
    let entries: Vec<Entry> = links
        .anchors
        .iter()
        .filter_map(|link| link.entry(&base, &folder))
        .filter(|entry| seen.insert(entry.url.clone()))
        .collect();
    if entries.is_empty() && !links.heading_names_a_listing() {
        return Err(not_a_listing(page, &links.describe()));
    }
    Ok(Listing {
        entries,
        next_page: None,
    })
}

/// What of an HTML page matters for a listing.
#[derive(Debug, Default)]
struct Links {
    anchors: Vec<Anchor>,
    /// The first `<base href>`, against which links resolve.
    base: Option<String>,
    /// The text of the `<title>` and `<h1>`.
    heading: String,
}

/// An `<a href>`, the text inside it, and the text that follows it up to the next one.
#[derive(Debug, Default)]
struct Anchor {
    href: String,
    text: String,
    after: String,
}

impl Links {
    /// Tokenizes `body` as a browser would (entities decoded, `<script>` and comments
    /// not read as markup), keeping the links and headings.
    fn read(body: &[u8]) -> Links {
        let mut emitter = DefaultEmitter::default();
        emitter.naively_switch_states(true);
        let mut links = Links::default();
        let mut open: Option<Anchor> = None;
        let mut in_heading = false;
        for Ok(token) in Tokenizer::new_with_emitter(body, emitter) {
            match token {
                Token::StartTag(tag) => {
                    let href = tag
                        .attributes
                        .get(b"href".as_slice())
                        .map(|v| String::from_utf8_lossy(v).into_owned());
                    match tag.name.as_slice() {
                        b"a" => {
                            links.anchors.extend(open.take());
                            open = href.map(|href| Anchor {
                                href,
                                ..Anchor::default()
                            });
                        }
                        b"base" if links.base.is_none() => links.base = href,
                        b"title" | b"h1" => in_heading = true,
                        _ => {}
                    }
                }
                Token::EndTag(tag) => match tag.name.as_slice() {
                    b"a" => links.anchors.extend(open.take()),
                    b"title" | b"h1" => in_heading = false,
                    _ => {}
                },
                Token::String(text) => {
                    let text = String::from_utf8_lossy(&text);
                    if let Some(anchor) = &mut open {
                        anchor.text.push_str(&text);
                    } else if let Some(last) = links.anchors.last_mut() {
                        push_bounded(&mut last.after, &text, MAX_TEXT_AFTER_LINK);
                    }
                    if in_heading {
                        push_bounded(&mut links.heading, &text, MAX_HEADING);
                        push_bounded(&mut links.heading, " ", MAX_HEADING);
                    }
                }
                _ => {}
            }
        }
        links.anchors.extend(open);
        links
    }

    /// True when the title or first heading says this is a listing (an empty folder's
    /// listing has no entries to tell it by): "Index of /builds/" (nginx, Apache,
    /// lighttpd) or "Directory listing for /builds/" (Python).
    fn heading_names_a_listing(&self) -> bool {
        let heading = self.heading.to_ascii_lowercase();
        heading.contains("index of /") || heading.contains("directory listing for /")
    }

    /// What the page is, for the message saying it is not a listing.
    fn describe(&self) -> String {
        let title = self
            .heading
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let page = if title.is_empty() {
            "an HTML page".to_string()
        } else {
            format!("an HTML page titled \"{}\"", shorten(&title, 60))
        };
        match self.anchors.len() {
            0 => format!("it is {page} without links"),
            n => format!("it is {page}, and none of its {n} links names a file in its folder"),
        }
    }
}

impl Anchor {
    /// The entry this link is, if it is one: see the module's doc.
    fn entry(&self, base: &Url, folder: &Url) -> Option<Entry> {
        let url = base.join(self.href.trim()).ok()?;
        let rest = inside(folder, &url)?;
        let (name, is_dir) = match rest.strip_suffix('/') {
            Some(dir) => (dir, true),
            None => (rest.as_str(), false),
        };
        if !is_plain_name(name) || !self.shows(name) {
            return None;
        }
        Some(Entry {
            url: url_below(folder, &[name], is_dir),
            name: rest.clone(),
            modified: modified_in(&self.after),
            is_dir,
        })
    }

    /// True when the link's text is `name`, whole or cut short, with or without a
    /// folder's `/`.
    fn shows(&self, name: &str) -> bool {
        let text = self.text.trim();
        let text = text.strip_suffix('/').unwrap_or(text);
        if text == name {
            return true;
        }
        TRUNCATION_MARKS.iter().any(|mark| {
            text.strip_suffix(mark)
                .is_some_and(|start| !start.is_empty() && name.starts_with(start))
        })
    }
}

/// The decoded part of `url`'s path below `folder`, if `url` is on the same server,
/// inside the folder, and no query or fragment makes it something else than a file (a
/// sort link). Decoded, so that servers may percent-encode names as they please.
fn inside(folder: &Url, url: &Url) -> Option<String> {
    if url.origin() != folder.origin() || url.query().is_some() || url.fragment().is_some() {
        return None;
    }
    let decoded = |path| percent_decode_str(path).decode_utf8().ok();
    let rest = decoded(url.path())?
        .strip_prefix(decoded(folder.path())?.as_ref())?
        .to_string();
    (!rest.is_empty()).then_some(rest)
}

/// The first date and time in `text`, in one of the forms autoindex pages print:
/// `05-Dec-2026 02:20` (nginx, Apache's `<pre>`), `2026-12-05 02:20` (Apache's table),
/// `2026-Dec-05 02:20:33` (lighttpd). Servers print their local time or UTC; only
/// entries of one listing are compared, so either will do.
fn modified_in(text: &str) -> Option<SystemTime> {
    const FORMATS: [&str; 4] = [
        "%d-%b-%Y %H:%M",
        "%Y-%m-%d %H:%M",
        "%Y-%b-%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ];
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(2).find_map(|pair| {
        let stamp = format!("{} {}", pair[0], pair[1]);
        FORMATS.iter().find_map(|format| {
            chrono::NaiveDateTime::parse_from_str(&stamp, format)
                .ok()
                .map(|time| SystemTime::from(time.and_utc()))
        })
    })
}

/// Appends `text` to `kept` while `kept` is shorter than `limit` bytes.
fn push_bounded(kept: &mut String, text: &str, limit: usize) {
    let room = limit.saturating_sub(kept.len());
    kept.push_str(&text[..text.floor_char_boundary(room)]);
}
