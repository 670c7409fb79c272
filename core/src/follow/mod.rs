//! Following a build that is published anew every day: what a follow knows apart from
//! downloading, which the engine's follow stage (`engine/follow.rs`) does with it.
//!
//! [`state`] is what a follow remembers in its folder, and holds the folder while it
//! works; [`names`] is what kept builds are called. Daily builds often live in numbered
//! folders (`builds/1234/image.wic.zsync`) with no stable "latest" URL: the only way to
//! the newest is the folder's listing. [`listing`] reads listings (nginx and Apache
//! autoindex HTML, nginx's JSON, S3's ListObjectsV2) and walks them down a pattern such as
//! `*/image.wic.zsync` to the newest build's file; [`latest_build`] does that over HTTP
//! with a job's network options.

mod listing;
mod names;
mod state;

pub use listing::Latest;
pub(crate) use listing::{Pattern, resolve_latest};
pub(crate) use names::kept_name;
pub(crate) use state::{FolderLock, FollowState, KeptBuild};

use crate::error::{Error, Result, shown_url};
use crate::fetch::{Http, HttpConfig};
use crate::job::JobOptions;

/// The newest build the folder listing at `listing_url` offers under `pattern` (see
/// [`Latest`]), asked for with `options`' proxy, CA certificates and credentials.
///
/// ```no_run
/// let latest = deltadrop_core::latest_build(
///     "https://builds.example/nightly/",
///     "*/image.wic.zsync",
///     &deltadrop_core::JobOptions::default(),
/// )?;
/// println!("{}", latest.url);
/// # Ok::<(), deltadrop_core::Error>(())
/// ```
pub fn latest_build(listing_url: &str, pattern: &str, options: &JobOptions) -> Result<Latest> {
    let listing = url::Url::parse(listing_url).map_err(|e| {
        Error::Invalid(format!(
            "\"{}\" is not a valid URL of a folder listing ({e})",
            shown_url(listing_url)
        ))
    })?;
    let pattern = Pattern::parse(pattern)?;
    let http = Http::new(&HttpConfig::from(options))?;
    resolve_latest(&http, &listing, &pattern)
}
