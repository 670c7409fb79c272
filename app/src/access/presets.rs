//! Which header a build server wants its token in, so the user need not look it up:
//! Artifactory (`X-JFrog-Art-Api`, or an access token as `Authorization: Bearer`),
//! GitLab (`PRIVATE-TOKEN`) and GitHub (`Authorization: Bearer`, and
//! `Accept: application/octet-stream` for a release asset through its API URL).

/// One header of a preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresetHeader {
    pub name: &'static str,
    /// Put before the token (`Bearer `); for a header that is not the token, its value.
    pub value: &'static str,
    /// Whether the token goes in it (then it is kept in the credential store).
    pub carries_token: bool,
}

/// A server's way of taking a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub headers: &'static [PresetHeader],
    /// What the user should know: which host, which token.
    pub note: &'static str,
}

const fn token(name: &'static str, value: &'static str) -> PresetHeader {
    PresetHeader {
        name,
        value,
        carries_token: true,
    }
}

/// The presets offered in the app's Settings and named in the README.
pub const PRESETS: [Preset; 4] = [
    Preset {
        name: "Artifactory (API key)",
        headers: &[token("X-JFrog-Art-Api", "")],
        note: "JFrog's API keys are deprecated: prefer an access token.",
    },
    Preset {
        name: "Artifactory (access token)",
        headers: &[token("Authorization", "Bearer ")],
        note: "An identity or access token from your Artifactory profile.",
    },
    Preset {
        name: "GitLab",
        headers: &[token("PRIVATE-TOKEN", "")],
        note: "A personal, project or group access token with read_api; use the API's \
               artifact URL (/api/v4/projects/ID/jobs/artifacts/REF/raw/PATH?job=NAME).",
    },
    Preset {
        name: "GitHub",
        headers: &[
            token("Authorization", "Bearer "),
            PresetHeader {
                name: "Accept",
                value: "application/octet-stream",
                carries_token: false,
            },
        ],
        note: "A token that may read the repository, for api.github.com: a private \
               release's asset is downloaded from its API URL \
               (/repos/OWNER/REPO/releases/assets/ID).",
    },
];

impl PresetHeader {
    /// The header's value with `token` in it.
    pub fn value_with(&self, token: &str) -> String {
        if self.carries_token {
            format!("{}{}", self.value, token.trim())
        } else {
            self.value.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_put_the_token_where_each_server_wants_it() {
        let github = PRESETS.iter().find(|p| p.name == "GitHub").unwrap();
        let values: Vec<_> = github
            .headers
            .iter()
            .map(|h| (h.name, h.value_with(" ghp_x ")))
            .collect();
        assert_eq!(
            values,
            [
                ("Authorization", "Bearer ghp_x".to_string()),
                ("Accept", "application/octet-stream".to_string())
            ]
        );
        let gitlab = PRESETS.iter().find(|p| p.name == "GitLab").unwrap();
        assert_eq!(gitlab.headers[0].value_with("glpat"), "glpat");
    }
}
