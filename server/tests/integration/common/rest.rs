//! A local stand-in for a provider's REST API: every request is recorded,
//! answered by the test's function (the provider's documented format), or by
//! a fault the test planted for that request's number (HTTP 429 with
//! `Retry-After`, a 5xx).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// One request as the mock saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    /// The status it was answered with.
    pub status: u16,
    pub at: std::time::Instant,
}

/// What the test's function answers: a status and a JSON body.
pub type Answer = (u16, serde_json::Value);

type Answerer = dyn Fn(&str, &HashMap<String, String>, &HeaderMap) -> Answer + Send + Sync;

struct Shared {
    answer: Box<Answerer>,
    seen: Mutex<Vec<Seen>>,
    /// Request number → (status, Retry-After).
    faults: Mutex<HashMap<usize, (u16, Option<&'static str>)>>,
}

pub struct MockRest {
    pub url: String,
    shared: Arc<Shared>,
}

impl MockRest {
    pub async fn start(
        answer: impl Fn(&str, &HashMap<String, String>, &HeaderMap) -> Answer + Send + Sync + 'static,
    ) -> MockRest {
        let shared = Arc::new(Shared {
            answer: Box::new(answer),
            seen: Mutex::default(),
            faults: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        MockRest { url, shared }
    }

    /// Request number `n` (0-based) is answered with `status` instead.
    pub fn fault(&self, n: usize, status: u16, retry_after: Option<&'static str>) {
        self.shared
            .faults
            .lock()
            .unwrap()
            .insert(n, (status, retry_after));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the requests seen (10 s at most).
    pub async fn until(&self, done: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let seen = self.seen();
            if done(&seen) {
                return seen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the provider's REST API did not see what was expected; it saw {:#?}",
                seen.iter()
                    .map(|s| (s.status, &s.path, &s.query))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| {
            url_pairs(q)
                .into_iter()
                .collect::<HashMap<String, String>>()
        })
        .unwrap_or_default();
    let headers = request.headers().clone();
    let n = shared.seen.lock().unwrap().len();
    let fault = shared.faults.lock().unwrap().remove(&n);
    let (status, body, retry_after) = match fault {
        Some((status, retry_after)) => (
            status,
            serde_json::json!({"message": "planted fault"}),
            retry_after,
        ),
        None => {
            let (status, body) = (shared.answer)(&path, &query, &headers);
            (status, body, None)
        }
    };
    shared.seen.lock().unwrap().push(Seen {
        path,
        query,
        headers,
        status,
        at: std::time::Instant::now(),
    });
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    if let Some(after) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", after.parse().unwrap());
    }
    response
}

/// `a=1&b=x%2Cy` as decoded pairs.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
