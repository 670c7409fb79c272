//! HTTP transport: one reqwest client (rustls; HTTP/2 where offered; proxies from the
//! environment or the options), the control-file download, and range requests whose
//! replies are classified for the fetcher: multipart, single part, or "no ranges here".
//!
//! Redirects are followed per request (signed, expiring mirror URLs keep working) and
//! reqwest drops credentials when a redirect leaves the host. Nothing here retries: the
//! fetcher decides, from [`RequestError::kind`], whether to retry, to ask for fewer ranges
//! or to give up on a URL.

use std::io::Read;
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{
    CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION,
    PROXY_AUTHENTICATE, RANGE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use url::Url;

use super::multipart::{boundary_of, parse_content_range};
use crate::blocks::range_header;
use crate::error::{Error, Result, shown_url};
use crate::job::{ClientCert, Credentials, HostHeader, JobOptions};

/// A server asking to be left alone longer than this (`Retry-After`) is given up on: the
/// job moves to another URL or ends, rather than wait unseen.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Control files larger than this are not control files.
const MAX_CONTROL_BYTES: u64 = 512 << 20;

/// What the fetcher should do about a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// A passing problem (network, 5xx, 429): try again after a pause, at least the one
    /// the server asked for with `Retry-After`.
    Later(Option<Duration>),
    /// The server did not like the request's size: ask for fewer ranges.
    FewerRanges,
    /// This URL will not work (404, 403...): try another or give up.
    Never,
}

#[derive(Debug)]
pub(crate) struct RequestError {
    pub retry: Retry,
    pub error: Error,
}

/// A reply to a range request, body not yet read.
pub(crate) enum RangeReply {
    /// `206` with `multipart/byteranges`.
    Multipart { boundary: String, body: Response },
    /// `206` with one part (possibly fewer bytes than asked).
    Single {
        range: Range<u64>,
        total: Option<u64>,
        body: Response,
    },
    /// A file read where it is (the target beside a local control file, on a share or
    /// in a folder): any range of it can be read.
    Local { file: std::fs::File, length: u64 },
    /// `200`: the server ignores ranges and sends the whole file. `mirror` is where a
    /// redirect led, if it left the server asked: another request may reach another
    /// mirror.
    Whole {
        length: Option<u64>,
        body: Response,
        mirror: Option<Url>,
    },
}

/// Redirects followed for one request, as browsers and curl allow.
const MAX_REDIRECTS: usize = 10;

pub(crate) struct Http {
    /// For hosts without a client certificate.
    client: Client,
    /// One client per host that has a client certificate (reqwest's clients hold one).
    certified: Vec<(String, Client)>,
    credentials: Vec<Credentials>,
    headers: Vec<HostHeader>,
    /// The proxy's host, when one is set, for messages about its sign-in.
    proxy_host: Option<String>,
}

/// What the transport needs to know of the job's options.
pub(crate) struct HttpConfig<'a> {
    pub proxy: Option<&'a str>,
    pub ca_certs: &'a [std::path::PathBuf],
    pub credentials: &'a [Credentials],
    pub headers: &'a [HostHeader],
    pub client_certs: &'a [ClientCert],
    /// Connections kept open per host.
    pub connections: usize,
    pub stall_timeout: Duration,
}

impl<'a> From<&'a JobOptions> for HttpConfig<'a> {
    fn from(options: &'a JobOptions) -> Self {
        HttpConfig {
            proxy: options.proxy.as_deref(),
            ca_certs: &options.ca_certs,
            credentials: &options.credentials,
            headers: &options.headers,
            client_certs: &options.client_certs,
            connections: options.parallel_requests.max(1),
            stall_timeout: options.stall_timeout,
        }
    }
}

impl Http {
    pub fn new(options: &HttpConfig) -> Result<Http> {
        let extra_roots = extra_roots(options.ca_certs)?;
        let build = |identity: Option<reqwest::Identity>| {
            let mut builder = client_builder(options, &extra_roots)?;
            if let Some(identity) = identity {
                builder = builder.identity(identity);
            }
            builder.build().map_err(|e| {
                Error::Invalid(format!("could not set up HTTP: {}", innermost_cause(&e)))
            })
        };
        let certified = options
            .client_certs
            .iter()
            .map(|cert| Ok((cert.host.clone(), build(Some(identity(cert)?))?)))
            .collect::<Result<_>>()?;
        Ok(Http {
            client: build(None)?,
            certified,
            credentials: options.credentials.to_vec(),
            headers: options.headers.to_vec(),
            proxy_host: options
                .proxy
                .and_then(|p| Url::parse(p).ok())
                .and_then(|p| p.host_str().map(str::to_string)),
        })
    }

    /// A GET of `url` with what belongs to its host alone: its client certificate, its
    /// credentials, its headers.
    fn request(&self, url: &Url) -> RequestBuilder {
        let host = url.host_str();
        let client = self
            .certified
            .iter()
            .find(|(h, _)| Some(h.as_str()) == host)
            .map_or(&self.client, |(_, client)| client);
        let mut request = client.get(url.clone());
        if let Some(c) = self
            .credentials
            .iter()
            .find(|c| Some(c.host.as_str()) == host)
        {
            request = request.basic_auth(&c.user, Some(&c.password));
        }
        for header in self
            .headers
            .iter()
            .filter(|h| Some(h.host.as_str()) == host)
        {
            request = request.header(&header.name, &header.value);
        }
        request
    }

    /// Whether requests to `url`'s host carry a sign-in (credentials or a header).
    fn signs_in(&self, url: &Url) -> bool {
        let host = url.host_str();
        self.credentials
            .iter()
            .any(|c| Some(c.host.as_str()) == host)
            || self.headers.iter().any(|h| Some(h.host.as_str()) == host)
    }

    /// What an unsuccessful reply says, and whether asking again may help.
    fn refusal(&self, response: Response) -> RequestError {
        let url = response.url().clone();
        let status = response.status();
        let retry = match status.as_u16() {
            408 | 425 | 429 | 500..=599 => Retry::Later(None),
            400 | 413 | 414 | 431 => Retry::FewerRanges,
            _ => Retry::Never,
        };
        let error = match status.as_u16() {
            401 | 403 | 407 => self.access_error(&response),
            400 if self.wants_client_certificate(response) => Error::http(
                &url,
                "it asks for a client certificate, and none was given for it (HTTP 400)",
            ),
            404 | 410 => Error::http(&url, "the server has no such file (HTTP 404)"),
            416 => Error::http(
                &url,
                "the server says the ranges are outside the file (HTTP 416): its file is shorter than the control file says",
            ),
            _ => Error::http(&url, format!("the server answered HTTP {status}")),
        };
        RequestError { retry, error }
    }

    /// Whether a `400` over HTTPS is a server refusing a client without a certificate:
    /// nginx finishes the handshake and says so in its error page ("No required SSL
    /// certificate was sent"), where others end the handshake instead.
    fn wants_client_certificate(&self, response: Response) -> bool {
        let url = response.url();
        if url.scheme() != "https"
            || self
                .certified
                .iter()
                .any(|(host, _)| Some(host.as_str()) == url.host_str())
        {
            return false;
        }
        let mut page = Vec::new();
        let _ = response.take(4096).read_to_end(&mut page);
        String::from_utf8_lossy(&page)
            .to_ascii_lowercase()
            .contains("ssl certificate")
    }

    /// A `401`, `403` or `407`: who asks, for what kind of sign-in, and whether ours was
    /// refused.
    fn access_error(&self, response: &Response) -> Error {
        let url = response.url();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get(if status == 407 {
                PROXY_AUTHENTICATE
            } else {
                WWW_AUTHENTICATE
            })
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let (host, signed_in) = if status == 407 {
            let host = self.proxy_host.clone();
            let signed_in = self.proxy_host.is_some();
            (host.unwrap_or_else(|| "(the system's)".into()), signed_in)
        } else {
            (
                url.host_str().unwrap_or_default().to_string(),
                self.signs_in(url),
            )
        };
        let scheme = challenge.split_whitespace().next().map(str::to_string);
        Error::Access {
            url: shown_url(url.as_str()),
            host,
            status,
            scheme: scheme.filter(|s| !s.is_empty()),
            realm: realm_of(challenge),
            signed_in,
        }
    }

    /// Sends a GET of `url`, `with` adding the request's own headers, and follows its
    /// redirects here rather than in reqwest: each hop carries its own host's client
    /// certificate, credentials and headers, and no other host's (reqwest would carry a
    /// token header to the next host).
    fn send(
        &self,
        url: &Url,
        with: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> std::result::Result<Response, RequestError> {
        let mut at = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let response = with(self.request(&at)).send().map_err(|e| RequestError {
                retry: if e.is_builder() {
                    Retry::Never
                } else {
                    Retry::Later(None)
                },
                error: describe_send_error(&at, e),
            })?;
            match redirect_target(&response) {
                Some(next) => at = next,
                None => return Ok(response),
            }
        }
        Err(RequestError {
            retry: Retry::Never,
            error: Error::http(
                url,
                "it redirects in a loop, or through more than 10 places",
            ),
        })
    }

    /// Downloads a control file; returns its bytes and the URL it came from after
    /// redirects (the base for its relative URLs). With `saved`, a file the server says is
    /// unchanged is read from there instead, and a changed one is saved there.
    pub fn get_control(&self, url: &Url, saved: Option<&Path>) -> Result<(Vec<u8>, Url)> {
        let saved_mtime = saved.and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        let response = self
            .send(url, |request| match saved_mtime {
                Some(mtime) => request.header(IF_MODIFIED_SINCE, http_date(mtime)),
                None => request,
            })
            .map_err(|e| e.error)?;
        let final_url = response.url().clone();
        if response.status() == StatusCode::NOT_MODIFIED
            && let Some(path) = saved
        {
            let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
            return Ok((bytes, final_url));
        }
        let bytes = control_body(self, response, None)?;
        if let Some(path) = saved {
            crate::part::write_atomically(path, &bytes)?;
        }
        Ok((bytes, final_url))
    }

    /// Asks for the control file at `url` unless the server says it is unchanged since
    /// it sent `known` (a conditional GET: `304` costs one request and no body). With
    /// `first`, only the file's first bytes are asked for (a zchunk file's lead, which
    /// holds its header's checksum).
    pub fn get_if_changed(
        &self,
        url: &Url,
        known: &Validators,
        first: Option<u64>,
    ) -> Result<Fresh> {
        let response = self
            .send(url, |mut request| {
                if let Some(etag) = &known.etag {
                    request = request.header(IF_NONE_MATCH, etag);
                }
                if let Some(date) = &known.last_modified {
                    request = request.header(IF_MODIFIED_SINCE, date);
                }
                if let Some(len) = first.filter(|&len| len > 0) {
                    request = request.header(RANGE, range_header(std::slice::from_ref(&(0..len))));
                }
                request
            })
            .map_err(|e| e.error)?;
        let final_url = response.url().clone();
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(Fresh::Unchanged { final_url });
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        let bytes = control_body(self, response, first)?;
        Ok(Fresh::Changed {
            bytes,
            final_url,
            validators,
        })
    }

    /// A small document (a folder listing) whole: the URL it came from after redirects
    /// (the base of its links), its `Content-Type`, and its bytes. More than `limit`
    /// bytes is an error saying it is too big to be `what`.
    pub fn get_document(
        &self,
        url: &Url,
        limit: u64,
        what: &str,
    ) -> Result<(Url, Option<String>, Vec<u8>)> {
        let response = self.send(url, |r| r).map_err(|e| e.error)?;
        let final_url = response.url().clone();
        if !response.status().is_success() {
            return Err(self.refusal(response).error);
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_whole(response, limit, what)?;
        Ok((final_url, content_type, bytes))
    }

    /// The `bytes` of the file at `url` (fewer if it is shorter), and the file's length
    /// when the server tells it: how a format whose index heads the file itself (zchunk)
    /// reads it. A server without ranges sends the whole file, of which only what is
    /// needed is read.
    pub fn get_bytes(&self, url: &Url, bytes: Range<u64>) -> Result<(Vec<u8>, Option<u64>)> {
        if bytes.is_empty() {
            return Ok((Vec::new(), None));
        }
        let response = self
            .send(url, |r| {
                r.header(RANGE, range_header(std::slice::from_ref(&bytes)))
            })
            .map_err(|e| e.error)?;
        let final_url = response.url().clone();
        let total = match response.status() {
            StatusCode::PARTIAL_CONTENT => {
                let content_range = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_content_range);
                match content_range {
                    Some((range, total)) if range.start == bytes.start => total,
                    _ => {
                        return Err(Error::http(
                            &final_url,
                            "it answered a request for some bytes with others",
                        ));
                    }
                }
            }
            StatusCode::OK => response.content_length(),
            StatusCode::RANGE_NOT_SATISFIABLE => Some(0),
            _ => return Err(self.refusal(response).error),
        };
        let whole = response.status() == StatusCode::OK;
        let mut body = response.take(if whole {
            bytes.end
        } else {
            bytes.end - bytes.start
        });
        if whole {
            std::io::copy(&mut (&mut body).take(bytes.start), &mut std::io::sink())
                .map_err(|e| Error::http(&final_url, format!("the download broke off: {e}")))?;
        }
        let mut data = Vec::new();
        body.read_to_end(&mut data)
            .map_err(|e| Error::http(&final_url, format!("the download broke off: {e}")))?;
        Ok((data, total))
    }

    /// The whole file at `url` (a casync chunk): its body, to be read as it arrives.
    pub fn get_body(&self, url: &Url) -> std::result::Result<Response, RequestError> {
        let response = self.send(url, |r| r)?;
        if !response.status().is_success() {
            return Err(self.refusal(response));
        }
        Ok(response)
    }

    /// Asks `url` for `ranges` (ascending, not touching).
    pub fn get_ranges(
        &self,
        url: &Url,
        ranges: &[Range<u64>],
    ) -> std::result::Result<RangeReply, RequestError> {
        if url.scheme() == "file" {
            return open_local(url);
        }
        let response = self.send(url, |r| r.header(RANGE, range_header(ranges)))?;
        let status = response.status();
        let final_url = response.url().clone();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match status {
            StatusCode::PARTIAL_CONTENT => {
                let content_type = header(CONTENT_TYPE).unwrap_or_default();
                if let Some(boundary) = boundary_of(&content_type) {
                    return Ok(RangeReply::Multipart {
                        boundary,
                        body: response,
                    });
                }
                let content_range = header(CONTENT_RANGE).unwrap_or_default();
                let (range, total) =
                    parse_content_range(&content_range).ok_or_else(|| RequestError {
                        retry: Retry::FewerRanges,
                        error: Error::BadData {
                            url: shown_url(final_url.as_str()),
                            problem: format!(
                                "a 206 reply without a usable Content-Range (\"{content_range}\")"
                            ),
                        },
                    })?;
                Ok(RangeReply::Single {
                    range,
                    total,
                    body: response,
                })
            }
            StatusCode::OK => Ok(RangeReply::Whole {
                length: response.content_length(),
                body: response,
                mirror: (final_url.origin() != url.origin()).then_some(final_url),
            }),
            _ => {
                let asked_to_wait = header(RETRY_AFTER).and_then(|v| retry_after(&v));
                let mut error = self.refusal(response);
                if error.retry == Retry::Never && final_url.origin() != url.origin() {
                    // A redirector sent us to a mirror that failed; asked again, it may
                    // pick another.
                    error.retry = Retry::Later(None);
                }
                if let Retry::Later(_) = error.retry
                    && let Some(wait) = asked_to_wait
                {
                    error.retry = if wait <= MAX_RETRY_AFTER {
                        Retry::Later(Some(wait))
                    } else {
                        error.error = Error::http(
                            &final_url,
                            format!(
                                "the server is busy (HTTP {status}) and asks to come back in {} s",
                                wait.as_secs()
                            ),
                        );
                        Retry::Never
                    };
                }
                Err(error)
            }
        }
    }
}

/// Opens the file a `file:` URL names. It is not there any more, or not allowed: that
/// URL will not work; other errors (a share that went away for a moment) are retried.
fn open_local(url: &Url) -> std::result::Result<RangeReply, RequestError> {
    let path = url.to_file_path().map_err(|()| RequestError {
        retry: Retry::Never,
        error: Error::Invalid(format!("{url} does not name a local file")),
    })?;
    let failed = |e: std::io::Error| RequestError {
        retry: match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => Retry::Never,
            _ => Retry::Later(None),
        },
        error: Error::io("read", &path, e),
    };
    let file = std::fs::File::open(&path).map_err(failed)?;
    let length = file.metadata().map_err(failed)?.len();
    Ok(RangeReply::Local { file, length })
}

/// What a server said identifies the version of a file it sent: given back, it answers
/// `304 Not Modified` while the file is the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Validators {
    /// `ETag`, as sent (`If-None-Match`).
    pub etag: Option<String>,
    /// `Last-Modified`, as sent (`If-Modified-Since`).
    pub last_modified: Option<String>,
}

/// A conditional request's answer.
pub(crate) enum Fresh {
    /// `304`: the file is the one the validators were sent with.
    Unchanged { final_url: Url },
    /// The file, new or not (a server without validators always sends it).
    Changed {
        bytes: Vec<u8>,
        final_url: Url,
        validators: Validators,
    },
}

/// A control file's body, from a reply that should be a success: all of it, or with
/// `first` only its first bytes (a server without ranges sends more, read no further).
fn control_body(http: &Http, response: Response, first: Option<u64>) -> Result<Vec<u8>> {
    if !response.status().is_success() {
        return Err(http.refusal(response).error);
    }
    let Some(first) = first else {
        return read_whole(response, MAX_CONTROL_BYTES, "a control file");
    };
    let url = response.url().clone();
    let mut bytes = Vec::new();
    response
        .take(first)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::http(&url, format!("the download broke off: {e}")))?;
    Ok(bytes)
}

/// The body of `response`, which is to be at most `limit` bytes long: a longer one is not
/// `what` it should be, and is read no further.
fn read_whole(response: Response, limit: u64, what: &str) -> Result<Vec<u8>> {
    let url = response.url().clone();
    let mut bytes = Vec::new();
    response
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::http(&url, format!("the download broke off: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(Error::http(
            &url,
            format!("this is far too big to be {what}"),
        ));
    }
    Ok(bytes)
}

/// A `Retry-After` value: seconds, or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let now = chrono::Utc::now();
    Some(
        (when.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

/// Where a redirect leads, if `response` is one with a usable `Location`.
fn redirect_target(response: &Response) -> Option<Url> {
    if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    response
        .url()
        .join(location)
        .ok()
        .filter(|next| matches!(next.scheme(), "http" | "https"))
}

/// The `realm` a sign-in challenge names (`Basic realm="Builds"`), shortened and
/// without control characters: it is shown to the user.
fn realm_of(challenge: &str) -> Option<String> {
    let at = challenge.to_ascii_lowercase().find("realm=")? + "realm=".len();
    let rest = challenge[at..].trim_start();
    let realm = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next().unwrap_or_default(),
        None => rest.split([',', ' ']).next().unwrap_or_default(),
    };
    let realm: String = realm.chars().filter(|c| !c.is_control()).take(80).collect();
    (!realm.is_empty()).then_some(realm)
}

/// The PEM certificates of `paths`, trusted beside the system's.
fn extra_roots(paths: &[std::path::PathBuf]) -> Result<Vec<reqwest::Certificate>> {
    let mut roots = Vec::new();
    for path in paths {
        let pem = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            Error::Invalid(format!(
                "{} holds no usable PEM certificate: {e}",
                path.display()
            ))
        })?;
        roots.extend(certs);
    }
    Ok(roots)
}

/// A client as every request wants it; redirects are followed by [`Http::send`].
fn client_builder(
    options: &HttpConfig,
    extra_roots: &[reqwest::Certificate],
) -> Result<reqwest::blocking::ClientBuilder> {
    // The blocking client's own timeout bounds each wait, for the reply's headers and
    // for every read of its body, not the whole request: it is what notices a server
    // gone silent, however long a healthy reply takes.
    let mut builder = Client::builder()
        .user_agent(concat!("deltadrop/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .timeout(options.stall_timeout)
        .pool_max_idle_per_host(options.connections)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(proxy) = options.proxy {
        let proxy = reqwest::Proxy::all(proxy).map_err(|e| {
            Error::Invalid(format!(
                "the proxy \"{}\" is not usable: {e}",
                shown_url(proxy)
            ))
        })?;
        builder = builder.proxy(proxy);
    }
    if !extra_roots.is_empty() {
        builder = builder.tls_certs_merge(extra_roots.to_vec());
    }
    Ok(builder)
}

/// A client certificate and its key, for mutual TLS with its host.
fn identity(cert: &ClientCert) -> Result<reqwest::Identity> {
    let bytes = std::fs::read(&cert.path).map_err(|e| Error::io("read", &cert.path, e))?;
    let pem = if bytes.trim_ascii_start().starts_with(b"-----") {
        bytes
    } else {
        pkcs12_to_pem(&bytes, cert)?
    };
    reqwest::Identity::from_pem(&pem).map_err(|e| {
        Error::Invalid(format!(
            "{} holds no usable client certificate and key: {}",
            cert.path.display(),
            innermost_cause(&e)
        ))
    })
}

/// A PKCS#12 file's key and certificate chain as PEM, which rustls reads.
fn pkcs12_to_pem(bytes: &[u8], cert: &ClientCert) -> Result<Vec<u8>> {
    use base64::Engine;
    let unusable = |why: String| {
        Error::Invalid(format!(
            "{} is not a usable client certificate (PEM, or PKCS#12 with its password): {why}",
            cert.path.display()
        ))
    };
    let store = p12_keystore::KeyStore::from_pkcs12(
        bytes,
        cert.password.as_deref().unwrap_or_default(),
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .map_err(|e| unusable(e.to_string()))?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| unusable("it holds no private key".into()))?;
    let mut pem = String::new();
    let mut block = |label: &str, der: &[u8]| {
        let text = base64::engine::general_purpose::STANDARD.encode(der);
        pem.push_str(&format!("-----BEGIN {label}-----\n"));
        for line in text.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str(&format!("-----END {label}-----\n"));
    };
    block("PRIVATE KEY", chain.key().as_der());
    for certificate in chain.certs() {
        block("CERTIFICATE", certificate.as_der());
    }
    Ok(pem.into_bytes())
}

/// The innermost cause in reqwest's nested error chain: "builder error" or "error
/// sending request" say little, the cause at the bottom says what went wrong.
fn innermost_cause(error: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        let text = e.to_string();
        if !causes.iter().any(|c: &String| c.contains(&text)) {
            causes.push(text);
        }
        source = e.source();
    }
    causes.pop().unwrap_or_default()
}

/// Turns reqwest's nested error chain into one sentence a user can act on.
fn describe_send_error(url: &Url, error: reqwest::Error) -> Error {
    let detail = innermost_cause(&error);
    let lower = detail.to_ascii_lowercase();
    let problem = if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        format!("its certificate is signed by an authority your system does not trust ({detail})")
    } else if lower.contains("certificaterequired") || lower.contains("certificate required") {
        format!("it asks for a client certificate, and none was given for it ({detail})")
    } else if error.is_connect() {
        format!("could not connect ({detail})")
    } else if error.is_timeout() {
        "the server did not answer (it stopped sending before its reply began)".to_string()
    } else if error.is_redirect() {
        "it redirects in a loop, or through more than 10 places".to_string()
    } else {
        detail
    };
    Error::http(url, problem)
}

/// An HTTP date (RFC 9110 IMF-fixdate) for `If-Modified-Since`.
fn http_date(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        assert_eq!(retry_after(" 7 "), Some(Duration::from_secs(7)));
        let soon = chrono::Utc::now() + chrono::Duration::seconds(30);
        let wait = retry_after(&soon.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).unwrap();
        assert!((28..=30).contains(&wait.as_secs()), "{wait:?}");
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(retry_after("soon"), None);
    }
}
