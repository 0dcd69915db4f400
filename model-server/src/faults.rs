//! Faults a test injects into the next request(s).

use std::collections::VecDeque;

/// A fault the server injects into the next matching request(s).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer after this delay.
    Latency(std::time::Duration),
    /// 429 Too Many Requests (with Retry-After: 1).
    TooManyRequests,
    /// 500 Internal Server Error.
    ServerError,
    /// Never answer (the client's timeout must fire).
    Hang,
    /// 200 with a body that is not valid JSON.
    MalformedJson,
    /// Predictions: finish, but never send the webhook.
    LostWebhook,
    /// Refuse as a content-policy violation.
    Refuse,
    /// Predictions: the prediction fails with an error.
    PredictionFails,
    /// The answer lists this URL for every image instead of the server's
    /// own files (OpenAI `data[].url`, predictions `output`), as a hostile
    /// provider pointing the worker at an internal address would.
    OutputUrl(String),
    /// Outputs are URLs on the server's own host that answer
    /// `302 Found` to this URL.
    RedirectOutput(String),
    /// The answer has this many images more than requested.
    ExtraImages(u32),
    /// `200` with a body of this many bytes (streamed, no
    /// `Content-Length`); on polls too.
    OversizedAnswer(usize),
}

/// Faults in injection order, each with the number of requests it still
/// applies to (counts, not copies: `inject(fault, usize::MAX)` is "always").
#[derive(Default)]
pub(crate) struct FaultQueue(VecDeque<(Fault, usize)>);

impl FaultQueue {
    pub(crate) fn push(&mut self, fault: Fault, times: usize) {
        if times > 0 {
            self.0.push_back((fault, times));
        }
    }
    pub(crate) fn pop(&mut self) -> Option<Fault> {
        let (fault, left) = self.0.front_mut()?;
        *left -= 1;
        let fault = fault.clone();
        if *left == 0 {
            self.0.pop_front();
        }
        Some(fault)
    }
}
