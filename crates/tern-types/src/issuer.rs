//! [`IssuerUrl`]: the issuer identifier every token and the discovery document carry.
//!
//! Relying parties compare `iss` byte for byte with their configuration, so tern accepts only
//! the canonical spelling of a URL (lower-case scheme and host, no default port, no trailing
//! slash). A spelling that would be normalised by someone else along the way is refused at
//! boot with the canonical form to use instead.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Why an issuer URL was refused. Every message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerUrlError {
    /// The value is empty.
    #[error(
        "issuer URL is empty; give the https URL at which clouds reach tern, e.g. https://tern.example.com"
    )]
    Empty,
    /// No `scheme://`.
    #[error("issuer URL {input:?} has no scheme; write https://{input}")]
    MissingScheme {
        /// What was given.
        input: String,
    },
    /// Not a URL at all.
    #[error("issuer URL {input:?} is not a valid URL: {reason}")]
    Invalid {
        /// What was given.
        input: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A scheme other than http or https.
    #[error(
        "issuer URL {input:?} uses scheme {scheme:?}; only https (and http for local testing) are allowed"
    )]
    UnsupportedScheme {
        /// What was given.
        input: String,
        /// The scheme.
        scheme: String,
    },
    /// Ends with a slash.
    #[error(
        "issuer URL {input:?} ends with '/'; relying parties compare the issuer byte for byte, so write it without the trailing slash: {suggestion}"
    )]
    TrailingSlash {
        /// What was given.
        input: String,
        /// The same URL without the slash.
        suggestion: String,
    },
    /// Has a query string or fragment.
    #[error(
        "issuer URL {input:?} has a query or fragment; an issuer is a scheme, host, optional port and optional path"
    )]
    QueryOrFragment {
        /// What was given.
        input: String,
    },
    /// Has user:password@.
    #[error("issuer URL {input:?} contains credentials; remove the user:password@ part")]
    Credentials {
        /// What was given.
        input: String,
    },
    /// Not in canonical form.
    #[error(
        "issuer URL {input:?} is not in canonical form; write it as {canonical} (relying parties compare it byte for byte)"
    )]
    NotCanonical {
        /// What was given.
        input: String,
        /// How to write it.
        canonical: String,
    },
}

/// A validated, canonical issuer URL with no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IssuerUrl {
    value: String,
    https: bool,
    loopback: bool,
    path_len: usize,
}

impl IssuerUrl {
    /// Parse and validate.
    pub fn parse(input: &str) -> Result<Self, IssuerUrlError> {
        if input.is_empty() {
            return Err(IssuerUrlError::Empty);
        }
        let url = match url::Url::parse(input) {
            Ok(url) => url,
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                return Err(IssuerUrlError::MissingScheme { input: input.to_owned() });
            }
            Err(e) => {
                return Err(IssuerUrlError::Invalid { input: input.to_owned(), reason: e.to_string() });
            }
        };
        let scheme = url.scheme();
        if scheme != "https" && scheme != "http" {
            // "tern.example.com:443" parses with scheme "tern.example.com".
            if !input.contains("://") {
                return Err(IssuerUrlError::MissingScheme { input: input.to_owned() });
            }
            return Err(IssuerUrlError::UnsupportedScheme {
                input: input.to_owned(),
                scheme: scheme.to_owned(),
            });
        }
        let Some(host) = url.host_str() else {
            return Err(IssuerUrlError::Invalid { input: input.to_owned(), reason: "no host".to_owned() });
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(IssuerUrlError::QueryOrFragment { input: input.to_owned() });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(IssuerUrlError::Credentials { input: input.to_owned() });
        }
        let serialized = url.as_str();
        let canonical = serialized.strip_suffix('/').unwrap_or(serialized).to_owned();
        if input.ends_with('/') {
            return Err(IssuerUrlError::TrailingSlash { input: input.to_owned(), suggestion: canonical });
        }
        if input != canonical {
            return Err(IssuerUrlError::NotCanonical { input: input.to_owned(), canonical });
        }
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let path_len = if url.path() == "/" { 0 } else { url.path().len() };
        Ok(Self { https: scheme == "https", loopback, path_len, value: canonical })
    }

    /// The issuer exactly as it appears in `iss`.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Whether the scheme is https (AWS, Azure and Google Cloud require it).
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// Whether the host is `localhost` or a loopback address.
    pub fn is_loopback(&self) -> bool {
        self.loopback
    }

    /// The path part (`""` for an issuer at the root, e.g. `/tern` behind a path-routing proxy).
    pub fn path(&self) -> &str {
        &self.value[self.value.len() - self.path_len..]
    }

    /// `<issuer>/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.value)
    }

    /// `<issuer>/.well-known/jwks`, the `jwks_uri` of the discovery document.
    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks", self.value)
    }
}

impl FromStr for IssuerUrl {
    type Err = IssuerUrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for IssuerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        for (input, https, loopback, path) in [
            ("https://tern.example.com", true, false, ""),
            ("https://tern.example.com:8443", true, false, ""),
            ("https://tern.example.com/tern", true, false, "/tern"),
            ("http://127.0.0.1:8080", false, true, ""),
            ("http://localhost:8080", false, true, ""),
            ("http://[::1]:8080", false, true, ""),
            ("https://app.terraform.io", true, false, ""),
        ] {
            let issuer = IssuerUrl::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(issuer.as_str(), input);
            assert_eq!(issuer.is_https(), https, "{input}");
            assert_eq!(issuer.is_loopback(), loopback, "{input}");
            assert_eq!(issuer.path(), path, "{input}");
        }
    }

    #[test]
    fn refused() {
        type Check = fn(&IssuerUrlError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("", |e| matches!(e, IssuerUrlError::Empty)),
            ("tern.example.com", |e| matches!(e, IssuerUrlError::MissingScheme { .. })),
            ("tern.example.com:443", |e| matches!(e, IssuerUrlError::MissingScheme { .. })),
            ("ftp://tern.example.com", |e| matches!(e, IssuerUrlError::UnsupportedScheme { .. })),
            (
                "https://tern.example.com/",
                |e| matches!(e, IssuerUrlError::TrailingSlash { suggestion, .. } if suggestion == "https://tern.example.com"),
            ),
            ("https://tern.example.com/tern/", |e| matches!(e, IssuerUrlError::TrailingSlash { .. })),
            ("https://tern.example.com?x=1", |e| matches!(e, IssuerUrlError::QueryOrFragment { .. })),
            ("https://tern.example.com#x", |e| matches!(e, IssuerUrlError::QueryOrFragment { .. })),
            ("https://u:p@tern.example.com", |e| matches!(e, IssuerUrlError::Credentials { .. })),
            (
                "https://Tern.Example.com",
                |e| matches!(e, IssuerUrlError::NotCanonical { canonical, .. } if canonical == "https://tern.example.com"),
            ),
            ("HTTPS://tern.example.com", |e| matches!(e, IssuerUrlError::NotCanonical { .. })),
            (
                "https://tern.example.com:443",
                |e| matches!(e, IssuerUrlError::NotCanonical { canonical, .. } if canonical == "https://tern.example.com"),
            ),
            ("https://", |e| matches!(e, IssuerUrlError::Invalid { .. })),
        ];
        for (input, check) in cases {
            match IssuerUrl::parse(input) {
                Ok(_) => panic!("{input:?} was accepted"),
                Err(e) => assert!(check(&e), "{input:?}: unexpected {e:?}"),
            }
        }
    }

    #[test]
    fn derived_urls() {
        let issuer = IssuerUrl::parse("https://tern.example.com/tern").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(issuer.jwks_uri(), "https://tern.example.com/tern/.well-known/jwks");
        assert_eq!(issuer.discovery_url(), "https://tern.example.com/tern/.well-known/openid-configuration");
    }
}
