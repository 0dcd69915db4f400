//! The content policy (GEN-4): prompts are checked before anything is
//! charged. A configurable list of blocked terms, matched as whole words
//! without regard to case, and a hook for a moderation back-end.

use std::sync::Arc;

/// A moderation back-end (e.g. a provider's moderation API).
#[async_trait::async_trait]
pub trait Moderator: Send + Sync {
    /// `Some(reason)` refuses the prompt; the reason is shown to the user.
    async fn check(&self, prompt: &str, negative_prompt: Option<&str>) -> Option<String>;
}

/// Blocked terms plus an optional moderator.
#[derive(Clone, Default)]
pub struct ContentPolicy {
    blocked: Vec<String>,
    moderator: Option<Arc<dyn Moderator>>,
}

/// The text users see for a blocked prompt.
pub const BLOCKED_REASON: &str = "This prompt is not allowed by the content policy.";

impl ContentPolicy {
    /// `terms` are compared in lower case; empty ones are ignored.
    pub fn new(terms: impl IntoIterator<Item = String>) -> Self {
        Self {
            blocked: terms
                .into_iter()
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
            moderator: None,
        }
    }

    pub fn with_moderator(mut self, moderator: Arc<dyn Moderator>) -> Self {
        self.moderator = Some(moderator);
        self
    }

    /// `Some(reason)` when the prompt must be refused.
    pub async fn check(&self, prompt: &str, negative: Option<&str>) -> Option<String> {
        let text = format!("{prompt} {}", negative.unwrap_or_default()).to_lowercase();
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let hit = self.blocked.iter().any(|term| {
            if term.contains(' ') {
                words.join(" ").contains(term.as_str())
            } else {
                words.contains(&term.as_str())
            }
        });
        if hit {
            return Some(BLOCKED_REASON.into());
        }
        match &self.moderator {
            Some(m) => m.check(prompt, negative).await,
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blocks_whole_words_in_any_case_and_phrases() {
        let policy = ContentPolicy::new(["gore".to_string(), "very bad".to_string(), " ".into()]);
        assert!(policy.check("A GORE scene", None).await.is_some());
        assert!(policy.check("fine", Some("gore")).await.is_some());
        assert!(policy.check("a very, bad idea", None).await.is_some());
        assert!(policy.check("gorgeous mountains", None).await.is_none());
        assert!(policy.check("", None).await.is_none());
    }
}
