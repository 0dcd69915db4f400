//! The error for failures a user cannot fix (database down, a bug).
//!
//! It keeps the full cause chain for the log; the web layer shows only a
//! generic sentence for it, never its text.

use std::fmt;

/// Something failed that the caller cannot correct by changing the input.
#[derive(Debug, thiserror::Error)]
pub struct Unexpected {
    context: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl Unexpected {
    /// Wraps `source`, saying what was being done when it failed.
    pub fn new(
        context: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            context,
            source: Box::new(source),
        }
    }

    /// What was being done when it failed.
    pub fn context(&self) -> &'static str {
        self.context
    }
}

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected failure while {}", self.context)
    }
}

/// Adds [`Unexpected`] context to any `Result` whose error is a std error.
pub trait ResultExt<T> {
    /// Maps the error into [`Unexpected`] with `context`.
    fn unexpected(self, context: &'static str) -> Result<T, Unexpected>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn unexpected(self, context: &'static str) -> Result<T, Unexpected> {
        self.map_err(|e| Unexpected::new(context, e))
    }
}
