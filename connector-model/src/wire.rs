//! What both sides of the contract agree on about the wire: how a value is percent-encoded into one path
//! segment (connectors in their URLs, hosts in a token URL's path), how a `Retry-After` is read, and the words a
//! connector uses for a source that sends it round in circles, which a host does not retry.

/// The words of every error a connector gives for a source that sends it round in circles. A host does not
/// repeat such a call: the source would answer the same.
pub const LOOPING: &str = "stopping rather than looping";

/// Percent-encodes everything but unreserved characters: safe as one path segment or one query value.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Milliseconds to wait from a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn retry_after_ms(value: &str, now: std::time::SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).map(|d| d.as_millis() as u64).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(retry_after_ms("7", now), Some(7000));
        assert_eq!(retry_after_ms("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(30_000));
        assert_eq!(retry_after_ms("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(0));
        assert_eq!(retry_after_ms("soon", now), None);
    }

    #[test]
    fn ids_are_encoded_as_one_path_segment() {
        assert_eq!(percent_encode("42"), "42");
        assert_eq!(percent_encode("a/b c"), "a%2Fb%20c");
    }
}
