//! A `user:password@` in a URL: taken out of a URL the user typed (so what is saved is
//! the URL without it, and the password goes to the credential store), and put into the
//! proxy's URL the engine is given (`http://user:password@proxy:3128`), encoded.

use deltadrop_core::Credentials;
use percent_encoding::percent_decode_str;
use url::Url;

/// `url` without its `user:password@`, and those as credentials for its host; `None`
/// when it has none (or is no URL).
pub fn split_credentials(url: &str) -> Option<(String, Credentials)> {
    let mut parsed = Url::parse(url.trim()).ok()?;
    if parsed.username().is_empty() && parsed.password().is_none() {
        return None;
    }
    let decoded = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let credentials = Credentials {
        host: parsed.host_str()?.to_string(),
        user: decoded(parsed.username()),
        password: decoded(parsed.password().unwrap_or_default()),
    };
    // Both only fail for URLs that cannot have credentials, and this one had them.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    Some((parsed.to_string(), credentials))
}

/// The proxy URL with `user` and `password` in it, encoded as URLs want them; a
/// `proxy` with no scheme is taken as `http://`.
pub fn proxy_with_sign_in(proxy: &str, user: &str, password: &str) -> Result<String, String> {
    let proxy = proxy.trim();
    let with_scheme = if proxy.contains("://") {
        proxy.to_string()
    } else {
        format!("http://{proxy}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| {
        format!(
            "the proxy \"{}\" is not a URL: {e}",
            deltadrop_core::shown_url(proxy)
        )
    })?;
    if user.is_empty() {
        return Ok(url.to_string());
    }
    url.set_username(user)
        .and_then(|()| url.set_password(Some(password)))
        .map_err(|()| {
            format!(
                "the proxy \"{}\" cannot take a user name",
                url.host_str().unwrap_or(proxy)
            )
        })?;
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_out_of_a_url_decoded() {
        let (url, credentials) =
            split_credentials("https://me%40corp:p%3Ass@builds.example:8443/latest/a.zsync")
                .unwrap();
        assert_eq!(url, "https://builds.example:8443/latest/a.zsync");
        assert_eq!(credentials.host, "builds.example");
        assert_eq!(credentials.user, "me@corp");
        assert_eq!(credentials.password, "p:ss");
        assert_eq!(split_credentials("https://builds.example/a.zsync"), None);
        assert_eq!(split_credentials("/local/a.zsync"), None);
    }

    #[test]
    fn the_proxy_url_carries_its_sign_in_encoded() {
        assert_eq!(
            proxy_with_sign_in("proxy.corp:3128", "me", "p@ss:w/rd").unwrap(),
            "http://me:p%40ss%3Aw%2Frd@proxy.corp:3128/"
        );
        assert_eq!(
            proxy_with_sign_in("http://proxy.corp:3128", "", "").unwrap(),
            "http://proxy.corp:3128/"
        );
        let err = proxy_with_sign_in("http://[bad", "me", "secret").unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }
}
