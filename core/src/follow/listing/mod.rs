//! Reading folder listings, and finding the newest build in them.
//!
//! Servers publish what a folder holds in several forms: autoindex HTML (nginx, Apache,
//! lighttpd, Python's `http.server`: any page whose links name the files beside it),
//! nginx's `autoindex_format json`, and S3's ListObjectsV2 XML, in pages. [`parse_listing`]
//! reads each into [`Entry`]s with absolute URLs *inside the listed folder*: whatever else
//! a page links to (other hosts, parents, sort links, scripts) is never an entry, so a
//! bad listing ends in a message, never in the download of something else.
//!
//! A [`Pattern`] (`*/image.wic.zsync`) says which entries are builds, level by level, and
//! which part of their names orders them (the numbers or dates its `*` takes). The walk
//! ([`walk`]) reads the listing, takes the newest matching folder, reads that folder's
//! listing, and so on down to a file; a folder without the file (a build still being
//! uploaded) is passed over for the next newest, a bounded number of times.
//!
//! The parsers and the walk never touch the network: the walk takes a function that
//! fetches a [`Page`], so all of it is tested on captured listings; [`resolve_latest`]
//! gives it the project's [`Http`].

mod html;
mod nginx_json;
mod pattern;
mod s3;
mod walk;

#[cfg(test)]
mod tests;

use std::time::SystemTime;

use url::Url;

use crate::error::{Error, Result, shown_url};
use crate::fetch::Http;

pub(crate) use pattern::Pattern;
pub use walk::Latest;

/// A listing longer than this is not a listing (nginx's HTML for 10,000 builds is about
/// 1.2 MB).
const MAX_LISTING_BYTES: u64 = 8 << 20;

/// One thing a listing names, inside the listed folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// For a file, where to download it; for a folder, where to read its listing.
    pub url: Url,
    /// Its path below the listed folder, decoded: `1234/` (a folder), `image.wic.zsync`,
    /// or, from an S3 listing without a delimiter, `1234/image.wic.zsync`.
    pub name: String,
    /// When it last changed, where the listing says.
    pub modified: Option<SystemTime>,
    /// A folder (its name ends in `/`), to be listed in turn.
    pub is_dir: bool,
}

impl Entry {
    /// The path segments of its name, without a folder's trailing `/`.
    fn segments(&self) -> impl Iterator<Item = &str> {
        self.name.trim_end_matches('/').split('/')
    }
}

/// What one listing page holds.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub entries: Vec<Entry>,
    /// Where the listing goes on (an S3 listing cut at 1,000 keys).
    pub next_page: Option<Url>,
}

/// A listing as fetched.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    /// Where it came from after redirects: the base of its links.
    pub url: Url,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// The newest build that the listing at `listing` offers under `pattern`, its listings
/// fetched with `http`.
pub(crate) fn resolve_latest(http: &Http, listing: &Url, pattern: &Pattern) -> Result<Latest> {
    walk::newest(
        |url| {
            let (url, content_type, body) =
                http.get_document(url, MAX_LISTING_BYTES, "a folder listing")?;
            Ok(Page {
                url,
                content_type,
                body,
            })
        },
        listing,
        pattern,
    )
}

/// Reads the listing `page`, of whichever kind its content type or, failing that, its
/// first bytes say it is.
pub(crate) fn parse_listing(page: &Page) -> Result<Listing> {
    match Kind::of(page) {
        Kind::Html => html::parse(&page.url, &page.body),
        Kind::Json => nginx_json::parse(&page.url, &page.body),
        Kind::Xml => s3::parse(&page.url, &page.body),
        Kind::Unknown => Err(not_a_listing(
            &page.url,
            &match (&page.content_type, page.body.trim_ascii().is_empty()) {
                (_, true) => "it is empty".to_string(),
                (Some(kind), false) => format!("it is neither HTML, JSON nor XML but {kind}"),
                (None, false) => "it is neither HTML, JSON nor XML".to_string(),
            },
        )),
    }
}

/// The kinds of listing there are parsers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Html,
    Json,
    Xml,
    Unknown,
}

impl Kind {
    fn of(page: &Page) -> Kind {
        let media_type = page.content_type.as_deref().map(|t| {
            t.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        match media_type.as_deref() {
            Some("text/html" | "application/xhtml+xml") => return Kind::Html,
            Some(t) if t == "application/json" || t.ends_with("+json") => return Kind::Json,
            Some(t) if t.ends_with("/xml") || t.ends_with("+xml") => return Kind::Xml,
            _ => {}
        }
        let body = page
            .body
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&page.body);
        let body = body.trim_ascii_start();
        let head = &body[..body.len().min(1024)];
        let has_html_element = head.windows(5).any(|w| w.eq_ignore_ascii_case(b"<html"));
        let xml = body.starts_with(b"<?xml") || body.starts_with(b"<ListBucketResult");
        match body.first() {
            Some(b'[' | b'{') => Kind::Json,
            Some(b'<') if xml && !has_html_element => Kind::Xml,
            Some(b'<') => Kind::Html,
            _ => Kind::Unknown,
        }
    }
}

/// The error for a page at `url` that is not a listing: `why`, and what to give instead.
fn not_a_listing(url: &Url, why: &str) -> Error {
    Error::Invalid(format!(
        "{} is not a folder listing: {why}. Give the URL of the folder that holds the builds \
         (such as https://example.org/builds/, served with autoindex) or of an S3 bucket's \
         listing (such as https://bucket.example.org/?list-type=2&prefix=builds/&delimiter=/).",
        shown_url(url.as_str())
    ))
}

/// The folder `url` lists: its path up to the last `/`, without query or fragment.
fn folder_of(url: &Url) -> Url {
    let mut folder = url.clone();
    folder.set_query(None);
    folder.set_fragment(None);
    let path = folder.path();
    let cut = path.rfind('/').map_or(0, |i| i + 1);
    let path = path[..cut].to_string();
    folder.set_path(&path);
    folder
}

/// True for a name a listing may give one thing in a folder: not empty, not `.` or `..`,
/// without a `/` or `\` that would make it a path.
fn is_plain_name(name: &str) -> bool {
    !matches!(name, "" | "." | "..") && !name.contains(['/', '\\'])
}

/// `base` with `segments` appended (each percent-encoded as needed), and a trailing `/`
/// for a folder.
fn url_below(base: &Url, segments: &[&str], is_dir: bool) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
        if is_dir {
            path.push("");
        }
    }
    url
}

/// `text`, cut to about `limit` characters for a message.
fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut short: String = text.chars().take(limit).collect();
    short.push('\u{2026}');
    short
}
