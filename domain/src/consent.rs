//! Cookie consent (CK-1): what a visitor allows beyond the essential
//! cookies, as their browser carries it and as it is recorded.
//!
//! The choice lives in the browser's consent cookie (essential: it only
//! remembers the choice), `1.<p><a>.<consent id>`, where `p` and `a` are
//! `0` or `1` for the preferences and analytics categories and the consent
//! id is a random UUID of that browser. Every choice is also written to
//! `consent_records` with the policy version, where it was made, and the
//! person when signed in (never an IP address), so a person's choice
//! follows them to a browser that has none yet ([`Consent::latest_for_user`]).
//!
//! `Sec-GPC: 1` (Global Privacy Control) refuses analytics whatever the
//! cookie says ([`Visitor::analytics_allowed`]).

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entities::consent_record::{self, Column};
use crate::support::error::{ResultExt, Unexpected};

/// How long the consent cookie lasts before the banner asks again.
pub const MAX_AGE_DAYS: i64 = 180;

/// The optional cookie categories a visitor allows (essential cookies need
/// no consent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CookieChoice {
    pub preferences: bool,
    pub analytics: bool,
}

impl CookieChoice {
    pub const ALL: Self = Self {
        preferences: true,
        analytics: true,
    };
    pub const NONE: Self = Self {
        preferences: false,
        analytics: false,
    };
}

/// The consent cookie's value for `choice` in the browser `browser`.
pub fn cookie_value(choice: CookieChoice, browser: Uuid) -> String {
    format!(
        "1.{}{}.{}",
        u8::from(choice.preferences),
        u8::from(choice.analytics),
        browser.simple()
    )
}

/// Reads a consent cookie; anything else (an older format, a value edited
/// by hand) counts as no choice, so the banner asks again.
pub fn parse_cookie(value: &str) -> Option<(CookieChoice, Uuid)> {
    let mut parts = value.split('.');
    let (Some("1"), Some(flags), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let flag = |b: u8| match b {
        b'0' => Some(false),
        b'1' => Some(true),
        _ => None,
    };
    let [p, a] = flags.as_bytes() else {
        return None;
    };
    let choice = CookieChoice {
        preferences: flag(*p)?,
        analytics: flag(*a)?,
    };
    Some((choice, Uuid::try_parse(id).ok()?))
}

/// What the request's visitor allows, resolved before any handler runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visitor {
    /// `None` until a choice is made: the banner shows, and only essential
    /// cookies are set.
    pub choice: Option<CookieChoice>,
    /// The browser's consent id, from its cookie.
    pub browser: Option<Uuid>,
    /// The browser sent `Sec-GPC: 1`.
    pub gpc: bool,
}

impl Visitor {
    /// Whether the banner should ask.
    pub fn undecided(&self) -> bool {
        self.choice.is_none()
    }

    /// Whether a preference cookie may be set or read.
    pub fn preferences_allowed(&self) -> bool {
        self.choice.is_some_and(|c| c.preferences)
    }

    /// Whether analytics may record this visitor: consent given and no
    /// Global Privacy Control signal.
    pub fn analytics_allowed(&self) -> bool {
        !self.gpc && self.choice.is_some_and(|c| c.analytics)
    }
}

/// Where a choice was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The first-visit banner's "Accept all" or "Reject all".
    Banner,
    /// The preference center (`/cookies`).
    Settings,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Banner => "banner",
            Self::Settings => "settings",
        }
    }
}

/// One recorded choice, as the privacy export and tests read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub choice: CookieChoice,
    pub gpc: bool,
    pub policy_version: String,
    pub source: String,
    pub at: chrono::DateTime<Utc>,
}

/// Records and looks up cookie choices.
#[derive(Clone, Debug)]
pub struct Consent {
    db: DatabaseConnection,
}

impl Consent {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Records `choice` made in browser `browser` (by `user` when signed
    /// in), under the privacy policy in force.
    pub async fn record(
        &self,
        user: Option<Uuid>,
        browser: Uuid,
        choice: CookieChoice,
        gpc: bool,
        source: Source,
    ) -> Result<(), Unexpected> {
        consent_record::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user),
            browser_id: Set(Some(browser)),
            preferences: Set(choice.preferences),
            analytics: Set(choice.analytics),
            gpc: Set(gpc),
            policy_version: Set(crate::privacy::POLICY_VERSION.to_owned()),
            source: Set(source.as_str().to_owned()),
            created_at: Set(Utc::now()),
        }
        .insert(&self.db)
        .await
        .unexpected("recording a cookie choice")?;
        Ok(())
    }

    /// The newest choice `user` made in any browser. Read on every request
    /// of a signed-in person whose browser has no consent cookie: one row.
    pub async fn latest_for_user(&self, user: Uuid) -> Result<Option<Recorded>, Unexpected> {
        Ok(consent_record::Entity::find()
            .filter(Column::UserId.eq(user))
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .one(&self.db)
            .await
            .unexpected("reading cookie choices")?
            .map(|r| Recorded {
                choice: CookieChoice {
                    preferences: r.preferences,
                    analytics: r.analytics,
                },
                gpc: r.gpc,
                policy_version: r.policy_version,
                source: r.source,
                at: r.created_at,
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_round_trips_and_refuses_anything_else() {
        let id = Uuid::now_v7();
        for choice in [
            CookieChoice::ALL,
            CookieChoice::NONE,
            CookieChoice {
                preferences: true,
                analytics: false,
            },
        ] {
            assert_eq!(parse_cookie(&cookie_value(choice, id)), Some((choice, id)));
        }
        let good = cookie_value(CookieChoice::ALL, id);
        for bad in [
            String::new(),
            "1".into(),
            "2.11.".to_owned() + &id.simple().to_string(),
            "1.12.".to_owned() + &id.simple().to_string(),
            "1.1.".to_owned() + &id.simple().to_string(),
            "1.11.not-a-uuid".into(),
            format!("{good}.extra"),
        ] {
            assert_eq!(parse_cookie(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn gpc_refuses_analytics_whatever_the_cookie_says() {
        let mut v = Visitor {
            choice: Some(CookieChoice::ALL),
            browser: None,
            gpc: false,
        };
        assert!(v.analytics_allowed() && v.preferences_allowed());
        v.gpc = true;
        assert!(!v.analytics_allowed());
        assert!(
            v.preferences_allowed(),
            "GPC is about tracking, not preferences"
        );
        let undecided = Visitor::default();
        assert!(undecided.undecided());
        assert!(!undecided.analytics_allowed() && !undecided.preferences_allowed());
    }
}
