//! nginx's `autoindex_format json`: an array of `{"name", "type", "mtime", "size"}`, one
//! per file (`"file"`), folder (`"directory"`) or other thing (`"other"`: a device, a
//! socket, a broken link), the time an HTTP date. Names are plain, not URL-encoded.

use std::time::SystemTime;

use serde::Deserialize;
use url::Url;

use super::{Entry, Listing, folder_of, is_plain_name, not_a_listing, url_below};
use crate::error::Result;

/// One element of the array.
#[derive(Debug, Deserialize)]
struct Item {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    mtime: Option<String>,
}

/// The entries of the JSON listing `body`, which came from `page`.
pub(super) fn parse(page: &Url, body: &[u8]) -> Result<Listing> {
    let items: Vec<Item> = serde_json::from_slice(body).map_err(|e| {
        not_a_listing(
            page,
            &format!("it is JSON, but not nginx's autoindex listing ({e})"),
        )
    })?;
    let folder = folder_of(page);
    let entries = items
        .into_iter()
        .filter_map(|item| {
            let is_dir = match item.kind.as_str() {
                "directory" => true,
                "file" => false,
                _ => return None,
            };
            if !is_plain_name(&item.name) {
                return None;
            }
            Some(Entry {
                url: url_below(&folder, &[&item.name], is_dir),
                name: if is_dir {
                    format!("{}/", item.name)
                } else {
                    item.name
                },
                modified: item.mtime.as_deref().and_then(http_date),
                is_dir,
            })
        })
        .collect();
    Ok(Listing {
        entries,
        next_page: None,
    })
}

/// An HTTP date, `Sat, 05 Dec 2026 02:20:25 GMT`.
fn http_date(text: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc2822(text)
        .ok()
        .map(SystemTime::from)
}
