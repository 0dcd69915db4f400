//! Server-function arguments that name things: ids and page cursors, parsed
//! the same way everywhere (server only), and [`id_texts`] for pages that
//! put ids from their URL into links (both builds).

#[cfg(feature = "ssr")]
use uni1_domain::library::gallery::Cursor;
#[cfg(feature = "ssr")]
use uuid::Uuid;

#[cfg(feature = "ssr")]
use crate::error::AppError;

/// Whether `s` is a UUID in its usual form (8-4-4-4-12 hex digits), the
/// only form our links use. No `uuid` crate, so the browser build can use it.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// At most `max` ids from a comma-separated list, lower-case; anything that
/// is not a UUID is dropped, so no other text reaches a URL built from them.
pub fn id_texts(s: &str, max: usize) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| is_uuid(s))
        .take(max)
        .map(str::to_ascii_lowercase)
        .collect()
}

/// A form's yes/no field: a ticked checkbox sends "on", our own hidden
/// fields and links "true" or "1"; anything else (absent, "false", "0") is
/// no. The one parser for flags, in both builds.
pub fn flag(s: &str) -> bool {
    matches!(s.trim(), "1" | "true" | "on")
}

/// An id; one that does not parse is "not found", like one that does not
/// exist, so ids cannot be probed.
#[cfg(feature = "ssr")]
pub fn id(s: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(s.trim()).map_err(|_| AppError::NotFound.respond())
}

/// Ids separated by commas or white space; malformed ones are skipped.
#[cfg(feature = "ssr")]
pub fn ids(s: &str) -> Vec<Uuid> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(|s| Uuid::parse_str(s).ok())
        .collect()
}

/// The `cursor` of a page of the signed-in person's images (empty: the
/// first page).
#[cfg(feature = "ssr")]
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
#[cfg(feature = "ssr")]
pub fn public_cursor(s: &str) -> Result<Option<Cursor>, AppError> {
    cursor(s).map_err(|_| {
        AppError::invalid(
            "cursor",
            "This page link is not valid. Go back to the first page.",
        )
        .respond()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuids_survive_id_texts() {
        let good = "0190f3a0-1b2c-7d3e-8f40-123456789abc";
        let list = format!(
            "{good}, ../../settings/sharing?aaaaaaaaaaaaaa,{}, 0190f3a0-1b2c-7d3e-8f40-123456789abcd,0190f3a0x1b2c-7d3e-8f40-123456789abc",
            good.to_uppercase()
        );
        assert_eq!(id_texts(&list, 100), vec![good.to_owned(), good.to_owned()]);
        assert_eq!(id_texts(&list, 1).len(), 1);
        assert!(!is_uuid("\"><img src=x onerror=alert(1)>aaaaaaaaaaaa"));
    }

    #[test]
    fn flags_are_yes_only_when_a_form_says_so() {
        for yes in ["on", "true", "1", " on "] {
            assert!(flag(yes), "{yes:?}");
        }
        for no in ["", "false", "0", "off", "yes please"] {
            assert!(!flag(no), "{no:?}");
        }
    }
}
