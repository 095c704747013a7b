//! Page tokens. The host treats a token as opaque text and hands it back as given; these helpers make the
//! common shapes one-liners and reject what the connector did not issue (a typed `internal` error, never a
//! panic), since a resumed sync passes back a token from an earlier process.

use crate::error::{ConnectorError, Result};

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

/// The error for a token this connector could not have issued.
pub fn not_issued(text: &str) -> ConnectorError {
    ConnectorError::Internal(format!("`{text}` is not a page token this connector issued"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
