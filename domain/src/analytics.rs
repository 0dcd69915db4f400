//! First-party analytics without identifiers (ANA-1), the way Plausible
//! counts: no cookie, no IP address and no account id stored.
//!
//! A page view or product event is recorded only with a [`Permit`], which
//! exists only for a visitor who consented to analytics, sent no Global
//! Privacy Control signal, and (when signed in) has not objected to
//! processing (PRV-4). What is stored: the day, the kind, the page's
//! route pattern (never a share token or an id), the referring site's host,
//! a coarse device class, and `visitor`: a hash of the client's address
//! and browser under a random salt of that day. The salt is deleted once
//! the day is over ([`Analytics::rotate`]), so the same visitor can be
//! counted once within a day and never recognised across days. Country is
//! not derived: that would need a location database fed with the address.

use chrono::{DateTime, NaiveDate, Utc};
use rand::RngCore as _;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::consent::Visitor;
use crate::entities::{analytics_event, analytics_salt};
use crate::support::error::{ResultExt, Unexpected};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    PageView,
    SignUp,
    GenerationSubmitted,
    Purchase,
}

impl EventKind {
    pub const ALL: [Self; 4] = [
        Self::PageView,
        Self::SignUp,
        Self::GenerationSubmitted,
        Self::Purchase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PageView => "pageview",
            Self::SignUp => "signup",
            Self::GenerationSubmitted => "generation_submitted",
            Self::Purchase => "purchase",
        }
    }
}

/// Proof that the visitor may be counted. Only [`permit`] makes one.
#[derive(Debug, Clone, Copy)]
pub struct Permit(());

/// A [`Permit`] for `visitor`, when they allow analytics and `objected`
/// (the signed-in person's objection, PRV-4) is false.
pub fn permit(visitor: &Visitor, objected: bool) -> Option<Permit> {
    (visitor.analytics_allowed() && !objected).then_some(Permit(()))
}

/// The request an event came from, reduced before anything is stored.
#[derive(Debug, Clone, Default)]
pub struct Hit<'a> {
    /// The page's path (page views).
    pub path: Option<&'a str>,
    /// The `Referer` header.
    pub referrer: Option<&'a str>,
    /// This site's host, so internal navigation has no referrer.
    pub own_host: &'a str,
    pub user_agent: &'a str,
    /// The client's address: hashed with the day's salt, never stored.
    pub ip: &'a str,
}

/// One day's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Day {
    pub day: NaiveDate,
    pub pageviews: u64,
    /// Distinct visitors that day (page views only).
    pub visitors: u64,
    /// (kind, count) for the product events.
    pub events: Vec<(String, u64)>,
}

/// Aggregates over a range of days: the only view operators get.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub days: Vec<Day>,
    /// (route, page views), most viewed first.
    pub top_pages: Vec<(String, u64)>,
    /// (host, page views), most first.
    pub top_referrers: Vec<(String, u64)>,
    /// (device class, page views).
    pub devices: Vec<(String, u64)>,
}

/// Records and sums analytics events.
#[derive(Clone, Debug)]
pub struct Analytics {
    db: DatabaseConnection,
}

impl Analytics {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Records one event. Failing to count never fails the request: errors
    /// are logged by the callers that ignore them.
    pub async fn record(
        &self,
        _permit: Permit,
        kind: EventKind,
        hit: Hit<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        let day = now.date_naive();
        let salt = self.salt(day).await?;
        let visitor = visitor_hash(&salt, hit.own_host, hit.ip, hit.user_agent);
        analytics_event::ActiveModel {
            id: Set(Uuid::now_v7()),
            day: Set(day),
            kind: Set(kind.as_str().to_owned()),
            path: Set(hit.path.map(route_of)),
            referrer_host: Set(hit.referrer.and_then(|r| referrer_host(r, hit.own_host))),
            device: Set(device_class(hit.user_agent).to_owned()),
            visitor: Set(visitor),
        }
        .insert(&self.db)
        .await
        .unexpected("recording an analytics event")?;
        Ok(())
    }

    /// Counts `kind` for `person` outside a request of theirs (a payment
    /// the provider confirmed): only when their last recorded cookie choice
    /// allows analytics without Global Privacy Control, and they have not
    /// objected (PRV-4). Returns whether it was counted.
    pub async fn record_for_person(
        &self,
        person: Uuid,
        kind: EventKind,
        now: DateTime<Utc>,
    ) -> Result<bool, Unexpected> {
        let objected = crate::entities::user::Entity::find_by_id(person)
            .one(&self.db)
            .await
            .unexpected("reading an objection")?
            .is_none_or(|u| u.objected_at.is_some());
        let latest = crate::consent::Consent::new(self.db.clone())
            .latest_for_user(person)
            .await?;
        let visitor = Visitor {
            choice: latest.as_ref().map(|r| r.choice),
            browser: None,
            gpc: latest.is_some_and(|r| r.gpc),
        };
        let Some(permit) = permit(&visitor, objected) else {
            return Ok(false);
        };
        let id = person.to_string();
        let hit = Hit {
            user_agent: "server",
            ip: &id,
            ..Hit::default()
        };
        self.record(permit, kind, hit, now).await?;
        Ok(true)
    }

    /// The salt of `day`, made on first use (two processes racing agree on
    /// the one that was stored first).
    async fn salt(&self, day: NaiveDate) -> Result<String, Unexpected> {
        if let Some(s) = analytics_salt::Entity::find_by_id(day)
            .one(&self.db)
            .await
            .unexpected("reading the analytics salt")?
        {
            return Ok(s.salt);
        }
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        analytics_salt::Entity::insert(analytics_salt::ActiveModel {
            day: Set(day),
            salt: Set(hex(&bytes)),
        })
        .on_conflict(
            OnConflict::column(analytics_salt::Column::Day)
                .do_nothing()
                .to_owned(),
        )
        .do_nothing()
        .exec(&self.db)
        .await
        .unexpected("storing the analytics salt")?;
        analytics_salt::Entity::find_by_id(day)
            .one(&self.db)
            .await
            .unexpected("reading the analytics salt")?
            .map(|s| s.salt)
            .ok_or_else(|| {
                Unexpected::new(
                    "reading the analytics salt",
                    sea_orm::DbErr::RecordNotFound("the salt of the day".into()),
                )
            })
    }

    /// Deletes the salts of days before `now`'s: from then on nobody can
    /// tell whether two of those days' visitors were the same. Returns how
    /// many were deleted.
    pub async fn rotate(&self, now: DateTime<Utc>) -> Result<u64, Unexpected> {
        Ok(analytics_salt::Entity::delete_many()
            .filter(analytics_salt::Column::Day.lt(now.date_naive()))
            .exec(&self.db)
            .await
            .unexpected("deleting old analytics salts")?
            .rows_affected)
    }

    /// The salts that exist (the test of rotation reads them).
    pub async fn salt_days(&self) -> Result<Vec<NaiveDate>, Unexpected> {
        Ok(analytics_salt::Entity::find()
            .order_by_asc(analytics_salt::Column::Day)
            .all(&self.db)
            .await
            .unexpected("reading analytics salts")?
            .into_iter()
            .map(|s| s.day)
            .collect())
    }

    /// Figures for the `days` days up to and including `now`'s.
    pub async fn summary(&self, days: u32, now: DateTime<Utc>) -> Result<Summary, Unexpected> {
        use std::collections::{BTreeMap, HashMap, HashSet};
        let last = now.date_naive();
        let first = last - chrono::Days::new(u64::from(days.max(1)) - 1);
        // A month of events of a small site fits in memory; a large one
        // would aggregate in SQL (the `daily_stats` job of the admin issue).
        let rows = analytics_event::Entity::find()
            .filter(analytics_event::Column::Day.gte(first))
            .filter(analytics_event::Column::Day.lte(last))
            .all(&self.db)
            .await
            .unexpected("reading analytics events")?;
        /// Page views, distinct visitors and other events of one day.
        type DayCounts = (u64, HashSet<String>, BTreeMap<String, u64>);
        let mut per_day: BTreeMap<NaiveDate, DayCounts> = BTreeMap::new();
        let mut pages: HashMap<String, u64> = HashMap::new();
        let mut referrers: HashMap<String, u64> = HashMap::new();
        let mut devices: HashMap<String, u64> = HashMap::new();
        for row in rows {
            let entry = per_day.entry(row.day).or_default();
            if row.kind == EventKind::PageView.as_str() {
                entry.0 += 1;
                entry.1.insert(row.visitor);
                *pages.entry(row.path.unwrap_or_default()).or_default() += 1;
                if let Some(host) = row.referrer_host {
                    *referrers.entry(host).or_default() += 1;
                }
                *devices.entry(row.device).or_default() += 1;
            } else {
                *entry.2.entry(row.kind).or_default() += 1;
            }
        }
        let sorted = |map: HashMap<String, u64>| {
            let mut v: Vec<_> = map.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(20);
            v
        };
        Ok(Summary {
            days: first
                .iter_days()
                .take_while(|d| *d <= last)
                .map(|day| {
                    let (pageviews, visitors, events) = per_day.remove(&day).unwrap_or_default();
                    Day {
                        day,
                        pageviews,
                        visitors: visitors.len() as u64,
                        events: events.into_iter().collect(),
                    }
                })
                .collect(),
            top_pages: sorted(pages),
            top_referrers: sorted(referrers),
            devices: sorted(devices),
        })
    }
}

/// The host (and port) of a public origin such as `https://a.example:8443`.
pub fn site_host(origin: &str) -> String {
    origin
        .split("://")
        .nth(1)
        .unwrap_or(origin)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 16 bytes of SHA-256(salt, site, address, browser), in hex.
fn visitor_hash(salt: &str, site: &str, ip: &str, user_agent: &str) -> String {
    let mut h = Sha256::new();
    for part in [salt, site, ip, user_agent] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize()[..16])
}

/// The route pattern of `path`: the query is dropped, and segments that
/// name an object or carry a secret (share tokens) become placeholders.
pub fn route_of(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let route = match segments.as_slice() {
        [] => "/".to_owned(),
        ["s", _, ..] => "/s/:token".to_owned(),
        ["p", _, ..] => "/p/:id".to_owned(),
        ["gallery", id, ..] if *id != "selection" => "/gallery/:id".to_owned(),
        ["collections", _, ..] => "/collections/:id".to_owned(),
        other => {
            let mut out = String::new();
            for s in other {
                out.push('/');
                // Anything that looks like an id or token is not kept.
                if s.len() > 24 || s.chars().any(|c| c.is_ascii_digit()) {
                    out.push_str(":id");
                } else {
                    out.push_str(s);
                }
            }
            out
        }
    };
    route.chars().take(200).collect()
}

/// The referring site's host, unless it is this site.
pub fn referrer_host(referrer: &str, own_host: &str) -> Option<String> {
    let rest = referrer
        .strip_prefix("https://")
        .or_else(|| referrer.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = host.split(':').next()?.to_ascii_lowercase();
    let own = own_host.split(':').next().unwrap_or_default();
    (!host.is_empty() && !host.eq_ignore_ascii_case(own)).then(|| host.chars().take(255).collect())
}

/// A coarse class from the `User-Agent`.
pub fn device_class(user_agent: &str) -> &'static str {
    let ua = user_agent.to_ascii_lowercase();
    if ua.is_empty() {
        "unknown"
    } else if ["bot", "crawler", "spider", "lighthouse", "headlesschrome"]
        .iter()
        .any(|k| ua.contains(k))
    {
        "bot"
    } else if ua.contains("ipad")
        || ua.contains("tablet")
        || (ua.contains("android") && !ua.contains("mobile"))
    {
        "tablet"
    } else if ua.contains("mobi") || ua.contains("iphone") || ua.contains("android") {
        "mobile"
    } else {
        "desktop"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_keep_no_ids_or_tokens() {
        assert_eq!(route_of("/"), "/");
        assert_eq!(route_of("/studio?prompt=a+cat"), "/studio");
        assert_eq!(route_of("/s/9f8e7d6c5b4a39281706f5e4d3c2b1a0"), "/s/:token");
        assert_eq!(route_of("/p/0193a1b2-c3d4"), "/p/:id");
        assert_eq!(route_of("/gallery/0193a1b2-c3d4"), "/gallery/:id");
        assert_eq!(route_of("/gallery"), "/gallery");
        assert_eq!(route_of("/settings/privacy"), "/settings/privacy");
        assert_eq!(route_of("/unknown/0193a1b2"), "/unknown/:id");
    }

    #[test]
    fn referrers_are_reduced_to_a_foreign_host() {
        assert_eq!(
            referrer_host("https://news.example.org/item?id=1", "uni1.test"),
            Some("news.example.org".into())
        );
        assert_eq!(
            referrer_host("http://uni1.test:3000/gallery", "uni1.test:3000"),
            None
        );
        assert_eq!(
            referrer_host("https://user:pw@Example.COM:8443/x", "uni1.test"),
            Some("example.com".into())
        );
        assert_eq!(referrer_host("android-app://x", "uni1.test"), None);
    }

    #[test]
    fn devices_are_coarse() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148";
        assert_eq!(device_class(iphone), "mobile");
        assert_eq!(
            device_class("Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari"),
            "mobile"
        );
        assert_eq!(
            device_class("Mozilla/5.0 (Linux; Android 14; SM-X710) Safari"),
            "tablet"
        );
        assert_eq!(
            device_class("Mozilla/5.0 (X11; Linux x86_64) Chrome/156"),
            "desktop"
        );
        assert_eq!(device_class("Googlebot/2.1"), "bot");
        assert_eq!(device_class(""), "unknown");
    }

    #[test]
    fn the_visitor_hash_depends_on_the_salt() {
        let a = visitor_hash("salt-1", "uni1.test", "198.51.100.7", "UA");
        assert_eq!(a.len(), 32);
        assert_eq!(a, visitor_hash("salt-1", "uni1.test", "198.51.100.7", "UA"));
        assert_ne!(a, visitor_hash("salt-2", "uni1.test", "198.51.100.7", "UA"));
        assert_ne!(a, visitor_hash("salt-1", "uni1.test", "198.51.100.8", "UA"));
    }
}
