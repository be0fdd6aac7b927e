//! Access control for the `/metrics` endpoint: a bearer token and/or HTTP basic credentials,
//! checked in constant time.
//!
//! The crate binds no port, so who may reach `/metrics` is first a question of where you serve
//! it (loopback, a separate listener, a private network: see `docs/security.md`). When the
//! scrape has to cross a network you do not trust, [`MetricsAuth`] makes the endpoint answer
//! `401 Unauthorized` without rendering anything unless the request carries the right
//! `Authorization` header:
//!
//! ```
//! use inference_monitor::exporter::prometheus::MetricsAuth;
//! use tower::ServiceExt;
//!
//! # let (_recorder, metrics) = inference_monitor::prometheus().build()?;
//! let service = metrics.service().with_auth(MetricsAuth::bearer("s3cret"));
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let anonymous = http::Request::get("/metrics").body(()).unwrap();
//! let response = service.clone().oneshot(anonymous).await.unwrap();
//! assert_eq!(response.status(), 401);
//! assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"metrics\"");
//!
//! let scraper = http::Request::get("/metrics")
//!     .header("authorization", "Bearer s3cret")
//!     .body(())
//!     .unwrap();
//! assert_eq!(service.oneshot(scraper).await.unwrap().status(), 200);
//! # });
//! # Ok::<(), inference_monitor::ExporterError>(())
//! ```
//!
//! TLS is not part of it: a bearer token or a password sent over plain HTTP can be read by
//! anyone on the path. Keep such a scrape on loopback or a private network, or put a
//! TLS-terminating proxy in front.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// The realm named in the `WWW-Authenticate` challenges.
const REALM: &str = "metrics";

/// Who may read `/metrics`: requests whose `Authorization` header carries one of the accepted
/// credentials — a bearer token ([`bearer`](Self::bearer)), HTTP basic user and password
/// ([`basic`](Self::basic)), or several of them ([`or_bearer`](Self::or_bearer),
/// [`or_basic`](Self::or_basic)).
///
/// Use it with [`MetricsService::with_auth`](crate::exporter::prometheus::MetricsService::with_auth), or call
/// [`allows`](Self::allows) and [`unauthorized`](Self::unauthorized) from your own handler
/// (actix-web, for example).
///
/// The credentials are compared in constant time: how long a check takes depends on the
/// lengths of the accepted credentials, never on how many leading bytes of a guess are right.
/// The authentication scheme (`Bearer`, `Basic`) is matched case-insensitively, as HTTP
/// requires. An empty token never authorizes anything. Its [`Debug`](fmt::Debug) output names
/// the schemes only, never a secret.
///
/// ```
/// use inference_monitor::exporter::prometheus::MetricsAuth;
///
/// let auth = MetricsAuth::bearer("s3cret").or_basic("prometheus", "hunter2");
/// assert!(auth.allows(Some(b"Bearer s3cret")));
/// assert!(auth.allows(Some(b"Basic cHJvbWV0aGV1czpodW50ZXIy"))); // prometheus:hunter2
/// assert!(!auth.allows(Some(b"Bearer guess")));
/// assert!(!auth.allows(None));
/// ```
#[derive(Clone)]
#[must_use]
pub struct MetricsAuth {
    accepted: Vec<Credential>,
}

#[derive(Clone)]
struct Credential {
    scheme: Scheme,
    /// What follows the scheme and one space in the `Authorization` header.
    secret: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Basic,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer",
            Scheme::Basic => "Basic",
        }
    }

    fn challenge(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer realm=\"metrics\"",
            Scheme::Basic => "Basic realm=\"metrics\", charset=\"UTF-8\"",
        }
    }
}

impl fmt::Debug for MetricsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let schemes: Vec<&str> = self.accepted.iter().map(|c| c.scheme.name()).collect();
        f.debug_struct("MetricsAuth")
            .field("schemes", &schemes)
            .finish_non_exhaustive()
    }
}

impl MetricsAuth {
    /// Accepts `Authorization: Bearer <token>` — what Prometheus sends with `authorization:
    /// { credentials_file: … }` (or `bearer_token_file`) in its scrape configuration.
    ///
    /// Use a long random token (32 bytes or more from a secure source, in hex or base64), and
    /// keep surrounding whitespace out of it: the token is compared byte for byte.
    ///
    /// ```
    /// use inference_monitor::exporter::prometheus::MetricsAuth;
    ///
    /// let auth = MetricsAuth::bearer("s3cret");
    /// assert!(auth.allows(Some(b"Bearer s3cret")));
    /// assert!(auth.allows(Some(b"bearer s3cret"))); // the scheme is case-insensitive
    /// assert!(!auth.allows(Some(b"Bearer s3cre")));
    /// assert!(!MetricsAuth::bearer("").allows(Some(b"Bearer ")));
    /// ```
    pub fn bearer(token: impl AsRef<str>) -> Self {
        Self {
            accepted: vec![Credential::bearer(token.as_ref())],
        }
    }

    /// Accepts HTTP basic authentication (RFC 7617) with `user` and `password` — what
    /// Prometheus sends with `basic_auth: { username: …, password_file: … }`.
    ///
    /// The expected header value is encoded once, here, so a request's credentials are never
    /// decoded: they are compared, encoded, in constant time. A user name must not contain
    /// `:`.
    ///
    /// ```
    /// use inference_monitor::exporter::prometheus::MetricsAuth;
    ///
    /// let auth = MetricsAuth::basic("prometheus", "hunter2");
    /// assert!(auth.allows(Some(b"Basic cHJvbWV0aGV1czpodW50ZXIy")));
    /// assert!(!auth.allows(Some(b"Basic cHJvbWV0aGV1czpodW50ZXIz"))); // prometheus:hunter3
    /// ```
    pub fn basic(user: &str, password: &str) -> Self {
        Self {
            accepted: vec![Credential::basic(user, password)],
        }
    }

    /// Also accepts bearer token `token`, for example a second token while rotating the first.
    ///
    /// ```
    /// use inference_monitor::exporter::prometheus::MetricsAuth;
    ///
    /// let auth = MetricsAuth::bearer("old").or_bearer("new");
    /// assert!(auth.allows(Some(b"Bearer old")) && auth.allows(Some(b"Bearer new")));
    /// ```
    pub fn or_bearer(mut self, token: impl AsRef<str>) -> Self {
        self.accepted.push(Credential::bearer(token.as_ref()));
        self
    }

    /// Also accepts HTTP basic `user` and `password`.
    ///
    /// ```
    /// use inference_monitor::exporter::prometheus::MetricsAuth;
    ///
    /// let auth = MetricsAuth::bearer("s3cret").or_basic("prometheus", "hunter2");
    /// assert!(auth.allows(Some(b"Basic cHJvbWV0aGV1czpodW50ZXIy")));
    /// ```
    pub fn or_basic(mut self, user: &str, password: &str) -> Self {
        self.accepted.push(Credential::basic(user, password));
        self
    }

    /// Whether an `Authorization` header value (`None` when the request has none) carries one
    /// of the accepted credentials. Every accepted credential is compared, whichever matches.
    ///
    /// ```
    /// use inference_monitor::exporter::prometheus::MetricsAuth;
    ///
    /// let auth = MetricsAuth::bearer("s3cret");
    /// let request = http::Request::get("/metrics")
    ///     .header(http::header::AUTHORIZATION, "Bearer s3cret")
    ///     .body(())
    ///     .unwrap();
    /// let header = request.headers().get(http::header::AUTHORIZATION);
    /// assert!(auth.allows(header.map(http::HeaderValue::as_bytes)));
    /// ```
    #[must_use]
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        // The scheme is public (it is in the challenge): splitting on it leaks nothing.
        let (scheme, secret) = match value.iter().position(|&b| b == b' ') {
            Some(space) => (&value[..space], &value[space + 1..]),
            None => (value, &value[value.len()..]),
        };
        let mut allowed = false;
        for credential in &self.accepted {
            let same_scheme = scheme.eq_ignore_ascii_case(credential.scheme.name().as_bytes());
            // `&`, not `&&`, and no early return: every credential costs the same comparison.
            let matches = constant_time_eq(secret, &credential.secret);
            allowed |= same_scheme & matches & !credential.secret.is_empty();
        }
        allowed
    }

    /// Whether `headers` carry one of the accepted credentials (see [`allows`](Self::allows)).
    /// A request with two `Authorization` headers is refused.
    ///
    /// ```
    /// use inference_monitor::exporter::prometheus::MetricsAuth;
    ///
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert(http::header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
    /// assert!(MetricsAuth::bearer("s3cret").allows_headers(&headers));
    /// ```
    #[must_use]
    pub fn allows_headers(&self, headers: &http::HeaderMap) -> bool {
        let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
        match (values.next(), values.next()) {
            (Some(value), None) => self.allows(Some(value.as_bytes())),
            (None, _) => self.allows(None),
            (Some(_), Some(_)) => false,
        }
    }

    /// The `WWW-Authenticate` challenges of a `401`, one per accepted scheme, such as
    /// `Bearer realm="metrics"`.
    ///
    /// ```
    /// use inference_monitor::exporter::prometheus::MetricsAuth;
    ///
    /// let auth = MetricsAuth::bearer("a").or_bearer("b").or_basic("prometheus", "hunter2");
    /// let challenges: Vec<_> = auth.challenges().collect();
    /// assert_eq!(challenges, ["Bearer realm=\"metrics\"", "Basic realm=\"metrics\", charset=\"UTF-8\""]);
    /// ```
    pub fn challenges(&self) -> impl Iterator<Item = &'static str> + '_ {
        [Scheme::Bearer, Scheme::Basic]
            .into_iter()
            .filter(|scheme| self.accepted.iter().any(|c| c.scheme == *scheme))
            .map(Scheme::challenge)
    }

    /// The answer to a request that is not allowed: `401 Unauthorized` with the
    /// [`challenges`](Self::challenges) and a short plain-text body, no metrics.
    ///
    /// ```
    /// use inference_monitor::exporter::prometheus::MetricsAuth;
    ///
    /// let response = MetricsAuth::bearer("s3cret").unauthorized();
    /// assert_eq!(response.status(), 401);
    /// assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"metrics\"");
    /// ```
    #[must_use]
    pub fn unauthorized(&self) -> http::Response<String> {
        let mut response = http::Response::new(format!("401 Unauthorized: {REALM}\n"));
        *response.status_mut() = http::StatusCode::UNAUTHORIZED;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        for challenge in self.challenges() {
            headers.append(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

impl Credential {
    fn bearer(token: &str) -> Self {
        Self {
            scheme: Scheme::Bearer,
            secret: token.as_bytes().to_vec(),
        }
    }

    fn basic(user: &str, password: &str) -> Self {
        Self {
            scheme: Scheme::Basic,
            secret: STANDARD.encode(format!("{user}:{password}")).into_bytes(),
        }
    }
}

/// Whether `given` equals `expected`, in a time that depends on `expected.len()` only: the
/// difference of every byte is accumulated, with no exit on the first difference, and a length
/// difference is folded in the same way.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut difference = given.len() ^ expected.len();
    for (i, &e) in expected.iter().enumerate() {
        // A shorter `given` reads as zeros; its length already made `difference` non-zero.
        let g = given.get(i).copied().unwrap_or(0);
        difference |= usize::from(g ^ e);
    }
    // Keep the optimizer from turning the loop back into an early-exit comparison.
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_equal() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
    }

    #[test]
    fn constant_time_eq_different_lengths() {
        assert!(!constant_time_eq(b"s3cre", b"s3cret"));
        assert!(!constant_time_eq(b"s3crett", b"s3cret"));
        assert!(!constant_time_eq(b"", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b""));
        // A prefix padded with the zeros the loop reads past the end is still different.
        assert!(!constant_time_eq(b"ab", b"ab\0"));
    }

    #[test]
    fn constant_time_eq_different_content() {
        assert!(!constant_time_eq(b"s3creT", b"s3cret"));
        assert!(!constant_time_eq(b"X3cret", b"s3cret"));
        assert!(!constant_time_eq(&[0x80], &[0x00]));
    }

    #[test]
    fn bearer_needs_the_scheme_and_the_exact_token() {
        let auth = MetricsAuth::bearer("s3cret");
        assert!(auth.allows(Some(b"Bearer s3cret")));
        assert!(auth.allows(Some(b"BEARER s3cret")));
        assert!(!auth.allows(None));
        assert!(!auth.allows(Some(b"")));
        assert!(!auth.allows(Some(b"Bearer")));
        assert!(!auth.allows(Some(b"Bearer ")));
        assert!(!auth.allows(Some(b"s3cret")));
        assert!(!auth.allows(Some(b"Basic s3cret")));
        assert!(!auth.allows(Some(b"Bearer  s3cret")));
        assert!(!auth.allows(Some(b"Bearer s3cret ")));
        assert!(!auth.allows(Some(b"Bearer wrong!")));
    }

    #[test]
    fn empty_token_allows_nothing() {
        let auth = MetricsAuth::bearer("");
        assert!(!auth.allows(Some(b"Bearer ")));
        assert!(!auth.allows(Some(b"Bearer")));
        assert!(!auth.allows(None));
    }

    #[test]
    fn basic_compares_the_encoded_credentials() {
        let auth = MetricsAuth::basic("Aladdin", "open sesame");
        assert!(auth.allows(Some(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")));
        assert!(auth.allows(Some(b"basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")));
        assert!(!auth.allows(Some(b"Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==")));
        assert!(!auth.allows(Some(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZA==")));
        assert!(!auth.allows(Some(b"Basic Aladdin:open sesame")));
    }

    #[test]
    fn basic_encodes_utf_8_with_the_standard_alphabet_and_padding() {
        // RFC 7617's UTF-8 example, and credentials whose encoding holds `+`, `/` and `=`
        // (the standard alphabet, padded: not base64url).
        for (user, password, encoded) in [
            ("test", "123\u{a3}", "dGVzdDoxMjPCow=="),
            (">>>", "?", "Pj4+Oj8="),
            ("?", "?~", "Pzo/fg=="),
            ("u", "p", "dTpw"),
        ] {
            let credential = Credential::basic(user, password);
            assert_eq!(credential.secret, encoded.as_bytes(), "{user}:{password}");
            let header = format!("Basic {encoded}");
            assert!(MetricsAuth::basic(user, password).allows(Some(header.as_bytes())));
        }
    }

    #[test]
    fn several_credentials_each_allow() {
        let auth = MetricsAuth::bearer("one")
            .or_bearer("two")
            .or_basic("u", "p");
        assert!(auth.allows(Some(b"Bearer one")));
        assert!(auth.allows(Some(b"Bearer two")));
        assert!(auth.allows(Some(
            format!("Basic {}", STANDARD.encode(b"u:p")).as_bytes()
        )));
        assert!(!auth.allows(Some(b"Bearer three")));
        assert!(!auth.allows(Some(b"Basic one")));
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        let mut headers = http::HeaderMap::new();
        headers.append(
            http::header::AUTHORIZATION,
            "Bearer s3cret".parse().unwrap(),
        );
        headers.append(
            http::header::AUTHORIZATION,
            "Bearer s3cret".parse().unwrap(),
        );
        assert!(!MetricsAuth::bearer("s3cret").allows_headers(&headers));
    }

    #[test]
    fn debug_shows_no_secret() {
        let auth = MetricsAuth::bearer("s3cret").or_basic("user", "hunter2");
        let debug = format!("{auth:?}");
        assert!(
            debug.contains("Bearer") && debug.contains("Basic"),
            "{debug}"
        );
        for secret in [
            "s3cret",
            "user",
            "hunter2",
            &STANDARD.encode(b"user:hunter2"),
        ] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    #[test]
    fn unauthorized_has_every_challenge_and_no_metrics() {
        let response = MetricsAuth::basic("u", "p").or_bearer("t").unauthorized();
        assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
        let challenges: Vec<_> = response
            .headers()
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            challenges,
            [
                "Bearer realm=\"metrics\"",
                "Basic realm=\"metrics\", charset=\"UTF-8\""
            ]
        );
        assert!(!response.body().contains("inference_"));
    }
}
