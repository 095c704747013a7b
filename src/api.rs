//! The Pingboard REST API v2 client: URLs, envelopes, paging and HTTP status classification. It knows the
//! wire format and nothing about resources or grants.

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use connector_sdk::error::{ConnectorError, Result};
use connector_sdk::http::{HttpClient, Meaning, Method, Statuses, percent_encode};
use connector_sdk::json::{self, JsonApi, not_json};

/// The two listings a sync reads. Locations and departments are groups in Pingboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Users,
    Groups,
}

impl Collection {
    pub fn key(self) -> &'static str {
        match self {
            Collection::Users => "users",
            Collection::Groups => "groups",
        }
    }
}

/// One page of a listing: its body as it came, and where each record is in it. Records are read from the body
/// one at a time by the mapping, so a page is never copied record by record or parsed into one tree.
#[derive(Debug)]
pub struct Listing {
    body: String,
    spans: Vec<Range<usize>>,
    pub page: u32,
    /// `meta.<collection>.page_count`: 0 for an empty collection.
    pub page_count: u32,
    /// `meta.<collection>.count`: the total number of records.
    pub count: u64,
}

impl Listing {
    pub fn next_page(&self) -> Option<u32> {
        (self.page < self.page_count).then_some(self.page + 1)
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Record `index`'s JSON text, as the API sent it.
    pub fn record(&self, index: usize) -> &str {
        &self.body[self.spans[index].clone()]
    }

    pub fn records(&self) -> impl Iterator<Item = &str> {
        self.spans.iter().map(|span| &self.body[span.clone()])
    }
}

pub struct PingboardApi<H> {
    api: JsonApi<H>,
    page_size: u32,
}

impl<H: HttpClient> PingboardApi<H> {
    pub fn new(http: H, base_url: String, page_size: u32) -> Self {
        Self { api: JsonApi::new(http, base_url, STATUSES), page_size }
    }

    pub fn list(&self, collection: Collection, page: u32) -> Result<Listing> {
        self.list_sized(collection, page, self.page_size)
    }

    pub fn list_sized(&self, collection: Collection, page: u32, page_size: u32) -> Result<Listing> {
        let key = collection.key();
        let path = format!("/api/v2/{key}?page={page}&page_size={page_size}");
        let context = format!("GET /api/v2/{key} page {page}");
        let response = self.api.call(Method::Get, &self.api.url(&path), None, &context)?;
        parse_listing(response.body, key, page, page_size, &context)
    }

    /// `GET /api/v2/<collection>/<id>`; `None` when the API says 404.
    pub fn get(&self, collection: Collection, id: &str) -> Result<Option<Value>> {
        let key = collection.key();
        let path = format!("/api/v2/{key}/{}", percent_encode(id));
        let context = format!("GET /api/v2/{key}/{id}");
        let Some(mut records) = self.records(Method::Get, &path, None, key, &context)? else { return Ok(None) };
        match records.len() {
            1 => Ok(records.pop()),
            0 => Ok(None),
            n => Err(ConnectorError::bad_response(&context, format!("expected one record, got {n}"))),
        }
    }

    /// The user with this email, if any (`GET /api/v2/users?email=`).
    pub fn find_user_by_email(&self, email: &str) -> Result<Option<Value>> {
        let path = format!("/api/v2/users?email={}&page=1&page_size=1", percent_encode(email));
        let body = self.api.json(Method::Get, &self.api.url(&path), None, "GET /api/v2/users?email=…")?;
        Ok(take_records(body, "users", "GET /api/v2/users?email=…")?.into_iter().next())
    }

    /// `POST /api/v2/<collection>` with `{"<collection>": fields}`; the created record.
    pub fn create(&self, collection: Collection, fields: Value) -> Result<Value> {
        let key = collection.key();
        self.write(Method::Post, &format!("/api/v2/{key}"), key, fields)?.ok_or_else(|| ConnectorError::NotFound(format!("/api/v2/{key}")))
    }

    /// `PATCH /api/v2/<collection>/<id>`; the updated record, `None` on 404.
    pub fn update(&self, collection: Collection, id: &str, fields: Value) -> Result<Option<Value>> {
        let key = collection.key();
        self.write(Method::Patch, &format!("/api/v2/{key}/{}", percent_encode(id)), key, fields)
    }

    /// `DELETE /api/v2/<collection>/<id>`; false when there was nothing to delete (404).
    pub fn delete(&self, collection: Collection, id: &str) -> Result<bool> {
        let path = format!("/api/v2/{}/{}", collection.key(), percent_encode(id));
        self.api.delete(&self.api.url(&path), &format!("DELETE {path}"))
    }

    fn write(&self, method: Method, path: &str, key: &str, fields: Value) -> Result<Option<Value>> {
        let context = format!("{} {path}", method.as_str());
        let body = serde_json::json!({ key: fields });
        let Some(mut records) = self.records(method, path, Some(&body), key, &context)? else { return Ok(None) };
        match records.len() {
            1 => Ok(records.pop()),
            n => Err(ConnectorError::bad_response(&context, format!("expected the written record, got {n}"))),
        }
    }

    /// One request answered with `{"<key>": [records]}`; `None` when the API says 404.
    fn records(&self, method: Method, path: &str, body: Option<&Value>, key: &str, context: &str) -> Result<Option<Vec<Value>>> {
        let response = self.api.send(method, &self.api.url(path), body, context)?;
        if response.status == 404 {
            return Ok(None);
        }
        self.api.check(&response, context)?;
        take_records(json::parse(&response.body, context)?, key, context).map(Some)
    }
}

/// Pingboard's statuses: 401 reaches the guest only after the host has already refreshed the token once, so it
/// is final; a 403 is most often a service account without Company Admin.
pub const STATUSES: Statuses = Statuses {
    words: error_messages,
    special: &[
        (401, Meaning::Unauthenticated, Some("the credentials were refused")),
        (403, Meaning::PermissionDenied, Some("the service account lacks permission (Company Admin is needed to read everyone)")),
    ],
};

/// Pingboard's validation errors, verbatim: `{"errors":[…]}` joined, or another JSON body as text. Its error
/// bodies are JSON; a page of HTML (a proxy's, a load balancer's) says nothing the status does not.
fn error_messages(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => match map.get("errors") {
            Some(Value::Array(errors)) => {
                errors.iter().map(|e| e.as_str().map(str::to_string).unwrap_or_else(|| e.to_string())).collect::<Vec<_>>().join("; ")
            }
            Some(other) => other.to_string(),
            None => connector_sdk::http::body_text(body),
        },
        Ok(_) => connector_sdk::http::body_text(body),
        Err(_) => String::new(),
    }
}

fn take_records(mut body: Value, key: &str, context: &str) -> Result<Vec<Value>> {
    match body.get_mut(key).map(Value::take) {
        Some(Value::Array(records)) => Ok(records),
        Some(_) => Err(ConnectorError::bad_response(context, format!("`{key}` is not an array"))),
        None => Err(ConnectorError::bad_response(context, format!("no `{key}` in the response"))),
    }
}

fn parse_listing(body: Vec<u8>, key: &str, page: u32, asked_page_size: u32, context: &str) -> Result<Listing> {
    let body = String::from_utf8(body)
        .map_err(|e| ConnectorError::bad_response(context, format!("body is not valid JSON (not UTF-8: {})", e.utf8_error())))?;
    let envelope = Envelope::read(&body, key).map_err(|e| not_json(body.as_bytes(), &e, context))?;
    let meta = envelope
        .meta
        .and_then(|mut m| m.get_mut(key).map(Value::take))
        .ok_or_else(|| ConnectorError::bad_response(context, format!("no `meta.{key}` block in the response")))?;
    let number = |field: &str| -> Result<u64> {
        meta.get(field).and_then(Value::as_u64).ok_or_else(|| {
            ConnectorError::bad_response(context, format!("`meta.{key}.{field}` is missing or not a number"))
        })
    };
    let page_count = u32::try_from(number("page_count")?)
        .map_err(|_| ConnectorError::bad_response(context, format!("`meta.{key}.page_count` is out of range")))?;
    let count = number("count")?;
    if let Some(served) = meta.get("page").and_then(Value::as_u64)
        && served != u64::from(page) {
            return Err(ConnectorError::bad_response(context, format!("asked for page {page}, got page {served}")));
        }
    let records = match envelope.records {
        Records::Array(records) => records,
        Records::NotArray => return Err(ConnectorError::bad_response(context, format!("`{key}` is not an array"))),
        Records::Absent => return Err(ConnectorError::bad_response(context, format!("no `{key}` in the response"))),
    };
    // Each record borrows from the body: its place in it is where its text starts, less where the body does.
    let spans: Vec<Range<usize>> = records.iter().map(|r| {
        let start = r.get().as_ptr() as usize - body.as_ptr() as usize;
        start..start + r.get().len()
    }).collect();
    if page_count == 0 && !records.is_empty() {
        return Err(ConnectorError::bad_response(context, format!("`meta.{key}.page_count` is 0 but records came back")));
    }
    // The server may serve fewer per page than asked; it says so in `meta.page_size`.
    let page_size = meta.get("page_size").and_then(Value::as_u64).filter(|&n| n > 0).unwrap_or(u64::from(asked_page_size));
    if u64::from(page_count) != count.div_ceil(page_size) {
        return Err(ConnectorError::bad_response(
            context,
            format!("`meta.{key}` contradicts itself: {count} records at {page_size} a page is not {page_count} pages"),
        ));
    }
    if records.len() as u64 > page_size {
        return Err(ConnectorError::bad_response(context, format!("{} records on a page of {page_size}", records.len())));
    }
    if page > page_count.max(1) {
        return Err(ConnectorError::bad_response(context, format!("page {page} is past the last page {page_count}")));
    }
    Ok(Listing { body, spans, page, page_count, count })
}

/// A listing's body, read in one pass: its `meta`, and each record of the collection as its text. Everything
/// else is skipped, and the records are parsed only as far as where each one ends.
struct Envelope<'a> {
    meta: Option<Value>,
    records: Records<'a>,
}

enum Records<'a> {
    Absent,
    NotArray,
    Array(Vec<&'a RawValue>),
}

impl<'a> Envelope<'a> {
    fn read(body: &'a str, key: &str) -> serde_json::Result<Self> {
        let mut reader = serde_json::Deserializer::from_str(body);
        let envelope = reader.deserialize_map(EnvelopeVisitor { key })?;
        reader.end()?;
        Ok(envelope)
    }
}

struct EnvelopeVisitor<'k> {
    key: &'k str,
}

impl<'de> Visitor<'de> for EnvelopeVisitor<'_> {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a `{}` listing", self.key)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut top: A) -> std::result::Result<Self::Value, A::Error> {
        let mut envelope = Envelope { meta: None, records: Records::Absent };
        while let Some(name) = top.next_key::<String>()? {
            if name == self.key {
                envelope.records = top.next_value()?;
            } else if name == "meta" {
                envelope.meta = Some(top.next_value()?);
            } else {
                top.next_value::<IgnoredAny>()?;
            }
        }
        Ok(envelope)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Records<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(RecordsVisitor)
    }
}

struct RecordsVisitor;

/// An array's entries, each as its text; any other value is skipped and is no array.
impl<'de> Visitor<'de> for RecordsVisitor {
    type Value = Records<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut entries: A) -> std::result::Result<Self::Value, A::Error> {
        let mut records = Vec::new();
        while let Some(record) = entries.next_element()? {
            records.push(record);
        }
        Ok(Records::Array(records))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut object: A) -> std::result::Result<Self::Value, A::Error> {
        while object.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Records::NotArray)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Self::Value, E> {
        Ok(Records::NotArray)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok(Records::NotArray)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok(Records::NotArray)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok(Records::NotArray)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok(Records::NotArray)
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(Records::NotArray)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::http::Response;
    use serde_json::json;

    #[test]
    fn listing_reads_meta_and_stops_at_page_count() {
        let body = json!({"users": [{"id": "1"}], "meta": {"users": {"page": 2, "page_size": 1, "count": 3, "page_count": 3}}});
        let listing = parse_listing(body.to_string().into_bytes(), "users", 2, 1, "GET /api/v2/users page 2").unwrap();
        assert_eq!((listing.len(), listing.page_count, listing.count, listing.next_page()), (1, 3, 3, Some(3)));
        assert_eq!(listing.record(0), r#"{"id":"1"}"#);
        let last = json!({"users": [], "meta": {"users": {"page": 3, "count": 3, "page_count": 3}}}).to_string();
        let last = parse_listing(last.into_bytes(), "users", 3, 1, "c").unwrap();
        assert_eq!(last.next_page(), None);
    }

    #[test]
    fn empty_collection_has_page_count_zero() {
        let body = json!({"groups": [], "meta": {"groups": {"page": 1, "page_size": 1000, "count": 0, "page_count": 0,
            "first_href": "/api/v2/groups?page_size=1000", "previous_href": null, "next_href": null, "last_href": "/api/v2/groups?page=0&page_size=1000"}}});
        let listing = parse_listing(body.to_string().into_bytes(), "groups", 1, 1000, "c").unwrap();
        assert!(listing.is_empty());
        assert_eq!(listing.next_page(), None);
    }

    #[test]
    fn malformed_listings_name_the_endpoint() {
        let cases = [
            (json!({"users": []}), "no `meta.users` block"),
            (json!({"meta": {"users": {"count": 1, "page_count": 1}}}), "no `users` in the response"),
            (json!({"users": {}, "meta": {"users": {"count": 1, "page_count": 1}}}), "`users` is not an array"),
            (json!({"users": null, "meta": {"users": {"count": 1, "page_count": 1}}}), "`users` is not an array"),
            (json!({"users": "1", "meta": {"users": {"count": 1, "page_count": 1}}}), "`users` is not an array"),
            (json!({"meta": {"users": {"count": 1, "page_count": 1}}, "groups": [{"id": "1"}]}), "no `users` in the response"),
            (json!([{"id": "1"}]), "body is not valid JSON (invalid type: sequence, expected a `users` listing"),
            (json!({"users": [], "meta": {"users": {"count": 1}}}), "`meta.users.page_count` is missing"),
            (json!({"users": [], "meta": {"users": {"page": 1, "count": 1, "page_count": 1}}}), "asked for page 2, got page 1"),
            (json!({"users": [{"id": "1"}], "meta": {"users": {"count": 1, "page_count": 0}}}), "page_count` is 0 but"),
            (json!({"users": [], "meta": {"users": {"page": 2, "page_size": 10, "count": 45, "page_count": 4}}}), "45 records at 10 a page is not 4 pages"),
            (json!({"users": [{"id": "1"}, {"id": "2"}], "meta": {"users": {"page": 2, "page_size": 1, "count": 4, "page_count": 4}}}), "2 records on a page of 1"),
        ];
        for (body, expected) in cases {
            let err = parse_listing(body.to_string().into_bytes(), "users", 2, 10, "GET /api/v2/users page 2").unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, ConnectorError::BadResponse(_)));
            assert!(text.contains("GET /api/v2/users page 2") && text.contains(expected), "{text}");
        }
        let err = parse_listing(b"{\"users\": [".to_vec(), "users", 1, 10, "GET /api/v2/users page 1").unwrap_err();
        assert!(err.to_string().starts_with("bad response: GET /api/v2/users page 1: body is not valid JSON"), "{err}");
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let response = |status: u16, retry_after: Option<&str>, body: &str| Response {
            status,
            retry_after: retry_after.map(str::to_string),
            body: body.as_bytes().to_vec(),
        };
        assert_eq!(STATUSES.check(&response(429, Some("3"), ""), "c"),
            Err(ConnectorError::RateLimited { message: "c: HTTP 429".into(), retry_after_ms: Some(3000) }));
        assert_eq!(STATUSES.check(&response(503, None, ""), "c"),
            Err(ConnectorError::Unavailable { message: "c: HTTP 503".into(), retry_after_ms: None }));
        assert_eq!(STATUSES.check(&response(422, None, r#"{"errors":["Email has already been taken"]}"#), "c"),
            Err(ConnectorError::Rejected("c: HTTP 422: Email has already been taken".into())));
        assert!(matches!(STATUSES.check(&response(401, None, ""), "c"), Err(ConnectorError::Unauthenticated(_))));
        assert!(matches!(STATUSES.check(&response(403, None, ""), "c"), Err(ConnectorError::PermissionDenied(_))));
        assert!(matches!(STATUSES.check(&response(418, None, ""), "c"), Err(ConnectorError::BadResponse(_))));
        assert_eq!(STATUSES.check(&response(503, None, "<html>busy</html>"), "c"),
            Err(ConnectorError::Unavailable { message: "c: HTTP 503".into(), retry_after_ms: None }), "a proxy's page is left out");
        assert_eq!(STATUSES.check(&response(400, None, r#"{"errors":["page_size is invalid"]}"#), "c"),
            Err(ConnectorError::Rejected("c: HTTP 400: page_size is invalid".into())));
        assert_eq!(STATUSES.check(&response(204, None, ""), "c"), Ok(()));
    }
}
