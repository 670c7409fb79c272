//! The parsers on listings captured from the real servers (nginx 1.22, Apache 2.4 in its
//! three layouts, Python's `http.server`, all listing the same folder), hostile pages,
//! and the walk over listings served from memory.
//!
//! The captured folder holds `1000/`, `1001/`, `999/`, `latest-tmp/`, `with space & amp/`,
//! a file whose name is longer than nginx's 50 columns, `naïve-ü.zsync` and
//! `q?x#y%z.zsync`: names to escape and to cut short.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use url::Url;

use super::pattern::{Rank, newest_first};
use super::walk::newest;
use super::{Entry, Listing, Page, Pattern, parse_listing};
use crate::error::{Error, Result};

const NGINX_HTML: &str = include_str!("captured/nginx.html");
const NGINX_JSON: &str = include_str!("captured/nginx.json");
const NGINX_EMPTY: &str = include_str!("captured/nginx-empty.html");
const APACHE_TABLE: &str = include_str!("captured/apache-table.html");
const APACHE_TABLE_EMPTY: &str = include_str!("captured/apache-table-empty.html");
const APACHE_LIST: &str = include_str!("captured/apache-list.html");
const APACHE_PRE: &str = include_str!("captured/apache-fancy-pre.html");
const PYTHON: &str = include_str!("captured/python.html");

const LONG_NAME: &str =
    "a-very-long-file-name-that-nginx-truncates-after-fifty-columns-2026-12-04.wic.zsync";

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

fn page(at: &str, content_type: Option<&str>, body: &str) -> Page {
    Page {
        url: url(at),
        content_type: content_type.map(str::to_string),
        body: body.as_bytes().to_vec(),
    }
}

fn parse(at: &str, content_type: Option<&str>, body: &str) -> Result<Listing> {
    parse_listing(&page(at, content_type, body))
}

/// Each entry as (name, URL, folder?), sorted by name.
fn summary(entries: &[Entry]) -> Vec<(String, String, bool)> {
    let mut summary: Vec<_> = entries
        .iter()
        .map(|e| (e.name.clone(), e.url.to_string(), e.is_dir))
        .collect();
    summary.sort();
    summary
}

fn captured_folder() -> Vec<(String, String, bool)> {
    let base = "http://127.0.0.1:8080/builds/";
    let mut expected: Vec<_> = [
        ("1000/", "1000/", true),
        ("1001/", "1001/", true),
        ("999/", "999/", true),
        ("latest-tmp/", "latest-tmp/", true),
        ("with space & amp/", "with%20space%20&%20amp/", true),
        (LONG_NAME, LONG_NAME, false),
        ("naïve-ü.zsync", "na%C3%AFve-%C3%BC.zsync", false),
        ("q?x#y%z.zsync", "q%3Fx%23y%25z.zsync", false),
    ]
    .into_iter()
    .map(|(name, path, dir)| (name.to_string(), format!("{base}{path}"), dir))
    .collect();
    expected.sort();
    expected
}

#[test]
fn every_captured_listing_names_the_same_entries_at_the_same_urls() {
    let at = "http://127.0.0.1:8080/builds/";
    for (server, content_type, body) in [
        ("nginx", "text/html", NGINX_HTML),
        ("nginx json", "application/json", NGINX_JSON),
        ("apache table", "text/html;charset=ISO-8859-1", APACHE_TABLE),
        ("apache list", "text/html;charset=ISO-8859-1", APACHE_LIST),
        ("apache pre", "text/html;charset=ISO-8859-1", APACHE_PRE),
        ("python", "text/html; charset=utf-8", PYTHON),
    ] {
        let listing = parse(at, Some(content_type), body).unwrap();
        assert_eq!(summary(&listing.entries), captured_folder(), "{server}");
        assert_eq!(listing.next_page, None, "{server}");
    }
}

#[test]
fn the_dates_servers_print_are_the_entries_times() {
    let at = "http://127.0.0.1:8080/builds/";
    // All were listed at 2026-12-05 02:20 (nginx and its JSON in UTC, Apache in the
    // machine's time zone, here UTC too).
    let minute = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_437_200);
    for (server, content_type, body) in [
        ("nginx", "text/html", NGINX_HTML),
        ("apache table", "text/html", APACHE_TABLE),
        ("apache pre", "text/html", APACHE_PRE),
    ] {
        for entry in parse(at, Some(content_type), body).unwrap().entries {
            assert_eq!(entry.modified, Some(minute), "{server}: {}", entry.name);
        }
    }
    for entry in parse(at, None, NGINX_JSON).unwrap().entries {
        let modified = entry.modified.expect("JSON gives every time");
        let since = modified.duration_since(minute).unwrap();
        assert!(since < Duration::from_secs(60), "{}", entry.name);
    }
    for entry in parse(at, None, APACHE_LIST).unwrap().entries {
        assert_eq!(entry.modified, None, "Apache's list prints no dates");
    }
}

#[test]
fn an_empty_folder_is_an_empty_listing_not_an_error() {
    for body in [NGINX_EMPTY, APACHE_TABLE_EMPTY] {
        let listing = parse("http://h/builds/1001/", Some("text/html"), body).unwrap();
        assert!(listing.entries.is_empty());
    }
}

#[test]
fn the_kind_of_listing_is_told_by_its_bytes_when_the_content_type_says_nothing() {
    for (content_type, body) in [
        (None, NGINX_HTML),
        (Some("application/octet-stream"), NGINX_JSON),
        (Some("text/plain"), APACHE_TABLE),
    ] {
        let listing = parse("http://127.0.0.1:8080/builds/", content_type, body).unwrap();
        assert_eq!(summary(&listing.entries), captured_folder());
    }
}

/// What a login page in place of a listing looks like: links everywhere but into its
/// folder, and one into it whose text is not its name.
const LOGIN_PAGE: &str = r#"<!DOCTYPE html><html><head><title>Sign in - Build Portal</title>
<script>var next = '<a href="1000/">1000/</a>';</script></head><body>
<form action="/login" method="post"><input name="user"><input type="password" name="pw">
<button>Sign in</button></form>
<a href="https://sso.example.com/auth?next=/builds/">Sign in with SSO</a>
<a href="forgot-password">Forgot your password?</a>
<a href="/builds/?lang=de">Deutsch</a> <a href="javascript:void(0)">Help</a>
<a href="../">Home</a></body></html>"#;

#[test]
fn a_page_that_is_not_a_listing_says_so() {
    let error = parse("http://h/builds/", Some("text/html"), LOGIN_PAGE).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("http://h/builds/ is not a folder listing: it is an HTML page titled \"Sign in - Build Portal"),
        "{message}"
    );
    assert!(message.contains("Give the URL of the folder"), "{message}");
    for (content_type, body, why) in [
        (
            Some("text/plain"),
            "hello",
            "neither HTML, JSON nor XML but text/plain",
        ),
        (None, "", "it is empty"),
        (
            Some("application/json"),
            r#"{"error":"no"}"#,
            "it is JSON, but not nginx's",
        ),
        (
            Some("application/xml"),
            "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code></Error>",
            "an XML document <Error>",
        ),
        (
            Some("application/xml"),
            "<?xml version=\"1.0\"?><ListBucketResult><Contents>",
            "cannot be read",
        ),
    ] {
        let message = parse("http://h/b/", content_type, body)
            .unwrap_err()
            .to_string();
        assert!(message.contains("is not a folder listing"), "{message}");
        assert!(message.contains(why), "{message}");
    }
}

/// A listing (by its title) that links everywhere a listing should not lead.
const HOSTILE_LINKS: &str = r#"<html><head><title>Index of /builds/</title></head><body>
<pre><a href="../">../</a>
<a href="?C=M;O=A">Last modified</a> <a href="?C=N;O=D">Name</a>
<a href="http://other.example/builds/2000/">2000/</a>
<a href="//other.example/builds/2001/">2001/</a>
<a href="https://127.0.0.1:8080/builds/2002/">2002/</a>
<a href="http://127.0.0.1:9999/builds/2003/">2003/</a>
<a href="/other/path/2004/">2004/</a>
<a href="/builds-old/2005/">2005/</a>
<a href="javascript:alert(2006)">2006/</a>
<a href="mailto:2007@example.org">2007</a>
<a href="data:text/plain,2008">2008</a>
<a href="2009/#top">2009/</a>
<a href="2010/?x=1">2010/</a>
<a href="deeper/2011/">2011/</a>
<a href="%2e%2e/2012/">2012/</a>
<a href="..%2F2013/">2013/</a>
<a href="2014%2Fx/">2014/x/</a>
<a href="2015/"><img src="/icons/folder.gif" alt="[DIR]"></a>
<a href="help.html">Help</a>
<!-- <a href="2016/">2016/</a> -->
<script>document.write('<a href="2017/">2017/</a>')</script>
<a href="1002/">1002/</a>    04-Dec-2026 03:12    -
<a href="./1002/">1002/</a>
<a href="http://127.0.0.1:8080/builds/1003/">1003/</a>
<a href="/builds/1004/">1004/</a>
</pre></body></html>"#;

#[test]
fn only_links_into_the_folder_that_name_what_they_link_to_are_entries() {
    let listing = parse(
        "http://127.0.0.1:8080/builds/",
        Some("text/html"),
        HOSTILE_LINKS,
    )
    .unwrap();
    let names: Vec<&str> = listing.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["1002/", "1003/", "1004/"]);
    assert_eq!(
        listing.entries[0].url.as_str(),
        "http://127.0.0.1:8080/builds/1002/"
    );
}

#[test]
fn links_resolve_against_the_page_base_and_the_url_after_redirects() {
    // The listing asked for as .../builds (no slash) is served at .../builds/.
    let listing = parse(
        "http://h/builds/",
        Some("text/html"),
        r#"<title>Index of /builds/</title><a href="1000/">1000/</a>"#,
    )
    .unwrap();
    assert_eq!(listing.entries[0].url.as_str(), "http://h/builds/1000/");
    // A <base> elsewhere sends every relative link out of the folder.
    let listing = parse(
        "http://h/builds/",
        Some("text/html"),
        r#"<title>Index of /builds/</title><base href="http://h/mirror/"><a href="1000/">1000/</a>"#,
    )
    .unwrap();
    assert!(listing.entries.is_empty(), "{:?}", listing.entries);
    // An index page's URL lists its folder.
    let listing = parse(
        "http://h/builds/index.html?C=M;O=D",
        Some("text/html"),
        r#"<title>Index of /builds/</title><a href="1000/">1000/</a>"#,
    )
    .unwrap();
    assert_eq!(listing.entries[0].url.as_str(), "http://h/builds/1000/");
}

fn nginx_lines(count: usize, name: impl Fn(usize) -> String) -> String {
    let mut body = String::from(
        "<html>\n<head><title>Index of /builds/</title></head>\n<body>\n<h1>Index of /builds/</h1><hr><pre><a href=\"../\">../</a>\n",
    );
    for i in 0..count {
        let name = name(i);
        body.push_str(&format!(
            "<a href=\"{name}/\">{name}/</a>{:>40} 05-Dec-2026 02:20                   -\n",
            ""
        ));
    }
    body.push_str("</pre><hr></body>\n</html>\n");
    body
}

#[test]
fn a_listing_of_ten_thousand_builds_is_read_whole() {
    let body = nginx_lines(10_000, |i| (i + 1).to_string());
    let listing = parse("http://h/builds/", Some("text/html"), &body).unwrap();
    assert_eq!(listing.entries.len(), 10_000);
    let json: String = format!(
        "[{}]",
        (1..=10_000)
            .map(|i| format!("{{ \"name\":\"{i}\", \"type\":\"directory\", \"mtime\":\"Sat, 05 Dec 2026 02:20:25 GMT\" }}"))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    let listing = parse("http://h/builds/", Some("application/json"), &json).unwrap();
    assert_eq!(listing.entries.len(), 10_000);
    let mut files = HashMap::new();
    files.insert("http://h/builds/", ("text/html", body));
    files.insert(
        "http://h/builds/10000/",
        ("text/html", nginx_file_listing(&["image.wic.zsync"])),
    );
    let latest = newest(
        served(files),
        &url("http://h/builds/"),
        &pattern("*/image.wic.zsync"),
    )
    .unwrap();
    assert_eq!(latest.url, "http://h/builds/10000/image.wic.zsync");
}

#[test]
fn a_listing_of_more_than_a_hundred_thousand_entries_is_refused() {
    let links: String = (0..=100_000)
        .map(|i| format!("<a href=\"{i}/\">{i}/</a>\n"))
        .collect();
    let mut pages = HashMap::new();
    pages.insert(
        "http://h/builds/",
        ("text/html", format!("<pre>{links}</pre>")),
    );
    let error = newest(
        served(pages),
        &url("http://h/builds/"),
        &pattern("*/x.zsync"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("its listing names more than 100000 things"),
        "{error}"
    );
}

fn nginx_file_listing(names: &[&str]) -> String {
    let lines: String = names
        .iter()
        .map(|n| format!("<a href=\"{n}\">{n}</a>   05-Dec-2026 02:20    1234\n"))
        .collect();
    format!("<title>Index of /x/</title><pre><a href=\"../\">../</a>\n{lines}</pre>")
}

const S3_PAGE_1: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><Prefix>builds/</Prefix><KeyCount>4</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated><ContinuationToken></ContinuationToken><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
<Contents><Key>builds/README.txt</Key><LastModified>2026-12-04T03:12:00.000Z</LastModified><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>builds/a&amp;b.zsync</Key><LastModified>2026-12-04T03:13:00.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>other/outside.zsync</Key><LastModified>2026-12-04T03:13:00.000Z</LastModified><Size>3</Size></Contents>
<Contents><Key>builds/../escape.zsync</Key><Size>3</Size></Contents>
<CommonPrefixes><Prefix>builds/1000/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>builds/999/</Prefix></CommonPrefixes>
</ListBucketResult>"#;

#[test]
fn s3_keys_resolve_against_the_bucket_and_folders_against_the_listing() {
    let at = "http://127.0.0.1:9000/bucket?list-type=2&prefix=builds/&delimiter=/";
    let listing = parse(at, Some("application/xml"), S3_PAGE_1).unwrap();
    let found: Vec<(&str, &str, bool)> = listing
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.url.as_str(), e.is_dir))
        .collect();
    assert_eq!(
        found,
        [
            (
                "1000/",
                "http://127.0.0.1:9000/bucket?list-type=2&delimiter=%2F&prefix=builds%2F1000%2F",
                true
            ),
            (
                "999/",
                "http://127.0.0.1:9000/bucket?list-type=2&delimiter=%2F&prefix=builds%2F999%2F",
                true
            ),
            (
                "README.txt",
                "http://127.0.0.1:9000/bucket/builds/README.txt",
                false
            ),
            (
                "a&b.zsync",
                "http://127.0.0.1:9000/bucket/builds/a&b.zsync",
                false
            ),
        ]
    );
    assert_eq!(
        listing.entries[2].modified,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_353_920))
    );
    let next = listing.next_page.unwrap();
    let token: Vec<_> = next
        .query_pairs()
        .filter(|(k, _)| k == "continuation-token")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(token, ["1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="]);
    // A virtual-hosted bucket: the key is below the host's root.
    let listing = parse(
        "https://bucket.s3.example.com/?list-type=2&prefix=builds/",
        None,
        S3_PAGE_1,
    )
    .unwrap();
    assert_eq!(
        listing.entries[2].url.as_str(),
        "https://bucket.s3.example.com/builds/README.txt"
    );
}

#[test]
fn s3_url_encoded_keys_and_version_1_markers() {
    let body = r#"<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextMarker>builds/b%20c.zsync</NextMarker>
<Contents><Key>builds/b%20c.zsync</Key></Contents></ListBucketResult>"#;
    let listing = parse(
        "http://h/bucket/?prefix=builds/&encoding-type=url",
        None,
        body,
    )
    .unwrap();
    assert_eq!(listing.entries[0].name, "b c.zsync");
    assert_eq!(
        listing.entries[0].url.as_str(),
        "http://h/bucket/builds/b%20c.zsync"
    );
    let marker: Vec<_> = listing
        .next_page
        .unwrap()
        .query_pairs()
        .filter(|(k, _)| k == "marker")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(marker, ["builds/b c.zsync"]);
    let endless = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
    let message = parse("http://h/bucket?list-type=2", None, endless)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("gives no NextContinuationToken"),
        "{message}"
    );
}

fn pattern(text: &str) -> Pattern {
    Pattern::parse(text).unwrap()
}

#[test]
fn patterns_are_paths_of_names_with_stars() {
    let p = pattern("builds/*/image-*.wic.zsync");
    assert_eq!(p.depth(), 3);
    assert_eq!(
        p.captures(0, &["builds", "1000", "image-7.wic.zsync"]),
        Some(vec!["1000", "7"])
    );
    assert_eq!(p.captures(1, &["1000"]), Some(vec!["1000"]));
    assert_eq!(p.captures(2, &["image-.wic.zsync"]), Some(vec![""]));
    assert_eq!(p.captures(2, &["image-7.wic.zsync.sig"]), None);
    assert_eq!(p.captures(0, &["build", "1000"]), None);
    assert_eq!(
        p.captures(2, &["a", "b"]),
        None,
        "more segments than levels"
    );
    assert_eq!(p.rest_from(2), "image-*.wic.zsync");
    assert_eq!(
        pattern("a*b*c").captures(0, &["aXbYbZc"]),
        Some(vec!["X", "YbZ"])
    );
    assert_eq!(pattern("ab*ba").captures(0, &["aba"]), None);
    for (bad, why) in [
        ("", "is empty"),
        ("/builds/*.zsync", "not a path below"),
        ("http://h/x", "not a path below"),
        ("*/", "names a folder"),
        ("a//b", "empty level"),
        ("../*.zsync", "climbs"),
        ("a/b/c/d/e/f/g/h/i", "more than 8 levels"),
    ] {
        let message = Pattern::parse(bad).unwrap_err().to_string();
        assert!(message.contains(why), "{bad}: {message}");
        assert!(message.contains("*/image.wic.zsync"), "{message}");
    }
}

fn ranked<'n>(names: &[&'n str]) -> Vec<&'n str> {
    let candidates = names.iter().map(|n| (*n, Rank::new(&[n], None))).collect();
    newest_first(candidates)
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn builds_order_by_the_numbers_in_their_names() {
    assert_eq!(
        ranked(&["999", "1000", "latest-tmp", "998"]),
        ["1000", "999", "998"]
    );
    assert_eq!(
        ranked(&["2026-12-04", "2026-12-04.1", "2026-11-30", "2025-12-31"]),
        ["2026-12-04.1", "2026-12-04", "2026-11-30", "2025-12-31"]
    );
    assert_eq!(ranked(&["20261204", "20261130"]), ["20261204", "20261130"]);
    assert_eq!(
        ranked(&["99999999999999999999999", "100000000000000000000000", "007"]),
        ["100000000000000000000000", "99999999999999999999999", "007"]
    );
    let (older, newer) = (
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(10)),
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(20)),
    );
    assert!(Rank::new(&["a"], newer).is_newer_than(&Rank::new(&["b"], older)));
    assert!(Rank::new(&["1"], older).is_newer_than(&Rank::new(&["0"], newer)));
    assert!(!Rank::new(&["01"], None).is_newer_than(&Rank::new(&["1"], None)));
    assert!(!Rank::new(&["a"], None).is_newer_than(&Rank::new(&["b"], None)));
}

/// A fetch function over `pages` (URL → content type and body): what the walk reads.
fn served(
    pages: HashMap<&'static str, (&'static str, String)>,
) -> impl FnMut(&Url) -> Result<Page> {
    move |at: &Url| match pages.get(at.as_str()) {
        Some((content_type, body)) => Ok(page(at.as_str(), Some(content_type), body)),
        None => Err(Error::http(at, "the server has no such file (HTTP 404)")),
    }
}

fn builds_tree(empty_newest: usize) -> HashMap<&'static str, (&'static str, String)> {
    let mut pages = HashMap::new();
    let mut dirs: Vec<String> = vec!["999".into(), "1000".into(), "latest-tmp".into()];
    dirs.extend((0..empty_newest).map(|i| (1001 + i).to_string()));
    pages.insert(
        "http://h/builds/",
        ("text/html", {
            let names: Vec<String> = dirs.iter().map(|d| format!("{d}/")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            nginx_file_listing(&refs)
        }),
    );
    for dir in ["999", "1000", "latest-tmp"] {
        let at: &'static str = format!("http://h/builds/{dir}/").leak();
        pages.insert(
            at,
            (
                "text/html",
                nginx_file_listing(&["image.wic.zsync", "image.wic"]),
            ),
        );
    }
    for i in 0..empty_newest {
        let at: &'static str = format!("http://h/builds/{}/", 1001 + i).leak();
        pages.insert(at, ("text/html", NGINX_EMPTY.to_string()));
    }
    pages
}

#[test]
fn the_newest_build_is_the_newest_folder_holding_the_file() {
    let listing = url("http://h/builds/");
    let latest = newest(
        served(builds_tree(0)),
        &listing,
        &pattern("*/image.wic.zsync"),
    )
    .unwrap();
    assert_eq!(latest.url, "http://h/builds/1000/image.wic.zsync");
    assert_eq!(latest.name, "1000/image.wic.zsync");
    assert_eq!(latest.note(), None);
    let latest = newest(
        served(builds_tree(1)),
        &listing,
        &pattern("*/image.wic.zsync"),
    )
    .unwrap();
    assert_eq!(latest.url, "http://h/builds/1000/image.wic.zsync");
    assert_eq!(latest.passed_over, ["1001/"]);
    assert_eq!(
        latest.note().unwrap(),
        "1001/ has no such file yet, perhaps still being uploaded: took 1000/image.wic.zsync"
    );
}

#[test]
fn folders_without_the_file_are_passed_over_a_bounded_number_of_times() {
    let listing = url("http://h/builds/");
    let latest = newest(
        served(builds_tree(4)),
        &listing,
        &pattern("*/image.wic.zsync"),
    )
    .unwrap();
    assert_eq!(latest.passed_over, ["1004/", "1003/", "1002/", "1001/"]);
    assert_eq!(
        latest.note().unwrap(),
        "1004/, 1003/, 1002/ and 1001/ have no such file yet, perhaps still being uploaded: \
         took 1000/image.wic.zsync"
    );
    let mut requests = 0;
    let mut pages = served(builds_tree(5));
    let error = newest(
        |at: &Url| {
            requests += 1;
            pages(at)
        },
        &listing,
        &pattern("*/image.wic.zsync"),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(requests, 6, "the listing and the five newest folders");
    assert!(
        error.starts_with("http://h/builds/: no build matches \"*/image.wic.zsync\" yet: 1005/ has no \"image.wic.zsync\" (it is empty); 1004/"),
        "{error}"
    );
}

#[test]
fn no_match_names_the_pattern_and_what_the_listing_has() {
    let listing = url("http://h/builds/");
    let error = newest(
        served(builds_tree(0)),
        &listing,
        &pattern("*/image.iso.zsync"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("1000/ has no \"image.iso.zsync\" (it has image.wic.zsync, image.wic)"),
        "{error}"
    );
    let error = newest(
        served(builds_tree(0)),
        &listing,
        &pattern("nightly-*.zsync"),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "http://h/builds/: nothing in this listing matches \"nightly-*.zsync\"; it has 999/, 1000/, latest-tmp/"
    );
    let body = nginx_lines(100, |i| format!("b{i}"));
    let mut pages = HashMap::new();
    pages.insert("http://h/builds/", ("text/html", body));
    let error = newest(served(pages), &listing, &pattern("x-*.zsync"))
        .unwrap_err()
        .to_string();
    assert!(
        error.ends_with("it has b0/, b1/, b2/, b3/, b4/, b5/ and 94 more"),
        "{error}"
    );
}

#[test]
fn builds_that_cannot_be_told_apart_are_an_error_not_a_guess() {
    let mut pages = HashMap::new();
    pages.insert(
        "http://h/builds/",
        (
            "application/json",
            r#"[{"name":"alpha.zsync","type":"file"},{"name":"beta.zsync","type":"file"}]"#
                .to_string(),
        ),
    );
    let error = newest(served(pages), &url("http://h/builds/"), &pattern("*.zsync"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cannot tell which of \"alpha.zsync\" and \"beta.zsync\""),
        "{error}"
    );
    assert!(error.contains("no numbers"), "{error}");
    // Where the listing gives times, they decide.
    let mut pages = HashMap::new();
    pages.insert(
        "http://h/builds/",
        ("application/json", r#"[{"name":"alpha.zsync","type":"file","mtime":"Sat, 05 Dec 2026 02:20:25 GMT"},{"name":"beta.zsync","type":"file","mtime":"Fri, 04 Dec 2026 02:20:25 GMT"}]"#.to_string()),
    );
    let latest = newest(served(pages), &url("http://h/builds/"), &pattern("*.zsync")).unwrap();
    assert_eq!(latest.name, "alpha.zsync");
}

#[test]
fn s3_listings_are_read_page_by_page_and_the_pages_are_bounded() {
    let listing = url("http://h/bucket?list-type=2&prefix=builds/&delimiter=/");
    let mut asked = Vec::new();
    let latest = newest(
        |at: &Url| {
            asked.push(at.to_string());
            let query: HashMap<String, String> = at.query_pairs().into_owned().collect();
            let body = match (query["prefix"].as_str(), query.get("continuation-token")) {
                ("builds/", None) => "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t+/=</NextContinuationToken><CommonPrefixes><Prefix>builds/1000/</Prefix></CommonPrefixes></ListBucketResult>",
                ("builds/", Some(token)) if token == "t+/=" => "<ListBucketResult><IsTruncated>false</IsTruncated><CommonPrefixes><Prefix>builds/999/</Prefix></CommonPrefixes></ListBucketResult>",
                ("builds/1000/", None) => "<ListBucketResult><Contents><Key>builds/1000/image.wic.zsync</Key></Contents></ListBucketResult>",
                other => panic!("asked for {other:?}"),
            };
            Ok(page(at.as_str(), Some("application/xml"), body))
        },
        &listing,
        &pattern("*/image.wic.zsync"),
    )
    .unwrap();
    assert_eq!(latest.url, "http://h/bucket/builds/1000/image.wic.zsync");
    assert_eq!(asked.len(), 3, "{asked:?}");
    let mut pages = 0;
    let error = newest(
        |at: &Url| {
            pages += 1;
            let body = format!("<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>token-{pages}</NextContinuationToken></ListBucketResult>");
            Ok(page(at.as_str(), Some("application/xml"), &body))
        },
        &listing,
        &pattern("*/image.wic.zsync"),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(pages, 50);
    assert!(
        error.contains("its listing goes on past 50 pages"),
        "{error}"
    );
    let error = newest(
        |at: &Url| {
            let body = "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>same</NextContinuationToken></ListBucketResult>";
            Ok(page(at.as_str(), Some("application/xml"), body))
        },
        &listing,
        &pattern("*/image.wic.zsync"),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("goes on at this very page"), "{error}");
}

#[test]
fn an_s3_listing_without_a_delimiter_names_files_below_folders() {
    let body = "<ListBucketResult>\
        <Contents><Key>builds/999/image.wic.zsync</Key></Contents>\
        <Contents><Key>builds/1000/image.wic.zsync</Key></Contents>\
        <Contents><Key>builds/1000/image.wic</Key></Contents>\
        <Contents><Key>builds/1001/partial.tmp</Key></Contents></ListBucketResult>";
    let mut pages = HashMap::new();
    pages.insert(
        "http://h/bucket?list-type=2&prefix=builds/",
        ("application/xml", body.to_string()),
    );
    let latest = newest(
        served(pages),
        &url("http://h/bucket?list-type=2&prefix=builds/"),
        &pattern("*/image.wic.zsync"),
    )
    .unwrap();
    assert_eq!(latest.url, "http://h/bucket/builds/1000/image.wic.zsync");
    assert_eq!(latest.name, "1000/image.wic.zsync");
}

#[test]
fn a_failing_folder_is_an_error_not_a_reason_to_take_an_older_build() {
    let mut pages = builds_tree(0);
    pages.insert(
        "http://h/builds/",
        ("text/html", nginx_file_listing(&["1000/", "1001/"])),
    );
    let error = newest(
        served(pages),
        &url("http://h/builds/"),
        &pattern("*/image.wic.zsync"),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "http://h/builds/1001/: the server has no such file (HTTP 404)"
    );
}
