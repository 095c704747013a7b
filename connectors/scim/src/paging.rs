//! Where a SCIM listing stands, as page tokens (RFC 7644 §3.4.2.4). Two kinds:
//!
//! - an index position (`start:page:untrusted:largest`), which goes on from page to page by the number of
//!   resources actually returned;
//! - a span (`span:start:end:last:size:opens`), one of the pages the first page hands back as independent once
//!   it knows `totalResults` and the server's page size: the host fetches spans several at once. A span that
//!   comes back short goes on to the rest of itself; the last span, if it comes back full, goes on as an
//!   index position, to confirm the total (a total that is too low must not lose users).
//!
//! Spans are made `SPAN_BATCH` at a time: the first span of a batch (`opens`) hands back the next batch when it
//! comes back with anything. So a total that is too high costs at most two batches of empty pages, and the
//! tokens pending at once (the host's checkpoint) do not grow with the size of the listing.
//!
//! A listing ends at an empty page, or at a short page that reaches a `totalResults` still believable. A total
//! the server has exceeded (or never gave) is not believed again, and no spans are made from it.

use crate::api::ListPage;
use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::page;

/// Pages a listing may take at most: a server that never runs dry is stopped, not followed forever.
pub const MAX_PAGES: usize = 1_000_000;

/// Spans handed back at a time.
pub const SPAN_BATCH: u64 = 16;

/// A page to ask for, and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Index(Position),
    Span(Span),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    start_index: u64,
    page: usize,
    total_untrusted: bool,
    /// The largest page the server has returned so far (0: none yet).
    largest: u64,
}

/// Indices `start..=end` of a listing whose server serves `size` a page; `last` when `end` is the total, `opens`
/// when it is the first of its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u64,
    end: u64,
    last: bool,
    size: u64,
    opens: bool,
}

/// The tokens that follow a page: the next one (for the same instance) and the independent ones.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FollowUps {
    pub next: Option<String>,
    pub independent: Vec<String>,
}

impl At {
    pub const FIRST: At = At::Index(Position { start_index: 1, page: 1, total_untrusted: false, largest: 0 });

    pub fn parse(token: Option<&str>) -> Result<Self> {
        let Some(text) = token else { return Ok(Self::FIRST) };
        if let Some(span) = text.strip_prefix("span:") {
            let [start, end, last, size, opens] = page::numbers::<5>(span).map_err(|_| page::not_issued(text))?;
            if start < 1 || end < start || last > 1 || size < 1 || opens > 1 {
                return Err(page::not_issued(text));
            }
            return Ok(At::Span(Span { start: start as u64, end: end as u64, last: last == 1, size: size as u64, opens: opens == 1 }));
        }
        let [start_index, page, untrusted, largest] = page::numbers::<4>(text)?;
        if start_index < 1 || page < 1 || untrusted > 1 {
            return Err(page::not_issued(text));
        }
        if page > MAX_PAGES {
            return Err(ConnectorError::bad_response("the listing", format!("still not done after {MAX_PAGES} pages; stopping")));
        }
        Ok(At::Index(Position { start_index: start_index as u64, page, total_untrusted: untrusted == 1, largest: largest as u64 }))
    }

    /// `startIndex` and `count` to ask for, with the configured page size.
    pub fn request(self, page_size: u32) -> (u64, u32) {
        match self {
            At::Index(at) => (at.start_index, page_size),
            At::Span(span) => (span.start, (span.end - span.start + 1).min(u64::from(page_size)) as u32),
        }
    }

    fn token(self) -> String {
        match self {
            At::Index(at) => at.token(),
            At::Span(span) => span.token(),
        }
    }

    pub fn follow_ups(self, page: &ListPage, page_size: u32) -> Result<FollowUps> {
        match self {
            At::Index(at) if at == Position::FIRST => first(at, page, page_size),
            At::Index(at) => Ok(FollowUps { next: at.after(page, page_size).map(Position::token), independent: Vec::new() }),
            At::Span(span) => span.follow_ups(page, page.total),
        }
    }
}

impl Position {
    const FIRST: Position = Position { start_index: 1, page: 1, total_untrusted: false, largest: 0 };

    fn token(self) -> String {
        format!("{}:{}:{}:{}", self.start_index, self.page, u8::from(self.total_untrusted), self.largest)
    }

    /// Where the listing goes after `page`, asked with `count`: on by the number returned; done at an empty
    /// page or at a short page that reaches a believable total; a full page that reaches it is confirmed.
    fn after(self, page: &ListPage, count: u32) -> Option<Position> {
        let returned = page.resources.len() as u64;
        if returned == 0 {
            return None;
        }
        let next = self.start_index + returned;
        let total_untrusted = self.total_untrusted || page.total.is_none_or(|total| next - 1 > total);
        // A server may cap pages below `count`: a full page is the largest it has served.
        let full = if self.largest == 0 { u64::from(count) } else { self.largest.min(u64::from(count)) };
        let reached = page.total.is_some_and(|total| next > total);
        if !total_untrusted && reached && returned < full {
            return None;
        }
        Some(Position { start_index: next, page: self.page + 1, total_untrusted, largest: self.largest.max(returned) })
    }
}

impl Span {
    fn token(self) -> String {
        format!("span:{}:{}:{}:{}:{}", self.start, self.end, u8::from(self.last), self.size, u8::from(self.opens))
    }

    /// After a span's page: the rest of it (see `after`), and the next batch if it opens one and the listing
    /// goes on past it (an empty page says it does not).
    fn follow_ups(self, page: &ListPage, total: Option<u64>) -> Result<FollowUps> {
        let next = self.after(page).map(|at| at.token());
        let independent = match total {
            Some(total) if self.opens && !page.resources.is_empty() => batch(self.start + SPAN_BATCH * self.size, self.size, total)?,
            _ => Vec::new(),
        };
        Ok(FollowUps { next, independent })
    }

    /// After a span's page: the rest of the span if it came back short, or, for a full last span, an index
    /// position past the total, to confirm it.
    fn after(self, page: &ListPage) -> Option<At> {
        let returned = page.resources.len() as u64;
        let wanted = self.end - self.start + 1;
        if returned == 0 {
            // The set shrank since the total was counted: nothing is left here.
            return None;
        }
        if returned < wanted {
            return Some(At::Span(Span { start: self.start + returned, opens: false, ..self }));
        }
        let full_page = wanted >= self.size;
        (self.last && full_page).then(|| {
            let pages = (self.end / self.size) as usize;
            At::Index(Position { start_index: self.end + 1, page: pages + 1, total_untrusted: false, largest: self.size })
        })
    }
}

/// After the first page: the rest of the listing as independent spans of the server's page size, when the
/// total is believable and the listing is not done; else on from page to page.
fn first(at: Position, page: &ListPage, page_size: u32) -> Result<FollowUps> {
    let next = at.after(page, page_size);
    let returned = page.resources.len() as u64;
    let (Some(next), Some(total)) = (next, page.total) else { return Ok(FollowUps { next: next.map(Position::token), independent: Vec::new() }) };
    if next.total_untrusted || returned >= total {
        // An unbelievable total, or a full first page that holds it all (to be confirmed): page by page.
        return Ok(FollowUps { next: Some(next.token()), independent: Vec::new() });
    }
    Ok(FollowUps { next: None, independent: batch(1 + returned, returned, total)? })
}

/// The batch of spans of `size` from index `from` on, up to `total`; its first span opens the next batch.
fn batch(from: u64, size: u64, total: u64) -> Result<Vec<String>> {
    if from > total {
        return Ok(Vec::new());
    }
    if (from - 1) / size >= MAX_PAGES as u64 {
        return Err(ConnectorError::bad_response("the listing", format!("totalResults {total} at {size} a page is more than {MAX_PAGES} pages")));
    }
    let spans = (0..SPAN_BATCH)
        .map(|k| from + k * size)
        .take_while(|&start| start <= total)
        .map(|start| {
            let end = (start + size - 1).min(total);
            Span { start, end, last: end == total, size, opens: start == from }.token()
        })
        .collect();
    Ok(spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listed(ids: &[&str], total: Option<u64>) -> ListPage {
        ListPage { resources: ids.iter().map(|id| json!({"id": id})).collect(), total }
    }

    fn at(token: &str) -> At {
        At::parse(Some(token)).unwrap()
    }

    #[test]
    fn the_first_page_hands_back_the_rest_as_spans_of_the_servers_page_size() {
        // Asked for 100; the server caps pages at 2, of a total of 5.
        let follow = At::FIRST.follow_ups(&listed(&["a", "b"], Some(5)), 100).unwrap();
        assert_eq!(follow, FollowUps { next: None, independent: vec!["span:3:4:0:2:1".into(), "span:5:5:1:2:0".into()] });
        assert_eq!(at("span:3:4:0:2:1").request(100), (3, 2));
        // A middle span that comes back whole ends; one that comes back short goes on to the rest of itself.
        assert_eq!(at("span:3:4:0:2:0").follow_ups(&listed(&["c", "d"], Some(5)), 100).unwrap(), FollowUps::default());
        assert_eq!(at("span:3:4:0:2:0").follow_ups(&listed(&["c"], Some(5)), 100).unwrap().next.as_deref(), Some("span:4:4:0:2:0"));
        // The last span, short of a page: the total is reached.
        assert_eq!(at("span:5:5:1:2:0").follow_ups(&listed(&["e"], Some(5)), 100).unwrap(), FollowUps::default());
        // One short first page that holds everything: done.
        assert_eq!(At::FIRST.follow_ups(&listed(&["a"], Some(1)), 100).unwrap(), FollowUps::default());
    }

    #[test]
    fn spans_come_a_batch_at_a_time_and_an_empty_one_opens_no_more() {
        // 10 a page of 1,000: the first page hands back 16 spans, the first of which opens the next 16.
        let follow = At::FIRST.follow_ups(&listed(&["a"; 10], Some(1000)), 10).unwrap();
        assert_eq!(follow.independent.len(), SPAN_BATCH as usize);
        assert_eq!((follow.independent[0].as_str(), follow.independent[15].as_str()), ("span:11:20:0:10:1", "span:161:170:0:10:0"));
        let opened = at("span:11:20:0:10:1").follow_ups(&listed(&["b"; 10], Some(1000)), 10).unwrap();
        assert_eq!((opened.independent.len(), opened.independent[0].as_str()), (16, "span:171:180:0:10:1"));
        // The last batch is cut at the total, and its last span confirms the total.
        let last = at("span:971:980:0:10:1").follow_ups(&listed(&["c"; 10], Some(1000)), 10).unwrap();
        assert!(last.independent.is_empty(), "past the total: nothing");
        let near = at("span:811:820:0:10:1").follow_ups(&listed(&["c"; 10], Some(1000)), 10).unwrap();
        assert_eq!(near.independent.last().map(String::as_str), Some("span:991:1000:1:10:0"));
        // A span that opens a batch but comes back empty: the total was too high, and no more spans are made.
        assert_eq!(at("span:171:180:0:10:1").follow_ups(&listed(&[], Some(1000)), 10).unwrap(), FollowUps::default());
        // A short one opens the next batch all the same (a server may serve less than a page mid-listing), and
        // its rest does not open another.
        let short = at("span:11:20:0:10:1").follow_ups(&listed(&["b"; 4], Some(1000)), 10).unwrap();
        assert_eq!((short.next.as_deref(), short.independent.len()), (Some("span:15:20:0:10:0"), 16));
    }

    #[test]
    fn an_inflated_total_costs_two_batches_at_most() {
        // 300 real users at 100 a page, a total of a million: follow every token as the host would.
        let real = 300u64;
        let mut pending = vec![At::FIRST.follow_ups(&listed(&["u"; 100], Some(1_000_000)), 100).unwrap()];
        let (mut requests, mut most_pending) = (1, 0);
        let mut tokens: Vec<String> = Vec::new();
        while let Some(follow) = pending.pop() {
            tokens.extend(follow.next.into_iter().chain(follow.independent));
            most_pending = most_pending.max(tokens.len());
            if let Some(token) = tokens.pop() {
                requests += 1;
                let (start, count) = at(&token).request(100);
                let n = real.saturating_sub(start - 1).min(u64::from(count)) as usize;
                pending.push(at(&token).follow_ups(&listed(&vec!["u"; n], Some(1_000_000)), 100).unwrap());
            }
        }
        assert!(requests <= 1 + 2 * SPAN_BATCH, "{requests} requests");
        assert!(most_pending <= 2 * SPAN_BATCH as usize, "{most_pending} tokens pending at once");
    }

    #[test]
    fn a_full_last_span_is_confirmed_page_by_page() {
        let follow = At::FIRST.follow_ups(&listed(&["a", "b"], Some(4)), 2).unwrap();
        assert_eq!(follow.independent, vec!["span:3:4:1:2:1"]);
        let confirm = at("span:3:4:1:2:1").follow_ups(&listed(&["c", "d"], Some(4)), 2).unwrap().next.unwrap();
        assert_eq!(at(&confirm).request(2), (5, 2));
        // The total was too low: more came, and from there on only an empty page ends the listing.
        let more = at(&confirm).follow_ups(&listed(&["e"], Some(4)), 2).unwrap().next.unwrap();
        assert_eq!(at(&more).follow_ups(&listed(&[], Some(4)), 2).unwrap(), FollowUps::default());
    }

    #[test]
    fn an_unbelievable_total_is_paged_one_page_after_another() {
        // It said 2, then gave 3: page by page, and only an empty page ends this listing.
        let follow = At::FIRST.follow_ups(&listed(&["a", "b", "c"], Some(2)), 10).unwrap();
        assert!(follow.independent.is_empty());
        let next = follow.next.unwrap();
        let next = at(&next).follow_ups(&listed(&["d"], Some(2)), 10).unwrap().next.unwrap();
        assert_eq!(at(&next).request(10), (5, 10));
        assert_eq!(at(&next).follow_ups(&listed(&[], Some(2)), 10).unwrap(), FollowUps::default());
        // No total at all: the same.
        assert!(At::FIRST.follow_ups(&listed(&["a"], None), 10).unwrap().next.is_some());
        // A total too high ends at the first empty page (a span of it, here).
        assert_eq!(at("span:11:20:0:10:0").follow_ups(&listed(&[], Some(90)), 10).unwrap(), FollowUps::default());
    }

    #[test]
    fn tokens_it_did_not_issue_are_refused() {
        for bad in ["0:1:0:0", "1:0:0:0", "1:1:2:0", "x", "1:1:0", "span:0:1:0:1:0", "span:5:4:0:1:0", "span:1:2:2:1:0", "span:1:2:0:0:0", "span:1:2:0:1:2", "span:1:2:0:1"] {
            assert!(matches!(At::parse(Some(bad)), Err(ConnectorError::Internal(_))), "{bad}");
        }
    }
}
