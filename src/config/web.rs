//! The web dashboard's settings (`LOOPBOT_PUBLIC_URL`).

use super::{parse_base_url, ConfigError};

/// Longest `LOOPBOT_PUBLIC_URL`: a link under it must fit a Discord message with its text.
pub const PUBLIC_URL_MAX: usize = 512;

/// Where people reach the bot's HTTP server from their browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebSettings {
    /// `LOOPBOT_PUBLIC_URL`, without a trailing slash. Unset: links use the address the HTTP
    /// server listens on (fine on one machine, not for a team).
    pub public_url: Option<String>,
}

impl WebSettings {
    pub(super) fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            public_url: get("LOOPBOT_PUBLIC_URL")
                .map(|raw| match parse_base_url("LOOPBOT_PUBLIC_URL", &raw) {
                    Ok(url) if url.len() > PUBLIC_URL_MAX => Err(ConfigError {
                        variable: "LOOPBOT_PUBLIC_URL",
                        problem: format!("is longer than {PUBLIC_URL_MAX} characters"),
                        expected: "a base URL such as https://loopbot.example.com",
                    }),
                    parsed => parsed,
                })
                .transpose()?,
        })
    }

    /// The base of dashboard links: the configured URL, else `http://` and the address the
    /// server is bound to (an unspecified IP such as 0.0.0.0 reads as 127.0.0.1).
    pub fn base_url(&self, bound: std::net::SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let mut addr = bound;
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("http://{addr}")
            }
        }
    }

    pub(super) fn describe(&self) -> [(&'static str, String); 1] {
        [(
            "LOOPBOT_PUBLIC_URL",
            self.public_url
                .clone()
                .unwrap_or_else(|| "(not set: the HTTP address)".to_owned()),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_is_an_http_url_and_defaults_to_the_bound_address() {
        let set = |v: &'static str| {
            move |name: &str| (name == "LOOPBOT_PUBLIC_URL").then(|| v.to_owned())
        };
        let web = WebSettings::from_lookup(&set("https://bot.example.com/")).unwrap();
        assert_eq!(
            web.base_url("0.0.0.0:1".parse().unwrap()),
            "https://bot.example.com"
        );
        let error = WebSettings::from_lookup(&set("bot.example.com")).unwrap_err();
        assert_eq!(error.variable, "LOOPBOT_PUBLIC_URL");
        let long = format!("https://{}.example.com", "a".repeat(PUBLIC_URL_MAX));
        let error = WebSettings::from_lookup(&|_: &str| Some(long.clone())).unwrap_err();
        assert!(error.problem.contains("longer"), "{error}");
        let unset = WebSettings::from_lookup(&|_: &str| None).unwrap();
        assert_eq!(
            unset.base_url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            unset.base_url("10.0.0.5:80".parse().unwrap()),
            "http://10.0.0.5:80"
        );
    }
}
