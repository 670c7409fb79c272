//! S3's bucket listing (ListObjectsV2, `?list-type=2&prefix=builds/&delimiter=/`, also
//! what MinIO, Ceph and Google Cloud Storage's XML API answer): a `<ListBucketResult>`
//! of `Contents` (objects: `Key`, `LastModified`) and `CommonPrefixes` (the "folders" a
//! delimiter rolls keys up into), at most 1,000 to a page; `IsTruncated` and
//! `NextContinuationToken` (`NextMarker` in version 1) say where the next page starts.
//!
//! Keys are whole keys, relative to the bucket, not to the listing: `builds/1234/x.zsync`
//! is the object at the bucket's URL (the listing's, without its query) plus the key, and
//! is named `1234/x.zsync` below the listed prefix `builds/`. A common prefix is listed by
//! the same URL with `prefix` set to it.

use std::time::SystemTime;

use percent_encoding::percent_decode_str;
use quick_xml::events::Event;
use serde::Deserialize;
use url::Url;

use super::{Entry, Listing, is_plain_name, not_a_listing, url_below};
use crate::error::{Error, Result};

/// The query parameters that say where in a listing a page starts.
const PAGE_PARAMETERS: [&str; 3] = ["continuation-token", "marker", "start-after"];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    contents: Vec<Object>,
    #[serde(default)]
    common_prefixes: Vec<CommonPrefix>,
    #[serde(default)]
    is_truncated: bool,
    next_continuation_token: Option<String>,
    next_marker: Option<String>,
    /// `url` when the listing was asked for with `encoding-type=url`: keys are then
    /// percent-encoded.
    encoding_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Object {
    key: String,
    last_modified: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CommonPrefix {
    prefix: String,
}

/// The entries of the S3 listing `body`, which came from `page`, and its next page.
pub(super) fn parse(page: &Url, body: &[u8]) -> Result<Listing> {
    let text = std::str::from_utf8(body)
        .map_err(|_| not_a_listing(page, "it is XML, but not in UTF-8 as S3's listings are"))?;
    match root_element(text).as_deref() {
        Some("ListBucketResult") => {}
        Some(root) => {
            return Err(not_a_listing(
                page,
                &format!("it is an XML document <{root}>, not an S3 <ListBucketResult>"),
            ));
        }
        None => return Err(not_a_listing(page, "it is not well-formed XML")),
    }
    let result: ListBucketResult = quick_xml::de::from_str(text).map_err(|e| {
        not_a_listing(
            page,
            &format!("its S3 <ListBucketResult> cannot be read ({e})"),
        )
    })?;
    let keys = Keys::new(page, result.encoding_type.as_deref() == Some("url"));
    let mut entries: Vec<Entry> = result
        .common_prefixes
        .iter()
        .filter_map(|p| keys.folder(page, &p.prefix))
        .collect();
    entries.extend(result.contents.iter().filter_map(|o| keys.object(page, o)));
    let next_page = if result.is_truncated {
        let (parameter, token) = match (result.next_continuation_token, result.next_marker) {
            (Some(token), _) => ("continuation-token", token),
            (None, Some(marker)) => ("marker", keys.decoded(&marker)),
            (None, None) => {
                return Err(Error::http(
                    page,
                    "its S3 listing says it goes on (IsTruncated) but gives no \
                     NextContinuationToken to ask for the rest",
                ));
            }
        };
        Some(with_query(page, &[(parameter, &token)]))
    } else {
        None
    };
    Ok(Listing { entries, next_page })
}

/// The local name of the document's first element.
fn root_element(text: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(Event::Start(element) | Event::Empty(element)) => {
                return Some(String::from_utf8_lossy(element.local_name().as_ref()).into_owned());
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// How the keys of one listing turn into entries.
struct Keys {
    /// The listed "folder": the `prefix` asked for, up to its last `/`.
    folder: String,
    url_encoded: bool,
}

impl Keys {
    fn new(page: &Url, url_encoded: bool) -> Keys {
        let prefix = page
            .query_pairs()
            .find(|(name, _)| name == "prefix")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        let folder = prefix[..prefix.rfind('/').map_or(0, |i| i + 1)].to_string();
        Keys {
            folder,
            url_encoded,
        }
    }

    fn decoded(&self, key: &str) -> String {
        if self.url_encoded {
            percent_decode_str(key).decode_utf8_lossy().into_owned()
        } else {
            key.to_string()
        }
    }

    /// The name of `key` below the listed folder, if it is inside it and made of plain
    /// names only (no `..` to climb out of it with).
    fn name_of(&self, key: &str) -> Option<String> {
        let name = key.strip_prefix(&self.folder)?;
        let plain = key.trim_end_matches('/').split('/').all(is_plain_name);
        (!name.is_empty() && plain).then(|| name.to_string())
    }

    /// An object: a file at the bucket's URL plus its key. Keys ending in `/` are the
    /// empty objects some tools make to stand for folders.
    fn object(&self, page: &Url, object: &Object) -> Option<Entry> {
        let key = self.decoded(&object.key);
        let name = self.name_of(&key).filter(|n| !n.ends_with('/'))?;
        let segments: Vec<&str> = key.split('/').collect();
        Some(Entry {
            url: url_below(page, &segments, false),
            name,
            modified: object
                .last_modified
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(SystemTime::from),
            is_dir: false,
        })
    }

    /// A common prefix: a folder, listed by asking for the same listing with `prefix`
    /// set to it.
    fn folder(&self, page: &Url, prefix: &str) -> Option<Entry> {
        let prefix = self.decoded(prefix);
        let name = self.name_of(&prefix).filter(|n| n.ends_with('/'))?;
        Some(Entry {
            url: with_query(page, &[("prefix", &prefix)]),
            name,
            modified: None,
            is_dir: true,
        })
    }
}

/// `url` with the query parameters `set` set (appended last), and without those that
/// say where a page starts.
fn with_query(url: &Url, set: &[(&str, &str)]) -> Url {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| {
            !PAGE_PARAMETERS.contains(&name.as_ref()) && !set.iter().any(|(s, _)| s == name)
        })
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let mut changed = url.clone();
    changed.set_fragment(None);
    changed
        .query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .extend_pairs(set);
    changed
}
