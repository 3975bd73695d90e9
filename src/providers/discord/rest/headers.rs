//! Discord's `X-RateLimit-*` response headers.

/// The rate-limit headers of one response (absent ones are `None`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimitHeaders {
    /// `X-RateLimit-Bucket`: the opaque bucket id.
    pub bucket: Option<String>,
    /// `X-RateLimit-Limit`.
    pub limit: Option<u32>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u32>,
    /// `X-RateLimit-Reset`: when the window ends, Unix seconds (identifies a window).
    pub reset: Option<f64>,
    /// `X-RateLimit-Reset-After`: seconds until the window ends.
    pub reset_after: Option<f64>,
    /// `X-RateLimit-Scope` (`user`, `global`, `shared`), when sent.
    pub scope: Option<String>,
}

impl RateLimitHeaders {
    /// Reads the headers from `(name, value)` pairs (names in any case).
    pub fn parse<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut h = Self::default();
        for (name, value) in headers {
            let Ok(value) = std::str::from_utf8(value) else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "x-ratelimit-bucket" => h.bucket = Some(value.to_owned()),
                "x-ratelimit-limit" => h.limit = value.parse().ok(),
                "x-ratelimit-remaining" => h.remaining = value.parse().ok(),
                "x-ratelimit-reset" => h.reset = value.parse().ok(),
                "x-ratelimit-reset-after" => h.reset_after = value.parse().ok(),
                "x-ratelimit-scope" => h.scope = Some(value.to_owned()),
                _ => {}
            }
        }
        h
    }

    /// Whether the response names a complete bucket (id, limit, remaining, reset-after).
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.bucket.is_some()
            && self.limit.is_some()
            && self.remaining.is_some()
            && self.reset_after.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_discord_headers() {
        let h = RateLimitHeaders::parse([
            ("X-RateLimit-Limit", b"5".as_slice()),
            ("x-ratelimit-remaining", b"4"),
            ("x-ratelimit-reset", b"1470173023.123"),
            ("x-ratelimit-reset-after", b"0.250"),
            ("x-ratelimit-bucket", b"abcd1234"),
            ("content-type", b"application/json"),
        ]);
        assert!(h.is_complete());
        assert_eq!(h.limit, Some(5));
        assert_eq!(h.reset_after, Some(0.25));
        assert_eq!(h.scope, None);
        assert!(!RateLimitHeaders::parse([]).is_complete());
    }
}
