//! Turns a User-Agent header into what a person recognises on the sessions
//! page: browser, operating system and device type. Deliberately small: the
//! common browsers and systems by their well-known tokens, "Other" otherwise.

/// What a session's browser is, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub browser: String,
    pub os: String,
    /// `desktop`, `mobile`, `tablet`, `bot` or `unknown`.
    pub device: &'static str,
}

/// Parses a User-Agent header.
pub fn parse(ua: &str) -> DeviceInfo {
    let browser = browser(ua);
    let os = os(ua);
    let lower = ua.to_ascii_lowercase();
    let device = if ua.is_empty() {
        "unknown"
    } else if [
        "bot",
        "crawler",
        "spider",
        "curl/",
        "wget/",
        "python-requests",
    ]
    .iter()
    .any(|t| lower.contains(t))
    {
        "bot"
    } else if lower.contains("ipad")
        || (lower.contains("android") && !lower.contains("mobile"))
        || lower.contains("tablet")
    {
        "tablet"
    } else if lower.contains("mobi") || lower.contains("iphone") {
        "mobile"
    } else if os == "Other" {
        "unknown"
    } else {
        "desktop"
    };
    DeviceInfo {
        browser,
        os,
        device,
    }
}

fn version_after(ua: &str, token: &str) -> Option<String> {
    let start = ua.find(token)? + token.len();
    let major: String = ua[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!major.is_empty()).then_some(major)
}

fn browser(ua: &str) -> String {
    // Order matters: Edge and Opera also say Chrome; Chrome also says Safari.
    let known = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Version/", "Safari"),
    ];
    for (token, name) in known {
        if ua.contains(token) && (name != "Safari" || ua.contains("Safari/")) {
            return match version_after(ua, token) {
                Some(v) => format!("{name} {v}"),
                None => name.to_owned(),
            };
        }
    }
    "Other".to_owned()
}

fn os(ua: &str) -> String {
    if ua.contains("Windows NT") {
        "Windows".into()
    } else if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        "iOS".into()
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "macOS".into()
    } else if ua.contains("Android") {
        match version_after(ua, "Android ") {
            Some(v) => format!("Android {v}"),
            None => "Android".into(),
        }
    } else if ua.contains("CrOS") {
        "ChromeOS".into()
    } else if ua.contains("Linux") || ua.contains("X11") {
        "Linux".into()
    } else {
        "Other".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ua: &str) -> (String, String, &'static str) {
        let d = parse(ua);
        (d.browser, d.os, d.device)
    }

    #[test]
    fn common_browsers() {
        assert_eq!(
            p("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
            ("Chrome 131".into(), "Windows".into(), "desktop")
        );
        assert_eq!(
            p("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"),
            ("Edge 131".into(), "Windows".into(), "desktop")
        );
        assert_eq!(
            p("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
            ("Firefox 133".into(), "Linux".into(), "desktop")
        );
        assert_eq!(
            p("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"),
            ("Safari 18".into(), "macOS".into(), "desktop")
        );
    }

    #[test]
    fn phones_and_tablets() {
        assert_eq!(
            p("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"),
            ("Safari 18".into(), "iOS".into(), "mobile")
        );
        assert_eq!(
            p("Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"),
            ("Chrome 131".into(), "Android 14".into(), "mobile")
        );
        assert_eq!(
            p("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1").2,
            "tablet"
        );
        assert_eq!(p("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36").2, "tablet");
    }

    #[test]
    fn tools_and_nothing() {
        assert_eq!(p("curl/8.5.0"), ("Other".into(), "Other".into(), "bot"));
        assert_eq!(p(""), ("Other".into(), "Other".into(), "unknown"));
    }
}
