//! Builds behind a login, end to end: nginx asking for a password (`auth_basic`) or a
//! token header, a redirect from such a server to another host, nginx asking for a client
//! certificate, a certificate from an authority the system does not trust, and
//! squid asking for its own sign-in. Each case ends in the exact file or a message
//! that says who asks for what; no secret ever appears in what the job reports.

use std::path::PathBuf;

use deltadrop_core::{ClientCert, Credentials, Error, HostHeader, JobSpec, Summary};
use deltadrop_tests::*;

const PASSWORD: &str = "correct-horse-battery";
const TOKEN: &str = "glpat-s3cr3t-t0k3n";

/// A published file and its seed.
struct Published {
    www: TempDir,
    work: TempDir,
    seed: PathBuf,
    new: Vec<u8>,
}

fn published() -> Option<Published> {
    let old = random_bytes(600_000, 81);
    let new = edited(&old, 82);
    let www = public_dir();
    std::fs::write(www.path().join("f.bin"), &new).unwrap();
    zsyncmake(www.path(), "f.bin", &["-u", "data/f.bin"])?;
    std::fs::create_dir(www.path().join("data")).unwrap();
    std::fs::rename(www.path().join("f.bin"), www.path().join("data/f.bin")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let seed = work.path().join("seed");
    std::fs::write(&seed, &old).unwrap();
    Some(Published {
        www,
        work,
        seed,
        new,
    })
}

impl Published {
    fn spec(&self, url: String, out: &str) -> JobSpec {
        job_spec(url, &[&self.seed], &self.work.path().join(out))
    }

    fn out(&self, name: &str) -> Vec<u8> {
        read(&self.work.path().join(name))
    }
}

/// Runs `spec`; fails the test if a secret shows in any event (every one's `Debug`),
/// the error's message or its hint.
fn run_guarded(spec: JobSpec) -> Result<Summary, Error> {
    let (result, events) = run_job(spec);
    let mut shown: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
    if let Err(e) = &result {
        shown.push(e.to_string());
        shown.push(e.hint().into_owned());
    }
    for text in &shown {
        for secret in [PASSWORD, TOKEN, "wrong-password", "proxy-pass"] {
            assert!(!text.contains(secret), "a secret was shown: {text}");
        }
    }
    result
}

fn credentials(password: &str) -> Credentials {
    Credentials {
        host: "127.0.0.1".into(),
        user: "builder".into(),
        password: password.into(),
    }
}

#[test]
fn basic_auth_wants_a_sign_in_refuses_a_wrong_one_and_takes_the_right_one() {
    let Some(p) = published() else { return };
    let Some(users) = htpasswd(p.www.path(), "builder", PASSWORD) else {
        return;
    };
    let extra = format!(
        "location / {{ auth_basic \"Nightly builds\"; auth_basic_user_file {}; }}",
        users.display()
    );
    let Some(server) = nginx(p.www.path(), None, &extra) else {
        return;
    };
    let url = server.url("f.bin.zsync");

    let error = run_guarded(p.spec(url.clone(), "none")).unwrap_err();
    let Error::Access {
        status,
        ref host,
        ref realm,
        ref scheme,
        signed_in,
        ..
    } = error
    else {
        panic!("{error:?}");
    };
    assert_eq!(
        (status, host.as_str(), signed_in),
        (401, "127.0.0.1", false)
    );
    assert_eq!(realm.as_deref(), Some("Nightly builds"));
    assert_eq!(scheme.as_deref(), Some("Basic"));
    assert_eq!(
        error.to_string(),
        format!("{url}: 127.0.0.1 wants a sign-in (HTTP 401, for \"Nightly builds\")")
    );
    assert!(error.hint().contains("deltadrop-cli login 127.0.0.1"));

    let mut spec = p.spec(url.clone(), "wrong");
    spec.options.credentials = vec![credentials("wrong-password")];
    let error = run_guarded(spec).unwrap_err();
    assert!(
        error.to_string().ends_with(
            "the server refused the sign-in for 127.0.0.1 (HTTP 401, for \"Nightly builds\")"
        ),
        "{error}"
    );
    assert!(error.hint().starts_with("Check the user and password"));

    let mut spec = p.spec(url, "right");
    spec.options.credentials = vec![credentials(PASSWORD)];
    run_guarded(spec).unwrap();
    assert!(p.out("right") == p.new);
}

#[test]
fn a_token_header_goes_to_its_host_and_not_after_a_redirect_to_another() {
    let Some(p) = published() else { return };
    // The data is on another host (a CDN): `localhost`, where the token was given for
    // `127.0.0.1`. It counts requests that carry credentials or a token.
    let cdn = misbehaving(p.www.path(), Misbehaviour::Honest);
    let extra = format!(
        "location / {{ if ($http_private_token != \"{TOKEN}\") {{ return 401; }} }}\n\
         location /data/ {{ if ($http_private_token != \"{TOKEN}\") {{ return 401; }} \
         return 302 http://localhost:{}$request_uri; }}",
        cdn.port
    );
    let Some(server) = nginx(p.www.path(), None, &extra) else {
        return;
    };
    let url = server.url("f.bin.zsync");
    let token = HostHeader {
        host: "127.0.0.1".into(),
        name: "PRIVATE-TOKEN".into(),
        value: TOKEN.into(),
    };

    let error = run_guarded(p.spec(url.clone(), "none")).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Access {
                status: 401,
                signed_in: false,
                ..
            }
        ),
        "{error:?}"
    );
    let mut spec = p.spec(url, "with-token");
    spec.options.headers = vec![token];
    // Credentials for the build server too: neither may reach the CDN.
    spec.options.credentials = vec![credentials(PASSWORD)];
    run_guarded(spec).unwrap();
    assert!(p.out("with-token") == p.new);
    assert!(cdn.requests() > 0, "the data came from the CDN");
    assert_eq!(
        cdn.requests_with_credentials(),
        0,
        "the token and the password stayed with their host"
    );
}

/// A CA for client certificates and one client certificate it signed, as PEM (key and
/// certificate in one file) and PKCS#12 (with a password), made by `openssl`.
struct ClientCa {
    dir: TempDir,
}

impl ClientCa {
    fn make() -> Option<ClientCa> {
        let openssl = peer("openssl")?;
        let dir = public_dir();
        // Version 3, with the extensions rustls wants of a client certificate.
        openssl_ca(
            &openssl,
            dir.path(),
            "deltadrop test client CA",
            ("client", "builder"),
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
        );
        let pass = format!("pass:{PASSWORD}");
        let pkcs12: &[&str] = &[
            "pkcs12",
            "-export",
            "-inkey",
            "client.key",
            "-in",
            "client.crt",
            "-passout",
            &pass,
            "-out",
            "client.p12",
        ];
        run_openssl(&openssl, &[pkcs12], dir.path());
        let pem = [
            read(&dir.path().join("client.crt")),
            read(&dir.path().join("client.key")),
        ]
        .concat();
        std::fs::write(dir.path().join("client.pem"), pem).unwrap();
        Some(ClientCa { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

#[test]
fn a_server_that_wants_a_client_certificate_gets_a_pem_or_pkcs12_one() {
    let Some(p) = published() else { return };
    let Some(clients) = ClientCa::make() else {
        return;
    };
    let extra = format!(
        "ssl_verify_client on; ssl_client_certificate {};",
        clients.path("ca.pem").display()
    );
    let Some((server, ca)) = nginx_tls(p.www.path(), &extra) else {
        return;
    };
    let url = server.url("f.bin.zsync");
    let trusted = |out: &str| {
        let mut spec = p.spec(url.clone(), out);
        spec.options.ca_certs = vec![ca.clone()];
        spec
    };
    let error = run_guarded(trusted("none")).unwrap_err();
    assert!(
        matches!(error, Error::Access { status: 400, .. })
            || error.to_string().contains("client certificate"),
        "{error:?}"
    );
    assert!(error.hint().contains("--client-cert"), "{}", error.hint());

    for (out, file, password) in [
        ("pem", "client.pem", None),
        ("p12", "client.p12", Some(PASSWORD.to_string())),
    ] {
        let mut spec = trusted(out);
        spec.options.client_certs = vec![ClientCert {
            host: "127.0.0.1".into(),
            path: clients.path(file),
            password,
        }];
        run_guarded(spec).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(p.out(out) == p.new, "{file}");
    }

    // The wrong PKCS#12 password is said before anything is asked.
    let mut spec = trusted("bad");
    spec.options.client_certs = vec![ClientCert {
        host: "127.0.0.1".into(),
        path: clients.path("client.p12"),
        password: Some("wrong-password".into()),
    }];
    let error = run_guarded(spec).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("is not a usable client certificate"),
        "{error}"
    );
}

#[test]
fn a_certificate_from_an_untrusted_authority_is_named_as_such() {
    let Some(p) = published() else { return };
    let Some((server, _ca)) = nginx_tls(p.www.path(), "") else {
        return;
    };
    let error = run_guarded(p.spec(server.url("f.bin.zsync"), "out")).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("is signed by an authority your system does not trust"),
        "{error}"
    );
    assert!(
        error.hint().contains("add the company CA"),
        "{}",
        error.hint()
    );
}

#[test]
fn a_proxy_that_wants_a_sign_in_gets_it_and_ranges_still_adapt_behind_it() {
    let Some(p) = published() else { return };
    let Some(proxy) = squid(Some(("proxy-user", "proxy-pass"))) else {
        return;
    };
    // Behind the proxy, a server that answers only the first of several ranges.
    let origin = misbehaving(p.www.path(), Misbehaviour::FirstRangeOnly);
    let url = origin.url("f.bin.zsync");
    let through = |credentials: &str, out: &str| {
        let mut spec = p.spec(url.clone(), out);
        spec.options.proxy = Some(format!("http://{credentials}@127.0.0.1:{}", proxy.port));
        run_guarded(spec)
    };
    let error = through("proxy-user:wrong-password", "refused").unwrap_err();
    assert!(
        matches!(
            error,
            Error::Access {
                status: 407,
                signed_in: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("the proxy 127.0.0.1 refused the sign-in (HTTP 407"),
        "{error}"
    );
    let summary = through("proxy-user:proxy-pass", "through").unwrap();
    assert!(p.out("through") == p.new);
    assert!(summary.progress.requests > 1, "{:?}", summary.progress);
}

#[test]
fn a_secret_in_a_bad_argument_is_not_repeated() {
    for (arg, secret) in [
        ("127.0.0.1:builder:hunter2", "hunter2"),
        ("127.0.0.1=PRIVATE-TOKEN", "PRIVATE-TOKEN"),
    ] {
        let credentials = arg.parse::<Credentials>().err().map(|e| e.to_string());
        let header = arg.parse::<HostHeader>().err().map(|e| e.to_string());
        for message in credentials.into_iter().chain(header) {
            assert!(!message.contains(secret), "{message}");
        }
    }
    let header: HostHeader = "builds.example=X-JFrog-Art-Api: AKCp8s3cret"
        .parse()
        .unwrap();
    assert!(!format!("{header:?}").contains("AKCp8s3cret"));
    let credentials: Credentials = "h=user:pa55".parse().unwrap();
    assert!(!format!("{credentials:?}").contains("pa55"));
}
