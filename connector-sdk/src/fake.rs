//! A fake `HttpClient` for native tests: canned answers by method and URL, and a record of every request.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::error::Result;
use crate::http::{HttpClient, Method, Request, Response};

/// Answers by `(method, url)`; anything not set up answers 404 with `{}`.
#[derive(Default)]
pub struct FakeHttp {
    answers: HashMap<(Method, String), Response>,
    asked: RefCell<Vec<Request>>,
}

impl FakeHttp {
    pub fn new() -> Self {
        Self::default()
    }

    /// `GET url` answers `status` with `body` as JSON.
    pub fn with(self, url: &str, status: u16, body: serde_json::Value) -> Self {
        self.answer(Method::Get, url, Response { status, retry_after: None, body: body.to_string().into_bytes() })
    }

    /// `method url` answers `response`.
    pub fn answer(mut self, method: Method, url: &str, response: Response) -> Self {
        self.answers.insert((method, url.to_string()), response);
        self
    }

    /// Every request sent so far, in order.
    pub fn asked(&self) -> Vec<Request> {
        self.asked.borrow().clone()
    }

    /// The URLs of every request sent so far.
    pub fn asked_urls(&self) -> Vec<String> {
        self.asked.borrow().iter().map(|r| r.url.clone()).collect()
    }
}

impl HttpClient for FakeHttp {
    fn send(&self, request: &Request) -> Result<Response> {
        self.asked.borrow_mut().push(request.clone());
        let not_found = || Response { status: 404, retry_after: None, body: b"{}".to_vec() };
        Ok(self.answers.get(&(request.method, request.url.clone())).cloned().unwrap_or_else(not_found))
    }
}
