//! Following a build by its folder listing (issue 20): `latest_build` against real nginx
//! (autoindex HTML and `autoindex_format json`) and Apache (mod_autoindex as Debian
//! configures it, and its plain list), an S3 bucket listing in pages from a scripted
//! server (Debian packages no S3 server), and listings that are not what they should be.
//!
//! The published folder is the issue's: `builds/999/` and `builds/1000/` hold
//! `image.wic.zsync`, `builds/1001/` is empty (still being uploaded) and
//! `builds/latest-tmp/` holds one too but has no build number. The newest build is 1000.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use deltadrop_core::{JobOptions, Latest, latest_build};
use deltadrop_tests::{Reply, TempDir, apache_with, nginx, public_dir, scripted};

const PATTERN: &str = "*/image.wic.zsync";

fn builds_folder() -> TempDir {
    let www = public_dir();
    let builds = www.path().join("builds");
    for (folder, files) in [
        ("999", &["image.wic.zsync", "image.wic"][..]),
        ("1000", &["image.wic.zsync", "image.wic"]),
        ("1001", &[]),
        ("latest-tmp", &["image.wic.zsync"]),
    ] {
        std::fs::create_dir_all(builds.join(folder)).unwrap();
        for file in files {
            std::fs::write(builds.join(folder).join(file), folder).unwrap();
        }
    }
    www
}

fn latest(listing: &str, pattern: &str) -> Result<Latest, deltadrop_core::Error> {
    latest_build(listing, pattern, &JobOptions::default())
}

#[test]
fn nginx_autoindex_html_and_json_lead_to_the_newest_complete_build() {
    let www = builds_folder();
    let json = format!(
        "autoindex on;\nlocation /json/ {{ alias {}/; autoindex on; autoindex_format json; }}",
        www.path().display()
    );
    let Some(nginx) = nginx(www.path(), None, &json) else {
        return;
    };
    for (listing, newest) in [
        ("builds/", "builds/1000/image.wic.zsync"),
        ("builds", "builds/1000/image.wic.zsync"),
        ("json/builds/", "json/builds/1000/image.wic.zsync"),
    ] {
        let found = latest(&nginx.url(listing), PATTERN).unwrap();
        assert_eq!(found.url, nginx.url(newest), "{listing}");
        assert_eq!(found.name, "1000/image.wic.zsync");
        assert_eq!(found.passed_over, ["1001/"], "{listing}");
    }
    // Twice each: asked for as `builds/` and as `builds`.
    assert_eq!(nginx.requests_for("builds/1001/").0, 2);
    assert_eq!(nginx.requests_for("builds/1000/").0, 2);
    assert_eq!(
        nginx.requests_for("builds/999/").0,
        0,
        "an older build is not read"
    );
    assert_eq!(nginx.requests_for("builds/latest-tmp/").0, 0);
    assert_eq!(nginx.requests_for("json/builds/1000/").0, 1);
}

#[test]
fn apache_autoindex_tables_and_lists_lead_to_the_newest_complete_build() {
    let www = builds_folder();
    // Debian's autoindex.conf.
    let indexes = "Options +Indexes\nIndexOptions FancyIndexing VersionSort HTMLTable \
                   NameWidth=* DescriptionWidth=* Charset=UTF-8";
    let Some(apache) = apache_with(www.path(), &["autoindex", "dir"], indexes) else {
        return;
    };
    // `?F=0` asks for the plain list; `builds` is redirected to `builds/` by mod_dir.
    for listing in ["builds/", "builds/?F=0", "builds"] {
        let found = latest(&apache.url(listing), PATTERN).unwrap();
        assert_eq!(
            found.url,
            apache.url("builds/1000/image.wic.zsync"),
            "{listing}"
        );
        assert_eq!(found.passed_over, ["1001/"], "{listing}");
    }
    assert_eq!(apache.requests_for("builds/999/").0, 0);
}

#[test]
fn a_folder_of_ten_thousand_builds() {
    let www = public_dir();
    let builds = www.path().join("builds");
    std::fs::create_dir(&builds).unwrap();
    for build in 1..=10_000 {
        std::fs::write(builds.join(format!("image-{build}.wic.zsync")), "").unwrap();
    }
    let Some(nginx) = nginx(www.path(), None, "autoindex on;") else {
        return;
    };
    let found = latest(&nginx.url("builds/"), "image-*.wic.zsync").unwrap();
    assert_eq!(found.url, nginx.url("builds/image-10000.wic.zsync"));
}

/// One page of a ListObjectsV2 answer with `folders` as common prefixes and `keys` as
/// objects, going on at `next` if given.
fn s3_page(folders: &[&str], keys: &[&str], next: Option<&str>) -> Reply {
    let prefixes: String = folders
        .iter()
        .map(|p| format!("<CommonPrefixes><Prefix>{p}</Prefix></CommonPrefixes>"))
        .collect();
    let contents: String = keys
        .iter()
        .map(|k| {
            format!(
                "<Contents><Key>{k}</Key><LastModified>2026-12-04T03:12:00.000Z</LastModified>\
                 <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1234</Size>\
                 <StorageClass>STANDARD</StorageClass></Contents>"
            )
        })
        .collect();
    let paging = match next {
        Some(token) => format!(
            "<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>"
        ),
        None => "<IsTruncated>false</IsTruncated>".to_string(),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult \
         xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bucket</Name>\
         <Prefix></Prefix><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter>{paging}{contents}{prefixes}\
         </ListBucketResult>"
    );
    Reply {
        status: 200,
        content_type: "application/xml",
        body: body.into_bytes(),
    }
}

fn not_found() -> Reply {
    Reply {
        status: 404,
        content_type: "application/xml",
        body: b"<Error><Code>NoSuchKey</Code></Error>".to_vec(),
    }
}

/// The value of `name` in the query of `target`, decoded as S3 decodes it (`+` is a
/// space, so a token's `+` must come as `%2B`).
fn query_value(target: &str, name: &str) -> Option<String> {
    let (_, query) = target.split_once('?')?;
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))?;
    let mut bytes = Vec::new();
    let mut rest = value.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        match byte {
            b'%' if after.len() >= 2 => {
                let hex = std::str::from_utf8(&after[..2]).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &after[2..];
                continue;
            }
            b'+' => bytes.push(b' '),
            _ => bytes.push(byte),
        }
        rest = after;
    }
    String::from_utf8(bytes).ok()
}

/// A continuation token as S3 makes them: base64, with `/`, `+` and `=` to encode.
const TOKEN: &str = "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J+wm36Hy4vbOwM=";

#[test]
fn an_s3_listing_in_two_pages_leads_to_the_object_under_the_bucket() {
    let server = scripted(|target| {
        if !target.starts_with("bucket?") {
            return not_found();
        }
        let prefix = query_value(target, "prefix");
        let token = query_value(target, "continuation-token");
        match (prefix.as_deref(), token.as_deref()) {
            (Some("builds/"), None) => s3_page(
                &["builds/1000/", "builds/1001/"],
                &["builds/README.txt"],
                Some(TOKEN),
            ),
            (Some("builds/"), Some(TOKEN)) => {
                s3_page(&["builds/999/", "builds/latest-tmp/"], &[], None)
            }
            (Some("builds/1001/"), None) => s3_page(&[], &[], None),
            (Some("builds/1000/"), None) => s3_page(
                &[],
                &["builds/1000/image.wic", "builds/1000/image.wic.zsync"],
                None,
            ),
            _ => not_found(),
        }
    });
    let listing = server.url("bucket?list-type=2&prefix=builds/&delimiter=/");
    let found = latest(&listing, PATTERN).unwrap();
    assert_eq!(found.url, server.url("bucket/builds/1000/image.wic.zsync"));
    assert_eq!(found.passed_over, ["1001/"]);
    assert_eq!(server.requests(), 4, "two pages, then 1001/ and 1000/");
}

#[test]
fn an_s3_listing_that_never_ends_is_given_up_on() {
    let pages = AtomicUsize::new(0);
    let server = scripted(move |_| {
        let page = pages.fetch_add(1, Ordering::Relaxed);
        s3_page(
            &[&format!("builds/{page}/")],
            &[],
            Some(&format!("token-{page}")),
        )
    });
    let listing = server.url("bucket?list-type=2&prefix=builds/&delimiter=/");
    let message = latest(&listing, PATTERN).unwrap_err().to_string();
    assert!(
        message.contains("its listing goes on past 50 pages"),
        "{message}"
    );
    assert_eq!(server.requests(), 50);
}

fn write(www: &Path, path: &str, content: &[u8]) {
    let path = www.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

#[test]
fn bad_listings_give_a_message_not_a_download() {
    let www = builds_folder();
    write(
        www.path(),
        "login/index.html",
        b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>\
          <form action=\"/login\" method=\"post\"><input name=\"user\"></form>\
          <a href=\"https://sso.example.com/\">Sign in with SSO</a>\
          <a href=\"reset\">Forgot your password?</a></body></html>",
    );
    write(www.path(), "huge/index.html", &vec![b' '; 9 << 20]);
    let Some(nginx) = nginx(www.path(), None, "autoindex on;") else {
        return;
    };
    let error = latest(&nginx.url("login/"), PATTERN).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "{} is not a folder listing: it is an HTML page titled \"Sign in\"",
            nginx.url("login/")
        )),
        "{message}"
    );
    let message = latest(&nginx.url("builds/"), "*/image.iso.zsync")
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        format!(
            "{}: no build matches \"*/image.iso.zsync\" yet: 1001/ has no \
             \"image.iso.zsync\" (it is empty); 1000/ has no \"image.iso.zsync\" (it has \
             image.wic, image.wic.zsync); 999/ has no \"image.iso.zsync\" (it has image.wic, \
             image.wic.zsync)",
            nginx.url("builds/")
        )
    );
    let message = latest(&nginx.url("builds/"), "nightly-*.img.zsync")
        .unwrap_err()
        .to_string();
    assert!(
        message.ends_with(
            "nothing in this listing matches \"nightly-*.img.zsync\"; it has 1000/, 1001/, 999/, latest-tmp/"
        ),
        "{message}"
    );
    let message = latest(&nginx.url("gone/"), PATTERN)
        .unwrap_err()
        .to_string();
    assert!(
        message.ends_with("the server has no such file (HTTP 404)"),
        "{message}"
    );
    let message = latest(&nginx.url("huge/"), PATTERN)
        .unwrap_err()
        .to_string();
    assert!(
        message.ends_with("this is far too big to be a folder listing"),
        "{message}"
    );
    let message = latest(&nginx.url("builds/"), "/builds/*")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("is not a path below the listing"),
        "{message}"
    );
}
