//! Page tokens. The host treats a token as opaque text and hands it back as given; these helpers make the
//! common shapes one-liners and reject what the connector did not issue (a typed `internal` error, never a
//! panic), since a resumed sync passes back a token from an earlier process.

use std::collections::HashSet;

use crate::error::{ConnectorError, Result};

pub use connector_model::wire::LOOPING;

/// Where a walk of next links stands, for a connector that follows them inside one call: it stops at the
/// first link it has seen before (a source whose `next` points back sends a caller round in circles) and
/// after `max_pages`.
pub struct Links {
    seen: HashSet<String>,
    max_pages: usize,
}

impl Links {
    pub fn new(max_pages: usize) -> Self {
        Self { seen: HashSet::new(), max_pages }
    }

    /// Admits `link` as the next page to read, or says why not (`context` names the listing).
    pub fn follow(&mut self, link: &str, context: &str) -> Result<()> {
        if self.seen.contains(link) {
            return Err(ConnectorError::bad_response(context, format!("the next link repeats a page already read; {LOOPING}")));
        }
        if self.seen.len() >= self.max_pages {
            return Err(ConnectorError::bad_response(context, format!("more than {} pages; {LOOPING}", self.max_pages)));
        }
        self.seen.insert(link.to_string());
        Ok(())
    }
}

/// A 1-based page number: `None` (the first call) is page 1.
pub fn number(token: Option<&str>) -> Result<u32> {
    match token {
        None => Ok(1),
        Some(text) => text.parse::<u32>().ok().filter(|&p| p >= 1).ok_or_else(|| not_issued(text)),
    }
}

/// The token of page `page`.
pub fn of_number(page: u32) -> String {
    page.to_string()
}

/// A token of `N` whole numbers joined by `:` (e.g. "page:record:member"), parsed.
pub fn numbers<const N: usize>(text: &str) -> Result<[usize; N]> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != N {
        return Err(not_issued(text));
    }
    let mut out = [0usize; N];
    for (slot, part) in out.iter_mut().zip(parts) {
        *slot = part.parse().map_err(|_| not_issued(text))?;
    }
    Ok(out)
}

/// A token that carries structure (a walk's position, the rest of a list): the value as JSON text.
pub fn to_json<T: serde::Serialize>(token: &T) -> String {
    // Serializing a plain derived token cannot fail; were it to, the empty token is refused when handed back.
    serde_json::to_string(token).unwrap_or_default()
}

/// A token written by `to_json`, read back; a token this connector did not issue is refused.
pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|_| not_issued(text))
}

/// The error for a token this connector could not have issued.
pub fn not_issued(text: &str) -> ConnectorError {
    ConnectorError::Internal(format!("`{text}` is not a page token this connector issued"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_of_links_stops_at_the_first_repeat_and_at_its_page_cap() {
        let mut links = Links::new(3);
        assert_eq!(links.follow("/a", "GET /x"), Ok(()));
        assert_eq!(links.follow("/b", "GET /x"), Ok(()));
        let repeat = links.follow("/a", "GET /x").unwrap_err();
        assert_eq!(repeat, ConnectorError::BadResponse("GET /x: the next link repeats a page already read; stopping rather than looping".into()));
        assert_eq!(links.follow("/c", "GET /x"), Ok(()));
        assert_eq!(links.follow("/d", "GET /x"), Err(ConnectorError::BadResponse("GET /x: more than 3 pages; stopping rather than looping".into())));
    }

    #[test]
    fn structured_tokens_round_trip_as_json() {
        let token = to_json(&(vec!["pop-1".to_string()], Some("https://api.test/users?cursor=2".to_string())));
        assert_eq!(from_json::<(Vec<String>, Option<String>)>(&token), Ok((vec!["pop-1".into()], Some("https://api.test/users?cursor=2".into()))));
        assert_eq!(from_json::<(Vec<String>, Option<String>)>("{\"evil\":1}"), Err(not_issued("{\"evil\":1}")));
    }

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(number(None), Ok(1));
        assert_eq!(number(Some(&of_number(7))), Ok(7));
        assert_eq!(numbers::<3>("2:0:20000"), Ok([2, 0, 20000]));
        for bad in ["0", "x", "-1"] {
            assert!(matches!(number(Some(bad)), Err(ConnectorError::Internal(_))), "{bad}");
        }
        for bad in ["1:2", "1:x:2", "a:b:c", "1:2:3:4"] {
            assert!(matches!(numbers::<3>(bad), Err(ConnectorError::Internal(_))), "{bad}");
        }
    }
}
