//! Server-function arguments that name things: ids and page cursors, parsed
//! the same way everywhere (server only).

use uni1_domain::gallery::Cursor;
use uuid::Uuid;

use crate::error::AppError;

/// An id; one that does not parse is "not found", like one that does not
/// exist, so ids cannot be probed.
pub fn id(s: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(s.trim()).map_err(|_| AppError::NotFound.respond())
}

/// Ids separated by commas or white space; malformed ones are skipped.
pub fn ids(s: &str) -> Vec<Uuid> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(|s| Uuid::parse_str(s).ok())
        .collect()
}

/// The `cursor` of a page of the signed-in person's images (empty: the
/// first page).
pub fn cursor(s: &str) -> Result<Option<Cursor>, AppError> {
    match s.trim() {
        "" => Ok(None),
        s => Cursor::parse(s)
            .map(Some)
            .map_err(|e| AppError::invalid("cursor", e.to_string()).respond()),
    }
}

/// The same on pages for anyone, whose error does not speak of "your
/// gallery".
pub fn public_cursor(s: &str) -> Result<Option<Cursor>, AppError> {
    cursor(s).map_err(|_| {
        AppError::invalid(
            "cursor",
            "This page link is not valid. Go back to the first page.",
        )
        .respond()
    })
}
