//! The answer to one request: who may ask (an HTTP/1.1 request names one `Host`; only
//! `GET` and `HEAD`), which file, which of its bytes, and the headers that say so.

use std::fs::File;
use std::io::ErrorKind;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use http_body_util::{Either, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};

use super::Site;
use super::body::{Piece, ReplyBody, stream};
use super::path::resolve;
use super::ranges::{Wanted, wanted};

const BOUNDARY: &str = "deltadrop-byteranges-7c1f";

/// What to send for a request, decided before anything is sent.
struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, String)>,
    content: Content,
}

enum Content {
    Text(&'static str),
    /// Part heads and stretches of `file`, in order.
    File {
        file: File,
        pieces: Vec<Piece>,
    },
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Text(text) => text.len() as u64,
            Content::File { pieces, .. } => pieces.iter().map(Piece::len).sum(),
        }
    }
}

impl Reply {
    fn text(status: StatusCode, text: &'static str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content: Content::Text(text),
        }
    }

    fn file(status: StatusCode, file: File, pieces: Vec<Piece>) -> Reply {
        Reply {
            status,
            headers: vec![(header::ACCEPT_RANGES, "bytes".into())],
            content: Content::File { file, pieces },
        }
    }

    fn with(mut self, name: HeaderName, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// Answers `request`; the file is opened and its ranges worked out on a blocking thread.
pub(super) async fn answer(site: Arc<Site>, request: Request<Incoming>) -> Response<ReplyBody> {
    let head_only = request.method() == Method::HEAD;
    let reply = match refusal(&request) {
        Some(refused) => refused,
        None => {
            let target = request.uri().path().to_owned();
            let range = range_header(&request);
            let root = site.root.clone();
            tokio::task::spawn_blocking(move || reply_for(&root, &target, range.as_deref()))
                .await
                .unwrap_or_else(|_| {
                    Reply::text(StatusCode::INTERNAL_SERVER_ERROR, "could not answer\n")
                })
        }
    };
    respond(reply, head_only, site)
}

/// The reply to a request that is not ours to serve, if it is one.
fn refusal(request: &Request<Incoming>) -> Option<Reply> {
    let hosts = request.headers().get_all(header::HOST).iter().count();
    // RFC 9112 §3.2: a 400 for an HTTP/1.1 request without a Host, and for any with two.
    if hosts > 1 || (hosts == 0 && request.version() == Version::HTTP_11) {
        let refused = Reply::text(StatusCode::BAD_REQUEST, "name one Host\n");
        return Some(refused.with(header::CONNECTION, "close"));
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let refused = Reply::text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        return Some(refused.with(header::ALLOW, "GET, HEAD"));
    }
    None
}

/// The `Range` lines' values as one list, as RFC 9110 §5.3 combines repeated lines.
fn range_header(request: &Request<Incoming>) -> Option<String> {
    let values: Vec<_> = request
        .headers()
        .get_all(header::RANGE)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn reply_for(root: &Path, target: &str, range: Option<&str>) -> Reply {
    let Some(path) = resolve(root, target) else {
        return Reply::text(StatusCode::NOT_FOUND, "not found\n");
    };
    let opened = File::open(&path).and_then(|file| Ok((file.metadata()?.len(), file)));
    let (len, file) = match opened {
        Ok(opened) => opened,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Reply::text(StatusCode::NOT_FOUND, "not found\n");
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            return Reply::text(StatusCode::FORBIDDEN, "the server may not read this file\n");
        }
        Err(_) => return Reply::text(StatusCode::INTERNAL_SERVER_ERROR, "could not read\n"),
    };
    match wanted(range, len) {
        Wanted::Whole => Reply::file(StatusCode::OK, file, vec![Piece::File(0..len)]),
        Wanted::Refused => Reply::text(StatusCode::RANGE_NOT_SATISFIABLE, "")
            .with(header::CONTENT_RANGE, format!("bytes */{len}")),
        Wanted::Parts(ranges) => partial(file, len, ranges),
    }
}

/// A `206`: one part as it is, several as `multipart/byteranges`.
fn partial(file: File, len: u64, ranges: Vec<Range<u64>>) -> Reply {
    if let [single] = ranges.as_slice() {
        let content_range = content_range(single, len);
        let pieces = vec![Piece::File(single.clone())];
        return Reply::file(StatusCode::PARTIAL_CONTENT, file, pieces)
            .with(header::CONTENT_RANGE, content_range);
    }
    let mut pieces = Vec::with_capacity(2 * ranges.len() + 1);
    for range in ranges {
        let head = format!(
            "\r\n--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\nContent-Range: {}\r\n\r\n",
            content_range(&range, len)
        );
        pieces.push(Piece::Text(head.into()));
        pieces.push(Piece::File(range));
    }
    pieces.push(Piece::Text(format!("\r\n--{BOUNDARY}--\r\n").into()));
    Reply::file(StatusCode::PARTIAL_CONTENT, file, pieces).with(
        header::CONTENT_TYPE,
        format!("multipart/byteranges; boundary={BOUNDARY}"),
    )
}

fn content_range(range: &Range<u64>, len: u64) -> String {
    format!("bytes {}-{}/{len}", range.start, range.end - 1)
}

fn respond(reply: Reply, head_only: bool, site: Arc<Site>) -> Response<ReplyBody> {
    let length = reply.content.len();
    let body = match reply.content {
        _ if head_only => Either::Left(Full::new(Bytes::new())),
        Content::Text(text) => Either::Left(Full::new(Bytes::from_static(text.as_bytes()))),
        Content::File { file, pieces } => Either::Right(stream(file, pieces, site)),
    };
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(header::SERVER, HeaderValue::from_static("deltadrop"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    for (name, value) in reply.headers {
        // Numbers and the constants above: always a valid header value.
        let value = HeaderValue::try_from(value).expect("a header value of visible ASCII");
        headers.insert(name, value);
    }
    response
}
